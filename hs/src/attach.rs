//! Being the terminal of a container: a foreground run or `start -a`
//! (attach client or log follower) and `hs attach`.

use hs_common::Failure;

use crate::error::Outcome;
use hs_state::{Record, Store};

use crate::chain::Tools;
use crate::follow::Init;
use crate::launch::{self, Pending, StartError};
use crate::lifecycle;

/// How much past output a foreground run replays on attaching: what the
/// program printed before the client connected (docker attaches first).
pub const RUN_TAIL_BYTES: u32 = 1 << 20;

/// True when a foreground container's output is followed in its log
/// (no terminal, no stdin), false when hs attaches to it as a client.
pub fn follows_log(config: &hs_state::Config, stdin: bool) -> bool {
    !(config.tty || stdin)
}

/// A foreground run or `start -a`: tells the container's `pending` chain
/// to go and stays its terminal until it ends, returning its exit code (or
/// the chain's, when it could not start; a tool printed why). `pending`
/// asked for an exit notice when [`follows_log`].
///
/// With a terminal or stdin this is an attach client, connected while the
/// chain still starts (the socket exists before the program does), so the
/// monitor greets it with everything printed from the start. Without
/// either, the log is followed until the exit file appears, with
/// SIGINT/SIGTERM/SIGHUP/SIGQUIT forwarded to the init.
pub fn foreground(
    store: &Store,
    record: &Record,
    tools: &Tools,
    detach_keys: Option<&str>,
    stdin: bool,
    pending: Pending,
) -> Outcome {
    let since = chrono::Utc::now();
    if !follows_log(&record.config, stdin) {
        return attached(store, record, tools, detach_keys, stdin, pending);
    }
    // Blocked from here on, so a signal sent while the chain starts stays
    // pending until the forwarder takes it (children get a clean mask).
    let signals = proxied_signals();
    signals
        .thread_block()
        .map_err(|e| Failure::tool(format!("blocking signals: {e}")))?;
    let launched = match pending.go(store, record, tools) {
        Ok(launched) => launched,
        Err(StartError::Failed(code)) => return Ok(code),
        Err(StartError::Hs(e)) => return Err(e.into()),
    };
    let started = launched.started;
    let init = Init::of(&started);
    match init {
        Init::Live(init) => forward_signals(signals, init.pid),
        Init::Ended | Init::Unknown => {
            let _ = signals.thread_unblock();
        }
    }
    let layout = launch::layout(store, &record.id);
    crate::follow::follow(
        &layout.log(),
        &layout.exit_file(),
        since,
        init,
        started.monitor,
        launched.exit_notice,
    )?;
    let exit = hs_pty::exit_file::ExitFile::read(&layout.exit_file()).map_err(Failure::tool)?;
    // A --rm container's record is about to go: no point writing to it.
    if !record.config.auto_remove {
        lifecycle::record_exit(store, &record.id, Some(&exit))?;
    }
    Ok(exit.exit_code)
}

/// Starts the chain on a thread and attaches as soon as the monitor's
/// socket exists.
fn attached(
    store: &Store,
    record: &Record,
    tools: &Tools,
    detach_keys: Option<&str>,
    stdin: bool,
    pending: Pending,
) -> Outcome {
    let socket = launch::layout(store, &record.id).socket();
    let launcher = {
        let (store, record, tools) = (store.clone(), record.clone(), tools.clone());
        std::thread::spawn(move || pending.go(&store, &record, &tools))
    };
    // The socket file appears at bind(), before listen(): probe until a
    // connection is accepted (the monitor drops the probe at once).
    while !launcher.is_finished() {
        if socket.exists() && hs_pty::socket::connect(&socket).is_ok() {
            break;
        }
        std::thread::sleep(SOCKET_POLL);
    }
    let attached = attach_to(store, record, detach_keys, !stdin, RUN_TAIL_BYTES);
    match launcher.join() {
        Ok(Ok(_)) => attached,
        Ok(Err(StartError::Failed(code))) => Ok(code),
        Ok(Err(StartError::Hs(e))) => Err(e.into()),
        Err(_) => Err(Failure::tool(
            "starting the container: the launcher panicked",
        )),
    }
}

/// How often a foreground run looks for the monitor's socket.
const SOCKET_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// The signals a foreground run passes on to the container (docker's
/// sig-proxy).
fn proxied_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(signal);
    }
    set
}

/// Forwards the (blocked) `signals` this process gets to the container's
/// init, from a thread that waits for them.
fn forward_signals(signals: nix::sys::signal::SigSet, init_pid: i32) {
    std::thread::spawn(move || loop {
        if let Ok(signal) = signals.wait() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(init_pid), signal);
        }
    });
}

/// The attach client (hs-pty's, in-process) on the container's socket.
/// When the container ended before the client could connect (a quick
/// `echo`), its output is replayed from the log and its exit code returned,
/// so a foreground run never loses output to that race.
pub fn attach_to(
    store: &Store,
    record: &Record,
    detach_keys: Option<&str>,
    no_stdin: bool,
    tail_bytes: u32,
) -> Outcome {
    let layout = launch::layout(store, &record.id);
    let keys = detach_keys
        .or(record.config.detach_keys.as_deref())
        .unwrap_or(hs_pty::detach_keys::DEFAULT);
    let options = hs_pty::attach::AttachOptions {
        socket: layout.socket(),
        detach_keys: hs_pty::detach_keys::parse(keys).map_err(Failure::tool)?,
        no_stdin,
        tail_bytes,
    };
    match hs_pty::attach::attach(options) {
        Ok(code) => {
            // The container ended (not a detach): its exit is in the
            // record when we return, without waiting for the monitor.
            if let Ok(exit) = hs_pty::exit_file::ExitFile::read(&layout.exit_file()) {
                if !record.config.auto_remove {
                    lifecycle::record_exit(store, &record.id, Some(&exit))?;
                }
            }
            Ok(code)
        }
        Err(failure) => {
            let Ok(exit) = hs_pty::exit_file::ExitFile::read(&layout.exit_file()) else {
                return Err(failure);
            };
            if layout.socket().exists() {
                return Err(failure);
            }
            let options = hs_pty::logs::LogsOptions {
                log: layout.log(),
                follow: false,
                exit_file: None,
                monitor: None,
                tail: None,
                timestamps: false,
                since: None,
            };
            hs_pty::logs::logs(&options, std::io::stdout(), std::io::stderr())?;
            Ok(exit.exit_code)
        }
    }
}
