//! hs-overlay: mount an overlay (image layers or the host mirror) and chain
//! into PROG; unmount; diff an upper dir.

// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use hs_common::Failure;
use hs_overlay::{diff, host, image, overlay::MountOption};

/// Mount an overlay (image layers or the host mirror) and chain into PROG;
/// diff an upper dir.
#[derive(Parser)]
#[command(
    name = "hs-overlay",
    version,
    after_help = "Exit codes: 125 hs-overlay failed (one line on stderr), 126 PROG cannot be \
                  executed, 127 PROG not found, else PROG's own status.\n\
                  HS_TRACE=1 logs every step. Run inside a private mount namespace \
                  (hs-unshare --ns mnt), or make one with --unshare-mount, so the \
                  mounts die with it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Each subcommand's arguments are built only when it runs: a tool in the
// chain then pays for its own subcommand alone (clap_derive's `defer`).
#[command(defer = true)]
enum Command {
    /// Mount one overlay of LOWER layers (top first) at TARGET, creating
    /// UPPER and WORK if missing, then exec PROG (without PROG: just mount)
    Mount {
        /// Layers, top first, colon-separated; repeatable
        #[arg(long, value_name = "DIR[:DIR…]", required = true)]
        lower: Vec<String>,
        /// Writable layer (with --work; without both the overlay is read-only)
        #[arg(long, value_name = "DIR", requires = "work")]
        upper: Option<PathBuf>,
        /// overlayfs work dir, on the upper dir's filesystem
        #[arg(long, value_name = "DIR", requires = "upper")]
        work: Option<PathBuf>,
        /// Existing directory to mount on
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
        /// Extra overlayfs mount option, e.g. index=off; repeatable
        #[arg(long = "option", value_name = "KEY[=VALUE]")]
        options: Vec<String>,
        #[command(flatten)]
        how: How,
        /// Program to exec once mounted
        #[arg(last = true, value_name = "PROG")]
        prog: Vec<OsString>,
    },
    /// Build the host mirror at TARGET: a tmpfs skeleton, the host system
    /// dirs copy-on-write (those on the root's mount: binds of one shared
    /// overlay of /; others: an overlay each), host top-level symlinks as
    /// symlinks, empty mount points; then exec PROG (without PROG: just mount)
    ///
    /// Filesystems mounted below a mirrored host dir are not visible through
    /// its overlay: mirror them with --add-dir.
    Host {
        /// Upper base dir: each mirrored dir's changes under its own subdir
        #[arg(long, value_name = "DIR")]
        upper: PathBuf,
        /// Work base dir: one subdir per overlay
        #[arg(long, value_name = "DIR")]
        work: PathBuf,
        /// Existing directory to build the mirror on
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
        /// Dirs to mirror instead of the default
        /// (bin,sbin,lib,lib32,lib64,libx32,usr,etc,opt,var,srv); missing ones are skipped
        #[arg(long, value_name = "LIST")]
        dirs: Option<String>,
        /// Also mirror this host dir (e.g. /home, or a mount point below a
        /// mirrored dir) as an overlay of its own; repeatable
        #[arg(long, value_name = "PATH")]
        add_dir: Vec<String>,
        /// Cover this host path with an empty read-only tmpfs inside the
        /// mirror; required for upper/work dirs under a mirrored dir; repeatable
        #[arg(long, value_name = "PATH")]
        hide: Vec<PathBuf>,
        /// Extra overlayfs mount option for every overlay; repeatable
        #[arg(long = "option", value_name = "KEY[=VALUE]")]
        options: Vec<String>,
        #[command(flatten)]
        how: How,
        /// Program to exec once mounted
        #[arg(last = true, value_name = "PROG")]
        prog: Vec<OsString>,
    },
    /// Unmount everything at or below TARGET (after mount/host without PROG)
    Umount {
        #[arg(value_name = "TARGET")]
        target: PathBuf,
    },
    /// Print what the upper dir UPPER changed as JSON Lines
    /// {"kind":"A|C|D","path":"/x"}, sorted by path
    Diff {
        #[arg(value_name = "UPPER")]
        upper: PathBuf,
        /// The layers below, top first, to tell added (A) from changed (C)
        #[arg(long, value_name = "DIR[:DIR…]")]
        lower: Vec<String>,
        /// UPPER is a host-mirror upper (one subdir per mirrored dir),
        /// compared against the live host dirs
        #[arg(long, conflicts_with = "lower")]
        host: bool,
    },
}

// std's runtime start-up is skipped, as every chain pays it in
// each tool: see hs_common::run_bare_main.
hs_common::tool_main!("hs-overlay", run_cli);

fn run_cli() -> Result<i32, Failure> {
    let cli: Cli = hs_common::cli::parse("hs-overlay")?;
    run(cli.command)
}

fn run(command: Command) -> Result<i32, Failure> {
    match command {
        Command::Mount {
            lower,
            upper,
            work,
            target,
            options,
            how,
            prog,
        } => {
            check_info_fd(how.info_fd)?;
            let request = image::MountRequest {
                lowers: image::split_lowers(&lower)?,
                upper,
                work,
                target,
                options: parse_options(&options)?,
            };
            let ops = image::plan(&request)?;
            run_plan(&request.target, &ops, &how, &prog)
        }
        Command::Host {
            upper,
            work,
            target,
            dirs,
            add_dir,
            hide,
            options,
            how,
            prog,
        } => {
            check_info_fd(how.info_fd)?;
            let request = host::HostRequest {
                upper,
                work,
                target,
                dirs: dirs.as_deref().map(host::split_dir_list),
                add_dirs: add_dir,
                hides: hide,
                options: parse_options(&options)?,
            };
            let ops = host::plan(&request, Path::new("/"))?;
            run_plan(&request.target, &ops, &how, &prog)
        }
        Command::Umount { target } => {
            hs_overlay::umount::umount_tree(&target)?;
            Ok(0)
        }
        Command::Diff { upper, lower, host } => {
            let changes = if host {
                diff::diff_host(&upper, Path::new("/"))?
            } else if lower.is_empty() {
                diff::diff_upper(&upper, None)?
            } else {
                let layers = image::split_lowers(&lower)?;
                hs_overlay::checks::lowers(&layers)?;
                diff::diff_upper(&upper, Some(&hs_overlay::lowers::Lowers::new(layers)))?
            };
            std::io::stdout()
                .write_all(diff::to_json_lines(&changes).as_bytes())
                .map_err(|e| Failure::tool(format!("writing the diff: {e}")))?;
            Ok(0)
        }
    }
}

fn check_info_fd(info_fd: Option<i32>) -> Result<(), Failure> {
    info_fd.map_or(Ok(()), hs_common::info::check_fd)
}

fn parse_options(options: &[String]) -> Result<Vec<MountOption>, Failure> {
    Ok(options
        .iter()
        .map(|o| MountOption::parse(o))
        .collect::<Result<_, _>>()?)
}

// How `mount` and `host` run their plan: the flags they share. (A plain
// comment: a doc comment here would become their --help summary.)
#[derive(Args)]
struct How {
    /// Write {"target":…,"mounts":[…]} to this fd
    #[arg(long, value_name = "FD")]
    info_fd: Option<i32>,
    /// First move into a new mount namespace with / private (`unshare
    /// --mount --propagation private`): the mounts are only ever seen by
    /// PROG, and go with it. Needs PROG
    #[arg(long)]
    unshare_mount: bool,
    /// Check, print the steps (one shell-like line each) and do nothing
    #[arg(long)]
    dry_run: bool,
}

/// Prints the plan (`--dry-run`), or executes it (in a new private mount
/// namespace with `--unshare-mount`), reports what was mounted and execs
/// PROG (if any).
fn run_plan(
    target: &Path,
    ops: &[hs_overlay::plan::Op],
    how: &How,
    prog: &[OsString],
) -> Result<i32, Failure> {
    if how.unshare_mount && prog.is_empty() {
        return Err(Failure::tool(
            "--unshare-mount needs a PROG: the mounts would go with hs-overlay",
        ));
    }
    if how.dry_run {
        let mut text = String::new();
        if how.unshare_mount {
            text.push_str("unshare --mount --propagation private\n");
        }
        text.extend(ops.iter().map(|op| format!("{op}\n")));
        std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Failure::tool(format!("writing the plan: {e}")))?;
        return Ok(0);
    }
    if how.unshare_mount {
        // Before run_plan starts its helper threads: the kernel refuses a
        // new mount namespace to a multithreaded process.
        hs_common::trace::log("plan", "unshare --mount --propagation private");
        hs_common::mount_ns::enter_private()
            .map_err(|e| Failure::tool(format!("unshare --mount: {e}")))?;
    }
    let mounted = hs_overlay::run_plan(target, ops)?;
    if let Some(fd) = how.info_fd {
        hs_common::info::write_info(fd, &mounted)?;
    }
    if prog.is_empty() {
        return Ok(0);
    }
    Err(hs_common::exec::exec(prog))
}
