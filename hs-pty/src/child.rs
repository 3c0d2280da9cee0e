//! Starting PROG: its terminal or pipes, the chain fds, its own session.
//! The child of the monitor is the head of the chain (usually hs-cgroup);
//! everything it needs (its stdio, its environment, its argv as C
//! strings) is made here first, and PROG starts in a vfork-style child
//! that only makes system calls on it: see [`start`].

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use hs_common::console::{self, WindowSize};
use hs_common::exec::{ExecError, Prepared};
use hs_common::sync::{self, SyncPipe};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::Pid;

use crate::fdio;

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
    #[error("{0}")]
    Prepare(String),
    #[error("starting the program: {0}")]
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

/// Starts `argv` in its own session with `terminal` as its stdio and the
/// handshake (and console) fds in its environment, with no signal blocked
/// and SIGPIPE at its default. `size` is the initial window size of a PTY
/// (also passed down as `HS_CONSOLE_SIZE`).
pub fn spawn(
    argv: &[OsString],
    terminal: Terminal,
    size: Option<WindowSize>,
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
            fdio::set_cloexec(pty.master.as_raw_fd());
            fdio::set_cloexec(pty.slave.as_raw_fd());
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
    let env = child_env(&sync_pipe, console_give.as_ref(), size);
    let prepared = Prepared::with_sync_fd(argv, &env, Some(sync_pipe.write.as_raw_fd()))
        .map_err(|failure| SpawnError::Prepare(failure.message))?;
    spawned.pid = start(&prepared, &child, sync_pipe.write.as_raw_fd())?;
    spawned.sync = sync_pipe.read;
    // The child's ends close here: EOF and hang-ups must depend on the
    // chain alone.
    drop(sync_pipe.write);
    drop(console_give);
    drop(child);
    Ok(spawned)
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// PROG's environment: ours, with the handshake fd, the console fd and the
/// PTY's window size set.
fn child_env(
    sync_pipe: &SyncPipe,
    console_give: Option<&OwnedFd>,
    size: Option<WindowSize>,
) -> Vec<OsString> {
    let mut set = vec![(sync::SYNC_ENV, sync_pipe.env_value())];
    if let Some(give) = console_give {
        set.push((console::CONSOLE_ENV, give.as_raw_fd().to_string()));
    }
    if let Some(size) = size {
        set.push((console::SIZE_ENV, size.env_value()));
    }
    let pair = |key: &std::ffi::OsStr, value: &std::ffi::OsStr| {
        let mut pair = key.to_owned();
        pair.push("=");
        pair.push(value);
        pair
    };
    std::env::vars_os()
        .filter(|(key, _)| !set.iter().any(|(name, _)| key == name))
        .map(|(key, value)| pair(&key, &value))
        .chain(
            set.iter()
                .map(|(name, value)| pair(name.as_ref(), value.as_ref())),
        )
        .collect()
}

/// What the child was doing when it failed before its exec.
#[derive(Debug, Clone, Copy)]
enum Step {
    Session,
    ControllingTerminal,
    Stdio,
}

/// Why the child did not exec; `Copy`, as it crosses to the monitor
/// through the memory they share.
#[derive(Debug, Clone, Copy)]
enum ChildError {
    Step(Step, Errno),
    Exec(ExecError),
}

impl ChildError {
    /// The child's exit code.
    fn code(self) -> i32 {
        match self {
            ChildError::Step(..) => hs_common::EXIT_TOOL,
            ChildError::Exec(e) => e.code(),
        }
    }

    fn failure(self, prepared: &Prepared) -> hs_common::Failure {
        let step = |what: &str, errno: Errno| hs_common::Failure::tool(format!("{what}: {errno}"));
        match self {
            ChildError::Step(Step::Session, e) => step("starting a new session", e),
            ChildError::Step(Step::ControllingTerminal, e) => {
                step("making the pty the controlling terminal", e)
            }
            ChildError::Step(Step::Stdio, e) => step("setting up stdio", e),
            ChildError::Exec(e) => prepared.failure(e),
        }
    }
}

/// Starts PROG in a vfork-style child ([`hs_common::exec::vfork`]): a
/// fork copied the monitor's page tables and then took a copy-on-write
/// fault for every page the child wrote (its variables, its argv): 0.15 ms
/// of the start. A child that fails before its exec exits with its code
/// (125, or 126/127 from the exec), and this process tells it as the
/// child's own tool would: one error line on the child's stderr (the log),
/// the failure on the handshake (`sync_write`).
fn start(prepared: &Prepared, stdio: &ChildStdio, sync_write: RawFd) -> Result<Pid, SpawnError> {
    let raw = |fd: &Option<OwnedFd>| fd.as_ref().map(|fd| fd.as_raw_fd());
    let fds = [
        (raw(&stdio.stdin), 0),
        (raw(&stdio.stdout), 1),
        (raw(&stdio.stderr), 2),
    ];
    let ctty = stdio.ctty.then(|| raw(&stdio.stdin)).flatten();
    // SAFETY: before it execs, `child_exec` only makes system calls (no
    // allocation, no lock); the monitor installs no signal handler (its
    // signals come through a signalfd).
    let (pid, failed) = unsafe {
        hs_common::exec::vfork(|| {
            let error = child_exec(prepared, &fds, ctty);
            (error, error.code())
        })
    }
    .map_err(SpawnError::Fork)?;
    if let Some(error) = failed {
        // Reported on the handshake only, as a chain tool does
        // (hs_common::exit::report_failure): not into the output too.
        let failure = error.failure(prepared);
        let line = format!("hs-pty: error: {}", failure.message);
        if !sync::report_failure_to(sync_write, failure.code, &line) {
            let stderr = raw(&stdio.stderr).unwrap_or(libc::STDERR_FILENO);
            let _ = fdio::write_all(stderr, format!("{line}\n").as_bytes());
        }
    }
    Ok(pid)
}

/// The child's side of [`start`]: no signal blocked, SIGPIPE at its
/// default (std's Command does the same for its children: a blocked mask
/// survives exec and would make the container deaf to SIGINT or SIGTERM),
/// a session of its own, the PTY as its controlling terminal, its stdio;
/// then the exec. Bare system calls on what [`start`] made; returns only
/// on failure.
fn child_exec(
    prepared: &Prepared,
    fds: &[(Option<RawFd>, RawFd); 3],
    ctty: Option<RawFd>,
) -> ChildError {
    hs_common::exec::reset_signals();
    // SAFETY: plain system calls on numbers.
    unsafe {
        if libc::setsid() < 0 {
            return ChildError::Step(Step::Session, Errno::last());
        }
        if let Some(tty) = ctty {
            if libc::ioctl(tty, libc::TIOCSCTTY, 0) < 0 {
                return ChildError::Step(Step::ControllingTerminal, Errno::last());
            }
        }
        for &(fd, target) in fds {
            if let Some(fd) = fd {
                if libc::dup2(fd, target) < 0 {
                    return ChildError::Step(Step::Stdio, Errno::last());
                }
            }
        }
    }
    ChildError::Exec(prepared.exec())
}
