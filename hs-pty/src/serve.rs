//! `hs-pty serve`: start PROG under the monitor and stay its parent.
//!
//! The options become an ordered plan (printed by `HS_TRACE=1`, unit-tested
//! below), then the plan runs step by step. Everything that can fail on
//! bad input (socket, log) happens before `--detach` forks, so such errors
//! reach the caller directly and leave nothing behind.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use hs_common::console::WindowSize;
use hs_common::sync::Outcome;
use hs_common::{trace, Failure};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::ForkResult;
use serde::{Deserialize, Serialize};

use crate::child::{self, Terminal};
use crate::exit_file::ExitFile;
use crate::fdio;
use crate::log::{LogWriter, Rotation};
use crate::monitor::{Monitor, OnStarted};
use crate::signals::{Signals, FORWARDED};
use crate::socket::{self, Listener};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    pub socket: PathBuf,
    pub terminal: Terminal,
    pub log: Option<PathBuf>,
    /// `--log-max-size` / `--log-max-files`: the log's rotation.
    pub log_rotation: Option<Rotation>,
    pub exit_file: Option<PathBuf>,
    /// `--on-exit PROG` followed by its `--on-exit-arg`s; empty for none.
    pub on_exit: Vec<OsString>,
    /// `--on-exit-idle`: the on-exit program runs under `SCHED_IDLE`.
    pub on_exit_idle: bool,
    pub detach: bool,
    /// `--report-fd`: detach in place (no fork) and report the start here.
    pub report_fd: Option<RawFd>,
    pub info_fd: Option<RawFd>,
    /// `--go-fd`: nothing starts before a byte arrives on it.
    pub go_fd: Option<RawFd>,
    /// `--exit-fd`: held until the run is over, then closed.
    pub exit_fd: Option<RawFd>,
    pub program: Vec<OsString>,
}

/// One step of the monitor's life, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Listen(PathBuf),
    OpenLog(PathBuf, Option<Rotation>),
    RemoveStaleExitFile(PathBuf),
    Detach,
    DetachInPlace(RawFd),
    Spawn {
        terminal: Terminal,
        program: Vec<OsString>,
    },
    Serve,
    WriteExitFile(PathBuf),
    CloseExitFd(RawFd),
    TellClients,
    RunOnExit {
        argv: Vec<OsString>,
        idle: bool,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let argv = |v: &[OsString]| {
            v.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Step::Listen(p) => write!(f, "listen on {}", p.display()),
            Step::OpenLog(p, None) => write!(f, "append output to {}", p.display()),
            Step::OpenLog(p, Some(r)) => write!(
                f,
                "append output to {}, rotated past {} bytes, {} file(s) kept",
                p.display(),
                r.max_size,
                r.max_files
            ),
            Step::RemoveStaleExitFile(p) => write!(f, "remove an earlier run's {}", p.display()),
            Step::Detach => f.write_str("detach (fork, setsid, stdio to /dev/null)"),
            Step::DetachInPlace(fd) => write!(
                f,
                "detach in place (setsid, stdio to /dev/null), the start reported on fd {fd}"
            ),
            Step::Spawn { terminal, program } => {
                write!(
                    f,
                    "start {} on {terminal}, in its own session",
                    argv(program)
                )
            }
            Step::Serve => f.write_str("serve until the program exits"),
            Step::WriteExitFile(p) => write!(f, "write the exit file {}", p.display()),
            Step::CloseExitFd(fd) => write!(f, "close --exit-fd {fd} (its reader sees EOF)"),
            Step::TellClients => f.write_str("remove the socket, send clients the exit code"),
            Step::RunOnExit { argv: v, idle } => {
                write!(f, "run {}", argv(v))?;
                if *idle {
                    f.write_str(" at idle priority")?;
                }
                Ok(())
            }
        }
    }
}

pub fn plan(opts: &ServeOptions) -> Vec<Step> {
    let mut steps = vec![Step::Listen(opts.socket.clone())];
    steps.extend(
        opts.log
            .clone()
            .map(|log| Step::OpenLog(log, opts.log_rotation)),
    );
    // An exit file means "this run ended" (logs --follow stops on it).
    steps.extend(opts.exit_file.clone().map(Step::RemoveStaleExitFile));
    if opts.detach {
        steps.push(Step::Detach);
    } else if let Some(fd) = opts.report_fd {
        steps.push(Step::DetachInPlace(fd));
    }
    steps.push(Step::Spawn {
        terminal: opts.terminal,
        program: opts.program.clone(),
    });
    steps.push(Step::Serve);
    steps.extend(opts.exit_file.clone().map(Step::WriteExitFile));
    steps.extend(opts.exit_fd.map(Step::CloseExitFd));
    steps.push(Step::TellClients);
    if !opts.on_exit.is_empty() {
        steps.push(Step::RunOnExit {
            argv: opts.on_exit.clone(),
            idle: opts.on_exit_idle,
        });
    }
    steps
}

/// The start-up outcome the monitor sends the caller it detached from.
#[derive(Debug, Serialize, Deserialize)]
struct StartReport {
    code: i32,
    #[serde(default)]
    error: Option<String>,
}

/// What the steps have built so far.
struct Context {
    signals: Option<Signals>,
    listener: Option<Listener>,
    log: Option<LogWriter>,
    report: Option<OwnedFd>,
    /// `HS_CONSOLE_SIZE`, read before detaching: bad input fails while the
    /// caller still listens, and the monitor never runs the env code.
    size: Option<WindowSize>,
    monitor: Option<Monitor>,
    status: Option<WaitStatus>,
    exit_fd: Option<OwnedFd>,
}

/// Runs `hs-pty serve`; returns PROG's exit code (the monitor's own exit
/// code in the foreground; with `--detach` the caller has long returned).
pub fn serve(mut opts: ServeOptions) -> Result<i32, Failure> {
    fdio::ensure_stdio_open();
    // Our own report and exit fd must not leak into the chain (their
    // readers would never see EOF).
    if let Some(fd) = opts.info_fd {
        hs_common::info::check_fd(fd)?;
        fdio::set_cloexec(fd);
    }
    if let Some(fd) = opts.report_fd {
        hs_common::info::check_option_fd("--report-fd", fd)?;
        fdio::set_cloexec(fd);
    }
    let exit_fd = match opts.exit_fd {
        Some(fd) => {
            hs_common::info::check_option_fd("--exit-fd", fd)?;
            fdio::set_cloexec(fd);
            // SAFETY: the caller handed this open fd to us alone.
            Some(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        None => None,
    };
    opts.socket = absolute(&opts.socket)?;
    opts.log = opts.log.as_deref().map(absolute).transpose()?;
    opts.exit_file = opts.exit_file.as_deref().map(absolute).transpose()?;
    // The directories we are to work in may not exist before the go.
    if let Some(fd) = opts.go_fd {
        wait_for_go(fd)?;
    }
    check_late_inputs(&opts)?;

    let steps = plan(&opts);
    // Formatted only when tracing: the monitor is a fork of this process,
    // and every code page it touches stays in its resident set.
    if trace::enabled() {
        for step in &steps {
            trace::log("plan", &step.to_string());
        }
    }
    let mut signals_list = vec![Signal::SIGCHLD];
    signals_list.extend_from_slice(FORWARDED);
    let mut ctx = Context {
        signals: Some(
            Signals::block(&signals_list)
                .map_err(|e| Failure::tool(format!("blocking signals: {e}")))?,
        ),
        listener: None,
        log: None,
        report: None,
        size: WindowSize::from_env()?,
        monitor: None,
        status: None,
        exit_fd,
    };
    let mut code = 0;
    for step in steps {
        if trace::enabled() {
            trace::log("step", &step.to_string());
        }
        let result = run_step(&step, &opts, &mut ctx, &mut code);
        if let Err(failure) = result {
            if let Some(listener) = &ctx.listener {
                listener.remove();
            }
            // Once detached, the caller waiting for the start hears of it.
            if let Some(report) = ctx.report.take() {
                let start = StartReport {
                    code: failure.code,
                    error: Some(format!("hs-pty: error: {}", failure.message)),
                };
                let line = serde_json::to_vec(&start).unwrap_or_default();
                let _ = fdio::write_all(report.as_raw_fd(), &line);
            }
            return Err(failure);
        }
    }
    Ok(code)
}

/// What is only used once PROG exited is checked now: bad input must fail
/// before anything runs, not silently at the end.
fn check_late_inputs(opts: &ServeOptions) -> Result<(), Failure> {
    if let Some(exit_file) = &opts.exit_file {
        let dir = exit_file.parent().unwrap_or(Path::new("/"));
        if !dir.is_dir() {
            return Err(Failure::tool(format!(
                "--exit-file {}: {} is not a directory",
                exit_file.display(),
                dir.display()
            )));
        }
    }
    if let Some(program) = opts.on_exit.first() {
        if hs_common::exec::which(program).is_none() {
            return Err(Failure::tool(format!(
                "--on-exit {}: no such program",
                program.to_string_lossy()
            )));
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path)
        .map_err(|e| Failure::tool(format!("resolving {}: {e}", path.display())))
}

fn run_step(
    step: &Step,
    opts: &ServeOptions,
    ctx: &mut Context,
    code: &mut i32,
) -> Result<(), Failure> {
    match step {
        Step::Listen(path) => ctx.listener = Some(socket::listen(path)?),
        Step::OpenLog(path, rotation) => ctx.log = Some(LogWriter::open(path, *rotation)?),
        Step::RemoveStaleExitFile(path) => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Failure::tool(format!(
                    "removing the old exit file {}: {e}",
                    path.display()
                )))
            }
            _ => {}
        },
        Step::Detach => ctx.report = Some(daemonize()?),
        // SAFETY: the caller handed this open fd (checked) to us alone.
        Step::DetachInPlace(fd) => {
            ctx.report = Some(detach_in_place(unsafe { OwnedFd::from_raw_fd(*fd) }))
        }
        Step::Spawn { terminal, program } => {
            let signals = ctx
                .signals
                .take()
                .ok_or_else(|| Failure::tool("internal: signals already handed over"))?;
            let spawned = child::spawn(program, *terminal, ctx.size)?;
            let report = ctx.report.take();
            let mut keep: Vec<RawFd> = report.iter().map(|fd| fd.as_raw_fd()).collect();
            keep.extend(opts.info_fd);
            keep.extend(ctx.exit_fd.as_ref().map(|fd| fd.as_raw_fd()));
            let on_started = reporter(opts.info_fd, report);
            let monitor = Monitor::new(
                spawned,
                signals,
                ctx.listener.take(),
                ctx.log.take(),
                None,
                on_started,
            );
            keep.extend(monitor.own_fds());
            // The caller's fds for later chain steps reached the chain
            // through the fork; the monitor's copies go, so their readers
            // see EOF when the chain is done with them.
            hs_common::exec::close_inherited_fds(&keep)
                .map_err(|e| Failure::tool(format!("closing inherited fds: {e}")))?;
            // Do not pin the caller's working directory (or its mount).
            // SAFETY: chdir with a NUL-terminated path (not std's, whose
            // path handling would stay resident in the monitor).
            let _ = unsafe { libc::chdir(c"/".as_ptr()) };
            // The chain has its own copy of the arguments now; ours stay
            // in `ps` for the container's life. The environment stays: the
            // on-exit step is started with it.
            hs_common::proctitle::hide_secrets(false);
            ctx.monitor = Some(monitor);
        }
        Step::Serve => {
            if let Some(monitor) = &mut ctx.monitor {
                let status = monitor.run();
                *code = hs_common::exit_code_from_status(status).unwrap_or(125);
                ctx.status = Some(status);
            }
        }
        Step::WriteExitFile(path) => {
            let written = ctx
                .status
                .and_then(|s| ExitFile::from_status(s, chrono::Utc::now()))
                .map(|exit| exit.write(path));
            if let Some(Err(e)) = written {
                complain(&e.to_string());
            }
        }
        Step::CloseExitFd(_) => ctx.exit_fd = None,
        Step::TellClients => {
            if let Some(monitor) = &mut ctx.monitor {
                monitor.farewell(*code);
            }
        }
        Step::RunOnExit { argv, idle } => run_on_exit(argv, *idle),
    }
    Ok(())
}

/// `--go-fd`: blocks until the caller writes a byte. The caller starts the
/// monitor early, so that this process's start-up overlaps what the caller
/// still has to do first (hs writes the container's record meanwhile).
/// Nothing exists yet (no socket, log or child): a caller that gives up
/// closes the pipe, or kills us, and leaves nothing behind.
fn wait_for_go(fd: RawFd) -> Result<(), Failure> {
    hs_common::info::check_option_fd("--go-fd", fd)?;
    // SAFETY: the caller handed this open fd to us alone.
    let go = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(go.as_raw_fd(), &mut byte) {
            Ok(0) => {
                return Err(Failure::tool(format!(
                    "--go-fd {fd}: closed before the go: nothing was started"
                )))
            }
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Failure::tool(format!("reading --go-fd {fd}: {e}"))),
        }
    }
}

/// After start-up a failure has nobody to return to: it goes to stderr
/// (/dev/null once detached) and to the trace.
fn complain(message: &str) {
    eprintln!("hs-pty: error: {message}");
}

/// Tells whoever waits how the start went: `--info-fd` gets the pids, the
/// detached caller (or, in the foreground, stderr) the outcome.
fn reporter(info_fd: Option<RawFd>, report: Option<OwnedFd>) -> OnStarted {
    Box::new(move |outcome: &Result<Outcome, Failure>| {
        if let Some(fd) = info_fd {
            let init_pid = outcome.as_ref().ok().and_then(|o| o.init_pid);
            let info = serde_json::json!({
                "monitor_pid": std::process::id(),
                "init_pid": init_pid,
            });
            if let Err(e) = hs_common::info::write_info(fd, &info) {
                complain(&e.message);
            }
        }
        let start = match outcome {
            Ok(_) => StartReport {
                code: 0,
                error: None,
            },
            Err(failure) => StartReport {
                code: failure.code,
                error: Some(failure.message.clone()),
            },
        };
        match report {
            Some(fd) => {
                let mut line = serde_json::to_vec(&start).unwrap_or_default();
                line.push(b'\n');
                let _ = fdio::write_all(fd.as_raw_fd(), &line);
            }
            None => {
                if let Some(error) = start.error {
                    eprintln!("{error}");
                }
            }
        }
        release_startup_memory();
    })
}

/// The monitor is a fork of the serve process: the heap the start-up
/// used and freed (argument parsing, the plan) is still resident in it.
/// Once the caller knows the outcome (so its wait does not pay for this),
/// the free pages go back to the kernel: 20 KiB of an idle monitor's
/// 148 KiB of anonymous memory.
///
/// So do the code and read-only data pages it mapped so far: the
/// handshake and the start of the chain ran code the idle monitor never
/// runs again, and the kernel maps a file's pages 64 KiB around each page
/// touched. Unmapping them (the pages stay in the page cache: a page used
/// again is mapped back by the next fault) left ≈60% of an idle monitor's
/// resident set.
fn release_startup_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
    unmap_code_pages();
}

/// MADV_DONTNEED over [`__executable_start`, `etext`): the ELF headers,
/// read-only data and code, all clean pages of the binary (relocations are
/// applied to the RELRO and data segments, after `etext`), so nothing is
/// lost: a page used again is faulted back in from the page cache.
fn unmap_code_pages() {
    extern "C" {
        static __executable_start: u8;
        static etext: u8;
    }
    let (start, end) = (
        std::ptr::addr_of!(__executable_start) as usize,
        std::ptr::addr_of!(etext) as usize,
    );
    let page = 4096;
    let start = start & !(page - 1);
    let end = (end + page - 1) & !(page - 1);
    if end > start {
        // SAFETY: the range is this binary's own clean, file-backed
        // mapping; dropping its page table entries only costs refaults.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// Fork and setsid. Returns in the monitor (the child) with the pipe to
/// report the start-up outcome on; the original process waits for that
/// outcome and exits with it.
///
/// One fork, not the classic two: the second only keeps a session leader
/// from acquiring a controlling terminal by opening one, and the monitor
/// never does (openpty opens both ends O_NOCTTY; a console pty arrives as a
/// received fd). It saved a fork and a wait on every start.
fn daemonize() -> Result<OwnedFd, Failure> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Failure::tool(format!("creating the start-up pipe: {e}")))?;
    // SAFETY: single-threaded; both sides continue with plain Rust code.
    match unsafe { nix::unistd::fork() }.map_err(|e| Failure::tool(format!("forking: {e}")))? {
        ForkResult::Parent { .. } => {
            drop(write);
            let _ = hs_common::exec::close_inherited_fds(&[read.as_raw_fd()]);
            std::process::exit(wait_for_start(read))
        }
        ForkResult::Child => {
            drop(read);
            let _ = nix::unistd::setsid();
            stdio_to_dev_null();
            Ok(write)
        }
    }
}

/// `--report-fd`: what [`daemonize`] does for the monitor, without the
/// fork: its own session, stdio on /dev/null; `report` is where the start
/// is told. The caller started this process to outlive it and reads the
/// report rather than waiting for an exit (hs saves a fork and a process
/// exit on every start).
fn detach_in_place(report: OwnedFd) -> OwnedFd {
    let _ = nix::unistd::setsid();
    stdio_to_dev_null();
    report
}

/// Points stdin, stdout and stderr at /dev/null.
fn stdio_to_dev_null() {
    // open(2) itself rather than std::fs: the code the monitor runs stays
    // resident in it, and std's path handling is more.
    // SAFETY: opening /dev/null; the fd is ours.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if null >= 0 {
        for fd in 0..3 {
            let _ = fdio::dup2(null, fd);
        }
        // SAFETY: closing the fd opened above.
        unsafe { libc::close(null) };
    }
}

/// The detached caller's side: the monitor's report, printed and turned
/// into an exit code.
fn wait_for_start(read: OwnedFd) -> i32 {
    match read_start_report(read) {
        Some((code, error)) => {
            if let Some(error) = error {
                eprintln!("{error}");
            }
            code
        }
        None => {
            eprintln!("hs-pty: error: the monitor died during start-up");
            hs_common::EXIT_TOOL
        }
    }
}

/// Reads the start's report (`--detach`'s pipe, or `--report-fd`) to EOF:
/// the chain's exit code (0: PROG runs) and the error line a failed start
/// printed; None when the monitor ended without one.
pub fn read_start_report(read: OwnedFd) -> Option<(i32, Option<String>)> {
    let mut text = String::new();
    let _ = std::fs::File::from(read).read_to_string(&mut text);
    let report = serde_json::from_str::<StartReport>(text.trim()).ok()?;
    Some((report.code, report.error))
}

/// Runs the `--on-exit` argv (no shell) and waits for it, without the
/// chain's variables: it is not part of the chain. `idle`: the monitor
/// has nothing left to do but wait, so it lowers its own priority and the
/// program inherits it from its first instruction on (its exec included).
fn run_on_exit(argv: &[OsString], idle: bool) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    if idle {
        hs_common::priority::set_idle(true);
    }
    let status = std::process::Command::new(program)
        .args(args)
        .env_remove(hs_common::sync::SYNC_ENV)
        .env_remove(hs_common::console::CONSOLE_ENV)
        .env_remove(hs_common::console::SIZE_ENV)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => complain(&format!("on-exit {}: {status}", program.to_string_lossy())),
        Err(e) => complain(&format!("on-exit {}: {e}", program.to_string_lossy())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ServeOptions {
        ServeOptions {
            socket: "/run/c/attach.sock".into(),
            terminal: Terminal::Console,
            log: Some("/run/c/log".into()),
            log_rotation: None,
            exit_file: Some("/run/c/exit.json".into()),
            on_exit: vec!["hs".into(), "cleanup".into(), "ID".into()],
            on_exit_idle: false,
            detach: true,
            report_fd: None,
            info_fd: Some(3),
            go_fd: None,
            exit_fd: Some(5),
            program: vec!["hs-cgroup".into(), "exec".into()],
        }
    }

    #[test]
    fn a_full_run_listens_before_detaching_and_cleans_up_last() {
        let steps = plan(&opts());
        assert_eq!(
            steps,
            vec![
                Step::Listen("/run/c/attach.sock".into()),
                Step::OpenLog("/run/c/log".into(), None),
                Step::RemoveStaleExitFile("/run/c/exit.json".into()),
                Step::Detach,
                Step::Spawn {
                    terminal: Terminal::Console,
                    program: vec!["hs-cgroup".into(), "exec".into()],
                },
                Step::Serve,
                Step::WriteExitFile("/run/c/exit.json".into()),
                Step::CloseExitFd(5),
                Step::TellClients,
                Step::RunOnExit {
                    argv: vec!["hs".into(), "cleanup".into(), "ID".into()],
                    idle: false,
                },
            ]
        );
    }

    #[test]
    fn a_foreground_run_without_log_or_exit_steps_only_serves() {
        let steps = plan(&ServeOptions {
            log: None,
            exit_file: None,
            exit_fd: None,
            on_exit: Vec::new(),
            detach: false,
            terminal: Terminal::Pipes { stdin: false },
            ..opts()
        });
        assert_eq!(steps.len(), 4);
        assert!(matches!(steps[1], Step::Spawn { .. }));
        assert_eq!(steps[3], Step::TellClients);
    }

    #[test]
    fn steps_read_as_sentences() {
        let step = |idle| Step::RunOnExit {
            argv: vec!["hs".into(), "cleanup".into(), "ID".into()],
            idle,
        };
        assert_eq!(step(false).to_string(), "run hs cleanup ID");
        assert_eq!(step(true).to_string(), "run hs cleanup ID at idle priority");
    }
}
