//! The command line: docker's command and flag names, clap derive. Kept in
//! the library so `hs completion` and `hs man` generate from the same
//! definitions the parser uses.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run commands in containers that are copy-on-write copies of the host or images
///
/// With no image, a container is a copy-on-write mirror of the host's system
/// directories; with an image or a rootfs directory, it runs that instead.
/// Every step is a separate hs tool exec'ing the next (see `hs run --dry-run`).
/// State lives in $HS_ROOT (default /var/lib/hs).
#[derive(Debug, Parser)]
#[command(name = "hs", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `hs run --help`'s summary of what it does (README.md has the long form).
const RUN_STEPS: &str = "\
Steps: 1. validate every option (exit 125, nothing created); 2. create the
record in $HS_ROOT; 3. run the chain under a detached monitor:
  hs-pty serve --detach … -- hs-cgroup exec … --
  hs-overlay host|mount … --unshare-mount -- hs-unshare --ns … --root … -- COMMAND
4. record the pids and cgroups; 5. -d: print the id; otherwise attach (or
follow the log) and exit with the command's code. `--dry-run` prints the
chain. Exit codes: 125 hs failed, 126 cannot execute, 127 not found, else
the command's.";

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it runs: a tool in the
// chain then pays for its own subcommand alone (clap_derive's `defer`).
#[command(defer = true)]
pub enum Command {
    /// Run a command in a new container
    #[command(after_help = RUN_STEPS)]
    Run(Box<RunArgs>),
    /// Attach the terminal to a running container
    Attach(AttachArgs),
    /// Start stopped containers again (their changes persist)
    Start(StartArgs),
    /// Stop and start containers again
    Restart(RestartArgs),
    /// Stop running containers: SIGTERM, then SIGKILL after a grace period
    Stop(StopArgs),
    /// Send a signal to running containers (default SIGKILL)
    Kill(KillArgs),
    /// Wait until containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Run another command in a running container
    Exec(ExecArgs),
    /// List containers
    #[command(alias = "ls")]
    Ps(PsArgs),
    /// Remove containers
    Rm(RmArgs),
    /// Print a container's captured output
    Logs(LogsArgs),
    /// Print containers' configuration and state as a JSON array
    Inspect(ContainersArgs),
    /// Print what a container changed in its filesystem
    Diff(DiffArgs),
    /// List the processes of a running container
    Top(ContainerArg),
    /// Print resource usage of containers
    Stats(StatsArgs),
    /// Remove every stopped container
    Prune(PruneArgs),
    /// Make an image from a container's changes
    Commit(CommitArgs),
    /// List stored images
    Images(ImagesArgs),
    /// Import a rootfs tarball (docker export) as an image
    Import(ImportArgs),
    /// Load an image archive (docker save or OCI layout tarball)
    Load(LoadArgs),
    /// Pull an image from an OCI registry
    Pull(PullArgs),
    /// Remove stored images
    Rmi(RmiArgs),
    /// Write a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Print a shell completion script
    Completion(CompletionArgs),
    /// Write man pages for hs and every subcommand
    Man(ManArgs),
    /// The monitor's on-exit step: record the exit, remove cgroups, --rm
    #[command(hide = true)]
    Cleanup(CleanupArgs),
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container id
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open (default with a terminal on stdin)
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the container a terminal (default with a terminal on stdin)
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Name the container
    #[arg(long)]
    pub name: Option<String>,
    /// Bind mount SRC:DST[:ro] (SRC must exist)
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// Mount an empty tmpfs at this container path
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,
    /// Make the root filesystem read-only (/tmp, /run, /dev, volumes and
    /// --tmpfs mounts stay writable)
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Container host name (default: the short id)
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// User to run as inside the container (USER[:GROUP], names or numbers)
    #[arg(short, long)]
    pub user: Option<String>,
    /// Memory limit (e.g. 200M)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory plus swap limit, or -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight (v1 cpu.shares)
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<String>,
    /// CPUs the container may use (e.g. 0-1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (e.g. 0)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Keys that detach from the container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Give the command this capability too (a name, a comma list or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Take this capability from the default set (a name, a list or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the command every capability (root inside can mount, load
    /// modules, reach devices: the host is no longer out of its reach)
    #[arg(long)]
    pub privileged: bool,
    /// max-size=SIZE: rotate the log past SIZE; max-file=N: keep N files
    /// (docker's json-file options)
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// no-new-privileges: no exec in the container gains privileges
    /// (set-uid bits and file capabilities are ignored)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Run a tiny init as PID 1 (the default)
    #[arg(long, overrides_with = "no_init")]
    pub init: bool,
    /// Run the command itself as PID 1
    #[arg(long = "no-init")]
    pub no_init: bool,
    /// Parent cgroup (default /hs; no leading / = relative to hs's own cgroup)
    #[arg(long = "cgroup-parent", env = "HS_CGROUP_PARENT")]
    pub cgroup_parent: Option<String>,
    /// Print the chain of tools, one step a line, and run nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Run this image or rootfs directory (instead of a first positional)
    #[arg(long, conflicts_with = "host")]
    pub image: Option<String>,
    /// Run a host mirror even if the first word names an image
    #[arg(long)]
    pub host: bool,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// [IMAGE] [COMMAND [ARG…]]: IMAGE when it is a directory path (with a /)
    /// or a stored image, else the start of the command (host mirror)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Keys that detach from the container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not send this terminal's input to the container
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output (one container only)
    #[arg(short, long)]
    pub attach: bool,
    /// Attach this terminal's input too
    #[arg(short, long)]
    pub interactive: bool,
    /// Keys that detach from the container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for the stop before killing
    #[arg(short = 't', long = "time", alias = "timeout", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before killing
    #[arg(short = 't', long = "time", alias = "timeout", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name like TERM or SIGTERM, or a number)
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerArg {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The parent the container's cgroup was created under
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as (USER[:GROUP], names or numbers)
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give the command every capability (else it gets the container's)
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show stopped containers too
    #[arg(short, long)]
    pub all: bool,
    /// Only print ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the last N created containers (any state)
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    /// Show the newest container (any state)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Do not truncate ids and commands
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// table, json, or a template with {{.ID}} {{.Names}} {{.Image}}
    /// {{.Command}} {{.CreatedAt}} {{.RunningFor}} {{.Status}} {{.State}} {{.Pid}}
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop (kill) a running container first
    #[arg(short, long)]
    pub force: bool,
    /// Accepted for docker compatibility (hs has no anonymous volumes)
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing output until the container stops
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Prefix each line with its RFC 3339 timestamp
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only output since a time (RFC 3339) or duration ago (e.g. 10m)
    #[arg(long)]
    pub since: Option<String>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Print JSON Lines {"kind":…,"path":…} instead of docker's `K /path`
    #[arg(long)]
    pub json: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Print JSON Lines
    #[arg(long)]
    pub json: bool,
    /// Containers (default: every running one)
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (hs never asks; accepted for docker compatibility)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    pub container: String,
    /// Name for the new image
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only print image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Print JSON Lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tarball
    pub file: PathBuf,
    /// Name for the image
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive
    #[arg(short, long)]
    pub input: PathBuf,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Plain http to the registry (e.g. one on 127.0.0.1)
    #[arg(long)]
    pub insecure: bool,
    /// Extract the layers now, not at the image's first run
    #[arg(long)]
    pub unpack: bool,
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even when a container uses the image
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to FILE instead of stdout
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write hs.1 and hs-COMMAND.1 into
    #[arg(long)]
    pub out: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn run_args(words: &[&str]) -> RunArgs {
        let mut argv = vec!["hs", "run"];
        argv.extend_from_slice(words);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => *args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_after_the_first_positional_belong_to_the_command() {
        let args = run_args(&["-d", "ls", "-l", "-d"]);
        assert!(args.detach);
        assert_eq!(args.args, ["ls", "-l", "-d"]);
    }

    #[test]
    fn short_h_is_the_hostname_as_in_docker() {
        let args = run_args(&["-h", "box", "true"]);
        assert_eq!(args.hostname.as_deref(), Some("box"));
    }

    #[test]
    fn repeated_volumes_and_env_are_kept_in_order() {
        let args = run_args(&[
            "-v", "/a:/b", "-e", "X=1", "-v", "/c:/d:ro", "-e", "Y", "sh",
        ]);
        assert_eq!(args.volumes, ["/a:/b", "/c:/d:ro"]);
        assert_eq!(args.env, ["X=1", "Y"]);
    }

    #[test]
    fn exec_takes_the_command_after_the_container() {
        let cli = Cli::try_parse_from(["hs", "exec", "-it", "c1", "ls", "-la"]).unwrap();
        let Command::Exec(args) = cli.command else {
            panic!()
        };
        assert!(args.interactive && args.tty);
        assert_eq!(args.container, "c1");
        assert_eq!(args.command, ["ls", "-la"]);
    }
}
