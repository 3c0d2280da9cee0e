//! The chain handshake end to end: two chained steps (named like hs tools so
//! they pass the fd on), then the user's program.

use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;

use hs_common::sync::SyncPipe;

/// The example binary, linked into a temp dir under an hs tool's name.
fn chain_step(dir: &std::path::Path) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let step = dir.join("hs-unshare");
    symlink(examples.join("chain-step"), &step).unwrap();
    step
}

fn run_chain(prog: &[&str]) -> (Result<hs_common::sync::Outcome, hs_common::Failure>, i32) {
    let dir = tempfile::tempdir().unwrap();
    let step = chain_step(dir.path());
    let pipe = SyncPipe::new().unwrap();
    let mut child = Command::new(&step)
        .arg("--")
        .arg(&step)
        .arg("--")
        .args(prog)
        .env("HS_SYNC_FD", pipe.env_value())
        .spawn()
        .unwrap();
    let outcome = pipe.wait();
    let status = child.wait().unwrap();
    (outcome, status.code().unwrap_or(-1))
}

#[test]
fn success_gives_eof_once_the_program_runs() {
    let (outcome, code) = run_chain(&["/bin/sh", "-c", "exit 0"]);
    assert_eq!(outcome, Ok(Default::default()));
    assert_eq!(code, 0);
}

#[test]
fn user_program_inherits_no_fd_but_stdio() {
    // The chain keeps its pid through every exec: once the handshake says
    // the program runs, its fds are listed from outside, where listing
    // cannot add an fd of its own.
    let dir = tempfile::tempdir().unwrap();
    let step = chain_step(dir.path());
    let pipe = SyncPipe::new().unwrap();
    let mut child = Command::new(&step)
        .args(["--", "/bin/sleep", "30"])
        .env("HS_SYNC_FD", pipe.env_value())
        .spawn()
        .unwrap();
    let outcome = pipe.wait();
    // The dynamic loader of the new program briefly holds libc open: poll
    // until only stdio is left. An inherited fd would never go away.
    let fds_of = |pid: u32| -> Vec<String> {
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|dir| {
                dir.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        fds.sort();
        fds
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut fds = fds_of(child.id());
    while fds != ["0", "1", "2"] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        fds = fds_of(child.id());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(outcome, Ok(Default::default()));
    assert_eq!(fds, ["0", "1", "2"]);
}

#[test]
fn missing_program_is_reported_as_127() {
    let (outcome, code) = run_chain(&["/nonexistent/prog"]);
    let failure = outcome.unwrap_err();
    assert_eq!(failure.code, 127);
    assert!(
        failure.message.contains("/nonexistent/prog"),
        "{}",
        failure.message
    );
    assert_eq!(code, 127);
}

#[test]
fn non_executable_program_is_reported_as_126() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "not a program").unwrap();
    let (outcome, code) = run_chain(&[file.to_str().unwrap()]);
    assert_eq!(outcome.unwrap_err().code, 126);
    assert_eq!(code, 126);
}

#[test]
fn user_program_gets_sigpipe_at_its_default() {
    // SigPnd/SigIgn in /proc: bit 13 (SIGPIPE) must not be ignored.
    let (outcome, code) = run_chain(&[
        "/bin/sh",
        "-c",
        "ign=$(sed -n 's/^SigIgn:\\t*//p' /proc/$$/status); [ $(( 0x$ign & 0x1000 )) -eq 0 ]",
    ]);
    assert_eq!(outcome, Ok(Default::default()));
    assert_eq!(code, 0);
}
