//! Signals as events: the loops block the signals they handle and read
//! them from a signalfd, so a signal is just another fd to poll.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals the monitor passes on to its program (SIGTERM is how `hs stop`
/// reaches a container whose monitor it signals).
pub const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

pub struct Signals {
    fd: SignalFd,
    old_mask: SigSet,
}

impl Signals {
    /// Blocks `signals` and opens a signalfd for them.
    pub fn block(signals: &[Signal]) -> nix::Result<Self> {
        let mut set = SigSet::empty();
        for &signal in signals {
            set.add(signal);
        }
        let mut old_mask = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old_mask))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Self { fd, old_mask })
    }

    /// The next pending signal, if any.
    pub fn pending(&mut self) -> Option<Signal> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            _ => None,
        }
    }
}

/// Unblocks what [`Signals::block`] blocked: `attach` also runs inside
/// `hs`, which goes on after it returns.
impl Drop for Signals {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
