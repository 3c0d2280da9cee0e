//! Starting PROG: its terminal or pipes, the chain fds, its own session.
//! The child of the monitor is the head of the chain (usually hs-cgroup);
//! everything it needs is set up before the fork, so the forked side only
//! dups fds, sets variables and execs.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use hs_common::console::{self, WindowSize};
use hs_common::sync::{self, SyncPipe};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, Pid};

use crate::fdio;
use crate::signals::Signals;

/// Where PROG's stdio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// The monitor's own stdio (`run` without `--tty`).
    Inherit,
    /// Pipes: stdout and stderr apart, stdin only when asked (else
    /// /dev/null).
    Pipes { stdin: bool },
    /// A PTY the monitor opens itself; the slave is PROG's controlling
    /// terminal and stdio.
    Pty,
    /// The PTY comes back up the chain over `HS_CONSOLE_FD` (opened by
    /// `hs-unshare --console` from the container's own devpts). Until then
    /// the chain's stdout and stderr go to one pipe (logged as stderr), and
    /// its stdin is /dev/null.
    Console,
}

impl std::fmt::Display for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Terminal::Inherit => f.write_str("inherited stdio"),
            Terminal::Pipes { stdin: true } => f.write_str("pipes for stdin, stdout, stderr"),
            Terminal::Pipes { stdin: false } => f.write_str("pipes for stdout, stderr"),
            Terminal::Pty => f.write_str("a pty opened by hs-pty"),
            Terminal::Console => f.write_str("the container's pty over HS_CONSOLE_FD"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("opening a pty: {0}")]
    Pty(Errno),
    #[error("creating a pipe: {0}")]
    Pipe(Errno),
    #[error("opening /dev/null: {0}")]
    DevNull(Errno),
    #[error("creating the start-up handshake pipe: {0}")]
    Sync(std::io::Error),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error("forking: {0}")]
    Fork(Errno),
}

/// The monitor's ends of a started child.
pub struct Spawned {
    pub pid: Pid,
    pub master: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Read end of the handshake.
    pub sync: OwnedFd,
    /// Our end of the console socket pair.
    pub console: Option<OwnedFd>,
}

/// The child's ends: dup'ed onto 0, 1, 2 after the fork.
struct ChildStdio {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    ctty: bool,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)
}

fn dev_null() -> Result<OwnedFd, SpawnError> {
    let fd = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(SpawnError::DevNull)?;
    // SAFETY: open returned a new fd nobody else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn set_cloexec(fd: RawFd) {
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
}

/// Forks and execs `argv` in its own session with `terminal` as its stdio
/// and the handshake (and console) fds in its environment. `size` is the
/// initial window size of a PTY (also passed down as `HS_CONSOLE_SIZE`).
pub fn spawn(
    argv: &[OsString],
    terminal: Terminal,
    size: Option<WindowSize>,
    signals: &Signals,
) -> Result<Spawned, SpawnError> {
    let mut spawned = Spawned {
        pid: Pid::from_raw(0),
        master: None,
        stdin: None,
        stdout: None,
        stderr: None,
        sync: dev_null()?,
        console: None,
    };
    let mut child = ChildStdio {
        stdin: None,
        stdout: None,
        stderr: None,
        ctty: false,
    };
    let mut console_give = None;
    match terminal {
        Terminal::Inherit => {}
        Terminal::Pipes { stdin } => {
            if stdin {
                let (r, w) = pipe()?;
                child.stdin = Some(r);
                spawned.stdin = Some(w);
            } else {
                child.stdin = Some(dev_null()?);
            }
            let (r, w) = pipe()?;
            spawned.stdout = Some(r);
            child.stdout = Some(w);
            let (r, w) = pipe()?;
            spawned.stderr = Some(r);
            child.stderr = Some(w);
        }
        Terminal::Pty => {
            let winsize = size.map(|s| libc::winsize {
                ws_row: s.rows,
                ws_col: s.cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            });
            let pty = nix::pty::openpty(winsize.as_ref(), None).map_err(SpawnError::Pty)?;
            set_cloexec(pty.master.as_raw_fd());
            set_cloexec(pty.slave.as_raw_fd());
            spawned.master = Some(pty.master);
            let slave = pty.slave;
            child.stdout = Some(
                slave
                    .try_clone()
                    .map_err(|e| SpawnError::Pty(errno_of(&e)))?,
            );
            child.stderr = Some(
                slave
                    .try_clone()
                    .map_err(|e| SpawnError::Pty(errno_of(&e)))?,
            );
            child.stdin = Some(slave);
            child.ctty = true;
        }
        Terminal::Console => {
            let (keep, give) = console::pair()?;
            spawned.console = Some(keep);
            console_give = Some(give);
            child.stdin = Some(dev_null()?);
            let (r, w) = pipe()?;
            spawned.stderr = Some(r);
            child.stdout = Some(w.try_clone().map_err(|e| SpawnError::Pipe(errno_of(&e)))?);
            child.stderr = Some(w);
        }
    }
    let sync_pipe = SyncPipe::new().map_err(SpawnError::Sync)?;

    // SAFETY: this process is single-threaded; the child only dups fds,
    // sets variables and execs (or reports and _exits).
    match unsafe { nix::unistd::fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            signals.restore_for_exec();
            let code = exec_child(argv, &child, &sync_pipe, console_give.as_ref(), size);
            // SAFETY: leaving the forked child without running the parent's
            // destructors or atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child: pid } => {
            spawned.pid = pid;
            spawned.sync = sync_pipe.read;
            // The child's ends close here: EOF and hang-ups must depend on
            // the chain alone.
            drop(sync_pipe.write);
            drop(console_give);
            drop(child);
            Ok(spawned)
        }
    }
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The forked side: returns only the exit code of a failure (already
/// reported on the handshake and stderr).
fn exec_child(
    argv: &[OsString],
    stdio: &ChildStdio,
    sync_pipe: &SyncPipe,
    console_give: Option<&OwnedFd>,
    size: Option<WindowSize>,
) -> i32 {
    // The env is this process's own from here on; no other thread exists.
    std::env::set_var(sync::SYNC_ENV, sync_pipe.env_value());
    let fail = |what: &str, e: Errno| {
        let failure = hs_common::Failure::tool(format!("{what}: {e}"));
        hs_common::exit::report_failure("hs-pty", &failure);
        failure.code
    };
    if let Err(e) = nix::unistd::setsid() {
        return fail("starting a new session", e);
    }
    if stdio.ctty {
        if let Some(slave) = &stdio.stdin {
            // SAFETY: TIOCSCTTY takes an int argument.
            if let Err(e) =
                Errno::result(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
            {
                return fail("making the pty the controlling terminal", e);
            }
        }
    }
    for (fd, target) in [(&stdio.stdin, 0), (&stdio.stdout, 1), (&stdio.stderr, 2)] {
        if let Some(fd) = fd {
            if let Err(e) = fdio::dup2(fd.as_raw_fd(), target) {
                return fail("setting up stdio", e);
            }
        }
    }
    if let Some(give) = console_give {
        std::env::set_var(console::CONSOLE_ENV, give.as_raw_fd().to_string());
    }
    if let Some(size) = size {
        std::env::set_var(console::SIZE_ENV, size.env_value());
    }
    let failure = hs_common::exec::exec(argv);
    hs_common::exit::report_failure("hs-pty", &failure);
    failure.code
}
