//! hs-unshare: see README.md for the chain contract.

// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// New or joined namespaces, a PID-1 init, the container's root and
/// pivot_root, then exec PROG.
///
///   hs-unshare --ns mnt,pid,uts,ipc,net,cgroup [--hostname H] [--no-init] -- PROG…
///   hs-unshare --root DIR [--volume SRC:DST[:ro]]… [--ro P]… [--tmpfs P]… -- PROG…
///   hs-unshare --join PID [--ns LIST] -- PROG…
///
/// With a pid namespace the first child is PID 1 (a tiny init that forks
/// PROG, reaps orphans and forwards signals, unless --no-init); this
/// process waits outside, forwards SIGTERM SIGINT SIGHUP SIGQUIT SIGUSR1
/// SIGUSR2 SIGWINCH and exits with PROG's status (128+N for signal N).
/// It writes {"init_pid":N} to HS_SYNC_FD and {"pid":N} to --info-fd.
/// Exit codes: 125 hs-unshare failed, 126 PROG not executable, 127 PROG
/// not found, else PROG's status.
#[derive(Parser)]
#[command(name = "hs-unshare", version, verbatim_doc_comment)]
struct Cli {
    /// New namespaces: a comma list of mnt, pid, uts, ipc, net, cgroup
    /// (with --join: only these are entered)
    #[arg(long, value_name = "LIST")]
    ns: Option<String>,
    /// Hostname in the new uts namespace
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// PROG itself is PID 1 of the new pid namespace (no init)
    #[arg(long)]
    no_init: bool,
    /// Set up DIR as the container's root (/proc, /sys ro, /dev, /tmp, /run,
    /// masked paths) and pivot_root into it
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Recursive bind of host SRC at container DST; :ro makes it read-only
    /// all the way down
    #[arg(long = "volume", short = 'v', value_name = "SRC:DST[:ro]")]
    volumes: Vec<String>,
    /// Make a container path read-only (recursively)
    #[arg(long = "ro", value_name = "PATH")]
    readonly: Vec<PathBuf>,
    /// Mount an empty tmpfs at a container path
    #[arg(long, value_name = "PATH")]
    tmpfs: Vec<PathBuf>,
    /// Make the root read-only (its own mount: /proc, /dev, /tmp, /run,
    /// volumes and --tmpfs keep their mode)
    #[arg(long = "read-only")]
    read_only: bool,
    /// Enter every namespace and the root of process PID instead
    #[arg(long, value_name = "PID")]
    join: Option<i32>,
    /// Working directory of PROG (a container path)
    #[arg(long, value_name = "DIR")]
    chdir: Option<PathBuf>,
    /// Set an environment variable for PROG
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Start PROG with an empty environment (plus a default PATH and --env)
    #[arg(long)]
    clear_env: bool,
    /// Run PROG as USER[:GROUP]: numbers, or names from the container's
    /// /etc/passwd and /etc/group
    #[arg(long, value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Give PROG a terminal from the container's devpts; the master goes
    /// back over HS_CONSOLE_FD
    #[arg(long)]
    console: bool,
    /// Drop these capabilities (names or comma lists; ALL) from what PROG
    /// gets; without --cap-drop/--cap-add it gets every one we have
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Give PROG these capabilities back (applied after --cap-drop)
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// PROG's exec and every later one grant no privileges (set-uid bits
    /// and file capabilities are ignored: no_new_privs)
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Write {"pid":N} to this fd once the namespaces exist
    #[arg(long, value_name = "FD")]
    info_fd: Option<i32>,
    /// Check the options, print the steps one per line and change nothing
    #[arg(long)]
    dry_run: bool,
    /// The rest of the chain
    #[arg(last = true, required = true, value_name = "PROG")]
    prog: Vec<OsString>,
}

// std's runtime start-up is skipped, as every chain pays it in
// each tool: see hs_common::run_bare_main.
hs_common::tool_main!("hs-unshare", run_cli);

fn run_cli() -> Result<i32, hs_common::Failure> {
    let cli: Cli = hs_common::cli::parse("hs-unshare")?;
    let options = hs_unshare::Options {
        ns: cli.ns,
        hostname: cli.hostname,
        no_init: cli.no_init,
        root: cli.root,
        volumes: cli.volumes,
        readonly: cli.readonly,
        tmpfs: cli.tmpfs,
        readonly_root: cli.read_only,
        join: cli.join,
        chdir: cli.chdir,
        env: cli.env,
        clear_env: cli.clear_env,
        user: cli.user,
        console: cli.console,
        cap_drop: cli.cap_drop,
        cap_add: cli.cap_add,
        no_new_privs: cli.no_new_privs,
        info_fd: cli.info_fd,
        argv: cli.prog,
    };
    let request = hs_unshare::Request::new(options, hs_common::console::inherited_fd())?;
    if cli.dry_run {
        for line in hs_unshare::describe(&request) {
            println!("{line}");
        }
        return Ok(0);
    }
    hs_unshare::run(request)
}
