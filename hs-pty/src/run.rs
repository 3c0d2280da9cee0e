//! `hs-pty run`: the foreground variant, for `hs exec -it`. PROG runs on
//! a PTY (its own or, with `--console`, the container's), the caller's
//! terminal is relayed in raw mode with its resizes, and we exit with
//! PROG's code. No socket, no log: nothing outlives the call.

use std::ffi::OsString;

use hs_common::console::WindowSize;
use hs_common::Failure;
use nix::sys::signal::Signal;

use crate::child::{self, Terminal};
use crate::fdio;
use crate::monitor::{Local, Monitor};
use crate::signals::{Signals, FORWARDED};
use crate::terminal::RawMode;

pub fn run(terminal: Terminal, program: &[OsString]) -> Result<i32, Failure> {
    fdio::ensure_stdio_open();
    let mut list = vec![Signal::SIGCHLD, Signal::SIGWINCH];
    list.extend_from_slice(FORWARDED);
    let signals =
        Signals::block(&list).map_err(|e| Failure::tool(format!("blocking signals: {e}")))?;
    let on_pty = matches!(terminal, Terminal::Pty | Terminal::Console);
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
    let size = match WindowSize::of_terminal(stdin) {
        Some(size) if on_pty => Some(size),
        _ => WindowSize::from_env()?,
    };
    let raw = if on_pty {
        RawMode::enter(0).map_err(|e| Failure::tool(format!("raw mode on the terminal: {e}")))?
    } else {
        None
    };
    let spawned = child::spawn(program, terminal, size)?;
    let local = on_pty.then_some(Local { reading: true });
    let mut monitor = Monitor::new(spawned, signals, None, None, local, Box::new(|_| {}));
    let status = monitor.run();
    drop(raw);
    Ok(hs_common::exit_code_from_status(status).unwrap_or(hs_common::EXIT_TOOL))
}
