//! hs-cgroup: create a cgroup, set limits, move into it and chain; stats,
//! procs, kill, freeze, thaw, rm. See README.md for the chain contract.

// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use hs_cgroup::{plan, Address, Error, Group, LimitArgs, Limits};
use hs_common::Failure;

/// Create a cgroup, set limits, move into it and chain; stats, kill, freeze, rm
///
/// A cgroup is named by `--parent P --name N` (P defaults to /hs or
/// $HS_CGROUP_PARENT; without a leading / it is relative to the caller's own
/// cgroup in each hierarchy) or by its recorded absolute directories
/// (`--path DIR`, repeatable).
#[derive(Parser)]
#[command(name = "hs-cgroup", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Each subcommand's arguments are built only when it runs: a tool in the
// chain then pays for its own subcommand alone (clap_derive's `defer`).
#[command(defer = true)]
enum Command {
    /// Create the cgroup if needed, set limits, move into it, then exec PROG.
    /// With --path: join the existing cgroup and exec PROG.
    Exec {
        #[command(flatten)]
        address: AddressArgs,
        #[command(flatten)]
        limits: LimitFlags,
        /// Write {"cgroups":{HIERARCHY:DIR,…}} to this fd before exec'ing.
        #[arg(long, value_name = "FD")]
        info_fd: Option<i32>,
        /// Print the plan (one operation a line) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The program to run in the cgroup, and its arguments.
        #[arg(last = true, required = true, value_name = "PROG")]
        command: Vec<OsString>,
    },
    /// Create the cgroup (if needed) and set limits; prints its directories.
    Create {
        #[command(flatten)]
        address: AddressArgs,
        #[command(flatten)]
        limits: LimitFlags,
        /// Also write the JSON report to this fd.
        #[arg(long, value_name = "FD")]
        info_fd: Option<i32>,
        /// Print the plan (one operation a line) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change the limits of an existing cgroup.
    Set {
        #[command(flatten)]
        address: AddressArgs,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Print memory, cpu and pids usage as one JSON object.
    Stats {
        #[command(flatten)]
        address: AddressArgs,
    },
    /// Print the pids in the cgroup (children included) as one JSON array.
    Procs {
        #[command(flatten)]
        address: AddressArgs,
    },
    /// Send a signal to every process in the cgroup (default KILL).
    Kill {
        #[command(flatten)]
        address: AddressArgs,
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        /// Give up after this many seconds.
        #[arg(long, default_value = "10", value_name = "SECS")]
        timeout: f64,
    },
    /// Freeze every process in the cgroup.
    Freeze {
        #[command(flatten)]
        address: AddressArgs,
        #[arg(long, default_value = "10", value_name = "SECS")]
        timeout: f64,
    },
    /// Thaw a frozen cgroup.
    Thaw {
        #[command(flatten)]
        address: AddressArgs,
        #[arg(long, default_value = "10", value_name = "SECS")]
        timeout: f64,
    },
    /// Remove the cgroup from every hierarchy once it is empty (a missing
    /// cgroup is success).
    Rm {
        #[command(flatten)]
        address: AddressArgs,
        /// SIGKILL every process first.
        #[arg(long)]
        kill: bool,
        /// How long to wait for the cgroup to empty.
        #[arg(long, default_value = "10", value_name = "SECS")]
        timeout: f64,
    },
}

#[derive(Args)]
struct AddressArgs {
    /// Parent cgroup; without a leading / relative to the caller's own.
    #[arg(long, env = "HS_CGROUP_PARENT", default_value = hs_cgroup::DEFAULT_PARENT)]
    parent: String,
    /// The cgroup's name below the parent.
    #[arg(long)]
    name: Option<String>,
    /// The cgroup's absolute directory in one hierarchy (repeatable).
    #[arg(long = "path", value_name = "DIR")]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
struct LimitFlags {
    /// Memory limit, e.g. 200M (units b, k, m, g).
    #[arg(short = 'm', long, value_name = "SIZE")]
    memory: Option<String>,
    /// Memory plus swap, or -1 for unlimited swap.
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true)]
    memory_swap: Option<String>,
    /// CPU quota in CPUs, e.g. 0.5.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    cpus: Option<String>,
    /// Relative CPU weight, v1 style (2-262144).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    cpu_shares: Option<String>,
    /// Relative CPU weight, v2 style (1-10000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    cpu_weight: Option<String>,
    /// CPUs the processes may run on, e.g. 0-1.
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// Memory nodes the processes may use, e.g. 0.
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// Maximum number of processes, or -1 for unlimited.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pids_limit: Option<String>,
}

impl LimitFlags {
    fn parse(self) -> Result<Limits, Error> {
        Ok(Limits::from_args(&LimitArgs {
            memory: self.memory,
            memory_swap: self.memory_swap,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpu_weight: self.cpu_weight,
            cpuset_cpus: self.cpuset_cpus,
            cpuset_mems: self.cpuset_mems,
            pids_limit: self.pids_limit,
        })?)
    }
}

impl AddressArgs {
    fn open(&self) -> Result<Group, Error> {
        let address = Address::new(&self.parent, self.name.as_deref(), &self.paths)?;
        hs_cgroup::open(&address)
    }
}

// std's runtime start-up is skipped, as every chain pays it in
// each tool: see hs_common::run_bare_main.
hs_common::tool_main!("hs-cgroup", run_cli);

fn run_cli() -> Result<i32, hs_common::Failure> {
    let cli: Cli = hs_common::cli::parse("hs-cgroup")?;
    run(cli.command)
}

fn deadline(secs: f64) -> Instant {
    Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 1e6))
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

fn run(command: Command) -> Result<i32, Failure> {
    let fail = |e: Error| Failure::tool(e.to_string());
    match command {
        Command::Exec {
            address,
            limits,
            info_fd,
            dry_run,
            command,
        } => {
            let limits = limits.parse().map_err(fail)?;
            if let Some(fd) = info_fd {
                hs_common::info::check_fd(fd)?;
            }
            if !address.paths.is_empty() && limits.is_empty() && info_fd.is_none() {
                // A plain join (hs exec): no layout to read.
                let ops =
                    hs_cgroup::group::plan_join_paths(&address.paths, std::process::id() as i32)
                        .map_err(fail)?;
                if dry_run {
                    return print_plan(&ops);
                }
                plan::execute(&ops, &hs_cgroup::fs::HostFs).map_err(fail)?;
                return Err(hs_common::exec::exec(&command));
            }
            let group = address.open().map_err(fail)?;
            let group = if address.paths.is_empty() {
                group.without_unused(&limits)
            } else {
                group
            };
            let mut ops = if address.paths.is_empty() {
                group.plan_create(&limits)
            } else {
                group.plan_set(&limits)
            }
            .map_err(fail)?;
            group.plan_join(std::process::id() as i32, &mut ops);
            if dry_run {
                return print_plan(&ops);
            }
            plan::execute(&ops, &hs_cgroup::fs::HostFs).map_err(fail)?;
            if let Some(fd) = info_fd {
                hs_common::info::write_info(fd, &report(&group))?;
            }
            Err(hs_common::exec::exec(&command))
        }
        Command::Create {
            address,
            limits,
            info_fd,
            dry_run,
        } => {
            let limits = limits.parse().map_err(fail)?;
            if let Some(fd) = info_fd {
                hs_common::info::check_fd(fd)?;
            }
            let group = address.open().map_err(fail)?.without_unused(&limits);
            let ops = group.plan_create(&limits).map_err(fail)?;
            if dry_run {
                return print_plan(&ops);
            }
            plan::execute(&ops, &hs_cgroup::fs::HostFs).map_err(fail)?;
            if let Some(fd) = info_fd {
                hs_common::info::write_info(fd, &report(&group))?;
            }
            print_json(&report(&group));
            Ok(0)
        }
        Command::Set { address, limits } => {
            let limits = limits.parse().map_err(fail)?;
            let group = address.open().map_err(fail)?;
            let ops = group.plan_set(&limits).map_err(fail)?;
            plan::execute(&ops, &hs_cgroup::fs::HostFs).map_err(fail)?;
            Ok(0)
        }
        Command::Stats { address } => {
            let stats = address.open().and_then(|g| g.stats()).map_err(fail)?;
            print_json(&serde_json::to_value(stats).map_err(Failure::tool)?);
            Ok(0)
        }
        Command::Procs { address } => {
            let pids = address.open().and_then(|g| g.procs()).map_err(fail)?;
            print_json(&serde_json::json!(pids));
            Ok(0)
        }
        Command::Kill {
            address,
            signal,
            timeout,
        } => {
            let signal = hs_cgroup::parse_signal(&signal).map_err(fail)?;
            let group = address.open().map_err(fail)?;
            group.kill(signal, deadline(timeout)).map_err(fail)?;
            Ok(0)
        }
        Command::Freeze { address, timeout } => {
            let group = address.open().map_err(fail)?;
            group.set_frozen(true, deadline(timeout)).map_err(fail)?;
            Ok(0)
        }
        Command::Thaw { address, timeout } => {
            let group = address.open().map_err(fail)?;
            group.set_frozen(false, deadline(timeout)).map_err(fail)?;
            Ok(0)
        }
        Command::Rm {
            address,
            kill,
            timeout,
        } => {
            let group = address.open().map_err(fail)?;
            group
                .remove(kill, Duration::from_secs_f64(timeout.clamp(0.0, 1e6)))
                .map_err(fail)?;
            Ok(0)
        }
    }
}

fn print_plan(ops: &[plan::Op]) -> Result<i32, Failure> {
    for op in ops {
        println!("{op}");
    }
    Ok(0)
}

fn report(group: &Group) -> serde_json::Value {
    serde_json::json!({ "cgroups": group.paths() })
}
