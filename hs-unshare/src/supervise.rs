//! The processes that stay behind: the outer hs-unshare (waits for the
//! namespace's PID 1) and the PID-1 init (waits for the command and reaps
//! orphans). Both forward the same signals to their child and end with its
//! status.
//!
//! Signals are blocked before the fork and taken with sigwaitinfo rather
//! than handled asynchronously: nothing is lost between fork and wait, and a
//! blocked signal is queued even for a namespace's PID 1, which the kernel
//! otherwise spares every signal it has no handler for.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{
    kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use crate::error::{sys, Result};

/// What the staying-behind processes pass on to their child.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The forwarded signals plus SIGCHLD, blocked; remembers the mask to give
/// back to a child that goes on to exec.
pub struct Blocked {
    set: SigSet,
    previous: SigSet,
}

impl Blocked {
    pub fn new() -> Result<Self> {
        let mut set = SigSet::empty();
        for signal in FORWARDED {
            set.add(signal);
        }
        set.add(Signal::SIGCHLD);
        let mut previous = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous))
            .map_err(sys("block signals"))?;
        Ok(Self { set, previous })
    }

    /// Installs no-op handlers too: a PID 1 must have a handler for a
    /// signal to be delivered to it at all, and the signals stay blocked,
    /// so the handlers never actually run.
    pub fn install_handlers(&self) -> Result<()> {
        extern "C" fn ignore(_: libc::c_int) {}
        let action = SigAction::new(
            SigHandler::Handler(ignore),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in FORWARDED {
            // SAFETY: the handler does nothing, so it is async-signal-safe.
            unsafe { sigaction(signal, &action) }.map_err(sys(format!("handle {signal}")))?;
        }
        Ok(())
    }

    /// Undoes [`Blocked::new`] and [`Blocked::install_handlers`] in a child
    /// before it execs: a blocked mask survives exec, and with default
    /// handlers a signal that arrives before the exec acts as it will after.
    pub fn restore(&self) -> Result<()> {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        for signal in FORWARDED {
            // SAFETY: restoring the default disposition.
            unsafe { sigaction(signal, &default) }.map_err(sys(format!("reset {signal}")))?;
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.previous), None)
            .map_err(sys("restore the signal mask"))
    }

    /// The mask to give back to a child before it execs (what
    /// [`Blocked::restore`] sets, for a child that must not call it).
    pub fn previous(&self) -> SigSet {
        self.previous
    }

    /// Forwards signals to `child` and reaps every child of this process
    /// (for an init: every orphan of the namespace) until `child` ends;
    /// returns its exit code, 128+N when signal N killed it.
    ///
    /// A signal the kernel generated (SI_KERNEL: ^C, ^\ or a resize on the
    /// terminal) is not forwarded: it went to the whole foreground process
    /// group, so a child in ours got its own copy, and a child with its own
    /// terminal (`--console`) must not get ours.
    pub fn supervise(&self, child: Pid) -> i32 {
        loop {
            let Some((signal, from_kernel)) = self.next() else {
                continue;
            };
            if signal != Signal::SIGCHLD {
                if from_kernel {
                    crate::trace("not forwarded (terminal)", signal.as_str());
                } else {
                    crate::trace("forward", &format!("{signal} to {child}"));
                    let _ = kill(child, signal);
                }
                continue;
            }
            if let Some(code) = reap(child) {
                return code;
            }
        }
    }

    /// The next pending signal of the set, and whether the kernel sent it.
    fn next(&self) -> Option<(Signal, bool)> {
        // SAFETY: siginfo_t is plain data that sigwaitinfo fills in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: the set and info pointers are valid for the call.
        let signal = unsafe { libc::sigwaitinfo(self.set.as_ref(), &mut info) };
        if signal < 0 {
            return None;
        }
        let signal = Signal::try_from(signal).ok()?;
        Some((signal, info.si_code == libc::SI_KERNEL))
    }
}

/// Reaps every child that has ended; the exit code of `child` if it was
/// among them.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return result,
            Ok(status) => {
                if status.pid() == Some(child) {
                    result = hs_common::exit_code_from_status(status);
                }
            }
            Err(Errno::EINTR) => continue,
            // No children left: the command must be among the reaped.
            Err(_) => return result.or(Some(hs_common::EXIT_TOOL)),
        }
    }
}

/// Makes the kernel SIGKILL this process when its parent (the process
/// that stays behind) dies, so a `kill -9` of the outer hs-unshare takes
/// the container down with it instead of leaving it orphaned.
pub fn die_with_parent() -> Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } < 0 {
        return Err(sys("set the parent-death signal")(Errno::last()));
    }
    Ok(())
}

/// The init's working directory moved to `/`, remembered for the command.
///
/// pivot_root moves the root and cwd of every process that is at the old
/// root, and no other: an init left in the caller's directory would keep
/// the host's tree reachable as /proc/1/cwd from inside the container.
pub struct LeftCwd(OwnedFd);

impl LeftCwd {
    pub fn leave() -> Result<Self> {
        let fd = nix::fcntl::open(
            ".",
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(sys("open the working directory"))?;
        // SAFETY: open just returned this fd.
        let fd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
        nix::unistd::chdir("/").map_err(sys("chdir /"))?;
        Ok(Self(fd))
    }

    /// Back to the caller's directory (in the command, before it execs).
    pub fn restore(self) -> Result<()> {
        nix::unistd::fchdir(self.0.as_raw_fd()).map_err(sys("return to the working directory"))
    }
}

/// fork(2); `None` in the child.
pub fn fork() -> Result<Option<Pid>> {
    // SAFETY: hs-unshare is single-threaded, so the child may run any code.
    match unsafe { nix::unistd::fork() }.map_err(sys("fork"))? {
        ForkResult::Parent { child } => Ok(Some(child)),
        ForkResult::Child => Ok(None),
    }
}
