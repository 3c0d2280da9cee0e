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
fn user_program_does_not_inherit_the_sync_fd() {
    // The shell lists its own open fds: anything above 2 leaked.
    let (outcome, code) = run_chain(&[
        "/bin/sh",
        "-c",
        "ls /proc/$$/fd | grep -qvE '^[0-2]$' && exit 9; exit 0",
    ]);
    assert_eq!(outcome, Ok(Default::default()));
    assert_eq!(code, 0);
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
