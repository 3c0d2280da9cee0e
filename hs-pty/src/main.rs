//! hs-pty: the container monitor and its attach client.

// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hs_pty::child::Terminal;

/// The container monitor: PTY or pipes, attach socket, log, exit file;
/// the attach client, the log reader, and a foreground PTY relay.
#[derive(Parser)]
#[command(name = "hs-pty", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Each subcommand's arguments are built only when it runs: a tool in the
// chain then pays for its own subcommand alone (clap_derive's `defer`).
#[command(defer = true)]
enum Command {
    /// Start PROG and stay its parent: hand its output to the log and to
    /// attached clients, write the exit file, run --on-exit, then exit
    /// with PROG's code (with --detach: return once PROG runs).
    Serve(ServeArgs),
    /// Attach the terminal to a running monitor; exit with the container's
    /// exit code, or 0 on the detach keys.
    Attach(AttachArgs),
    /// Print the output a monitor logged.
    Logs(LogsArgs),
    /// Run PROG on a PTY in the foreground, relaying this terminal (raw
    /// mode, resizes); exit with PROG's code.
    Run(RunArgs),
}

#[derive(Args)]
struct TerminalArgs {
    /// Run PROG on a PTY (its controlling terminal) instead of pipes.
    #[arg(long)]
    tty: bool,
    /// With --tty: receive the PTY master from the chain over HS_CONSOLE_FD
    /// (hs-unshare --console opens it in the container) instead of
    /// opening one here.
    #[arg(long, requires = "tty")]
    console: bool,
}

impl TerminalArgs {
    fn terminal(&self, stdin: bool) -> Terminal {
        match (self.tty, self.console) {
            (true, true) => Terminal::Console,
            (true, false) => Terminal::Pty,
            (false, _) => Terminal::Pipes { stdin },
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// The attach socket to listen on (any length).
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    #[command(flatten)]
    terminal: TerminalArgs,
    /// Without --tty: give PROG a stdin pipe fed by clients (else /dev/null).
    #[arg(long)]
    stdin: bool,
    /// Append output to this log (CRI records: TIME STREAM F|P CONTENT).
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// Rotate the log past this many bytes (LOG -> LOG.1 -> LOG.2 …)
    #[arg(long, value_name = "BYTES", requires = "log", value_parser = clap::value_parser!(u64).range(1..))]
    log_max_size: Option<u64>,
    /// Keep this many log files, the current one included (with
    /// --log-max-size; default 1: the log starts over)
    #[arg(long, value_name = "N", requires = "log_max_size", value_parser = clap::value_parser!(u32).range(1..))]
    log_max_files: Option<u32>,
    /// Write {"exit_code":N,"signal":S|null,"finished":T} here when PROG exits.
    #[arg(long, value_name = "PATH")]
    exit_file: Option<PathBuf>,
    /// Run PROG (no shell) after PROG exited and the exit file is written.
    #[arg(long, value_name = "PROG")]
    on_exit: Option<OsString>,
    /// An argument for --on-exit (repeatable, in order).
    #[arg(
        long,
        value_name = "ARG",
        requires = "on_exit",
        allow_hyphen_values = true
    )]
    on_exit_arg: Vec<OsString>,
    /// Run --on-exit at idle priority (SCHED_IDLE): it yields the CPU to
    /// everything else, such as a client still finishing.
    #[arg(long, requires = "on_exit")]
    on_exit_idle: bool,
    /// Daemonize; return once PROG runs (0) or the chain failed (its code).
    #[arg(long)]
    detach: bool,
    /// --detach without the fork: become the monitor in this process and
    /// write {"code":N,"error":…} to this fd once PROG runs or the chain
    /// failed; for a caller that reads it rather than waiting for an exit.
    #[arg(long, value_name = "FD", conflicts_with = "detach")]
    report_fd: Option<i32>,
    /// Write {"monitor_pid":N,"init_pid":M|null} to this fd once PROG runs.
    #[arg(long, value_name = "FD")]
    info_fd: Option<i32>,
    /// Start nothing before a byte arrives on this fd (EOF: exit 125).
    #[arg(long, value_name = "FD")]
    go_fd: Option<i32>,
    /// Hold this fd open until PROG exited and the exit file is written,
    /// then close it (a waiter on the pipe's other end wakes at once).
    #[arg(long, value_name = "FD")]
    exit_fd: Option<i32>,
    /// The program (usually the rest of the chain).
    #[arg(last = true, required = true, value_name = "PROG")]
    program: Vec<OsString>,
}

#[derive(Args)]
struct AttachArgs {
    /// The monitor's socket.
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// Key sequence that detaches: ctrl-<key> or characters, comma-separated; "" disables.
    #[arg(long, value_name = "KEYS", default_value = hs_pty::detach_keys::DEFAULT)]
    detach_keys: String,
    /// Do not send input (no raw mode either).
    #[arg(long)]
    no_stdin: bool,
    /// Replay up to N bytes of past output first (so a redraw has context).
    #[arg(long, value_name = "N", default_value_t = 0)]
    tail_bytes: u32,
}

#[derive(Args)]
struct LogsArgs {
    /// The monitor's log.
    #[arg(long, value_name = "PATH")]
    log: PathBuf,
    /// Keep printing new output; stop once --exit-file exists and the log is drained.
    #[arg(long, short = 'f')]
    follow: bool,
    /// The monitor's exit file (ends --follow).
    #[arg(long, value_name = "PATH")]
    exit_file: Option<PathBuf>,
    /// The monitor writing the log: --follow also ends when it is gone.
    #[arg(long, value_name = "PID[:STARTTIME]", value_parser = hs_pty::logs::parse_monitor)]
    monitor: Option<hs_common::proc::ProcessRef>,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Prefix each line with its RFC 3339 time (nanoseconds).
    #[arg(long, short = 't')]
    timestamps: bool,
    /// Only output since an RFC 3339 time or a duration ago (10m, 1h30m).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    terminal: TerminalArgs,
    /// The program.
    #[arg(last = true, required = true, value_name = "PROG")]
    program: Vec<OsString>,
}

// std's runtime start-up is skipped, as every chain pays it in
// each tool: see hs_common::run_bare_main.
hs_common::tool_main!("hs-pty", run_cli);

fn run_cli() -> Result<i32, hs_common::Failure> {
    let cli: Cli = hs_common::cli::parse("hs-pty")?;
    match cli.command {
        Command::Serve(args) => hs_pty::serve::serve(hs_pty::serve::ServeOptions {
            socket: args.socket,
            terminal: args.terminal.terminal(args.stdin),
            log: args.log,
            log_rotation: args.log_max_size.map(|max_size| hs_pty::log::Rotation {
                max_size,
                max_files: args.log_max_files.unwrap_or(1),
            }),
            exit_file: args.exit_file,
            on_exit: args.on_exit.into_iter().chain(args.on_exit_arg).collect(),
            on_exit_idle: args.on_exit_idle,
            detach: args.detach,
            report_fd: args.report_fd,
            info_fd: args.info_fd,
            go_fd: args.go_fd,
            exit_fd: args.exit_fd,
            program: args.program,
        }),
        Command::Attach(args) => hs_pty::attach::attach(hs_pty::attach::AttachOptions {
            socket: args.socket,
            detach_keys: hs_pty::detach_keys::parse(&args.detach_keys)?,
            no_stdin: args.no_stdin,
            tail_bytes: args.tail_bytes,
        }),
        Command::Logs(args) => {
            let since = args
                .since
                .as_deref()
                .map(|s| hs_pty::logs::parse_since(s, chrono::Utc::now()))
                .transpose()?;
            let opts = hs_pty::logs::LogsOptions {
                log: args.log,
                follow: args.follow,
                exit_file: args.exit_file,
                monitor: args.monitor,
                tail: args.tail,
                timestamps: args.timestamps,
                since,
            };
            let (out, err) = (std::io::stdout(), std::io::stderr());
            hs_pty::logs::logs(&opts, out.lock(), err.lock()).map(|()| 0)
        }
        Command::Run(args) => {
            // Without a PTY there is nothing to relay: PROG gets our stdio.
            let terminal = match args.terminal.tty {
                true => args.terminal.terminal(false),
                false => Terminal::Inherit,
            };
            hs_pty::run::run(terminal, &args.program)
        }
    }
}
