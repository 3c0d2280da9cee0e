//! hs-pty end to end: the monitor (`serve`) driven through real PTYs, the
//! attach client, the log, the exit file, the handshake.
//!
//! Every test runs its container under a unique marker (the program's
//! `$0`), and a guard kills whatever still carries it when the test ends.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hs_tests::{bin, require_root, tempdir_in_target, unique, wait_until, TempDir};
use nix::sys::termios::{tcgetattr, LocalFlags};

const WAIT: Duration = Duration::from_secs(20);

/// A container run by `hs-pty serve --detach` in a temp dir of its own.
struct Served {
    dir: TempDir,
    marker: String,
    monitor_pid: i32,
    init_pid: Option<i32>,
}

impl Served {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("attach.sock")
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }
    fn exit_file(&self) -> PathBuf {
        self.dir.path().join("exit.json")
    }

    /// Waits for the exit file and returns it.
    fn exit(&self) -> serde_json::Value {
        assert!(
            wait_until(WAIT, || self.exit_file().exists()),
            "the container did not exit"
        );
        serde_json::from_slice(&std::fs::read(self.exit_file()).unwrap()).unwrap()
    }

    fn attach(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(bin("hs-pty"));
        cmd.arg("attach")
            .arg("--socket")
            .arg(self.socket())
            .args(extra);
        cmd
    }

    fn logs(&self, extra: &[&str]) -> (String, String) {
        let out = Command::new(bin("hs-pty"))
            .arg("logs")
            .arg("--log")
            .arg(self.log())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "logs failed: {out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn running(&self) -> bool {
        hs_common::proc::stat(self.monitor_pid).is_some_and(|s| !s.is_dead())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        kill_marked(&self.marker);
    }
}

/// SIGKILLs every process whose command line holds `marker`.
fn kill_marked(marker: &str) {
    for pid in hs_tests::pids_with_cmdline(marker) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// [`kill_marked`] on drop.
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill_marked(&self.0);
    }
}

/// Runs `hs-pty serve --detach` with `flags` and `sh -c SCRIPT MARKER` as
/// the program; returns once serve returned 0.
fn serve_sh(flags: &[&str], script: &str) -> Served {
    serve(flags, &["sh", "-c", script])
}

fn serve(flags: &[&str], program: &[&str]) -> Served {
    let (code, served, stderr) = try_serve(flags, program);
    assert_eq!(code, 0, "serve failed: {stderr}");
    served
}

/// `hs-pty serve` with its socket, log and exit file in `dir`.
fn serve_in(dir: &Path) -> Command {
    let mut cmd = Command::new(bin("hs-pty"));
    cmd.arg("serve")
        .arg("--socket")
        .arg(dir.join("attach.sock"))
        .arg("--log")
        .arg(dir.join("log"))
        .arg("--exit-file")
        .arg(dir.join("exit.json"));
    cmd
}

/// Like [`serve`] but returns serve's exit code and stderr too.
fn try_serve(flags: &[&str], program: &[&str]) -> (i32, Served, String) {
    let dir = tempdir_in_target("pty");
    let marker = unique("hs-pty-test");
    let (info_read, info_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut cmd = serve_in(dir.path());
    cmd.args(["--detach", "--info-fd", "3"])
        .args(flags)
        .arg("--")
        .args(program);
    if program.first() == Some(&"sh") {
        cmd.arg(&marker);
    } else {
        cmd.env("HS_TEST_MARKER", &marker);
    }
    pass_fd(&mut cmd, info_write.as_raw_fd(), 3);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    drop(info_write);
    drop(cmd);
    let mut info = String::new();
    File::from(info_read).read_to_string(&mut info).unwrap();
    let code = out.status.code().unwrap_or(-1);
    let (monitor_pid, init_pid) = match serde_json::from_str::<serde_json::Value>(info.trim()) {
        Ok(v) => (
            v["monitor_pid"].as_i64().unwrap_or(0) as i32,
            v["init_pid"].as_i64().map(|p| p as i32),
        ),
        Err(_) => (0, None),
    };
    let served = Served {
        dir,
        marker,
        monitor_pid,
        init_pid,
    };
    (
        code,
        served,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes `fd` the child's fd `target` (inheritable), also when it already
/// is `target` (dup2 onto itself would keep close-on-exec).
fn pass_fd(cmd: &mut Command, fd: i32, target: i32) {
    // SAFETY: only dup2/fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let rc = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A command running on a fresh PTY as its controlling terminal (the way
/// a user's shell runs `hs-pty attach`); the test plays the user at the
/// master.
struct Term {
    master: OwnedFd,
    slave: OwnedFd,
    child: Child,
    seen: Vec<u8>,
    cursor: usize,
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Term {
    fn spawn(cmd: &mut Command) -> Term {
        let pty = nix::pty::openpty(Some(&winsize(24, 80)), None).unwrap();
        let slave = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let master = pty.master;
        let flags = nix::fcntl::fcntl(master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        nix::fcntl::fcntl(
            master.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(
                nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
            ),
        )
        .unwrap();
        Term {
            master,
            slave,
            child,
            seen: Vec::new(),
            cursor: 0,
        }
    }

    fn send(&mut self, text: &str) {
        File::from(self.master.try_clone().unwrap())
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        while let Ok(n) = nix::unistd::read(self.master.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits until `needle` appears in output after the last match.
    fn expect(&mut self, needle: &str) {
        let found = wait_until(WAIT, || {
            self.pump();
            let hay = &self.seen[self.cursor..];
            match hay
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                Some(at) => {
                    self.cursor += at + needle.len();
                    true
                }
                None => false,
            }
        });
        assert!(
            found,
            "{needle:?} never appeared; output so far: {:?}",
            String::from_utf8_lossy(&self.seen)
        );
    }

    /// Waits for the command to exit; its exit code.
    fn wait(&mut self) -> i32 {
        let mut code = None;
        let exited = wait_until(WAIT, || {
            self.pump();
            code = self
                .child
                .try_wait()
                .unwrap()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        assert!(
            exited,
            "the command did not exit: {:?}",
            String::from_utf8_lossy(&self.seen)
        );
        code.unwrap()
    }

    fn raw(&self) -> bool {
        !tcgetattr(self.slave.as_fd())
            .unwrap()
            .local_flags
            .contains(LocalFlags::ICANON)
    }

    fn resize(&self, rows: u16, cols: u16) {
        // The kernel sends SIGWINCH to the terminal's foreground group.
        let ws = winsize(rows, cols);
        assert_eq!(
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
            0
        );
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_detached_monitor_leads_its_own_session_without_a_controlling_terminal() {
    // Even after opening the container's PTY: --detach forks once, which
    // is only right while the monitor never acquires a terminal.
    let served = serve_sh(&["--tty"], "sleep 60");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", served.monitor_pid))
        .expect("the monitor's stat");
    let after_comm = &stat[stat.rfind(')').expect("a stat line") + 2..];
    // state ppid pgrp session tty_nr …
    let fields: Vec<&str> = after_comm.split(' ').collect();
    assert_eq!(fields[3], served.monitor_pid.to_string(), "session: {stat}");
    assert_eq!(fields[4], "0", "controlling terminal: {stat}");
}

#[test]
fn the_monitor_holds_the_chains_mount_namespace_while_it_runs() {
    // So that unmounting the container's tree happens once the exit is
    // reported, not in the exit the monitor is waiting for. The chain makes
    // its namespace as hs run's does: hs-overlay --unshare-mount.
    let layers = tempdir_in_target("pty-ns");
    for layer in ["a", "b", "t"] {
        std::fs::create_dir(layers.path().join(layer)).unwrap();
    }
    let lower = format!(
        "{}:{}",
        layers.path().join("a").display(),
        layers.path().join("b").display()
    );
    let target = layers.path().join("t");
    let marker = unique("hs-pty-ns");
    let _stop = KillOnDrop(marker.clone());
    let overlay = bin("hs-overlay");
    let served = serve(
        &[],
        &[
            overlay.to_str().unwrap(),
            "mount",
            "--lower",
            &lower,
            "--target",
            target.to_str().unwrap(),
            "--unshare-mount",
            "--",
            "sh",
            "-c",
            "while :; do sleep 1; done",
            &marker,
        ],
    );
    let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    let own = ns_of(std::process::id() as i32);
    let mut chain_ns = None;
    assert!(wait_until(Duration::from_secs(10), || {
        chain_ns = hs_tests::pids_with_cmdline(&marker)
            .into_iter()
            .filter_map(ns_of)
            .find(|ns| Some(ns) != own.as_ref());
        chain_ns.is_some()
    }));
    let held: Vec<_> = std::fs::read_dir(format!("/proc/{}/fd", served.monitor_pid))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .collect();
    assert!(held.contains(&chain_ns.unwrap()), "{held:?}");
}

#[test]
fn typed_commands_run_in_the_shell_and_exit_ends_the_attach_with_its_code() {
    let served = serve_sh(&["--tty"], "sh -i");
    let mut term = Term::spawn(&mut served.attach(&[]));
    term.send("echo $((6*7))\r");
    term.expect("42");
    term.send("exit 7\r");
    assert_eq!(term.wait(), 7);
    assert_eq!(served.exit()["exit_code"], 7);
}

#[test]
fn detach_keys_leave_the_container_running_and_reattach_finds_it() {
    let served = serve_sh(&["--tty"], "sh -i");
    let mut term = Term::spawn(&mut served.attach(&[]));
    term.send("X=kept; echo set-$((1+1))\r");
    term.expect("set-2");
    term.send("\x10\x11");
    assert_eq!(term.wait(), 0);
    assert!(served.running() && !served.exit_file().exists());

    let mut again = Term::spawn(&mut served.attach(&[]));
    again.send("echo $X-$((2+2))\r");
    again.expect("kept-4");
    again.send("exit\r");
    assert_eq!(again.wait(), 0);
}

#[test]
fn custom_detach_keys_detach_and_the_default_ones_then_pass_through() {
    let served = serve_sh(&["--tty"], "sh -i");
    let mut term = Term::spawn(&mut served.attach(&["--detach-keys", "ctrl-x,d"]));
    term.send("echo a-$((3+3))\r");
    term.expect("a-6");
    // ctrl-p ctrl-q is plain input now; ctrl-x then d detaches.
    term.send("\x10\x11\x18d");
    assert_eq!(term.wait(), 0);
    assert!(served.running());
}

#[test]
fn a_bad_detach_key_spec_is_refused() {
    let result = hs_tests::run(Command::new(bin("hs-pty")).args([
        "attach",
        "--socket",
        "/nonexistent",
        "--detach-keys",
        "alt-x",
    ]));
    hs_tests::assert_tool_error(&result, "hs-pty", "bad detach keys");
}

#[test]
fn two_clients_see_the_same_output_and_both_can_type() {
    let served = serve_sh(&["--tty"], "sh -i");
    let mut one = Term::spawn(&mut served.attach(&[]));
    one.send("echo one-up-$((10+1))\r");
    one.expect("one-up-11");
    // Each client sees output from the moment it attached: once two's own
    // command answered, it is attached for sure.
    let mut two = Term::spawn(&mut served.attach(&[]));
    two.send("echo from-two-$((10+2))\r");
    two.expect("from-two-12");
    one.expect("from-two-12");
    one.send("echo from-one-$((10+3))\r");
    one.expect("from-one-13");
    two.expect("from-one-13");
    two.send("exit 3\r");
    assert_eq!(one.wait(), 3);
    assert_eq!(two.wait(), 3);
}

#[test]
fn the_window_size_and_its_changes_reach_the_container() {
    let served = serve_sh(&["--tty"], "sh -i");
    let mut term = Term::spawn(&mut served.attach(&[]));
    term.send("stty size\r");
    term.expect("24 80");
    term.resize(33, 101);
    // The resize travels asynchronously: ask until the new size shows.
    let seen = wait_until(WAIT, || {
        term.send("stty size\r");
        std::thread::sleep(Duration::from_millis(50));
        term.pump();
        String::from_utf8_lossy(&term.seen[term.cursor..]).contains("33 101")
    });
    assert!(seen, "{:?}", String::from_utf8_lossy(&term.seen));
    term.send("exit\r");
    assert_eq!(term.wait(), 0);
}

#[test]
fn output_of_a_detached_run_is_in_the_log_per_stream() {
    let served = serve_sh(&[], "echo to-stdout; echo to-stderr >&2");
    assert_eq!(served.exit()["exit_code"], 0);
    let (out, err) = served.logs(&[]);
    assert_eq!(out, "to-stdout\n");
    assert_eq!(err, "to-stderr\n");
    // CRI records: TIME STREAM F|P CONTENT.
    let log = std::fs::read_to_string(served.log()).unwrap();
    let mut records: Vec<Vec<&str>> = log.lines().map(|l| l.splitn(4, ' ').collect()).collect();
    records.sort_by_key(|r| r[1]);
    for record in &records {
        assert!(record[0].ends_with('Z'), "{log}");
    }
    let rest: Vec<&[&str]> = records.iter().map(|r| &r[1..]).collect();
    assert_eq!(
        rest,
        [
            &["stderr", "F", "to-stderr"][..],
            &["stdout", "F", "to-stdout"][..]
        ],
        "{log}"
    );
}

#[test]
fn output_while_nobody_is_attached_is_all_kept() {
    let served = serve_sh(
        &["--tty"],
        "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo all-written; read x",
    );
    assert!(wait_until(WAIT, || served
        .logs(&[])
        .0
        .contains("all-written")));
    let (out, _) = served.logs(&[]);
    for i in 0..3000 {
        assert!(out.contains(&format!("line-{i}\r\n")), "line-{i} lost");
    }
    // A client asking for history gets the end of it first.
    let mut term = Term::spawn(&mut served.attach(&["--tail-bytes", "4096"]));
    term.expect("line-2999");
    term.expect("all-written");
    term.send("x\r");
    assert_eq!(term.wait(), 0);
}

#[test]
fn logs_tail_and_timestamps_show_the_last_lines_stamped() {
    let served = serve_sh(&[], "echo one; echo two; echo three");
    served.exit();
    let (out, _) = served.logs(&["--tail", "2", "--timestamps"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with("Z two") && lines[1].ends_with("Z three"),
        "{out}"
    );
}

#[test]
fn a_client_still_sending_input_when_the_container_exits_gets_its_exit_code() {
    let served = serve_sh(&["--stdin"], "head -c 1 >/dev/null; exit 3");
    let mut client = served
        .attach(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = client.stdin.take().unwrap();
    // Far more than the monitor queues (64 KiB): the client is sending,
    // or waiting to send, when the container ends.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..64 {
            if input.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let status = client.wait().unwrap();
    let _ = writer.join();
    assert_eq!(status.code(), Some(3));
}

#[test]
fn logs_follow_returns_once_the_container_exited() {
    let served = serve_sh(&["--stdin"], "echo before; read x; echo after");
    let follow = Command::new(bin("hs-pty"))
        .arg("logs")
        .arg("--follow")
        .arg("--log")
        .arg(served.log())
        .arg("--exit-file")
        .arg(served.exit_file())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut feeder = served.attach(&["--no-stdin"]);
    let mut feeder = feeder.stdout(Stdio::null()).spawn().unwrap();
    // Input through a second, piped client: its EOF closes the container's stdin.
    let out = served
        .attach(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"go\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let followed = follow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "before\nafter\n");
    let _ = feeder.wait();
}

#[test]
fn a_signal_death_is_recorded_as_128_plus_n() {
    let served = serve_sh(&[], "kill -9 $$");
    let exit = served.exit();
    assert_eq!(exit["exit_code"], 137);
    assert_eq!(exit["signal"], 9);
}

#[test]
fn sigterm_to_the_monitor_reaches_the_program() {
    let served = serve_sh(
        &[],
        "trap 'exit 9' TERM; echo ready; while :; do sleep 0.1; done",
    );
    assert!(wait_until(WAIT, || served.logs(&[]).0.contains("ready")));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(served.monitor_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(served.exit()["exit_code"], 9);
    assert!(wait_until(WAIT, || !served.running()));
}

#[test]
fn a_missing_program_fails_the_detached_start_with_127_and_its_message() {
    let (code, served, stderr) = try_serve(&[], &["no-such-program-hs-pty"]);
    assert_eq!(code, 127, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-program-hs-pty"), "{stderr}");
    assert_eq!(served.exit()["exit_code"], 127);
    assert!(wait_until(WAIT, || !served.socket().exists()));
    // The same line in the log, once (the monitor writes it there).
    let (_, logged) = served.logs(&[]);
    assert_eq!(
        logged.matches("no-such-program-hs-pty").count(),
        1,
        "{logged}"
    );
}

#[test]
fn bad_arguments_fail_with_125_and_create_nothing() {
    let dir = tempdir_in_target("pty");
    let result = hs_tests::run(
        Command::new(bin("hs-pty"))
            .arg("serve")
            .arg("--socket")
            .arg(dir.path().join("s"))
            .args(["--console", "--", "true"]),
    );
    hs_tests::assert_tool_error(&result, "hs-pty", "--tty");
    let result = hs_tests::run(
        Command::new(bin("hs-pty"))
            .arg("serve")
            .arg("--socket")
            .arg(dir.path().join("missing-dir/s"))
            .args(["--", "true"]),
    );
    hs_tests::assert_tool_error(&result, "hs-pty", "missing-dir");
    let result = hs_tests::run(
        Command::new(bin("hs-pty"))
            .arg("serve")
            .arg("--socket")
            .arg(dir.path().join("s"))
            .arg("--exit-file")
            .arg(dir.path().join("missing-dir/exit.json"))
            .args(["--", "true"]),
    );
    hs_tests::assert_tool_error(&result, "hs-pty", "--exit-file");
    let result = hs_tests::run(
        Command::new(bin("hs-pty"))
            .arg("serve")
            .arg("--socket")
            .arg(dir.path().join("s"))
            .args(["--on-exit", "no-such-cleanup-program", "--", "true"]),
    );
    hs_tests::assert_tool_error(&result, "hs-pty", "--on-exit");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_bad_console_size_fails_with_125_before_the_socket_or_log_exists() {
    let dir = tempdir_in_target("pty");
    let result = hs_tests::run(
        Command::new(bin("hs-pty"))
            .env("HS_CONSOLE_SIZE", "tall")
            .arg("serve")
            .arg("--socket")
            .arg(dir.path().join("s"))
            .arg("--log")
            .arg(dir.path().join("log"))
            .args(["--detach", "--tty", "--", "true"]),
    );
    hs_tests::assert_tool_error(&result, "hs-pty", "HS_CONSOLE_SIZE");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn on_exit_runs_after_the_exit_file_without_the_chain_variables() {
    let dir = tempdir_in_target("pty-on-exit");
    let exit_path = dir.path().join("exit.json");
    let sock = dir.path().join("attach.sock");
    let seen = dir.path().join("seen");
    let script = format!(
        "cat \"$1\" > {0}.exit; env > {0}.env; test -e \"$2\" && echo present > {0}.sock; touch {0}.done",
        seen.display()
    );
    let mut flags = on_exit_shell(&script);
    flags.extend([
        "--on-exit-arg",
        "on-exit",
        "--on-exit-arg",
        exit_path.to_str().unwrap(),
        "--on-exit-arg",
        sock.to_str().unwrap(),
    ]);
    let (code, _served, stderr) = try_serve_at(&exit_path, &flags, &["sh", "-c", "echo hi"]);
    assert_eq!(code, 0, "{stderr}");
    let done = PathBuf::from(format!("{}.done", seen.display()));
    assert!(wait_until(WAIT, || done.exists()), "on-exit did not run");
    let exit = std::fs::read_to_string(format!("{}.exit", seen.display())).unwrap();
    assert!(exit.contains("\"exit_code\":0"), "{exit}");
    let env = std::fs::read_to_string(format!("{}.env", seen.display())).unwrap();
    assert!(
        !env.contains("HS_SYNC_FD") && !env.contains("HS_CONSOLE_FD"),
        "{env}"
    );
    assert!(
        !Path::new(&format!("{}.sock", seen.display())).exists(),
        "the socket was still there when on-exit ran"
    );
}

#[test]
fn on_exit_idle_runs_the_on_exit_program_under_sched_idle() {
    let dir = tempdir_in_target("pty-on-exit-idle");
    let exit_path = dir.path().join("exit.json");
    let seen = dir.path().join("seen");
    // Field 41 of /proc/PID/stat is the scheduling policy (5: SCHED_IDLE).
    let script = format!(
        "cut -d')' -f2- /proc/self/stat | cut -d' ' -f40 > {0}.tmp && mv {0}.tmp {0}",
        seen.display()
    );
    let run = |idle: bool| {
        let _ = std::fs::remove_file(&seen);
        let mut flags = on_exit_shell(&script);
        if idle {
            flags.push("--on-exit-idle");
        }
        let (code, _served, stderr) = try_serve_at(&exit_path, &flags, &["true"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(wait_until(WAIT, || seen.exists()), "on-exit did not run");
        std::fs::read_to_string(&seen).unwrap().trim().to_string()
    };
    assert_eq!(run(true), "5");
    assert_eq!(run(false), "0");
}

/// `--on-exit sh -c SCRIPT`; more `--on-exit-arg`s may follow.
fn on_exit_shell(script: &str) -> Vec<&str> {
    vec![
        "--on-exit",
        "sh",
        "--on-exit-arg",
        "-c",
        "--on-exit-arg",
        script,
    ]
}

/// `serve --detach` with the socket, log and exit file next to `exit_file`.
fn try_serve_at(exit_file: &Path, flags: &[&str], program: &[&str]) -> (i32, Served, String) {
    let dir = exit_file.parent().unwrap();
    let marker = unique("hs-pty-test");
    let out = Command::new(bin("hs-pty"))
        .arg("serve")
        .arg("--socket")
        .arg(dir.join("attach.sock"))
        .arg("--exit-file")
        .arg(exit_file)
        .arg("--detach")
        .args(flags)
        .arg("--")
        .args(program)
        .arg(&marker)
        .output()
        .unwrap();
    let served = Served {
        dir: tempdir_in_target("pty-unused"),
        marker,
        monitor_pid: 0,
        init_pid: None,
    };
    (
        out.status.code().unwrap_or(-1),
        served,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The caller's fds for later chain steps go down the chain, and the
/// monitor drops its own copies: here the next step is a nested monitor
/// whose `--info-fd 4` report must reach EOF while everything still runs.
#[test]
fn the_monitor_keeps_no_copy_of_fds_meant_for_later_chain_steps() {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let write_fd = write.as_raw_fd();
    let dir = tempdir_in_target("pty");
    let marker = unique("hs-pty-test");
    let mut cmd = Command::new(bin("hs-pty"));
    cmd.arg("serve")
        .arg("--socket")
        .arg(dir.path().join("outer.sock"))
        .arg("--exit-file")
        .arg(dir.path().join("exit.json"))
        .args(["--detach", "--"])
        .arg(bin("hs-pty"))
        .arg("serve")
        .arg("--socket")
        .arg(dir.path().join("inner.sock"))
        .args([
            "--stdin",
            "--info-fd",
            "4",
            "--",
            "sh",
            "-c",
            "read x",
            &marker,
        ]);
    pass_fd(&mut cmd, write_fd, 4);
    let _guard = Served {
        dir,
        marker: marker.clone(),
        monitor_pid: 0,
        init_pid: None,
    };
    let status = cmd.status().unwrap();
    drop(write);
    assert!(status.success());
    let mut text = String::new();
    File::from(read).read_to_string(&mut text).unwrap();
    assert!(text.contains("\"monitor_pid\""), "{text}");
    assert!(!hs_tests::pids_with_cmdline(&marker).is_empty());
}

#[test]
fn the_terminal_mode_is_restored_when_the_client_is_killed() {
    let served = serve_sh(&["--tty"], "sh -i");
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let mut term = Term::spawn(&mut served.attach(&[]));
        term.send("echo up-$((5*5))\r");
        term.expect("up-25");
        assert!(term.raw());
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(term.child.id() as i32), signal).unwrap();
        term.wait();
        assert!(!term.raw(), "raw mode left behind after {signal}");
        assert!(
            served.running(),
            "{signal} to the client stopped the container"
        );
    }
}

#[test]
fn a_stuck_client_is_dropped_without_blocking_the_container_or_other_clients() {
    let flag_dir = tempdir_in_target("pty-go");
    let go = flag_dir.path().join("go");
    let served = serve_sh(
        &["--tty"],
        &format!(
            "stty -onlcr; echo ready; while [ ! -e {} ]; do sleep 0.05; done; head -c 30000000 /dev/zero; echo; echo END; read x",
            go.display()
        ),
    );
    // The stuck client: its stdout is a pipe nobody reads past "ready".
    let mut stuck = served
        .attach(&["--no-stdin", "--tail-bytes", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stuck_out = stuck.stdout.take().unwrap();
    let mut first = [0u8; 6];
    stuck_out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    let out_file = served.dir.path().join("fast.out");
    let mut fast = served
        .attach(&["--no-stdin", "--tail-bytes", "100"])
        .stdout(File::create(&out_file).unwrap())
        .spawn()
        .unwrap();
    assert!(wait_until(WAIT, || std::fs::read(&out_file)
        .unwrap()
        .starts_with(b"ready")));
    File::create(&go).unwrap();
    // The program wrote everything and the other client got all of it,
    // while the stuck one took nothing.
    let all = wait_until(Duration::from_secs(60), || {
        std::fs::read(&out_file).unwrap().ends_with(b"END\n")
    });
    assert!(all, "the fast client did not get all the output");
    assert!(std::fs::metadata(&out_file).unwrap().len() > 30_000_000);
    // The monitor gives up on the stuck client (one socket fewer: the
    // listener and the fast client remain) while the container runs...
    let sockets = || {
        std::fs::read_dir(format!("/proc/{}/fd", served.monitor_pid))
            .map(|fds| {
                fds.flatten()
                    .filter(|fd| {
                        std::fs::read_link(fd.path())
                            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || sockets() == 2),
        "the stuck client was never dropped"
    );
    // ...and the client sees its connection end without an exit code,
    // short of the output.
    let drain = std::thread::spawn(move || {
        let mut rest = Vec::new();
        stuck_out.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    let dropped = wait_until(Duration::from_secs(60), || {
        stuck.try_wait().unwrap().is_some()
    });
    assert!(dropped, "the stuck client was never dropped");
    let received = drain.join().unwrap();
    assert!(
        received < 30_000_000,
        "the stuck client got {received} bytes"
    );
    let stuck = stuck.wait_with_output().unwrap();
    assert_eq!(stuck.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&stuck.stderr).contains("without an exit code"));
    assert!(served.running() && !served.exit_file().exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(served.monitor_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    served.exit();
    let _ = fast.wait();
}

#[test]
fn piped_input_reaches_a_stdin_program_and_its_eof_ends_it() {
    let served = serve(&["--stdin"], &["cat"]);
    let out = served
        .attach(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"through the pipe\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the pipe\n");
}

#[test]
fn run_relays_the_terminal_and_exits_with_the_program_code() {
    let mut term = Term::spawn(Command::new(bin("hs-pty")).args([
        "run",
        "--tty",
        "--",
        "sh",
        "-c",
        "tty; stty size; read x; echo got-$x; exit 3",
    ]));
    term.expect("/dev/pts/");
    term.expect("24 80");
    assert!(wait_until(WAIT, || term.raw()));
    term.send("abc\r");
    term.expect("got-abc");
    assert_eq!(term.wait(), 3);
    assert!(!term.raw());
}

/// The real console path: the PTY comes from the container's own devpts
/// through `hs-unshare --root … --console`, so `tty` inside prints
/// /dev/pts/0 and the pid namespace's init is reported.
#[test]
fn the_console_path_gives_the_container_its_own_pts_0() {
    if !require_root() {
        return;
    }
    let rootfs = hs_tests::rootfs_copy();
    let unshare = bin("hs-unshare");
    let unshare = unshare.to_str().unwrap();
    let served = serve(
        &["--tty", "--console"],
        &[
            unshare,
            "--ns",
            "mnt,pid",
            "--",
            unshare,
            "--root",
            rootfs.path().to_str().unwrap(),
            "--console",
            "--",
            "/bin/sh",
        ],
    );
    assert!(served.init_pid.is_some(), "no init pid reported");
    let mut term = Term::spawn(&mut served.attach(&[]));
    term.send("tty; echo pid-$$\r");
    term.expect("/dev/pts/0");
    term.expect("pid-");
    term.send("stty size\r");
    term.expect("24 80");
    term.send("exit 4\r");
    assert_eq!(term.wait(), 4);
    assert_eq!(served.exit()["exit_code"], 4);
    assert!(wait_until(WAIT, || !served.running()));
    hs_tests::assert_no_mounts_under(rootfs.path());
}

#[test]
fn a_console_chain_that_sends_no_terminal_fails_the_start() {
    let (code, served, stderr) = try_serve(&["--tty", "--console"], &["sh", "-c", "sleep 5"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("HS_CONSOLE_FD"), "{stderr}");
    assert_ne!(served.exit()["exit_code"], 0);
}

/// `run --console` (what `hs exec -it` uses): the caller's terminal relayed
/// to a PTY from the container's own devpts, sized like the caller's.
#[test]
fn run_with_console_relays_to_the_containers_own_pts() {
    if !require_root() {
        return;
    }
    let rootfs = hs_tests::rootfs_copy();
    let unshare = bin("hs-unshare");
    let marker = unique("hs-pty-test");
    let mut term = Term::spawn(
        Command::new(bin("hs-pty"))
            .args(["run", "--tty", "--console", "--"])
            .arg(&unshare)
            .args(["--ns", "mnt,pid", "--"])
            .arg(&unshare)
            .arg("--root")
            .arg(rootfs.path())
            .args(["--console", "--", "/bin/sh", "-c"])
            .arg("tty; stty size; read x; echo got-$x; exit 6")
            .arg(&marker),
    );
    term.expect("/dev/pts/0");
    term.expect("24 80");
    term.send("abc\r");
    term.expect("got-abc");
    assert_eq!(term.wait(), 6);
    assert!(!term.raw());
    hs_tests::assert_no_processes_with(&marker);
    hs_tests::assert_no_mounts_under(rootfs.path());
}

#[test]
fn run_without_tty_gives_the_program_our_stdio_and_its_exit_code() {
    let out = Command::new(bin("hs-pty"))
        .args(["run", "--", "sh", "-c", "echo out; echo err >&2; exit 2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
}

#[test]
fn a_new_run_removes_the_exit_file_of_the_last_one() {
    let dir = tempdir_in_target("pty-rerun");
    let exit_path = dir.path().join("exit.json");
    std::fs::write(
        &exit_path,
        r#"{"exit_code":1,"signal":null,"finished":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let (code, _served, stderr) = try_serve_at(&exit_path, &["--stdin"], &["sh", "-c", "read x"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!exit_path.exists(), "the old exit file is still there");
}

#[test]
fn a_killed_monitor_hangs_up_the_program_and_writes_no_exit_file() {
    let served = serve_sh(&["--tty"], "echo up; while :; do sleep 0.1; done");
    assert!(wait_until(WAIT, || served.logs(&[]).0.contains("up")));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(served.monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The closed PTY sends SIGHUP to the program's session.
    hs_tests::assert_no_processes_with(&served.marker);
    assert!(!served.exit_file().exists());
}

/// A signal mask the monitor's caller left blocked must not reach the
/// program (it would never see SIGINT or SIGTERM).
#[test]
fn the_program_starts_with_no_signal_blocked_whatever_the_caller_blocked() {
    let mut cmd = Command::new(bin("hs-pty"));
    cmd.args(["run", "--", "sh", "-c", "grep SigBlk /proc/self/status"]);
    // SAFETY: only sigprocmask between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set = nix::sys::signal::SigSet::empty();
            set.add(nix::sys::signal::Signal::SIGINT);
            set.add(nix::sys::signal::Signal::SIGTERM);
            set.thread_block().map_err(std::io::Error::from)
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "SigBlk:\t0000000000000000"
    );
}

#[test]
fn the_monitor_writes_its_log_and_exit_file_without_fsync() {
    let dir = tempdir_in_target("pty-nosync");
    let exit_file = dir.path().join("exit.json");
    let mut cmd = serve_in(dir.path());
    cmd.args(["--", "sh", "-c", "echo logged"]);
    let (out, fsyncs) = hs_tests::run_counting_fsyncs(&cmd, b"");
    assert!(out.status.success(), "serve failed: {out:?}");
    let exit = std::fs::read_to_string(&exit_file).unwrap();
    assert!(exit.contains("\"exit_code\":0"), "{exit}");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("logged"), "{log}");
    assert_eq!(fsyncs, 0);
}

/// True when `fd` reports EOF (or an error) within `timeout`.
fn hung_up_within(fd: &OwnedFd, timeout: Duration) -> bool {
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::try_from(ms).unwrap()) {
        Ok(0) => false,
        Ok(_) => fds[0].revents().is_some_and(|r| {
            r.intersects(nix::poll::PollFlags::POLLHUP | nix::poll::PollFlags::POLLERR)
        }),
        Err(e) => panic!("poll: {e}"),
    }
}

/// A waiter on `--exit-fd` wakes once the exit file is in place: not
/// before, not only when a child the program left behind is gone, and not
/// only after the on-exit step (hs's `hs cleanup` waits for that very
/// waiter).
#[test]
fn the_exit_fd_closes_once_the_exit_file_is_written() {
    let dir = tempdir_in_target("pty-exit-fd");
    let marker = unique("hs-pty-test");
    let go = dir.path().join("go");
    let bg_pid = dir.path().join("bg.pid");
    let on_exit_done = dir.path().join("on-exit-may-end");
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut cmd = serve_in(dir.path());
    cmd.args(["--on-exit", "sh", "--on-exit-arg", "-c", "--on-exit-arg"])
        .arg("while [ ! -e \"$1\" ]; do sleep 0.01; done")
        .arg("--on-exit-arg")
        .arg(&marker)
        .arg("--on-exit-arg")
        .arg(&on_exit_done);
    cmd.args(["--detach", "--exit-fd", "4", "--", "sh", "-c"])
        .arg(
            "while [ ! -e \"$1\" ]; do sleep 0.01; done; \
             sleep 1000 >/dev/null 2>&1 & echo $! >\"$2\"; exit 3",
        )
        .arg(&marker)
        .arg(&go)
        .arg(&bg_pid);
    pass_fd(&mut cmd, write.as_raw_fd(), 4);
    let served = Served {
        dir,
        marker,
        monitor_pid: 0,
        init_pid: None,
    };
    let status = cmd.stdin(Stdio::null()).status().unwrap();
    drop(write);
    assert!(status.success());
    assert!(
        !hung_up_within(&read, Duration::from_millis(200)),
        "the exit fd closed while the program still ran"
    );
    std::fs::write(&go, "").unwrap();
    let woke = hung_up_within(&read, WAIT);
    let background = std::fs::read_to_string(&bg_pid).unwrap_or_default();
    if let Ok(pid) = background.trim().parse::<i32>() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let exit = std::fs::read_to_string(served.exit_file());
    std::fs::write(&on_exit_done, "").unwrap();
    assert!(woke, "the exit fd stayed open after the program exited");
    let exit = exit.unwrap();
    assert!(exit.contains("\"exit_code\":3"), "{exit}");
}

/// `hs-pty serve --go-fd 3 …` spawned with the read end of a pipe.
fn serve_waiting_for_go(dir: &Path, marker: &str) -> (Child, OwnedFd) {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut cmd = serve_in(dir);
    cmd.args(["--detach", "--go-fd", "3", "--", "sh", "-c", "touch \"$1\""])
        .arg(marker)
        .arg(dir.join("ran"));
    pass_fd(&mut cmd, read.as_raw_fd(), 3);
    let child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(read);
    // Blocked in read(2) on fd 3: /proc/PID/syscall is "0 0x3 …".
    let syscall = format!("/proc/{}/syscall", child.id());
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&syscall)
            .is_ok_and(|s| s.starts_with("0 0x3 "))),
        "serve never waited on --go-fd"
    );
    (child, write)
}

#[test]
fn nothing_starts_before_the_go_byte() {
    let dir = tempdir_in_target("pty-go");
    let marker = unique("hs-pty-test");
    let _guard = KillOnDrop(marker.clone());
    let (child, go) = serve_waiting_for_go(dir.path(), &marker);
    assert!(!dir.path().join("attach.sock").exists());
    assert!(!dir.path().join("log").exists());
    assert!(!dir.path().join("ran").exists());
    nix::unistd::write(&go, b"g").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(wait_until(WAIT, || dir.path().join("ran").exists()));
}

#[test]
fn a_go_fd_closed_without_the_byte_starts_nothing_and_exits_125() {
    let dir = tempdir_in_target("pty-nogo");
    let marker = unique("hs-pty-test");
    let _guard = KillOnDrop(marker.clone());
    let (child, go) = serve_waiting_for_go(dir.path(), &marker);
    drop(go);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("hs-pty: error: --go-fd 3"), "{stderr}");
    assert!(!dir.path().join("attach.sock").exists());
    assert!(!dir.path().join("log").exists());
    assert!(!dir.path().join("ran").exists());
}

/// `hs-pty serve --report-fd 3 …` spawned (not waited for) with the
/// write end of a pipe; returns the process and the report read to EOF.
fn serve_reporting(dir: &Path, program: &[&str]) -> (Child, String) {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut cmd = serve_in(dir);
    cmd.args(["--report-fd", "3", "--"]).args(program);
    pass_fd(&mut cmd, write.as_raw_fd(), 3);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(write);
    drop(cmd);
    let mut report = String::new();
    File::from(read).read_to_string(&mut report).unwrap();
    (child, report)
}

/// `--report-fd` is `--detach` without the fork: the process started is
/// the monitor itself, in a session of its own, and goes on serving after
/// it reported the start.
#[test]
fn report_fd_makes_the_started_process_the_monitor() {
    let dir = tempdir_in_target("pty-report");
    let marker = unique("hs-pty-test");
    let _guard = KillOnDrop(marker.clone());
    let (mut child, report) = serve_reporting(
        dir.path(),
        &["sh", "-c", "while :; do sleep 0.1; done", &marker],
    );
    let pid = child.id() as i32;
    let alive = child.try_wait().unwrap().is_none();
    let session = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid)));
    kill_marked(&marker);
    let _ = child.wait();
    assert_eq!(report.trim(), r#"{"code":0,"error":null}"#);
    assert!(alive, "serve exited after its report");
    assert_eq!(session, Ok(nix::unistd::Pid::from_raw(pid)));
}

#[test]
fn report_fd_tells_a_failed_start_with_its_code_and_line() {
    let dir = tempdir_in_target("pty-report-fail");
    let (mut child, report) = serve_reporting(dir.path(), &["no-such-program-hs-pty-report"]);
    let _ = child.wait();
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["code"], 127);
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("hs-pty: error:") && error.contains("no-such-program-hs-pty-report"),
        "{error}"
    );
}
