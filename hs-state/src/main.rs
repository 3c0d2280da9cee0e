// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use hs_common::Failure;
use hs_state::change::{self, StateChange};
use hs_state::{Config, Status, Store};

/// Container records under $HS_ROOT: create, get, set, ls, rm, resolve.
///
/// Prints JSON on stdout (one object, or JSON Lines for `ls`). A REF is a
/// full id, a unique id prefix, or a name. Errors: one line on stderr and
/// exit 125.
#[derive(Parser)]
#[command(name = "hs-state", version)]
struct Cli {
    /// The store's root directory [env: HS_ROOT, default: /var/lib/hs]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Each subcommand's arguments are built only when it runs: a tool in the
// chain then pays for its own subcommand alone (clap_derive's `defer`).
#[command(defer = true)]
enum Command {
    /// Create a record (status created) from a config document; prints
    /// {"id":…,"name":…}
    ///
    /// The document is hs-state's Config as JSON; `version` defaults to
    /// the current schema and `created` to now. The smallest one:
    /// {"command":["sh"],"rootfs":{"kind":"host"}}. Other rootfs kinds:
    /// {"kind":"dir","path":DIR} and
    /// {"kind":"image","reference":REF,"id":ID,"lowerdirs":[DIR…]}.
    /// Optional: env, workdir, hostname, user, volumes
    /// ([{"source","destination","read_only"}]), limits, tty, interactive,
    /// auto_remove, init, detach_keys, cgroup_parent.
    Create {
        /// Reserve this name ([a-zA-Z0-9][a-zA-Z0-9_.-]*); default: a
        /// generated adjective_noun name
        #[arg(long)]
        name: Option<String>,
        /// The config document, `-` for stdin
        #[arg(long, value_name = "FILE|-")]
        config: PathBuf,
    },
    /// Print the id and name REF refers to: {"id":…,"name":…}
    Resolve {
        /// Full id, unique id prefix or name
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// Print a record: id, name, live status, dir, config and state
    Get {
        /// Full id, unique id prefix or name
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// List records as JSON Lines, newest first; broken records are listed
    /// as {"id":…,"status":"broken","error":…} with a warning on stderr
    Ls {
        /// Include records that are not running
        #[arg(short, long)]
        all: bool,
    },
    /// Change a record's state (under the store lock); prints the new state
    ///
    /// Every value is checked before anything is written. `none` clears a
    /// field.
    Set {
        /// Full id, unique id prefix or name
        #[arg(value_name = "REF")]
        reference: String,
        /// The recorded status (liveness still decides whether a running
        /// record really runs)
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// The container's init (host pid); its start time is read from
        /// /proc unless given
        #[arg(long, value_name = "PID|none")]
        init_pid: Option<String>,
        /// Start time (clock ticks after boot) to record with --init-pid
        #[arg(long, value_name = "TICKS", requires = "init_pid")]
        init_start_time: Option<u64>,
        /// The monitor (host pid); its start time is read from /proc unless
        /// given
        #[arg(long, value_name = "PID|none")]
        monitor_pid: Option<String>,
        /// Start time (clock ticks after boot) to record with --monitor-pid
        #[arg(long, value_name = "TICKS", requires = "monitor_pid")]
        monitor_start_time: Option<u64>,
        /// Record the cgroup dir of one hierarchy (repeatable), as
        /// hs-cgroup reports it, e.g. memory=/sys/fs/cgroup/memory/hs/ID
        #[arg(long = "cgroup", value_name = "KEY=DIR")]
        cgroups: Vec<String>,
        /// Forget every recorded cgroup (before applying --cgroup)
        #[arg(long)]
        clear_cgroups: bool,
        /// The exit code; none = unknown
        #[arg(long, value_name = "CODE|none")]
        exit_code: Option<String>,
        /// When the container started
        #[arg(long, value_name = "now|RFC3339|none")]
        started: Option<String>,
        /// When the container finished
        #[arg(long, value_name = "now|RFC3339|none")]
        finished: Option<String>,
    },
    /// Record that the container exited with CODE (the monitor's on-exit
    /// step); prints the new state
    Exited {
        /// Full id, unique id prefix or name
        #[arg(value_name = "REF")]
        reference: String,
        /// The exit code (128+N for death by signal N)
        #[arg(long)]
        code: i32,
        /// When it finished (default: now)
        #[arg(long, value_name = "now|RFC3339")]
        finished: Option<String>,
    },
    /// Remove a record that is not running, with its writable layer, and
    /// free its name; prints {"id":…,"name":…}
    Rm {
        /// Full id, unique id prefix or name
        #[arg(value_name = "REF")]
        reference: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Created,
    Running,
    Exited,
}

impl From<StatusArg> for Status {
    fn from(arg: StatusArg) -> Self {
        match arg {
            StatusArg::Created => Status::Created,
            StatusArg::Running => Status::Running,
            StatusArg::Exited => Status::Exited,
        }
    }
}

hs_common::tool_main!("hs-state", run_cli);

fn run_cli() -> Result<i32, Failure> {
    let cli: Cli = hs_common::cli::parse("hs-state")?;
    let store = match &cli.root {
        Some(root) => Store::open(root)?,
        None => Store::from_env()?,
    };
    run(&store, cli.command)
}

fn run(store: &Store, command: Command) -> Result<i32, Failure> {
    match command {
        Command::Create { name, config } => {
            if let Some(name) = &name {
                hs_state::ident::validate_name(name)?;
            }
            let config = read_config(&config)?;
            let created = store.create(&config, name.as_deref())?;
            print_json(&created)?;
        }
        Command::Resolve { reference } => {
            let id = store.resolve(&reference)?;
            let name = store.get(&id).ok().map(|r| r.name);
            print_json(&serde_json::json!({ "id": id, "name": name }))?;
        }
        Command::Get { reference } => {
            let record = store.get(&store.resolve(&reference)?)?;
            print_json(&record.view())?;
        }
        Command::Ls { all } => return list(store, all),
        Command::Set {
            reference,
            status,
            init_pid,
            init_start_time,
            monitor_pid,
            monitor_start_time,
            cgroups,
            clear_cgroups,
            exit_code,
            started,
            finished,
        } => {
            let change = StateChange {
                status: status.map(Status::from),
                init: init_pid
                    .map(|pid| process(&pid, init_start_time))
                    .transpose()?,
                monitor: monitor_pid
                    .map(|pid| process(&pid, monitor_start_time))
                    .transpose()?,
                clear_cgroups,
                cgroups: cgroups
                    .iter()
                    .map(|c| change::parse_cgroup(c))
                    .collect::<Result<_, _>>()?,
                exit_code: exit_code.map(|c| change::parse_exit_code(&c)).transpose()?,
                started: started.map(|t| change::parse_time(&t)).transpose()?,
                finished: finished.map(|t| change::parse_time(&t)).transpose()?,
            };
            let id = store.resolve(&reference)?;
            print_json(&store.update(&id, |state| change.apply(state))?)?;
        }
        Command::Exited {
            reference,
            code,
            finished,
        } => {
            let finished = match finished.as_deref().map(change::parse_time).transpose()? {
                Some(Some(time)) => time,
                Some(None) => return Err(Failure::tool("invalid time \"none\" for --finished")),
                None => chrono::Utc::now(),
            };
            let id = store.resolve(&reference)?;
            let change = StateChange::exited(code, finished);
            print_json(&store.update(&id, |state| change.apply(state))?)?;
        }
        Command::Rm { reference } => {
            let id = store.resolve(&reference)?;
            let name = store.get(&id).ok().map(|r| r.name);
            store.remove(&id)?;
            print_json(&serde_json::json!({ "id": id, "name": name }))?;
        }
    }
    Ok(0)
}

/// `PID|none` (+ optional start time) as a state field.
fn process(
    pid: &str,
    start_time: Option<u64>,
) -> Result<Option<hs_state::ProcessRef>, change::ParseError> {
    change::parse_pid(pid)?
        .map(|pid| change::process_ref(pid, start_time))
        .transpose()
}

fn read_config(path: &std::path::Path) -> Result<Config, Failure> {
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(drop)
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    read.map_err(|e| {
        Failure::tool(format!(
            "read config {}: {}",
            path.display(),
            hs_state::error::reason(&e)
        ))
    })?;
    Config::from_document(&bytes)
        .map_err(|e| Failure::tool(format!("invalid config {}: {e}", path.display())))
}

fn list(store: &Store, all: bool) -> Result<i32, Failure> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for entry in store.try_list()? {
        let line = match entry {
            Ok(record) if all || record.live_status() == Status::Running => {
                serde_json::to_string(&record.view())
            }
            Ok(_) => continue,
            Err(broken) => {
                eprintln!(
                    "hs-state: warning: container {} is broken: {}",
                    broken.id, broken.reason
                );
                serde_json::to_string(&serde_json::json!({
                    "id": broken.id,
                    "status": "broken",
                    "dir": broken.dir,
                    "error": broken.reason,
                }))
            }
        };
        write_line(&mut out, &line.unwrap_or_default())?;
    }
    flush(&mut out)?;
    Ok(0)
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    write_line(&mut out, &serde_json::to_string(value).unwrap_or_default())?;
    flush(&mut out)
}

fn write_line(out: &mut impl Write, line: &str) -> Result<(), Failure> {
    writeln!(out, "{line}").or_else(stdout_gone)
}

fn flush(out: &mut impl Write) -> Result<(), Failure> {
    out.flush().or_else(stdout_gone)
}

/// A reader that stopped reading (`hs-state ls | head`) is not an error.
fn stdout_gone(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0)
    }
    Err(Failure::tool(format!(
        "write stdout: {}",
        hs_state::error::reason(&e)
    )))
}
