//! hs-unshare through its binary, as root: namespaces, the PID-1 init,
//! signals and exit statuses, the rootfs setup and pivot_root, volumes,
//! `--join` and `--console`.
//!
//! Every test that mounts runs in its own mount namespace (the tool's own
//! `--ns mnt`, or `unshare -m`) and into its own copy of the busybox rootfs.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use hs_tests::{
    assert_no_mounts_under, assert_no_processes_with, assert_tool_error, bin, busybox_rootfs,
    require_root, rootfs_copy, run, tree_digest, unique, wait_until,
};

/// The busybox fixture's digest, taken the first time a test asks.
fn fixture_digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| tree_digest(&busybox_rootfs()))
}

/// Every test that uses a rootfs ends with this: the shared fixture was
/// never written through (mount points and volume targets land in copies).
fn assert_fixture_unchanged() {
    assert_eq!(tree_digest(&busybox_rootfs()), fixture_digest());
}

fn unshare() -> Command {
    Command::new(bin("hs-unshare"))
}

/// The chain's shape: new namespaces, then the root set up inside them.
fn container(root: &Path, root_args: &[&str], script: &str) -> Command {
    let _ = fixture_digest();
    let mut cmd = unshare();
    cmd.args(["--ns", "mnt,pid,uts,ipc", "--"])
        .arg(bin("hs-unshare"))
        .arg("--root")
        .arg(root)
        .args(root_args)
        .args(["--", "/bin/sh", "-c", script]);
    cmd
}

/// Runs a container script and returns its stdout, failing on any other
/// exit than 0.
fn container_ok(root: &Path, root_args: &[&str], script: &str) -> String {
    let (code, out, err) = run(&mut container(root, root_args, script));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    out
}

/// A child killed (outer process first) and reaped on drop, so a failing
/// assertion leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The host pid of the process with `marker` on its command line that is
/// PID 1 of its pid namespace.
fn namespace_init_with(marker: &str) -> Option<i32> {
    hs_tests::pids_with_cmdline(marker).into_iter().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .is_some_and(|l| l.split_whitespace().last() == Some("1"))
    })
}

// ---- pid namespace and init -------------------------------------------

#[test]
fn without_init_the_command_is_pid_1() {
    if !require_root() {
        return;
    }
    let (code, out, err) =
        run(unshare().args(["--ns", "pid", "--no-init", "--", "sh", "-c", "echo $$"]));
    assert_eq!((code, out.as_str()), (0, "1\n"), "{err}");
}

#[test]
fn with_init_the_init_is_pid_1_and_the_command_its_child() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let out = container_ok(
        root.path(),
        &[],
        "echo $$; cat /proc/1/comm; grep PPid /proc/$$/status",
    );
    assert_eq!(out, "2\nhs-unshare\nPPid:\t1\n");
    assert_fixture_unchanged();
}

#[test]
fn init_reaps_an_orphaned_grandchild() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    // The inner sh exits at once, so its sleep is orphaned to PID 1; once
    // the sleep ends, no (sleep) entry may remain, zombie or not.
    let script = r#"
        sh -c 'sleep 0.2 & exit 0'
        i=0
        while [ $i -lt 200 ]; do
            left=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c '(sleep)')
            [ "$left" = 0 ] && { echo reaped; exit 0; }
            i=$((i+1)); sleep 0.05
        done
        cat /proc/[0-9]*/stat; exit 1
    "#;
    let out = container_ok(root.path(), &[], script);
    assert_eq!(out, "reaped\n");
    assert_fixture_unchanged();
}

/// `hs-unshare --ns pid [ARGS…]` running a shell that traps TERM (exit 42),
/// once it is ready; with its stdout to read the rest from.
fn start_trapping(marker: &str, args: &[&str]) -> (Running, BufReader<std::process::ChildStdout>) {
    let script = format!(
        "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done # {marker}"
    );
    let child = unshare()
        .args(["--ns", "pid"])
        .args(args)
        .args(["--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, stdout)
}

fn signal(pid: i32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
}

#[test]
fn sigterm_to_the_outer_process_reaches_a_command_that_traps_it() {
    if !require_root() {
        return;
    }
    let marker = unique("trap-term");
    let (mut child, mut stdout) = start_trapping(&marker, &[]);
    signal(child.0.id() as i32, nix::sys::signal::Signal::SIGTERM);
    let status = child.0.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(42));
    assert_no_processes_with(&marker);
}

/// What `hs stop` does: SIGTERM to the init pid from the handshake; the
/// trapping command (started with `args`) gets it and exits 42.
fn assert_init_forwards_sigterm(tag: &str, args: &[&str]) {
    let marker = unique(tag);
    let (mut child, mut stdout) = start_trapping(&marker, args);
    let init = namespace_init_with(&marker).expect("the init runs");
    signal(init, nix::sys::signal::Signal::SIGTERM);
    let status = child.0.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(42));
    assert_no_processes_with(&marker);
}

#[test]
fn sigterm_to_the_init_reaches_a_command_that_traps_it() {
    if !require_root() {
        return;
    }
    assert_init_forwards_sigterm("init-term", &[]);
}

#[test]
fn sigterm_to_the_init_reaches_another_users_command_without_capabilities() {
    if !require_root() {
        return;
    }
    // Signalling another user's process takes CAP_KILL: the init keeps it.
    assert_init_forwards_sigterm("init-term-user", &["--cap-drop", "ALL", "--user", "65534"]);
}

#[test]
fn sigkill_to_the_init_ends_everything_with_137() {
    if !require_root() {
        return;
    }
    let marker = unique("init-kill");
    let (mut child, _stdout) = start_trapping(&marker, &[]);
    let init = namespace_init_with(&marker).expect("the init runs");
    signal(init, nix::sys::signal::Signal::SIGKILL);
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert_no_processes_with(&marker);
}

#[test]
fn sigkill_to_the_outer_process_takes_the_container_down() {
    if !require_root() {
        return;
    }
    let marker = unique("outer-kill");
    let (mut child, _stdout) = start_trapping(&marker, &[]);
    signal(child.0.id() as i32, nix::sys::signal::Signal::SIGKILL);
    child.0.wait().unwrap();
    assert_no_processes_with(&marker);
}

#[test]
fn exit_statuses_propagate_exactly() {
    if !require_root() {
        return;
    }
    let cases: [(&[&str], i32); 7] = [
        (&["true"], 0),
        (&["sh", "-c", "exit 7"], 7),
        (&["hs-no-such-program"], 127),
        (&["/etc/hostname"], 126),
        (&["sh", "-c", "kill -KILL $$"], 137),
        (&["sh", "-c", "kill -INT $$"], 130),
        (&["sh", "-c", "exit 7"], 7),
    ];
    for (i, (argv, expected)) in cases.iter().enumerate() {
        // The last case runs without init: PID 1 itself exits with 7.
        let ns: &[&str] = if i == 6 {
            &["--ns", "pid", "--no-init", "--"]
        } else {
            &["--ns", "pid", "--"]
        };
        let (code, _, err) = run(unshare().args(ns).args(*argv));
        assert_eq!(code, *expected, "{argv:?}: {err}");
    }
}

#[test]
fn a_missing_program_is_127_with_the_container_path() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let mut cmd = unshare();
    cmd.args(["--ns", "mnt,pid", "--"])
        .arg(bin("hs-unshare"))
        .arg("--root")
        .arg(root.path())
        .args(["--", "/usr/bin/hs-not-in-the-container"]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("/usr/bin/hs-not-in-the-container"), "{err}");
    assert_fixture_unchanged();
}

#[test]
fn init_pid_goes_to_the_sync_fd_and_the_info_fd() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sync = dir.path().join("sync");
    let info = dir.path().join("info");
    let script = r#"HS_SYNC_FD=3 exec "$0" --ns pid --info-fd 4 -- true 3>"$1" 4>"$2""#;
    let (code, _, err) = run(Command::new("sh")
        .args(["-c", script])
        .arg(bin("hs-unshare"))
        .arg(&sync)
        .arg(&info));
    assert_eq!(code, 0, "{err}");
    let sync: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sync).unwrap()).unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    let pid = info["pid"].as_i64().unwrap();
    assert!(pid > 1);
    assert_eq!(sync["init_pid"].as_i64(), Some(pid));
}

// ---- other namespaces ---------------------------------------------------

#[test]
fn a_closed_stdin_reaches_the_command_as_dev_null() {
    if !require_root() {
        return;
    }
    // The tool starts without std's runtime (a C main): it must still fill
    // a closed standard fd, or a file it opens would become PROG's stdin.
    let mut cmd = unshare();
    cmd.args(["--ns", "uts", "--", "readlink", "/proc/self/fd/0"]);
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::close(0);
            Ok(())
        });
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!((code, out.as_str()), (0, "/dev/null\n"), "{err}");
}

#[test]
fn hostname_is_set_inside_and_the_hosts_is_unchanged() {
    if !require_root() {
        return;
    }
    let before = nix::unistd::gethostname().unwrap();
    let name = unique("h");
    let (code, out, err) =
        run(unshare().args(["--ns", "uts", "--hostname", &name, "--", "hostname"]));
    assert_eq!((code, out.trim()), (0, name.as_str()), "{err}");
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
}

#[test]
fn a_mount_made_inside_never_appears_on_the_host() {
    if !require_root() {
        return;
    }
    let target = tempfile::tempdir().unwrap();
    let script = r#"mount -t tmpfs hs-test "$1" && grep -c " $1 " /proc/self/mountinfo"#;
    let (code, out, err) = run(unshare()
        .args(["--ns", "mnt", "--", "sh", "-c", script, "sh"])
        .arg(target.path()));
    assert_eq!((code, out.as_str()), (0, "1\n"), "{err}");
    assert_no_mounts_under(target.path());
}

#[test]
fn a_new_net_namespace_has_only_lo_and_it_is_up() {
    if !require_root() {
        return;
    }
    let (code, out, err) = run(unshare().args(["--ns", "net", "--", "ip", "-o", "link"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains("lo:") && lines[0].contains("UP"), "{out}");
}

#[test]
fn a_new_cgroup_namespace_sees_its_cgroup_as_root() {
    if !require_root() {
        return;
    }
    let (code, out, err) =
        run(unshare().args(["--ns", "cgroup", "--", "cat", "/proc/self/cgroup"]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(line.ends_with(":/"), "{out}");
    }
}

// ---- the root -------------------------------------------------------------

#[test]
fn the_old_root_is_gone_after_pivot_root() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let host_only = tempfile::tempdir().unwrap();
    let script = format!(
        "readlink /proc/1/root; ls -a /; test -e {} && echo host-visible; cat /proc/self/mountinfo",
        host_only.path().display()
    );
    let out = container_ok(root.path(), &[], &script);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("/"));
    let listed: Vec<&str> = lines.by_ref().take_while(|l| !l.contains(' ')).collect();
    let mut expected: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.extend([".".into(), "..".into()]);
    expected.sort();
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(listed, expected);
    assert!(!out.contains("host-visible"), "{out}");
    // Only the new root's own mounts remain: nothing of the host's tree.
    assert!(!out.contains(" /sys/fs/cgroup"), "{out}");
    assert_no_mounts_under(root.path());
    assert_fixture_unchanged();
}

#[test]
fn dev_has_the_standard_nodes_and_no_host_block_devices() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let out = container_ok(
        root.path(),
        &[],
        "find /dev -type b | wc -l; for d in null zero full random urandom tty; do test -c /dev/$d && echo $d; done; readlink /dev/ptmx; echo hi > /dev/null && echo null-ok",
    );
    assert_eq!(
        out,
        "0\nnull\nzero\nfull\nrandom\nurandom\ntty\npts/ptmx\nnull-ok\n"
    );
    assert_fixture_unchanged();
}

#[test]
fn writes_to_sys_and_proc_sys_fail() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let out = container_ok(
        root.path(),
        &[],
        "echo 1 > /sys/kernel/uevent_helper 2>/dev/null && echo sys-written; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo proc-sys-written; grep -c ' /sys ro,' /proc/self/mountinfo",
    );
    assert_eq!(out, "1\n");
    assert_fixture_unchanged();
}

#[test]
fn masked_proc_files_read_nothing() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let out = container_ok(
        root.path(),
        &[],
        "for f in kcore keys timer_list sched_debug; do if [ -e /proc/$f ]; then echo $f $(cat /proc/$f 2>/dev/null | wc -c); fi; done; echo done",
    );
    for line in out.lines().filter(|l| *l != "done") {
        assert!(line.ends_with(" 0"), "{out}");
    }
    assert!(out.ends_with("done\n"));
    assert_fixture_unchanged();
}

#[test]
fn tmp_and_run_are_fresh_tmpfs() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    std::fs::write(root.path().join("tmp/from-image"), "x").unwrap();
    let out = container_ok(
        root.path(),
        &[],
        "ls /tmp | wc -l; touch /tmp/a /run/b && echo writable; grep -c -E ' /(tmp|run) .* - tmpfs ' /proc/self/mountinfo",
    );
    assert_eq!(out, "0\nwritable\n2\n");
    assert!(!root.path().join("tmp/a").exists());
    assert_fixture_unchanged();
}

#[test]
fn a_root_with_every_mount_point_is_left_unchanged() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let before = tree_digest(root.path());
    container_ok(root.path(), &[], "touch /tmp/x /run/y /dev/shm/z");
    assert_eq!(tree_digest(root.path()), before);
    assert_fixture_unchanged();
}

#[test]
fn root_in_the_initial_mount_namespace_is_refused_and_changes_nothing() {
    if !require_root() {
        return;
    }
    // The kernel's fixed inode of the initial mount namespace, or PID 1's.
    let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let init = std::fs::read_link("/proc/1/ns/mnt").ok();
    if own != Path::new("mnt:[4026531832]") && init.as_deref() != Some(own.as_path()) {
        eprintln!("skipped: this test process is not in the initial mount namespace");
        return;
    }
    let root = rootfs_copy();
    let before = tree_digest(root.path());
    let result = run(unshare()
        .arg("--root")
        .arg(root.path())
        .args(["--", "true"]));
    assert_tool_error(&result, "hs-unshare", "initial mount namespace");
    assert_no_mounts_under(root.path());
    assert_eq!(tree_digest(root.path()), before);
}

#[test]
fn a_missing_root_is_refused_before_anything_happens() {
    if !require_root() {
        return;
    }
    let result = run(unshare().args([
        "--ns",
        "mnt,pid",
        "--root",
        "/nonexistent-hs-root",
        "--",
        "true",
    ]));
    assert_tool_error(&result, "hs-unshare", "/nonexistent-hs-root");
}

// ---- volumes --------------------------------------------------------------

#[test]
fn a_volume_is_visible_and_writable_inside() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("in"), "from-host").unwrap();
    let volume = format!("{}:/data/vol", src.path().display());
    let out = container_ok(
        root.path(),
        &["--volume", &volume],
        "cat /data/vol/in; echo back > /data/vol/out",
    );
    assert_eq!(out, "from-host");
    assert_eq!(
        std::fs::read_to_string(src.path().join("out")).unwrap(),
        "back\n"
    );
    assert_no_mounts_under(src.path());
    assert_fixture_unchanged();
}

#[test]
fn a_read_only_volume_is_read_only_all_the_way_down() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    // A submount below the volume source, made in a private namespace that
    // then runs the container.
    let script = r#"
        mount -t tmpfs sub "$2/sub" &&
        exec "$1" --ns mnt,pid -- "$1" --root "$3" --volume "$2:/v:ro" -- /bin/sh -c '
            touch /v/top 2>/dev/null && echo top-written
            touch /v/sub/below 2>/dev/null && echo sub-written
            grep -c " /v/sub .*ro," /proc/self/mountinfo'
    "#;
    let (code, out, err) = run(hs_tests::in_private_mount_ns("sh")
        .args(["-c", script, "sh"])
        .arg(bin("hs-unshare"))
        .arg(src.path())
        .arg(root.path()));
    assert_eq!((code, out.as_str()), (0, "1\n"), "{err}");
    assert_eq!(
        std::fs::read_dir(src.path().join("sub")).unwrap().count(),
        0
    );
    assert!(!src.path().join("top").exists());
    assert_no_mounts_under(src.path());
    assert_fixture_unchanged();
}

#[test]
fn a_volume_onto_a_symlink_stays_inside_the_root() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("marker"), "vol").unwrap();
    // An absolute link in the image to a host path that does not exist:
    // followed on the host, the bind target would be created there.
    let escape = Path::new("/").join(unique("hs-escape")).join("x");
    std::os::unix::fs::symlink(&escape, root.path().join("data")).unwrap();
    let volume = format!("{}:/data", src.path().display());
    let out = container_ok(root.path(), &["--volume", &volume], "cat /data/marker");
    assert_eq!(out, "vol");
    assert!(
        !escape.parent().unwrap().exists(),
        "the bind target was created on the host"
    );
    let inside = root.path().join(escape.strip_prefix("/").unwrap());
    assert!(inside.is_dir(), "target not created inside the root");
    assert_fixture_unchanged();
}

#[test]
fn a_missing_volume_source_is_refused_and_creates_nothing() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let before = tree_digest(root.path());
    let mut cmd = container(
        root.path(),
        &["--volume", "/nonexistent-hs-src:/app"],
        "true",
    );
    let result = run(&mut cmd);
    assert_tool_error(&result, "hs-unshare", "/nonexistent-hs-src");
    assert_eq!(tree_digest(root.path()), before);
    assert_fixture_unchanged();
}

#[test]
fn ro_and_tmpfs_paths_apply_inside() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let out = container_ok(
        root.path(),
        &["--ro", "/etc", "--tmpfs", "/cache"],
        "touch /etc/x 2>/dev/null && echo etc-written; touch /cache/y && echo cache-ok",
    );
    assert_eq!(out, "cache-ok\n");
    assert!(!root.path().join("etc/x").exists());
    assert_fixture_unchanged();
}

// ---- the command's process --------------------------------------------------

#[test]
fn chdir_env_and_user_apply_to_the_command() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let out = container_ok(
        root.path(),
        &[
            "--chdir",
            "/tmp",
            "--clear-env",
            "--env",
            "A=b",
            "--user",
            "65534",
        ],
        "pwd; echo $A; id -u; id -g; env | grep -c HOME; true",
    );
    assert_eq!(out, "/tmp\nb\n65534\n65534\n0\n");
    assert_fixture_unchanged();
}

/// Starts the chain's shape in the background with a script that marks
/// /tmp and then idles; returns it once the script runs, with the host pid
/// of its init.
fn start_container(root: &Path, marker: &str) -> (Running, i32) {
    let script =
        format!("echo changed > /tmp/mark; echo ready; while :; do sleep 0.05; done # {marker}");
    let mut cmd = unshare();
    cmd.args(["--ns", "mnt,pid,uts,ipc", "--hostname", marker, "--"])
        .arg(bin("hs-unshare"))
        .arg("--root")
        .arg(root)
        .args(["--", "/bin/sh", "-c", &script])
        .stdout(Stdio::piped());
    let mut child = Running(cmd.spawn().unwrap());
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let mut init = None;
    assert!(wait_until(Duration::from_secs(5), || {
        init = namespace_init_with(marker);
        init.is_some()
    }));
    (child, init.unwrap())
}

#[test]
fn join_sees_the_containers_processes_files_and_hostname() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let marker = unique("join");
    let (container, init) = start_container(root.path(), &marker);
    let (code, out, err) = run(unshare().arg("--join").arg(init.to_string()).args([
        "--",
        "/bin/sh",
        "-c",
        "cat /tmp/mark; hostname; ps -o pid,args | grep -c '^ *1 .*hs-unshare'; echo $$",
    ]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["changed", marker.as_str(), "1"], "{out}");
    assert_ne!(lines[3], "1");
    drop(container);
    assert_no_processes_with(&marker);
    assert_fixture_unchanged();
}

/// Runs `check` with the host pid of a running container's init and its
/// hostname, then stops the container and checks nothing is left.
fn with_container(tag: &str, check: impl FnOnce(i32, &str)) {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let marker = unique(tag);
    let (container, init) = start_container(root.path(), &marker);
    check(init, &marker);
    drop(container);
    assert_no_processes_with(&marker);
    assert_fixture_unchanged();
}

fn join(init: i32, args: &[&str]) -> (i32, String, String) {
    run(unshare().arg("--join").arg(init.to_string()).args(args))
}

#[test]
fn join_runs_the_command_in_its_directory_with_its_env_and_no_signal_blocked() {
    with_container("join-launch", |init, _| {
        let script = "pwd; echo $A; grep SigBlk /proc/self/status";
        let args = ["--chdir", "/tmp", "--clear-env", "--env", "A=b", "--"];
        let (code, out, err) = join(init, &[&args[..], &["/bin/sh", "-c", script]].concat());
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, "/tmp\nb\nSigBlk:\t0000000000000000\n");
    });
}

#[test]
fn join_as_a_user_switches_inside_the_container() {
    with_container("join-user", |init, _| {
        let script = "id -u; cat /tmp/mark";
        let (code, out, err) = join(init, &["--user", "nobody", "--", "/bin/sh", "-c", script]);
        assert_eq!((code, out.as_str()), (0, "65534\nchanged\n"), "{err}");
    });
}

#[test]
fn join_reports_a_missing_command_and_a_missing_directory() {
    with_container("join-fail", |init, _| {
        let (code, _, err) = join(init, &["--", "no-such-command"]);
        assert_eq!(code, 127, "{err}");
        assert!(err.contains("no-such-command"), "{err}");
        let result = join(init, &["--chdir", "/no-such-dir", "--", "true"]);
        assert_tool_error(&result, "hs-unshare", "--chdir /no-such-dir");
    });
}

#[test]
fn join_enters_only_the_namespaces_asked_for() {
    with_container("join-some", |init, marker| {
        // The host's own sh: without mnt, the host's files stay in view.
        let script = "hostname; readlink /proc/self/ns/mnt";
        let (code, out, err) = join(init, &["--ns", "uts", "--", "/bin/sh", "-c", script]);
        assert_eq!(code, 0, "{err}");
        let own_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        assert_eq!(out, format!("{marker}\n{}\n", own_mnt.display()));
    });
}

#[test]
fn join_with_console_gets_a_pty_of_the_containers_devpts() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let marker = unique("join-console");
    let (container, init) = start_container(root.path(), &marker);
    let mut cmd = unshare();
    cmd.arg("--join").arg(init.to_string()).args([
        "--console",
        "--",
        "/bin/sh",
        "-c",
        "tty; stty size; cat /tmp/mark",
    ]);
    let output = console_output(cmd, "12x34");
    assert_eq!(output, "/dev/pts/0\r\n12 34\r\nchanged\r\n");
    drop(container);
    assert_no_processes_with(&marker);
    assert_fixture_unchanged();
}

#[test]
fn the_init_keeps_no_host_directory_reachable() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("host-marker"), "").unwrap();
    let mut cmd = container(
        root.path(),
        &[],
        "readlink /proc/1/cwd; ls /proc/1/cwd/ | grep -c host-marker; true",
    );
    cmd.current_dir(host_dir.path());
    let (code, out, err) = run(&mut cmd);
    assert_eq!((code, out.as_str()), (0, "/\n0\n"), "{err}");
    assert_fixture_unchanged();
}

#[test]
fn join_of_a_missing_process_is_refused() {
    if !require_root() {
        return;
    }
    let result = run(unshare().args(["--join", "999999999", "--", "true"]));
    assert_tool_error(&result, "hs-unshare", "999999999");
}

/// Runs `cmd` with a console socket and `HS_CONSOLE_SIZE=size`, receives
/// the PTY master and returns everything written to it until the command
/// ends (which it must, successfully).
fn console_output(mut cmd: Command, size: &str) -> String {
    let (keep, give) = hs_common::console::pair().unwrap();
    cmd.env(
        "HS_CONSOLE_FD",
        std::os::fd::AsRawFd::as_raw_fd(&give).to_string(),
    )
    .env("HS_CONSOLE_SIZE", size)
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    let mut child = Running(cmd.spawn().unwrap());
    drop(give);
    let master = hs_common::console::recv_fd(keep.as_fd()).unwrap();
    let mut output = Vec::new();
    let mut master = std::fs::File::from(master);
    let mut buf = [0u8; 1024];
    // The slave's last close makes read fail with EIO: that is the end.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        output.extend_from_slice(&buf[..n]);
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    String::from_utf8_lossy(&output).into_owned()
}

#[test]
fn console_hands_back_a_pty_of_the_containers_devpts_with_the_size() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let cmd = container(
        root.path(),
        &["--console"],
        "tty; stty size; stty size < /dev/console",
    );
    let output = console_output(cmd, "33x77");
    assert_eq!(output, "/dev/pts/0\r\n33 77\r\n33 77\r\n");
    assert_fixture_unchanged();
}

#[test]
fn a_host_mirror_from_hs_overlay_is_a_working_root_whose_writes_stay_in_the_upper() {
    if !require_root() {
        return;
    }
    let dir = hs_tests::tempdir_in_target("mirror");
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let probe = unique("hs-unshare-probe");
    let script = format!(
        "cat /etc/debian_version; echo hi > /etc/{probe}; find /dev -type b | wc -l; test -e {} || echo host-hidden",
        dir.path().display()
    );
    let mut cmd = unshare();
    cmd.args(["--ns", "mnt,pid,uts,ipc", "--"])
        .arg(bin("hs-overlay"))
        .arg("host")
        .arg("--upper")
        .arg(dir.path().join("upper"))
        .arg("--work")
        .arg(dir.path().join("work"))
        .arg("--target")
        .arg(&target)
        .arg("--hide")
        .arg(dir.path())
        .arg("--")
        .arg(bin("hs-unshare"))
        .arg("--root")
        .arg(&target)
        .args(["--", "/bin/sh", "-c", &script]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    let debian = std::fs::read_to_string("/etc/debian_version").unwrap();
    assert_eq!(out, format!("{debian}0\nhost-hidden\n"));
    assert!(!Path::new("/etc").join(&probe).exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("upper/etc").join(&probe)).unwrap(),
        "hi\n"
    );
    assert_no_mounts_under(dir.path());
}

#[test]
fn bad_arguments_are_one_error_line_and_125() {
    let cases: [(&[&str], &str); 5] = [
        (&["--bogus", "--", "true"], "--bogus"),
        (&["--ns", "pid"], "<PROG>"),
        (&["--ns", "mnt,user", "--", "true"], "mnt,user"),
        (&["--root", "/", "--volume", "/tmp", "--", "true"], "/tmp"),
        (
            &["--ns", "mnt", "--hostname", "h", "--", "true"],
            "--hostname",
        ),
    ];
    for (args, needle) in cases {
        let result = run(unshare().args(args));
        assert_tool_error(&result, "hs-unshare", needle);
    }
}

#[test]
fn a_missing_ro_path_fails_with_its_path() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let result = run(&mut container(
        root.path(),
        &["--ro", "/hs-not-there"],
        "echo ran",
    ));
    assert_tool_error(&result, "hs-unshare", "/hs-not-there");
    assert_fixture_unchanged();
}

#[test]
fn the_command_starts_with_no_signal_ignored_or_blocked() {
    if !require_root() {
        return;
    }
    for ns in ["pid", "uts"] {
        let (code, out, err) = run(unshare().args([
            "--ns",
            ns,
            "--",
            "grep",
            "-E",
            "^Sig(Ign|Blk)",
            "/proc/self/status",
        ]));
        assert_eq!(code, 0, "{err}");
        let mask = |name: &str| {
            let line = out.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().last().unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "--ns {ns}: {out}");
        // Standard signals only: glibc's posix_spawn (how the test starts
        // hs-unshare) ignores its internal real-time signals 32 and 33.
        assert_eq!(mask("SigIgn:") & 0x7fff_ffff, 0, "--ns {ns}: {out}");
    }
}

#[test]
fn a_terminal_signal_is_not_forwarded_to_a_command_with_its_own_console() {
    if !require_root() {
        return;
    }
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let root = rootfs_copy();
    // hs-unshare runs on a terminal of its own (the test's pty); the
    // command gets the container's console. ^C on hs-unshare's terminal
    // reaches hs-unshare and its init (their process group), never the
    // command; SIGUSR1 sent with kill(2) is forwarded and ends it.
    let outer = nix::pty::openpty(None, None).unwrap();
    let slave = std::fs::File::from(outer.slave);
    let script = "trap 'echo int' INT; trap 'echo usr1; exit 0' USR1; echo ready; while :; do sleep 0.05; done";
    let mut cmd = container(root.path(), &["--console"], script);
    let (keep, give) = hs_common::console::pair().unwrap();
    cmd.env(
        "HS_CONSOLE_FD",
        std::os::fd::AsRawFd::as_raw_fd(&give).to_string(),
    )
    .env("HS_TRACE", "1")
    .stdin(slave.try_clone().unwrap())
    .stdout(slave.try_clone().unwrap())
    .stderr(Stdio::piped());
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = Running(cmd.spawn().unwrap());
    drop(give);
    drop(slave);
    // Every read below blocks: a watchdog ends the chain if the test has
    // not finished by its deadline, so a failure fails instead of hanging.
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        let pid = child.0.id() as i32;
        std::thread::spawn(move || {
            let done = wait_until(Duration::from_secs(30), || {
                finished.load(std::sync::atomic::Ordering::SeqCst)
            });
            if !done {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        })
    };
    let mut trace = BufReader::new(child.0.stderr.take().unwrap());
    let console = std::fs::File::from(hs_common::console::recv_fd(keep.as_fd()).unwrap());
    let mut console_lines = BufReader::new(console);
    let mut line = String::new();
    // (The exec's trace line, also on the console, quotes the script.)
    while line != "ready\r\n" {
        line.clear();
        assert!(console_lines.read_line(&mut line).unwrap() > 0, "no ready");
    }
    // The master stays open to the end: closing it would hang up the
    // terminal (SIGHUP) before ^C is processed.
    let mut master = std::fs::File::from(outer.master);
    master.write_all(b"\x03").unwrap();
    // Both the outer process and the init log what they did with SIGINT.
    let mut seen = 0;
    while seen < 2 {
        line.clear();
        assert!(trace.read_line(&mut line).unwrap() > 0, "trace ended");
        if line.contains("SIGINT") {
            seen += 1;
        }
    }
    signal(child.0.id() as i32, nix::sys::signal::Signal::SIGUSR1);
    // Everything the command prints up to its USR1 trap: a forwarded INT
    // (a lower signal number, so taken first) would show before it.
    let mut rest = String::new();
    while !rest.contains("usr1") {
        line.clear();
        assert!(console_lines.read_line(&mut line).unwrap() > 0, "{rest}");
        rest.push_str(&line);
    }
    assert_eq!(rest, "usr1\r\n");
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    watchdog.join().unwrap();
    drop(master);
    assert_fixture_unchanged();
}

#[test]
fn a_file_volume_is_bound_onto_a_file() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config");
    std::fs::write(&file, "setting=1\n").unwrap();
    let volume = format!("{}:/etc/app/config:ro", file.display());
    let out = container_ok(
        root.path(),
        &["--volume", &volume],
        "cat /etc/app/config; echo x >> /etc/app/config 2>/dev/null && echo written; true",
    );
    assert_eq!(out, "setting=1\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "setting=1\n");
    assert_fixture_unchanged();
}

#[test]
fn a_volume_target_climbing_with_dotdot_stays_inside_the_root() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("marker"), "vol").unwrap();
    let name = unique("hs-climb");
    let volume = format!("{}:/../../../../{name}", src.path().display());
    let out = container_ok(
        root.path(),
        &["--volume", &volume],
        &format!("cat /{name}/marker"),
    );
    assert_eq!(out, "vol");
    assert!(!Path::new("/").join(&name).exists());
    assert!(root.path().join(&name).is_dir());
    assert_fixture_unchanged();
}

#[test]
fn dry_run_prints_the_steps_and_changes_nothing() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    std::fs::remove_dir(root.path().join("mnt")).unwrap();
    let before = tree_digest(root.path());
    let hostname_before = nix::unistd::gethostname().unwrap();
    let (code, out, err) = run(unshare()
        .args([
            "--dry-run",
            "--ns",
            "mnt,pid,uts",
            "--hostname",
            "dry",
            "--root",
        ])
        .arg(root.path())
        .args(["--", "/bin/sh", "-c", "echo ran"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "unshare uts,pid,mnt");
    assert!(lines.contains(&"mkdir -m 755 /mnt"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("pivot_root")), "{out}");
    assert_eq!(lines.last(), Some(&"exec /bin/sh -c echo ran"));
    assert_eq!(tree_digest(root.path()), before);
    assert_eq!(nix::unistd::gethostname().unwrap(), hostname_before);
    assert_no_mounts_under(root.path());
}

/// The `Cap*:` lines of /proc/self/status, as the test process has them.
fn own_capability(line: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_default()
        .to_string()
}

const CAP_LINES: &str = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status";

#[test]
fn cap_drop_all_and_cap_add_leave_the_program_only_the_added_capabilities() {
    if !require_root() {
        return;
    }
    let (code, out, err) = run(unshare().args([
        "--ns",
        "pid",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "chown,CAP_KILL",
        "--",
        "sh",
        "-c",
        CAP_LINES,
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "CapInh:\t0000000000000000\nCapPrm:\t0000000000000021\nCapEff:\t0000000000000021\n\
         CapBnd:\t0000000000000021\nCapAmb:\t0000000000000000\n"
    );
}

#[test]
fn without_cap_flags_the_program_keeps_the_callers_capabilities() {
    if !require_root() {
        return;
    }
    let (code, out, err) =
        run(unshare().args(["--ns", "pid", "--", "grep", "^CapEff", "/proc/self/status"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim_end(), own_capability("CapEff:"));
}

#[test]
fn a_dropped_capability_is_refused_to_the_program_and_pid_1_holds_no_more() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let _ = fixture_digest();
    let script = "mount -t tmpfs t /mnt 2>/dev/null || echo refused; grep ^CapEff /proc/1/status";
    let (code, out, err) = run(unshare()
        .args(["--ns", "mnt,pid", "--root"])
        .arg(root.path())
        .args(["--cap-drop", "SYS_ADMIN", "--", "/bin/sh", "-c", script]));
    assert_eq!(code, 0, "{err}");
    let own = own_capability("CapEff:");
    let own = u64::from_str_radix(own.trim_start_matches("CapEff:\t"), 16).unwrap();
    assert_eq!(
        out,
        format!("refused\nCapEff:\t{:016x}\n", own & !(1 << 21))
    );
    assert_fixture_unchanged();
}

#[test]
fn an_unknown_capability_is_refused_before_anything_runs() {
    if !require_root() {
        return;
    }
    let result = run(unshare().args([
        "--ns",
        "pid",
        "--cap-add",
        "CHOWN,SYS_WIZARD",
        "--",
        "sh",
        "-c",
        "echo ran",
    ]));
    assert_tool_error(&result, "hs-unshare", "SYS_WIZARD");
    assert_eq!(result.1, "");
}

#[test]
fn join_gives_the_command_only_the_capabilities_asked_for() {
    with_container("join-caps", |init, _| {
        // Plain (vfork'd) and forked launches both.
        for user in [None, Some("0")] {
            let mut args = vec!["--cap-drop", "ALL", "--cap-add", "SETUID"];
            if let Some(user) = user {
                args.extend(["--user", user]);
            }
            args.extend(["--", "grep", "^CapEff", "/proc/self/status"]);
            let (code, out, err) = join(init, &args);
            assert_eq!(
                (code, out.as_str()),
                (0, "CapEff:\t0000000000000080\n"),
                "{err}"
            );
        }
    });
}

#[test]
fn read_only_makes_the_root_read_only_but_not_the_mounts_on_it() {
    if !require_root() {
        return;
    }
    let root = rootfs_copy();
    let volume = tempfile::tempdir().unwrap();
    let spec = format!("{}:/data", volume.path().display());
    let out = container_ok(
        root.path(),
        &["--read-only", "--volume", &spec, "--tmpfs", "/scratch"],
        "touch /x 2>/dev/null || echo root-ro; touch /tmp/t && echo tmp; \
         touch /data/v && echo volume; touch /scratch/s && echo tmpfs",
    );
    assert_eq!(out, "root-ro\ntmp\nvolume\ntmpfs\n");
    assert!(volume.path().join("v").exists());
    assert!(!root.path().join("x").exists());
    assert_fixture_unchanged();
}

#[test]
fn read_only_needs_a_root() {
    if !require_root() {
        return;
    }
    let result = run(unshare().args(["--ns", "pid", "--read-only", "--", "true"]));
    assert_tool_error(&result, "hs-unshare", "--read-only need --root");
}

#[test]
fn no_new_privs_reaches_the_program_and_shows_in_the_dry_run() {
    if !require_root() {
        return;
    }
    let args = [
        "--ns",
        "pid",
        "--no-new-privs",
        "--",
        "grep",
        "^NoNewPrivs",
        "/proc/self/status",
    ];
    let (code, out, err) = run(unshare().args(args));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "NoNewPrivs:\t1\n");
    let (code, out, err) = run(unshare().arg("--dry-run").args(args));
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("no_new_privs:")), "{out}");
}
