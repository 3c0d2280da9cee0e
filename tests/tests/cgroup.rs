//! hs-cgroup through its binary, as root, on this machine's real cgroups:
//! limits enforced by the kernel, the chain and info-fd contract, kill/rm
//! leaving nothing behind, and bad input refused with 125.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hs_tests::{assert_no_cgroups, assert_tool_error, run, run_ok, wait_until, Env};
use serde_json::Value;

/// One test's cgroup `NAME` under its own relative parent; dropping it
/// kills whatever is left, removes the cgroup and the parent.
struct Cg {
    env: Env,
    name: String,
    /// Chains started with [`Cg::spawn`], killed on drop if still running.
    children: RefCell<Vec<Child>>,
}

impl Cg {
    fn new() -> Self {
        Self {
            env: Env::new(),
            name: hs_tests::unique("c"),
            children: RefCell::new(Vec::new()),
        }
    }

    /// `hs-cgroup SUB --name NAME ARGS…`.
    fn cmd(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = self.env.cmd("hs-cgroup");
        cmd.arg(sub).args(["--name", &self.name]).args(args);
        cmd
    }

    fn json(&self, sub: &str) -> Value {
        let out = run_ok(&mut self.cmd(sub, &[]));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn stats(&self) -> Value {
        self.json("stats")
    }

    /// The pids in the cgroup; none while it does not exist yet.
    fn procs(&self) -> Vec<i32> {
        let out = self.cmd("procs", &[]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// Starts `exec [limits] -- PROG…` in the background and waits until
    /// at least `count` processes are in the cgroup.
    fn spawn(&self, limits: &[&str], prog: &[&str], count: usize) {
        let mut cmd = self.cmd("exec", limits);
        cmd.arg("--")
            .args(prog)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.children.borrow_mut().push(cmd.spawn().unwrap());
        assert!(
            wait_until(Duration::from_secs(10), || self.procs().len() >= count),
            "the cgroup never had {count} processes: {:?}",
            self.procs()
        );
    }

    /// Waits for the chain started by the last [`Cg::spawn`].
    fn wait(&self) -> std::process::ExitStatus {
        self.children
            .borrow_mut()
            .last_mut()
            .unwrap()
            .wait()
            .unwrap()
    }

    /// Where the cgroup's directories are in every hierarchy right now.
    fn dirs(&self) -> Vec<PathBuf> {
        hs_tests::cgroup_dirs(&self.env.cgroup_parent, &self.name)
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        for child in self.children.borrow_mut().iter_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = self.cmd("rm", &["--kill"]).output();
        hs_tests::remove_cgroup_parent(&self.env.cgroup_parent);
    }
}

/// Runs `cmd` with a fresh file as fd 3 and returns (exit code, the file's text).
fn run_with_fd3(cmd: &mut Command) -> (i32, String, String) {
    let dir = hs_tests::tempdir_in_target("cgroup-info");
    let path = dir.path().join("info");
    let file = std::fs::File::create(&path).unwrap();
    let fd = file.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; the file outlives the spawn.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec, so clear it explicitly.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (code, stdout, _) = run(cmd);
    drop(file);
    (code, stdout, std::fs::read_to_string(path).unwrap())
}

fn num(value: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_u64()
}

/// A `sleep` argument unique to one test, to find its leftovers.
fn sleep_marker() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("1{n:04}.{}", std::process::id())
}

/// `hs-cgroup exec ARGS --info-fd 3 -- cat /proc/self/cgroup`: the
/// reported directories by hierarchy key, and PROG's /proc/self/cgroup.
fn exec_reporting(cg: &Cg, args: &[&str]) -> (BTreeMap<String, String>, String) {
    let args = [args, &["--info-fd", "3", "--", "cat", "/proc/self/cgroup"]].concat();
    let (code, stdout, info) = run_with_fd3(cg.cmd("exec", &args).stderr(Stdio::inherit()));
    assert_eq!(code, 0);
    let info: Value = serde_json::from_str(&info).unwrap();
    (
        serde_json::from_value(info["cgroups"].clone()).unwrap(),
        stdout,
    )
}

/// Whether a reported key names a v1 hierarchy of only cpu and cpuset.
fn limit_only(key: &str) -> bool {
    key.split(',').all(|c| c == "cpu" || c == "cpuset")
}

/// Asserts that each of `keys` was reported with an existing directory
/// of the test's cgroup, and that PROG's /proc/self/cgroup line for it
/// names that cgroup.
fn assert_joined(cg: &Cg, paths: &BTreeMap<String, String>, stdout: &str, keys: &[&str]) {
    let suffix = format!("/{}/{}", cg.env.cgroup_parent, cg.name);
    for key in keys {
        let dir = paths
            .get(*key)
            .unwrap_or_else(|| panic!("no {key} in {paths:?}"));
        assert!(PathBuf::from(dir).is_dir(), "{dir} does not exist");
        assert!(dir.ends_with(&suffix), "{dir}");
        let line = stdout
            .lines()
            .find(|l| match *key {
                "unified" => l.starts_with("0::"),
                _ => l.split(':').nth(1) == Some(key),
            })
            .unwrap_or_else(|| panic!("no {key} line in {stdout}"));
        assert!(line.ends_with(&suffix), "PROG not in the cgroup: {line}");
    }
}

#[test]
fn exec_moves_prog_into_every_hierarchy_it_needs_and_reports_them_on_info_fd() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let (paths, stdout) = exec_reporting(&cg, &[]);
    let keys = ["memory", "cpuacct", "pids", "freezer", "unified"];
    assert_joined(&cg, &paths, &stdout, &keys);
    // Without a cpu or cpuset limit those hierarchies are left out.
    assert!(!paths.keys().any(|k| limit_only(k)), "{paths:?}");
}

#[test]
fn cpu_and_cpuset_limits_add_their_hierarchies() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let (paths, stdout) = exec_reporting(&cg, &["--cpus", "0.5", "--cpuset-cpus", "0"]);
    assert_joined(&cg, &paths, &stdout, &["cpu", "cpuset"]);
}

#[test]
fn set_refuses_a_limit_whose_hierarchy_the_cgroup_was_created_without() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    run_ok(&mut cg.cmd("create", &[]));
    let result = run(&mut cg.cmd("set", &["--cpus", "1"]));
    assert_tool_error(&result, "hs-cgroup", "created without a cpu limit");
    run_ok(&mut cg.cmd("set", &["--pids-limit", "5"]));
    assert_eq!(cg.stats()["pids"]["max"], 5);
}

#[test]
fn exec_with_path_joins_the_recorded_cgroup() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let created: Value =
        serde_json::from_slice(&run_ok(&mut cg.cmd("create", &[])).stdout).unwrap();
    let paths: BTreeMap<String, String> =
        serde_json::from_value(created["cgroups"].clone()).unwrap();
    let mut cmd = cg.env.cmd("hs-cgroup");
    cmd.arg("exec");
    for dir in paths.values() {
        cmd.args(["--path", dir]);
    }
    let out = run_ok(cmd.args(["--", "cat", "/proc/self/cgroup"]));
    let text = String::from_utf8_lossy(&out.stdout);
    let unified = text.lines().find(|l| l.starts_with("0::")).unwrap();
    assert!(
        paths["unified"].ends_with(unified.trim_start_matches("0::")),
        "{text}"
    );
    let memory = text.lines().find(|l| l.contains(":memory:")).unwrap();
    assert!(
        paths["memory"].ends_with(memory.rsplit(':').next().unwrap()),
        "{text}"
    );
}

#[test]
fn exec_with_a_path_outside_any_cgroup_or_missing_fails_and_runs_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let missing = format!(
        "/sys/fs/cgroup/memory/{}-missing",
        cg.env.cgroup_parent.trim_start_matches('/')
    );
    for (path, needle) in [
        ("/tmp", "/tmp: not a cgroup directory"),
        ("/sys/fs/cgroup/memory/../x", "not a cgroup directory"),
        (missing.as_str(), "no such cgroup"),
    ] {
        let mut cmd = cg.env.cmd("hs-cgroup");
        let result = run(cmd.args(["exec", "--path", path, "--", "echo", "ran"]));
        assert_tool_error(&result, "hs-cgroup", needle);
        assert_eq!(result.1, "", "PROG ran");
    }
}

#[test]
fn memory_limit_oom_kills_prog_with_137_and_counts_it() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let (code, stdout, _) = run(&mut cg.cmd(
        "exec",
        &[
            "--memory",
            "32M",
            "--",
            "sh",
            "-c",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    ));
    assert_eq!(code, 137, "stdout: {stdout}");
    assert!(!stdout.contains("survived"));
    let stats = cg.stats();
    assert!(
        num(&stats, &["memory", "oom_kills"]).unwrap() >= 1,
        "{stats}"
    );
    assert_eq!(num(&stats, &["memory", "limit"]), Some(32 << 20));
}

#[test]
fn pids_limit_makes_the_21st_process_fail_to_fork_and_the_cgroup_survives() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let marker = sleep_marker();
    // busybox sh names the errno; sh itself is one of the 20. The sleeps
    // must not hold the output pipes open.
    let script = format!(
        "i=0; while [ $i -lt 25 ]; do sleep {} >/dev/null 2>&1 & i=$((i+1)); done; echo all started",
        marker
    );
    let (code, stdout, stderr) = run(&mut cg.cmd(
        "exec",
        &["--pids-limit", "20", "--", "busybox", "sh", "-c", &script],
    ));
    assert_ne!(code, 0);
    assert!(!stdout.contains("all started"));
    assert!(
        stderr.contains("Resource temporarily unavailable"),
        "no EAGAIN: {stderr}"
    );
    assert!(!cg.dirs().is_empty());
    assert_eq!(
        cg.procs().len(),
        19,
        "the 19 sleeps forked before the limit"
    );
    let stats = cg.stats();
    assert_eq!(num(&stats, &["pids", "max"]), Some(20));
    run_ok(&mut cg.cmd("rm", &["--kill"]));
    hs_tests::assert_no_processes_with(&marker);
}

#[test]
fn cpus_limit_throttles_a_busy_loop() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let started = Instant::now();
    // High shares: on a loaded machine the loop must get more than its
    // quota from the scheduler, or the quota never bites.
    cg.spawn(
        &["--cpus", "0.2", "--cpu-shares", "20000"],
        &["sh", "-c", "while :; do :; done"],
        1,
    );
    let throttled = wait_until(Duration::from_secs(30), || {
        num(&cg.stats(), &["cpu", "nr_throttled"]).unwrap_or(0) >= 5
    });
    let stats = cg.stats();
    let elapsed = started.elapsed().as_nanos() as u64;
    run_ok(&mut cg.cmd("rm", &["--kill"]));
    assert!(throttled, "never throttled: {stats}");
    let usage = num(&stats, &["cpu", "usage_ns"]).unwrap();
    // 0.2 CPUs; an unthrottled loop would use about the whole elapsed time.
    assert!(
        usage < elapsed * 6 / 10,
        "usage {usage} ns of {elapsed} ns elapsed"
    );
}

#[test]
fn cpuset_cpus_pins_prog() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let out = run_ok(&mut cg.cmd(
        "exec",
        &[
            "--cpuset-cpus",
            "0",
            "--",
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.split_whitespace().last(), Some("0"), "{text}");
}

#[test]
fn kill_and_rm_leave_no_directory_and_no_process() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let marker = sleep_marker();
    let script = format!("sleep {marker} & sleep {marker} & wait");
    cg.spawn(&[], &["sh", "-c", &script], 3);
    run_ok(&mut cg.cmd("kill", &[]));
    let status = cg.wait();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    run_ok(&mut cg.cmd("rm", &[]));
    assert!(cg.dirs().is_empty(), "left: {:?}", cg.dirs());
    hs_tests::assert_no_processes_with(&marker);
    hs_tests::remove_cgroup_parent(&cg.env.cgroup_parent);
    assert_no_cgroups(&cg.env.cgroup_parent);
}

#[test]
fn kill_with_a_signal_reaches_every_process() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let marker = sleep_marker();
    let script = format!("sleep {marker} & sleep {marker} & wait");
    cg.spawn(&[], &["sh", "-c", &script], 3);
    run_ok(&mut cg.cmd("kill", &["-s", "TERM"]));
    let status = cg.wait();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
    hs_tests::assert_no_processes_with(&marker);
}

#[test]
fn rm_without_kill_refuses_a_busy_cgroup_after_its_timeout() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    cg.spawn(&[], &["sleep", &sleep_marker()], 1);
    let result = run(&mut cg.cmd("rm", &["--timeout", "0.2"]));
    assert_tool_error(&result, "hs-cgroup", "still running");
    assert!(!cg.dirs().is_empty());
    run_ok(&mut cg.cmd("rm", &["--kill"]));
    assert!(cg.dirs().is_empty());
}

#[test]
fn rm_of_a_missing_cgroup_succeeds() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    run_ok(&mut cg.cmd("rm", &[]));
    run_ok(&mut cg.cmd("rm", &["--kill"]));
    assert_no_cgroups(&cg.env.cgroup_parent);
}

#[test]
fn freeze_and_thaw_show_in_the_unified_cgroup_events() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    cg.spawn(&[], &["sleep", &sleep_marker()], 1);
    let unified = hs_tests::own_cgroup_dirs()
        .into_iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/unified"))
        .unwrap()
        .join(&cg.env.cgroup_parent)
        .join(&cg.name)
        .join("cgroup.events");
    run_ok(&mut cg.cmd("freeze", &[]));
    assert!(std::fs::read_to_string(&unified)
        .unwrap()
        .contains("frozen 1"));
    run_ok(&mut cg.cmd("thaw", &[]));
    assert!(std::fs::read_to_string(&unified)
        .unwrap()
        .contains("frozen 0"));
}

#[test]
fn set_changes_the_limits_of_a_running_cgroup() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    run_ok(&mut cg.cmd("create", &["--pids-limit", "50", "--memory", "64M"]));
    run_ok(&mut cg.cmd("set", &["--pids-limit", "7", "--memory", "1G"]));
    let stats = cg.stats();
    assert_eq!(num(&stats, &["pids", "max"]), Some(7));
    assert_eq!(num(&stats, &["memory", "limit"]), Some(1 << 30));
}

#[test]
fn every_bad_limit_is_refused_with_125_and_creates_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    for (flag, value, needle) in [
        ("--memory", "12Q", "--memory"),
        ("--memory", "1M", "--memory"),
        ("--memory-swap", "12Q", "--memory-swap"),
        ("--cpus", "0", "--cpus"),
        ("--cpus", "999", "--cpus"),
        ("--cpus", "x", "--cpus"),
        ("--cpu-shares", "1", "--cpu-shares"),
        ("--cpu-weight", "0", "--cpu-weight"),
        ("--cpuset-cpus", "999", "--cpuset-cpus"),
        ("--cpuset-cpus", "0-", "--cpuset-cpus"),
        ("--cpuset-mems", "99", "--cpuset-mems"),
        ("--pids-limit", "-5", "--pids-limit"),
        ("--pids-limit", "many", "--pids-limit"),
    ] {
        let mut args = vec![flag, value];
        if flag == "--memory-swap" {
            args.extend(["--memory", "64M"]);
        }
        args.extend(["--", "true"]);
        let result = run(&mut cg.cmd("exec", &args));
        assert_tool_error(&result, "hs-cgroup", needle);
        assert_no_cgroups(&cg.env.cgroup_parent);
    }
}

#[test]
fn bad_names_and_missing_programs_fail_the_documented_way() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let mut cmd = cg.env.cmd("hs-cgroup");
    let result = run(cmd.args(["exec", "--name", "..", "--", "true"]));
    assert_tool_error(&result, "hs-cgroup", "bad cgroup name");
    let result = run(&mut cg.cmd("stats", &[]));
    assert_tool_error(&result, "hs-cgroup", "no such cgroup");
    let (code, _, stderr) = run(&mut cg.cmd("exec", &["--", "/nonexistent/prog"]));
    assert_eq!(code, 127, "{stderr}");
}

/// The v1 directories of the test's cgroup: addressing only these makes
/// hs-cgroup work as on a legacy (v1-only) machine.
fn v1_path_args(cg: &Cg) -> Vec<String> {
    cg.dirs()
        .into_iter()
        .filter(|d| !d.starts_with("/sys/fs/cgroup/unified"))
        .flat_map(|d| ["--path".to_string(), d.to_string_lossy().into_owned()])
        .collect()
}

#[test]
fn v1_kill_freezes_signals_and_thaws_until_a_forking_loop_is_gone() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let marker = sleep_marker();
    let script = format!("sleep {marker} & sleep {marker} & while :; do /bin/true; done");
    cg.spawn(&[], &["sh", "-c", &script], 3);
    let paths = v1_path_args(&cg);
    assert!(paths.iter().any(|p| p.contains("/freezer/")), "{paths:?}");
    let mut cmd = cg.env.cmd("hs-cgroup");
    run_ok(cmd.arg("kill").args(&paths));
    let status = cg.wait();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(wait_until(Duration::from_secs(10), || cg
        .procs()
        .is_empty()));
    hs_tests::assert_no_processes_with(&marker);
    let state = cg
        .dirs()
        .into_iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/freezer"))
        .unwrap()
        .join("freezer.state");
    assert_eq!(std::fs::read_to_string(state).unwrap().trim(), "THAWED");
}

#[test]
fn rm_kill_of_an_emptied_cgroup_removes_it_without_freezing() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    cg.spawn(&[], &["true"], 0);
    cg.wait();
    // Its v1 directories only: without the unified tree's cgroup.kill
    // (as under bench/run, which unmounts it) a kill freezes.
    let paths = v1_path_args(&cg);
    let dirs: Vec<PathBuf> = cg
        .dirs()
        .into_iter()
        .filter(|d| !d.starts_with("/sys/fs/cgroup/unified"))
        .collect();
    assert!(
        dirs.iter().any(|d| d.starts_with("/sys/fs/cgroup/freezer")),
        "{dirs:?}"
    );
    let mut rm = cg.env.cmd("hs-cgroup");
    rm.args(["rm", "--kill"]).args(&paths).env("HS_TRACE", "1");
    let out = run_ok(&mut rm);
    let trace = String::from_utf8_lossy(&out.stderr);
    let step = |name: &str| {
        trace
            .lines()
            .any(|l| l.contains(&format!("trace: {name} ")))
    };
    assert!(step("rmdir"), "{trace}");
    assert!(!step("freeze") && !step("kill"), "{trace}");
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
}

#[test]
fn v1_freeze_and_thaw_use_the_freezer_controller() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    cg.spawn(&[], &["sleep", &sleep_marker()], 1);
    let paths = v1_path_args(&cg);
    let state = cg
        .dirs()
        .into_iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/freezer"))
        .unwrap()
        .join("freezer.state");
    run_ok(cg.env.cmd("hs-cgroup").arg("freeze").args(&paths));
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "FROZEN");
    run_ok(cg.env.cmd("hs-cgroup").arg("thaw").args(&paths));
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "THAWED");
}

#[test]
fn concurrent_execs_under_one_new_parent_all_succeed() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let children: Vec<Child> = (0..8)
        .map(|i| {
            env.cmd("hs-cgroup")
                .args(["exec", "--name", &format!("c{i}"), "--cpuset-cpus", "0"])
                .args(["--", "true"])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for i in 0..8 {
        let _ = env
            .cmd("hs-cgroup")
            .args(["rm", "--name", &format!("c{i}")])
            .output();
    }
    hs_tests::remove_cgroup_parent(&env.cgroup_parent);
    for out in results {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn on_a_legacy_layout_exec_kill_and_rm_use_v1_only() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let marker = sleep_marker();
    // A private mount namespace where /sys/fs/cgroup/unified is a plain
    // tmpfs: statfs finds no cgroup2 tree, as on a v1-only machine.
    let script = r#"
        umount /sys/fs/cgroup/unified && mount -t tmpfs legacy /sys/fs/cgroup/unified || exit 99
        hc=$1 name=$2 marker=$3
        "$hc" exec --name "$name" --info-fd 3 -- sh -c "sleep $marker & sleep $marker & exec sleep $marker" 3>&1 >/dev/null 2>&1 &
        i=0
        until [ "$("$hc" procs --name "$name" 2>/dev/null | tr -cd , | wc -c)" = 2 ]; do
            i=$((i+1)); [ $i -lt 1000 ] || exit 98; sleep 0.01
        done
        "$hc" rm --kill --name "$name" || exit 97
        wait
    "#;
    let out = run_ok(
        hs_tests::in_private_mount_ns("sh")
            .env("HS_CGROUP_PARENT", &cg.env.cgroup_parent)
            .args(["-c", script, "sh"])
            .arg(hs_tests::bin("hs-cgroup"))
            .args([&cg.name, &marker]),
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = info["cgroups"].as_object().unwrap().keys().collect();
    assert!(
        !keys.is_empty() && !keys.iter().any(|k| *k == "unified"),
        "{info}"
    );
    assert!(cg.dirs().is_empty(), "left: {:?}", cg.dirs());
    hs_tests::assert_no_processes_with(&marker);
}

#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let cg = Cg::new();
    let out = run_ok(&mut cg.cmd(
        "exec",
        &["--dry-run", "--memory", "64M", "--", "/nonexistent/prog"],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("mkdir ")), "{text}");
    assert!(text.contains("memory.limit_in_bytes"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("move pid"),
        "{text}"
    );
    assert_no_cgroups(&cg.env.cgroup_parent);
}
