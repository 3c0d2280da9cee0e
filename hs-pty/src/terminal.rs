//! The local terminal of `attach` and `run`: raw mode while relaying,
//! restored on every way out (the loops turn signals into events, so every
//! exit path runs the guard's Drop).

use std::os::fd::{BorrowedFd, RawFd};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

/// Raw mode on a terminal for as long as the guard lives.
pub struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl RawMode {
    /// Puts `fd` in raw mode; None when it is not a terminal.
    pub fn enter(fd: RawFd) -> nix::Result<Option<Self>> {
        if !is_terminal(fd) {
            return Ok(None);
        }
        // SAFETY: fd stays open for the life of the process (it is 0-2).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = tcgetattr(borrowed)?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(borrowed, SetArg::TCSANOW, &raw)?;
        Ok(Some(Self { fd, saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: as in enter.
        let borrowed = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(borrowed, SetArg::TCSANOW, &self.saved);
    }
}
