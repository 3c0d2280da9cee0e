//! `HS_SYNC_FD`: the start-up handshake of a chain (bubblewrap's setup pipe).
//!
//! The caller creates a pipe, keeps the read end and hands the write end
//! down the chain in `HS_SYNC_FD`. Tools pass it on unchanged; `hs-unshare
//! --ns pid` writes `{"init_pid":N}`; a failing tool writes
//! `{"code":C,"error":"…"}` (instead of its stderr line: whoever reads the
//! handshake prints it, once); the tool that execs the user's program marks
//! the fd close-on-exec first, so EOF on the read end means "the user's
//! program is running". Messages are single JSON lines, each one `write(2)`
//! shorter than `PIPE_BUF`, so concurrent writers never interleave.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use serde::{Deserialize, Serialize};

use crate::exit::Failure;

/// The environment variable naming the write end of the handshake pipe.
pub const SYNC_ENV: &str = "HS_SYNC_FD";

/// One message on the handshake pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SyncMessage {
    InitPid { init_pid: i32 },
    Failed { code: i32, error: String },
}

/// The handshake fd this process inherited, if `HS_SYNC_FD` names an open fd.
pub fn inherited_fd() -> Option<RawFd> {
    crate::info::fd_from_env(SYNC_ENV)
}

/// Sends `message` on the inherited handshake fd; true when it was taken.
fn send(message: &SyncMessage) -> bool {
    inherited_fd().is_some_and(|fd| send_to(fd, message))
}

/// Best effort (a caller that went away cannot be told anything); true
/// when the whole line was written.
fn send_to(fd: RawFd, message: &SyncMessage) -> bool {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    // SAFETY: fd is open (checked by the caller's lookup) and only written.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::unistd::write(fd, &line) == Ok(line.len())
}

/// Tells the chain's caller the host pid of the container's PID 1.
pub fn send_init_pid(pid: i32) {
    send(&SyncMessage::InitPid { init_pid: pid });
}

/// Tells the chain's caller why the chain failed (called by `run_main`);
/// true when the handshake took it, and the caller will print it.
pub fn report_failure(code: i32, error: &str) -> bool {
    send(&failed(code, error))
}

/// [`report_failure`] on the write end `fd` of a handshake: for a process
/// that started the chain's head and reports the head's failure for it.
pub fn report_failure_to(fd: RawFd, code: i32, error: &str) -> bool {
    send_to(fd, &failed(code, error))
}

fn failed(code: i32, error: &str) -> SyncMessage {
    // Messages longer than PIPE_BUF could interleave with another writer.
    let mut error = error.to_string();
    if error.len() > 3000 {
        let mut cut = 3000;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
    }
    SyncMessage::Failed { code, error }
}

/// Marks the inherited handshake fd close-on-exec: done right before the
/// exec of a program that is not an hs tool, so a successful exec is EOF.
pub fn close_on_exec() {
    if let Some(fd) = inherited_fd() {
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

/// Closes this process's copy of the handshake fd: every process that stays
/// behind (monitor, outer hs-unshare, init) does this, or the caller would
/// never see EOF.
pub fn close_own_copy() {
    if let Some(fd) = inherited_fd() {
        let _ = nix::unistd::close(fd);
    }
    // The number may name another file later: a failure of this process
    // from now on is not the chain's start, and goes to stderr.
    std::env::remove_var(SYNC_ENV);
}

/// The caller's side of the handshake.
pub struct SyncPipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl SyncPipe {
    /// A pipe whose read end is close-on-exec and whose write end is
    /// inheritable (it goes down the chain as `HS_SYNC_FD`).
    pub fn new() -> std::io::Result<Self> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        fcntl(write.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
        Ok(Self { read, write })
    }

    /// The value to put in `HS_SYNC_FD` for the child.
    pub fn env_value(&self) -> String {
        self.write.as_raw_fd().to_string()
    }

    /// Drops the write end (the caller must, or it would wait for itself)
    /// and waits for the chain: Ok with the init pid it reported once the
    /// user's program runs, or the first failure a tool reported.
    pub fn wait(self) -> Result<Outcome, Failure> {
        drop(self.write);
        wait_on(self.read)
    }
}

/// What the handshake told the caller once it reached EOF.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub init_pid: Option<i32>,
}

/// Reads a handshake read end until EOF (see [`SyncPipe::wait`]).
pub fn wait_on(read: OwnedFd) -> Result<Outcome, Failure> {
    let mut file = std::fs::File::from(read);
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| Failure::tool(format!("reading the start-up handshake: {e}")))?;
    parse_outcome(&text)
}

/// Parses everything read from a handshake read end up to EOF ([`wait_on`]
/// does the reading; an event loop reads without blocking and calls this).
pub fn parse_outcome(text: &str) -> Result<Outcome, Failure> {
    let mut outcome = Outcome::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<SyncMessage>(line) {
            Ok(SyncMessage::InitPid { init_pid }) => outcome.init_pid = Some(init_pid),
            Ok(SyncMessage::Failed { code, error }) => return Err(Failure::new(code, error)),
            Err(e) => {
                return Err(Failure::tool(format!(
                    "bad message on the start-up handshake: {line:?}: {e}"
                )))
            }
        }
    }
    Ok(outcome)
}

/// Wraps a raw fd the caller knows it owns.
///
/// # Safety
/// `fd` must be open and owned by nobody else.
pub unsafe fn own(fd: RawFd) -> OwnedFd {
    OwnedFd::from_raw_fd(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eof_without_messages_is_success() {
        assert_eq!(parse_outcome(""), Ok(Outcome::default()));
    }

    #[test]
    fn init_pid_is_reported() {
        let outcome = parse_outcome("{\"init_pid\":42}\n").unwrap();
        assert_eq!(outcome.init_pid, Some(42));
    }

    #[test]
    fn failure_carries_code_and_message() {
        let err = parse_outcome("{\"init_pid\":42}\n{\"code\":127,\"error\":\"x: not found\"}\n")
            .unwrap_err();
        assert_eq!(err, Failure::new(127, "x: not found"));
    }

    #[test]
    fn garbage_is_a_tool_failure() {
        assert_eq!(parse_outcome("nonsense\n").unwrap_err().code, 125);
    }
}
