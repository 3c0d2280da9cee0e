//! hs-unshare: new or joined namespaces, the PID-1 init, the container's
//! root filesystem and pivot_root, then the exec of the rest of the chain.
//!
//! `run` is the whole tool: options are checked before anything changes,
//! then (with `--ns`) namespaces are created and, with a pid namespace, the
//! process forks: the parent stays outside forwarding signals, the child is
//! PID 1; then (with `--root`) the setup plan runs; then, unless
//! `--no-init`, PID 1 forks the command and becomes its init; the command
//! gets its console, user, directory and environment and is exec'd.

pub mod caps;
pub mod console;
pub mod error;
pub mod join;
pub mod launch;
pub mod mount;
pub mod ns;
pub mod plan;
pub mod rootfs;
pub mod supervise;
pub mod user;
pub mod walk;

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::PathBuf;

use hs_common::caps::CapSet;
use hs_common::Failure;
use nix::unistd::Pid;

pub use error::{Error, Result};
use launch::Launch;
use ns::{Kind, Namespaces};
use plan::{RootSpec, Volume};
use supervise::Blocked;
use user::User;

/// The options as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub ns: Option<String>,
    pub hostname: Option<String>,
    pub no_init: bool,
    pub root: Option<PathBuf>,
    pub volumes: Vec<String>,
    pub readonly: Vec<PathBuf>,
    pub tmpfs: Vec<PathBuf>,
    pub readonly_root: bool,
    pub join: Option<i32>,
    pub chdir: Option<PathBuf>,
    pub env: Vec<String>,
    pub clear_env: bool,
    pub user: Option<String>,
    pub console: bool,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub no_new_privs: bool,
    pub info_fd: Option<RawFd>,
    pub argv: Vec<OsString>,
}

/// The options checked and parsed: what `run` does.
#[derive(Debug, Clone)]
pub struct Request {
    pub ns: Option<Namespaces>,
    pub hostname: Option<String>,
    pub init: bool,
    pub root: Option<RootSpec>,
    pub join: Option<i32>,
    pub launch: Launch,
    pub info_fd: Option<RawFd>,
}

impl Request {
    /// Parses and cross-checks `options`; every refusal happens here,
    /// before anything is created or mounted. `console_fd` is the
    /// inherited `HS_CONSOLE_FD`, if any.
    pub fn new(options: Options, console_fd: Option<RawFd>) -> Result<Self> {
        let ns = options.ns.as_deref().map(Namespaces::parse).transpose()?;
        let has = |kind| ns.is_some_and(|n: Namespaces| n.has(kind));
        if options.ns.is_none() && options.root.is_none() && options.join.is_none() {
            return Err(Error::Usage("nothing to do: give --ns, --root or --join"));
        }
        if options.join.is_some() && (options.root.is_some() || options.hostname.is_some()) {
            return Err(Error::Usage(
                "--join cannot be combined with --root or --hostname",
            ));
        }
        if options.join.is_some() && options.no_init {
            return Err(Error::Usage("--no-init applies to --ns pid, not --join"));
        }
        if options.hostname.is_some() && !has(Kind::Uts) {
            return Err(Error::Usage(
                "--hostname needs a new uts namespace (--ns uts)",
            ));
        }
        if options.no_init && !has(Kind::Pid) {
            return Err(Error::Usage(
                "--no-init needs a new pid namespace (--ns pid)",
            ));
        }
        let needs_root = !options.volumes.is_empty()
            || !options.readonly.is_empty()
            || !options.tmpfs.is_empty()
            || options.readonly_root;
        if needs_root && options.root.is_none() {
            return Err(Error::Usage(
                "--volume, --ro, --tmpfs and --read-only need --root",
            ));
        }
        let console = match (options.console, console_fd) {
            (false, _) => None,
            (true, None) => {
                return Err(Error::Usage(
                    "--console needs HS_CONSOLE_FD naming an open socket",
                ))
            }
            (true, Some(_)) if options.root.is_none() && options.join.is_none() => {
                return Err(Error::Usage(
                    "--console needs --root or --join (the container's own devpts)",
                ))
            }
            (true, fd) => fd,
        };
        if let Some(fd) = options.info_fd {
            hs_common::info::check_fd(fd).map_err(|f| Error::Sys {
                what: f.message,
                errno: nix::errno::Errno::EBADF,
            })?;
        }
        // Every capability unless told otherwise: the tool limits only
        // what it is asked to (hs passes the container's set).
        let caps = if options.cap_drop.is_empty() && options.cap_add.is_empty() {
            None
        } else {
            Some(CapSet::all().adjust(&options.cap_drop, &options.cap_add)?)
        };
        let root = options
            .root
            .clone()
            .map(|dir| root_spec(dir, &options))
            .transpose()?;
        Ok(Self {
            ns,
            hostname: options.hostname,
            init: !options.no_init,
            root,
            join: options.join,
            launch: Launch {
                argv: options.argv,
                chdir: options.chdir,
                env: options
                    .env
                    .iter()
                    .map(|e| launch::parse_env(e))
                    .collect::<Result<_>>()?,
                clear_env: options.clear_env,
                user: options.user.as_deref().map(User::parse).transpose()?,
                console,
                console_size: match console {
                    Some(_) => hs_common::console::WindowSize::from_env()
                        .map_err(|e| Error::BadConsoleSize(e.to_string()))?,
                    None => None,
                },
                dev_console: options.root.is_some(),
                caps,
                no_new_privs: options.no_new_privs,
            },
            info_fd: options.info_fd,
        })
    }
}

fn root_spec(dir: PathBuf, options: &Options) -> Result<RootSpec> {
    let meta = std::fs::metadata(&dir).map_err(|e| {
        Error::BadRoot(
            dir.clone(),
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::BadRoot(dir, nix::errno::Errno::ENOTDIR));
    }
    let volumes = options
        .volumes
        .iter()
        .map(|v| Volume::parse(v))
        .collect::<Result<Vec<_>>>()?;
    for volume in &volumes {
        std::fs::metadata(&volume.source).map_err(|e| {
            Error::VolumeSource(
                volume.source.clone(),
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    }
    for (option, paths) in [("--ro", &options.readonly), ("--tmpfs", &options.tmpfs)] {
        if let Some(path) = paths.iter().find(|p| !p.is_absolute()) {
            return Err(Error::BadContainerPath {
                option,
                path: path.clone(),
            });
        }
    }
    Ok(RootSpec {
        dir,
        volumes,
        readonly: options.readonly.clone(),
        tmpfs: options.tmpfs.clone(),
        readonly_root: options.readonly_root,
    })
}

/// What `run` would do, one shell-like line per step (`--dry-run`; the
/// setup lines are the ones `HS_TRACE=1` logs).
pub fn describe(request: &Request) -> Vec<String> {
    let mut lines = Vec::new();
    let argv = request
        .launch
        .argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(pid) = request.join {
        let wanted = request.ns.unwrap_or_else(Namespaces::all);
        lines.push(format!("setns {} of pid {pid}", wanted.names().join(",")));
        lines.push("fork: the command runs in the joined pid namespace".into());
        if wanted.has(Kind::Mnt) {
            lines.push(format!("chroot /proc/{pid}/root"));
        }
    }
    let ns = request.ns.filter(|_| request.join.is_none());
    if let Some(ns) = ns {
        lines.push(format!("unshare {}", ns.names().join(",")));
        if ns.has(Kind::Mnt) {
            lines.push("make-rprivate /".into());
        }
        if let Some(name) = &request.hostname {
            lines.push(format!("hostname {name}"));
        }
        if ns.has(Kind::Net) {
            lines.push("ip link set lo up".into());
        }
        if ns.has(Kind::Pid) {
            lines.push("fork: pid 1 of the new namespace; this process waits".into());
        }
    }
    if let Some(root) = &request.root {
        lines.extend(plan::plan(root).iter().map(|op| op.to_string()));
    }
    if ns.is_some_and(|ns| ns.has(Kind::Pid)) && request.init {
        lines.push("init: fork the command, reap orphans, forward signals".into());
    }
    if let Some(keep) = request.launch.caps {
        let names = keep.to_string();
        lines.push(format!(
            "capabilities: {}",
            if names.is_empty() { "none" } else { &names }
        ));
    }
    if request.launch.no_new_privs {
        lines.push("no_new_privs: set-uid bits and file capabilities ignored".into());
    }
    if request.launch.console.is_some() {
        lines.push("console: pty from /dev/pts/ptmx, master over HS_CONSOLE_FD".into());
    }
    lines.push(format!("exec {argv}"));
    lines
}

/// Does what `request` asks; returns the exit code of a process that
/// stays behind, or the failure (an exec returns only on failure).
pub fn run(request: Request) -> Result<i32, Failure> {
    if let Some(pid) = request.join {
        let wanted = request.ns.unwrap_or_else(Namespaces::all);
        return join::run(pid, wanted, &request.launch, request.info_fd);
    }
    let plan = request.root.as_ref().map(plan::plan);
    let ns = request.ns.unwrap_or_default();
    if request.ns.is_some() {
        ns::create(ns, request.hostname.as_deref())?;
    }
    let blocked = if ns.has(Kind::Pid) {
        let blocked = Blocked::new()?;
        // A new pid namespace applies to children only: the first child
        // is its PID 1, and this process stays outside and waits.
        if let Some(child) = supervise::fork()? {
            return Ok(stay_behind(&blocked, child, Some(child), request.info_fd));
        }
        supervise::die_with_parent()?;
        close_info_fd(request.info_fd);
        Some(blocked)
    } else {
        if let Some(fd) = request.info_fd {
            hs_common::info::write_info(fd, &serde_json::json!({ "pid": std::process::id() }))?;
        }
        None
    };
    if let Some(plan) = &plan {
        rootfs::execute(plan)?;
    }
    request.launch.restrict_privileges()?;
    if let Some(blocked) = &blocked {
        if request.init {
            blocked.install_handlers()?;
            let cwd = supervise::LeftCwd::leave()?;
            if let Some(command) = supervise::fork()? {
                drop(cwd);
                if let Some(keep) = request.launch.caps {
                    // Forwarding a signal to another user's command takes
                    // CAP_KILL (to one of its own user's, nothing).
                    let keep = match request.launch.user {
                        Some(_) => keep.with(hs_common::caps::CAP_KILL),
                        None => keep,
                    };
                    caps::restrict_own(keep)?;
                }
                trace(
                    "init",
                    &format!("pid 1 waits for the command, pid {command}"),
                );
                return Ok(stay_behind(blocked, command, None, None));
            }
            cwd.restore()?;
        }
        blocked.restore()?;
    }
    Err(request.launch.exec())
}

/// The parent's side of a fork: reports the child, closes every fd it
/// inherited (so the chain's caller sees EOF on the handshake and no fd is
/// held open by a process nobody execs), then forwards signals and waits.
pub(crate) fn stay_behind(
    blocked: &Blocked,
    child: Pid,
    init_pid: Option<Pid>,
    info_fd: Option<RawFd>,
) -> i32 {
    if let Some(pid) = init_pid {
        hs_common::sync::send_init_pid(pid.as_raw());
    }
    if let Some(fd) = info_fd {
        // Checked open up front; a reader that went away is no reason to
        // abandon a running child.
        let _ = hs_common::info::write_info(fd, &serde_json::json!({ "pid": child.as_raw() }));
    }
    hs_common::sync::close_own_copy();
    let _ = hs_common::exec::close_inherited_fds(&[]);
    // This process outlives the start with the chain's arguments and the
    // caller's environment (PID 1's is readable inside the container);
    // from here on it only forwards signals and waits.
    hs_common::proctitle::hide_secrets(true);
    blocked.supervise(child)
}

/// The child's copy of `--info-fd` is closed: the report is the parent's.
pub(crate) fn close_info_fd(info_fd: Option<RawFd>) {
    if let Some(fd) = info_fd {
        let _ = nix::unistd::close(fd);
    }
}

pub(crate) fn trace(step: &str, detail: &str) {
    hs_common::trace::log(step, detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(f: impl FnOnce(&mut Options)) -> Options {
        let mut o = Options {
            argv: vec!["true".into()],
            ..Options::default()
        };
        f(&mut o);
        o
    }

    fn refused(o: Options) -> String {
        Request::new(o, None).unwrap_err().to_string()
    }

    #[test]
    fn nothing_to_do_is_refused() {
        assert!(refused(options(|_| {})).contains("nothing to do"));
    }

    #[test]
    fn hostname_needs_a_uts_namespace() {
        let msg = refused(options(|o| {
            o.ns = Some("mnt".into());
            o.hostname = Some("h".into());
        }));
        assert!(msg.contains("--hostname"), "{msg}");
    }

    #[test]
    fn no_init_needs_a_pid_namespace() {
        let msg = refused(options(|o| {
            o.ns = Some("mnt".into());
            o.no_init = true;
        }));
        assert!(msg.contains("--no-init"), "{msg}");
    }

    #[test]
    fn volumes_need_a_root() {
        let msg = refused(options(|o| {
            o.ns = Some("mnt".into());
            o.volumes = vec!["/tmp:/x".into()];
        }));
        assert!(msg.contains("--root"), "{msg}");
    }

    #[test]
    fn missing_volume_source_is_refused_with_its_path() {
        let root = tempfile::tempdir().unwrap();
        let msg = refused(options(|o| {
            o.root = Some(root.path().into());
            o.volumes = vec!["/nonexistent-hs-src:/x".into()];
        }));
        assert!(msg.contains("/nonexistent-hs-src"), "{msg}");
    }

    #[test]
    fn console_needs_the_console_socket() {
        let root = tempfile::tempdir().unwrap();
        let msg = refused(options(|o| {
            o.root = Some(root.path().into());
            o.console = true;
        }));
        assert!(msg.contains("HS_CONSOLE_FD"), "{msg}");
    }

    #[test]
    fn join_excludes_root() {
        let msg = refused(options(|o| {
            o.join = Some(1);
            o.root = Some("/".into());
        }));
        assert!(msg.contains("--join"), "{msg}");
    }

    #[test]
    fn dry_run_lists_namespaces_plan_init_and_exec_in_order() {
        let root = tempfile::tempdir().unwrap();
        let request = Request::new(
            options(|o| {
                o.ns = Some("mnt,pid,uts".into());
                o.hostname = Some("h".into());
                o.root = Some(root.path().into());
            }),
            None,
        )
        .unwrap();
        let lines = describe(&request);
        assert_eq!(lines[0], "unshare uts,pid,mnt");
        assert_eq!(lines[1], "make-rprivate /");
        assert_eq!(lines[2], "hostname h");
        let pivot = lines
            .iter()
            .position(|l| l.starts_with("pivot_root"))
            .unwrap();
        let init = lines.iter().position(|l| l.starts_with("init:")).unwrap();
        assert!(pivot < init);
        assert_eq!(lines.last().unwrap(), "exec true");
    }

    #[test]
    fn dry_run_names_the_capabilities_the_program_keeps() {
        let request = Request::new(
            options(|o| {
                o.ns = Some("pid".into());
                o.cap_drop = vec!["ALL".into()];
                o.cap_add = vec!["kill,chown".into()];
            }),
            None,
        )
        .unwrap();
        let lines = describe(&request);
        assert_eq!(
            lines[lines.len() - 2..],
            ["capabilities: CHOWN,KILL", "exec true"]
        );
    }

    #[test]
    fn a_good_request_carries_its_plan_inputs() {
        let root = tempfile::tempdir().unwrap();
        let request = Request::new(
            options(|o| {
                o.ns = Some("mnt,pid".into());
                o.root = Some(root.path().into());
                o.volumes = vec!["/tmp:/data:ro".into()];
                o.env = vec!["A=1".into()];
            }),
            None,
        )
        .unwrap();
        assert!(request.init);
        assert_eq!(request.root.unwrap().volumes.len(), 1);
        assert_eq!(request.launch.env, vec![OsString::from("A=1")]);
    }
}
