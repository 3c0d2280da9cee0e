//! The exec chain of a container, built from its config: one argv per hs
//! tool, each ending in `--` before the next (DESIGN.md, top). Pure, so
//! `--dry-run` and the unit tests see exactly what `run` and `start` exec.

use std::path::{Path, PathBuf};

use hs_common::caps::{BadCapability, CapSet};
use hs_state::schema::{Config, Limits, Rootfs};

use crate::error::{HsError, Result};

/// Namespaces hs-unshare makes for every container, on top of the mount
/// namespace hs-overlay makes before it mounts (`--unshare-mount`); no
/// net: a host mirror shares the host's network, as hoststack does.
pub const NAMESPACES: &str = "pid,uts,ipc,cgroup";

/// The cgroup parent when neither --cgroup-parent nor HS_CGROUP_PARENT says.
pub const DEFAULT_CGROUP_PARENT: &str = "/hs";

/// Where each hs tool lives (absolute paths in a real run, so the chain
/// does not depend on PATH; bare names in tests).
#[derive(Debug, Clone)]
pub struct Tools {
    pub hs: String,
    pub pty: String,
    pub cgroup: String,
    pub unshare: String,
    pub overlay: String,
}

impl Tools {
    /// Every tool found next to this executable, else on PATH.
    pub fn find() -> Result<Self, hs_common::sibling::NotFound> {
        let find = |name: &str| -> Result<String, hs_common::sibling::NotFound> {
            Ok(hs_common::sibling::sibling(name)?
                .to_string_lossy()
                .into_owned())
        };
        let hs = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|_| find("hs"))?;
        Ok(Self {
            hs,
            pty: find("hs-pty")?,
            cgroup: find("hs-cgroup")?,
            unshare: find("hs-unshare")?,
            overlay: find("hs-overlay")?,
        })
    }

    /// Bare tool names (PATH lookup), as DESIGN.md shows the chain.
    pub fn bare() -> Self {
        Self {
            hs: "hs".into(),
            pty: "hs-pty".into(),
            cgroup: "hs-cgroup".into(),
            unshare: "hs-unshare".into(),
            overlay: "hs-overlay".into(),
        }
    }
}

/// The files of one container under `$HS_ROOT/containers/<id>/`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub hs_root: PathBuf,
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(hs_root: &Path, dir: &Path) -> Self {
        Self {
            hs_root: hs_root.to_path_buf(),
            dir: dir.to_path_buf(),
        }
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("attach.sock")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// The overlay's mount point: one directory of the store that every
    /// container mounts its root on, each inside its own mount namespace,
    /// so on the host it stays empty. Shared rather than one per container:
    /// a directory less to create and delete on every run (on ext4 without
    /// a journal each new inode skips every recently freed one; this was
    /// one of the 11 a `run --rm` made).
    pub fn rootfs(&self) -> PathBuf {
        self.hs_root.join("merged")
    }
}

/// The fds that tie a chain to the hs process that starts it: those the
/// monitor and hs-cgroup report on (`--info-fd`), the monitor's
/// `--report-fd` (instead of `--detach`), `--go-fd` and `--exit-fd`. None
/// in a dry run, so the printed chain runs as is in a shell.
#[derive(Debug, Clone, Copy)]
pub struct ChainFds {
    pub monitor: i32,
    pub cgroup: i32,
    pub report: i32,
    pub go: i32,
    pub exit: Option<i32>,
}

/// The container's short id: docker's 12 characters.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The full chain of `hs run` / `hs start` for container `id`.
pub fn run_chain(
    config: &Config,
    id: &str,
    layout: &Layout,
    tools: &Tools,
    fds: Option<ChainFds>,
) -> Result<Vec<Vec<String>>> {
    let hostname = config
        .hostname
        .clone()
        .unwrap_or_else(|| short_id(id).to_string());
    Ok(vec![
        monitor_step(config, id, layout, tools, fds),
        cgroup_step(config, id, tools, fds.map(|f| f.cgroup)),
        overlay_step(config, layout, tools),
        root_step(config, &hostname, layout, tools)?,
    ])
}

/// One argv: the steps joined with their `--`, then the command.
pub fn flatten(steps: &[Vec<String>]) -> Vec<String> {
    steps.iter().flatten().cloned().collect()
}

fn monitor_step(
    config: &Config,
    id: &str,
    layout: &Layout,
    tools: &Tools,
    fds: Option<ChainFds>,
) -> Vec<String> {
    let mut step = words(&[&tools.pty, "serve"]);
    match fds {
        Some(fds) => step.extend(words(&["--report-fd", &fds.report.to_string()])),
        None => step.push("--detach".into()),
    }
    push_path(&mut step, "--socket", &layout.socket());
    push_path(&mut step, "--log", &layout.log());
    if let Some(size) = config.log_max_size {
        step.extend(words(&["--log-max-size", &size.to_string()]));
        if let Some(files) = config.log_max_files {
            step.extend(words(&["--log-max-files", &files.to_string()]));
        }
    }
    push_path(&mut step, "--exit-file", &layout.exit_file());
    if config.tty {
        step.extend(words(&["--tty", "--console"]));
    }
    if config.interactive {
        step.push("--stdin".into());
    }
    // The cgroup parent goes along so the cleanup can remove the cgroups
    // even when a foreground `run --rm` removed the record first.
    step.extend(words(&[
        "--on-exit",
        &tools.hs,
        "--on-exit-arg",
        "cleanup",
        "--on-exit-arg",
        &format!("--cgroup-parent={}", cgroup_parent(config)),
        "--on-exit-arg",
        id,
    ]));
    // A `--rm` container's cleanup only deletes: nobody waits for it, and
    // its foreground client is still finishing when it starts.
    if config.auto_remove {
        step.push("--on-exit-idle".into());
    }
    if let Some(fds) = fds {
        step.extend(words(&["--info-fd", &fds.monitor.to_string()]));
        step.extend(words(&["--go-fd", &fds.go.to_string()]));
        if let Some(fd) = fds.exit {
            step.extend(words(&["--exit-fd", &fd.to_string()]));
        }
    }
    step.push("--".into());
    step
}

/// The cgroup parent a config asks for.
pub fn cgroup_parent(config: &Config) -> &str {
    config
        .cgroup_parent
        .as_deref()
        .unwrap_or(DEFAULT_CGROUP_PARENT)
}

fn cgroup_step(config: &Config, id: &str, tools: &Tools, info_fd: Option<i32>) -> Vec<String> {
    let mut step = words(&[
        &tools.cgroup,
        "exec",
        "--parent",
        cgroup_parent(config),
        "--name",
        id,
    ]);
    step.extend(limit_flags(&config.limits));
    if let Some(fd) = info_fd {
        step.extend(words(&["--info-fd", &fd.to_string()]));
    }
    step.push("--".into());
    step
}

/// hs-cgroup's limit flags for recorded limits (in kernel units).
pub fn limit_flags(limits: &Limits) -> Vec<String> {
    let mut flags = Vec::new();
    let mut push = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            flags.push(flag.to_string());
            flags.push(value);
        }
    };
    push("--memory", limits.memory.map(|v| v.to_string()));
    push("--memory-swap", limits.memory_swap.map(|v| v.to_string()));
    push("--cpus", limits.cpus.map(|v| v.to_string()));
    push("--cpu-shares", limits.cpu_shares.map(|v| v.to_string()));
    push("--cpuset-cpus", limits.cpuset_cpus.clone());
    push("--cpuset-mems", limits.cpuset_mems.clone());
    push("--pids-limit", limits.pids_limit.map(|v| v.to_string()));
    flags
}

/// The overlay, mounted in a mount namespace of its own that hs-overlay
/// makes first: the same isolation as `hs-unshare --ns mnt` before it, one
/// exec less (the namespaces and the root are then one hs-unshare call).
fn overlay_step(config: &Config, layout: &Layout, tools: &Tools) -> Vec<String> {
    let mut step = vec![tools.overlay.clone()];
    match &config.rootfs {
        Rootfs::Host { dirs } => {
            step.push("host".into());
            push_path(&mut step, "--upper", &layout.upper());
            push_path(&mut step, "--work", &layout.work());
            push_path(&mut step, "--target", &layout.rootfs());
            if let Some(dirs) = dirs {
                step.extend(words(&["--dirs", &dirs.join(",")]));
            }
            // $HS_ROOT is usually under the mirrored /var: hidden, or the
            // overlay's own upper dir would be visible (and loop) inside.
            push_path(&mut step, "--hide", &layout.hs_root);
        }
        Rootfs::Dir { path } => {
            step.extend(words(&["mount", "--lower", path]));
            push_lower_rest(&mut step, layout);
        }
        Rootfs::Image { lowerdirs, .. } => {
            step.extend(words(&["mount", "--lower", &lowerdirs.join(":")]));
            push_lower_rest(&mut step, layout);
        }
    }
    // A --rm container's layer is deleted as it exits, so nothing is lost
    // by skipping the sync of the whole upper filesystem that the kernel
    // does at every overlay unmount (tens of ms on a busy disk, per
    // mirrored dir in host mode). A kept container stays durable.
    if config.auto_remove {
        step.extend(words(&["--option", "volatile"]));
    }
    step.extend(words(&["--unshare-mount", "--"]));
    step
}

fn push_lower_rest(step: &mut Vec<String>, layout: &Layout) {
    push_path(step, "--upper", &layout.upper());
    push_path(step, "--work", &layout.work());
    push_path(step, "--target", &layout.rootfs());
}

/// The namespaces, the PID 1, and the root on the mounted overlay.
fn root_step(
    config: &Config,
    hostname: &str,
    layout: &Layout,
    tools: &Tools,
) -> Result<Vec<String>> {
    let mut step = words(&[&tools.unshare, "--ns", NAMESPACES, "--hostname", hostname]);
    if !config.init {
        step.push("--no-init".into());
    }
    push_path(&mut step, "--root", &layout.rootfs());
    for volume in &config.volumes {
        let mut spec = format!("{}:{}", volume.source, volume.destination);
        if volume.read_only {
            spec.push_str(":ro");
        }
        step.extend(words(&["--volume", &spec]));
    }
    for path in &config.tmpfs {
        step.extend(words(&["--tmpfs", path]));
    }
    if config.read_only {
        step.push("--read-only".into());
    }
    if config.tty {
        step.push("--console".into());
    }
    if let Some(dir) = &config.workdir {
        step.extend(words(&["--chdir", dir]));
    }
    if let Some(user) = &config.user {
        step.extend(words(&["--user", user]));
    }
    step.extend(privilege_flags(config, config.privileged)?);
    step.extend(env_flags(&container_env(config, hostname)));
    step.push("--".into());
    step.extend(config.command.iter().cloned());
    Ok(step)
}

/// The command's whole environment: the recorded one plus HOSTNAME.
pub fn container_env(config: &Config, hostname: &str) -> Vec<String> {
    let mut env = config.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    env
}

/// `--clear-env --env K=V…`: the container never inherits hs's own
/// environment.
/// The capabilities of the container's command: the default set less
/// `drop` plus `add` (docker's order).
pub fn container_caps(drop: &[String], add: &[String]) -> Result<CapSet> {
    let bad = |flag| {
        move |e: BadCapability| HsError::BadValue {
            flag,
            value: e.0,
            why:
                "not a capability (names as in capabilities(7): NET_ADMIN or CAP_NET_ADMIN; or ALL)"
                    .into(),
        }
    };
    CapSet::CONTAINER_DEFAULT
        .adjust(drop, &[])
        .map_err(bad("--cap-drop"))?
        .adjust(&[], add)
        .map_err(bad("--cap-add"))
}

/// hs-unshare's flags for the container's privileges: its capabilities
/// (none when `privileged`: it keeps every one it has), and
/// `--no-new-privs` for `--security-opt no-new-privileges`.
pub fn privilege_flags(config: &Config, privileged: bool) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    if !privileged {
        let keep = container_caps(&config.cap_drop, &config.cap_add)?;
        flags.extend(words(&["--cap-drop", "ALL"]));
        if keep != CapSet::EMPTY {
            flags.extend(words(&["--cap-add", &keep.to_string()]));
        }
    }
    if config.no_new_privileges {
        flags.push("--no-new-privs".into());
    }
    Ok(flags)
}

pub fn env_flags(env: &[String]) -> Vec<String> {
    let mut flags = vec!["--clear-env".to_string()];
    for entry in env {
        flags.push("--env".into());
        flags.push(entry.clone());
    }
    flags
}

fn push_path(step: &mut Vec<String>, flag: &str, path: &Path) {
    step.push(flag.into());
    step.push(path.to_string_lossy().into_owned());
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The chain as a shell command, one step a line (`--dry-run`).
pub fn render(steps: &[Vec<String>]) -> String {
    let lines: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let indent = if i == 0 { "" } else { "  " };
            let text: Vec<String> = step.iter().map(|w| shell_quote(w)).collect();
            format!("{indent}{}", text.join(" "))
        })
        .collect();
    let mut out = lines.join(" \\\n");
    out.push('\n');
    out
}

/// `word` quoted for a POSIX shell: as is when it is plainly safe, else in
/// single quotes.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hs_state::schema::Volume;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn config(rootfs: Rootfs) -> Config {
        Config {
            env: vec!["PATH=/bin".into()],
            ..Config::new(vec!["sh".into(), "-c".into(), "echo hi".into()], rootfs)
        }
    }

    fn layout() -> Layout {
        Layout::new(
            Path::new("/var/lib/hs"),
            &Path::new("/var/lib/hs/containers").join(ID),
        )
    }

    fn chain(config: &Config) -> Vec<Vec<String>> {
        run_chain(config, ID, &layout(), &Tools::bare(), None).unwrap()
    }

    #[test]
    fn host_mirror_chain_runs_the_tools_in_designs_order() {
        let steps = chain(&config(Rootfs::Host { dirs: None }));
        let heads: Vec<&str> = steps.iter().map(|s| s[0].as_str()).collect();
        assert_eq!(heads, ["hs-pty", "hs-cgroup", "hs-overlay", "hs-unshare"]);
        assert_eq!(steps[2][1], "host");
        assert!(steps[2].windows(2).any(|w| w == ["--hide", "/var/lib/hs"]));
        for step in &steps[..3] {
            assert_eq!(step.last().map(String::as_str), Some("--"));
        }
        assert!(steps[3].ends_with(&["--".into(), "sh".into(), "-c".into(), "echo hi".into()]));
    }

    #[test]
    fn the_overlay_makes_the_mount_namespace_and_hs_unshare_the_others() {
        for rootfs in [
            Rootfs::Host { dirs: None },
            Rootfs::Dir { path: "/r".into() },
        ] {
            let steps = chain(&config(rootfs));
            assert!(steps[2].ends_with(&["--unshare-mount".into(), "--".into()]));
            assert!(steps[3]
                .windows(2)
                .any(|w| w == ["--ns", "pid,uts,ipc,cgroup"]));
            let root = steps[3].iter().position(|w| w == "--root").unwrap();
            assert_eq!(steps[3][root + 1], "/var/lib/hs/merged");
        }
    }

    #[test]
    fn only_rm_containers_clean_up_at_idle_priority() {
        let idle = |steps: &[Vec<String>]| steps[0].iter().any(|w| w == "--on-exit-idle");
        let mut config = config(Rootfs::Dir { path: "/r".into() });
        assert!(!idle(&chain(&config)));
        config.auto_remove = true;
        assert!(idle(&chain(&config)));
    }

    #[test]
    fn only_rm_containers_mount_their_overlay_volatile() {
        let volatile =
            |steps: &[Vec<String>]| steps[2].windows(2).any(|w| w == ["--option", "volatile"]);
        let mut kept = config(Rootfs::Host { dirs: None });
        assert!(!volatile(&chain(&kept)));
        kept.auto_remove = true;
        assert!(volatile(&chain(&kept)));
        let mut image = config(Rootfs::Dir { path: "/r".into() });
        image.auto_remove = true;
        assert!(volatile(&chain(&image)));
    }

    #[test]
    fn every_step_but_the_last_ends_in_a_double_dash() {
        let steps = chain(&config(Rootfs::Dir { path: "/r".into() }));
        assert!(steps[..3].iter().all(|s| s.last().unwrap() == "--"));
    }

    #[test]
    fn image_dir_is_the_only_lower_layer() {
        let steps = chain(&config(Rootfs::Dir {
            path: "/images/busybox".into(),
        }));
        assert_eq!(steps[2][1..4], ["mount", "--lower", "/images/busybox"]);
    }

    #[test]
    fn stored_image_layers_are_joined_top_first() {
        let steps = chain(&config(Rootfs::Image {
            reference: "busybox".into(),
            id: "sha256:x".into(),
            lowerdirs: vec!["/l/top".into(), "/l/base".into()],
        }));
        assert_eq!(steps[2][3], "/l/top:/l/base");
    }

    #[test]
    fn monitor_runs_cleanup_of_this_container_on_exit() {
        let steps = chain(&config(Rootfs::Host { dirs: None }));
        let joined = steps[0].join(" ");
        assert!(joined.contains(&format!(
            "--on-exit hs --on-exit-arg cleanup --on-exit-arg --cgroup-parent=/hs --on-exit-arg {ID}"
        )));
        assert!(joined.contains("--detach"));
        assert!(!joined.contains("--tty"));
    }

    #[test]
    fn a_tty_asks_for_the_containers_own_console() {
        let mut c = config(Rootfs::Host { dirs: None });
        c.tty = true;
        c.interactive = true;
        let steps = chain(&c);
        assert!(steps[0].contains(&"--console".to_string()));
        assert!(steps[0].contains(&"--stdin".to_string()));
        assert!(steps[3].contains(&"--console".to_string()));
    }

    #[test]
    fn limits_go_to_hs_cgroup_under_the_parent() {
        let mut c = config(Rootfs::Host { dirs: None });
        c.limits.memory = Some(200 << 20);
        c.limits.pids_limit = Some(100);
        c.cgroup_parent = Some("test/parent".into());
        let steps = chain(&c);
        let joined = steps[1].join(" ");
        assert!(joined.contains(&format!("exec --parent test/parent --name {ID}")));
        assert!(joined.contains("--memory 209715200"));
        assert!(joined.contains("--pids-limit 100"));
    }

    #[test]
    fn default_hostname_is_the_short_id() {
        let steps = chain(&config(Rootfs::Host { dirs: None }));
        assert!(steps[3].windows(2).any(|w| w == ["--hostname", &ID[..12]]));
        assert!(steps[3].contains(&format!("HOSTNAME={}", &ID[..12])));
    }

    #[test]
    fn no_init_is_passed_on() {
        let mut c = config(Rootfs::Host { dirs: None });
        c.init = false;
        assert!(chain(&c)[3].contains(&"--no-init".to_string()));
    }

    #[test]
    fn volumes_env_workdir_and_user_go_to_the_root_step() {
        let mut c = config(Rootfs::Host { dirs: None });
        c.volumes = vec![Volume {
            source: "/src".into(),
            destination: "/app".into(),
            read_only: true,
        }];
        c.workdir = Some("/app".into());
        c.user = Some("1000:1000".into());
        let joined = chain(&c)[3].join(" ");
        assert!(joined.contains("--volume /src:/app:ro"));
        assert!(joined.contains("--chdir /app"));
        assert!(joined.contains("--user 1000:1000"));
        assert!(joined.contains("--clear-env --env PATH=/bin"));
    }

    #[test]
    fn tmpfs_and_read_only_go_to_the_root_step() {
        let mut c = config(Rootfs::Host { dirs: None });
        c.tmpfs = vec!["/cache".into()];
        c.read_only = true;
        let joined = chain(&c)[3].join(" ");
        assert!(joined.contains("--tmpfs /cache --read-only"), "{joined}");
    }

    #[test]
    fn the_root_step_limits_capabilities_unless_privileged() {
        let mut c = config(Rootfs::Host { dirs: None });
        c.cap_drop = vec!["ALL".into()];
        c.cap_add = vec!["kill".into(), "CAP_CHOWN".into()];
        let joined = chain(&c)[3].join(" ");
        assert!(
            joined.contains("--cap-drop ALL --cap-add CHOWN,KILL --"),
            "{joined}"
        );
        c.privileged = true;
        assert!(!chain(&c)[3].iter().any(|w| w.starts_with("--cap-")));
    }

    #[test]
    fn no_new_privileges_goes_to_the_root_step_even_when_privileged() {
        let mut c = config(Rootfs::Host { dirs: None });
        assert!(!chain(&c)[3].contains(&"--no-new-privs".to_string()));
        c.no_new_privileges = true;
        c.privileged = true;
        assert!(chain(&c)[3].contains(&"--no-new-privs".to_string()));
    }

    #[test]
    fn chain_fds_appear_only_when_given() {
        let c = config(Rootfs::Host { dirs: None });
        let fds = ChainFds {
            monitor: 7,
            cgroup: 8,
            report: 6,
            go: 9,
            exit: None,
        };
        let steps = run_chain(&c, ID, &layout(), &Tools::bare(), Some(fds)).unwrap();
        assert!(steps[0].windows(2).any(|w| w == ["--info-fd", "7"]));
        assert!(steps[0].windows(2).any(|w| w == ["--go-fd", "9"]));
        assert!(steps[0].windows(2).any(|w| w == ["--report-fd", "6"]));
        assert!(!steps[0].contains(&"--detach".to_string()));
        assert!(!steps[0].contains(&"--exit-fd".to_string()));
        assert!(steps[1].windows(2).any(|w| w == ["--info-fd", "8"]));
        let dry = chain(&c);
        for option in ["--info-fd", "--report-fd", "--go-fd", "--exit-fd"] {
            assert!(!dry[0].contains(&option.to_string()), "{option}");
        }
        assert!(dry[0].contains(&"--detach".to_string()));
    }

    #[test]
    fn rendering_quotes_words_a_shell_would_split() {
        let text = render(&[
            vec!["a".into(), "--".into()],
            vec!["sh".into(), "-c".into(), "echo it's".into()],
        ]);
        assert_eq!(text, "a -- \\\n  sh -c 'echo it'\\''s'\n");
    }

    #[test]
    fn quoting_keeps_plain_words() {
        assert_eq!(shell_quote("/usr/bin/hs-pty"), "/usr/bin/hs-pty");
        assert_eq!(shell_quote("K=V"), "K=V");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
    }
}
