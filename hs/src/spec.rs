//! `hs run`'s options turned into a validated container `Config`, before
//! anything is created: every bad input is caught here, so a failed
//! validation leaves no record, directory or cgroup behind.

use std::path::Path;

use hs_state::schema::{Config, Rootfs, Volume, SCHEMA_VERSION};

use crate::cli::RunArgs;
use crate::error::{HsError, Result};
use crate::image::ImageInfo;
use crate::limits;

/// A validated `hs run`.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub config: Config,
    /// The image whose packed layers the run extracts before it starts.
    pub unpack: Option<String>,
    pub name: Option<String>,
    pub detach: bool,
    pub dry_run: bool,
}

/// What validation needs from the world, passed in so it is testable.
pub struct Context<'a> {
    pub stdin_is_tty: bool,
    /// A stored image by name, if there is one.
    pub find_image: &'a dyn Fn(&str, bool) -> Result<Option<ImageInfo>>,
    /// The caller's environment variable (for `-e KEY` without a value).
    pub getenv: &'a dyn Fn(&str) -> Option<String>,
    /// The invoking user's login shell (host mirror without a command).
    pub login_shell: &'a dyn Fn() -> String,
}

/// The container's root filesystem and the command the user gave.
struct Target {
    rootfs: Rootfs,
    image: Option<ImageInfo>,
    command: Vec<String>,
}

pub fn from_args(args: &RunArgs, ctx: &Context<'_>) -> Result<RunSpec> {
    // An unknown flag lands in the positionals (they take hyphen values so
    // the command's own flags pass through); no command starts with '-'.
    if let Some(first) = args.args.first().filter(|a| a.starts_with('-')) {
        return Err(HsError::Other(format!(
            "unknown flag: {first} (see hs run --help)"
        )));
    }
    if let Some(name) = &args.name {
        check_name(name)?;
    }
    let target = choose_target(args, ctx)?;
    let command = command_for(&target, ctx)?;
    let (interactive, tty) = if args.interactive || args.tty {
        (args.interactive, args.tty)
    } else {
        // hoststack's default: a terminal on stdin means an interactive shell.
        (ctx.stdin_is_tty, ctx.stdin_is_tty)
    };
    let mut env = base_env(target.image.as_ref());
    for file in &args.env_files {
        for entry in read_env_file(file)? {
            set_env(&mut env, resolve_env(&entry, ctx)?);
        }
    }
    for entry in &args.env {
        if let Some(resolved) = resolve_env_opt(entry, ctx)? {
            set_env(&mut env, resolved);
        }
    }
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        let term = (ctx.getenv)("TERM").unwrap_or_else(|| "xterm".into());
        env.push(format!("TERM={term}"));
    }
    let workdir = match &args.workdir {
        Some(dir) => Some(check_absolute("--workdir", dir)?),
        None => target
            .image
            .as_ref()
            .and_then(|i| i.workdir.clone())
            .filter(|d| !d.is_empty()),
    };
    if let Some(host) = &args.hostname {
        check_hostname(host)?;
    }
    if let Some(user) = &args.user {
        check_user(user)?;
    }
    if let Some(keys) = &args.detach_keys {
        check_detach_keys(keys)?;
    }
    let volumes = args
        .volumes
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>>>()?;
    let tmpfs = args
        .tmpfs
        .iter()
        .map(|path| check_absolute("--tmpfs", path))
        .collect::<Result<Vec<_>>>()?;
    let limits = limits::from_args(args)?;
    crate::chain::container_caps(&args.cap_drop, &args.cap_add)?;
    let no_new_privileges = no_new_privileges(&args.security_opt)?;
    let log = crate::log_opts::parse(&args.log_opt)?;
    let config = Config {
        version: SCHEMA_VERSION,
        command,
        env,
        workdir,
        hostname: args.hostname.clone(),
        user: args
            .user
            .clone()
            .or_else(|| target.image.as_ref().and_then(|i| i.user.clone())),
        rootfs: target.rootfs,
        volumes,
        limits,
        tty,
        interactive,
        auto_remove: args.rm,
        init: !args.no_init,
        detach_keys: args.detach_keys.clone(),
        cgroup_parent: args.cgroup_parent.clone(),
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        read_only: args.read_only,
        no_new_privileges,
        log_max_size: log.max_size,
        log_max_files: log.max_files,
        tmpfs,
        created: chrono::Utc::now(),
    };
    let unpack = target
        .image
        .as_ref()
        .filter(|image| image.packed)
        .map(|image| image.id.clone());
    Ok(RunSpec {
        config,
        unpack,
        name: args.name.clone(),
        detach: args.detach,
        dry_run: args.dry_run,
    })
}

/// DESIGN.md's positional rule: the first word is the image when it is a
/// directory path or a stored image, else it starts the command.
fn choose_target(args: &RunArgs, ctx: &Context<'_>) -> Result<Target> {
    let host = |command: Vec<String>| Target {
        rootfs: Rootfs::Host { dirs: None },
        image: None,
        command,
    };
    if args.host {
        return Ok(host(args.args.clone()));
    }
    if let Some(image) = &args.image {
        return image_target(image, args.args.clone(), ctx, true)?
            .ok_or_else(|| HsError::NoSuchImage(image.clone()));
    }
    let Some((first, rest)) = args.args.split_first() else {
        return Ok(host(Vec::new()));
    };
    Ok(image_target(first, rest.to_vec(), ctx, false)?.unwrap_or_else(|| host(args.args.clone())))
}

/// Whether `--security-opt` asks for no-new-privileges (docker's
/// `no-new-privileges`, `:true`/`=true`, `:false`); the other options
/// (seccomp, apparmor, label …) are refused: hs applies none of them.
fn no_new_privileges(opts: &[String]) -> Result<bool> {
    let mut set = false;
    for opt in opts {
        let (name, value) = match opt.split_once([':', '=']) {
            Some((name, value)) => (name, Some(value)),
            None => (opt.as_str(), None),
        };
        set = match (name, value) {
            ("no-new-privileges", None | Some("true")) => true,
            ("no-new-privileges", Some("false")) => false,
            _ => {
                return Err(HsError::BadValue {
                    flag: "--security-opt",
                    value: opt.clone(),
                    why: "only no-new-privileges[:true|false] is supported".into(),
                })
            }
        };
    }
    Ok(set)
}

/// `word` as a rootfs directory or stored image, if it is one. A directory
/// needs a `/` unless forced with --image, so `hs run bin` in `/` runs the
/// program `bin` rather than taking the host's /bin as a rootfs.
fn image_target(
    word: &str,
    command: Vec<String>,
    ctx: &Context<'_>,
    forced: bool,
) -> Result<Option<Target>> {
    let path = Path::new(word);
    if (forced || word.contains('/')) && path.is_dir() {
        let absolute = path
            .canonicalize()
            .map_err(|e| HsError::io(format!("resolving rootfs {word}"), e))?;
        return Ok(Some(Target {
            rootfs: Rootfs::Dir {
                path: absolute.to_string_lossy().into_owned(),
            },
            image: None,
            command,
        }));
    }
    Ok((ctx.find_image)(word, forced)?.map(|image| Target {
        rootfs: Rootfs::Image {
            reference: word.to_string(),
            id: image.id.clone(),
            lowerdirs: image.lowerdirs.clone(),
        },
        image: Some(image),
        command,
    }))
}

/// The argv to run: the user's, or the image's Entrypoint/Cmd, or the
/// login shell in a host mirror, or /bin/sh in a bare rootfs.
fn command_for(target: &Target, ctx: &Context<'_>) -> Result<Vec<String>> {
    if let Some(image) = &target.image {
        let mut argv = image.entrypoint.clone();
        if target.command.is_empty() {
            argv.extend(image.cmd.iter().cloned());
        } else {
            argv.extend(target.command.iter().cloned());
        }
        if argv.is_empty() {
            return Err(HsError::Other(format!(
                "no command specified and image {} has none",
                image.id
            )));
        }
        return Ok(argv);
    }
    if !target.command.is_empty() {
        return Ok(target.command.clone());
    }
    Ok(match target.rootfs {
        Rootfs::Host { .. } => vec![(ctx.login_shell)()],
        _ => vec!["/bin/sh".into()],
    })
}

/// The environment every container starts from, then the image's.
fn base_env(image: Option<&ImageInfo>) -> Vec<String> {
    let mut env = vec![format!("PATH={}", hs_common::exec::DEFAULT_PATH)];
    if let Some(image) = image {
        for entry in &image.env {
            set_env(&mut env, entry.clone());
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push("HOME=/root".into());
    }
    env
}

/// Adds `entry` (KEY=VALUE), replacing an earlier value of the same key.
fn set_env(env: &mut Vec<String>, entry: String) {
    let key = entry.split('=').next().unwrap_or_default().to_string();
    env.retain(|e| e.split('=').next() != Some(key.as_str()));
    env.push(entry);
}

/// `KEY=VALUE` as is, `KEY` from the caller's environment (docker skips a
/// key that is not set).
fn resolve_env_opt(entry: &str, ctx: &Context<'_>) -> Result<Option<String>> {
    let key = entry.split('=').next().unwrap_or_default();
    if key.is_empty() || key.contains('\0') {
        return Err(HsError::BadEnv(entry.to_string()));
    }
    if entry.contains('=') {
        return Ok(Some(entry.to_string()));
    }
    Ok((ctx.getenv)(key).map(|value| format!("{key}={value}")))
}

fn resolve_env(entry: &str, ctx: &Context<'_>) -> Result<String> {
    Ok(resolve_env_opt(entry, ctx)?.unwrap_or_else(|| format!("{entry}=")))
}

/// docker's env-file format: KEY=VALUE or KEY lines; `#` comments and blank
/// lines are skipped; values are taken literally (no quotes, no expansion).
pub fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| HsError::EnvFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_env_file(&text))
}

fn parse_env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_start())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// docker's container name rule.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(HsError::BadName(name.to_string()))
    }
}

fn check_hostname(host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.len() <= 64
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(HsError::BadValue {
            flag: "--hostname",
            value: host.to_string(),
            why: "expected up to 64 letters, digits, '-', '.' or '_'".into(),
        })
    }
}

/// `USER[:GROUP]`, numbers or names (hs-unshare resolves names in the
/// container's own /etc/passwd and /etc/group).
pub fn check_user(user: &str) -> Result<()> {
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
    };
    let ok = match user.split_once(':') {
        Some((u, g)) => part_ok(u) && part_ok(g),
        None => part_ok(user),
    };
    if ok {
        Ok(())
    } else {
        Err(HsError::BadValue {
            flag: "--user",
            value: user.to_string(),
            why: "expected USER[:GROUP], as names or numbers".into(),
        })
    }
}

/// docker's detach-keys syntax, checked with hs-pty's own parser.
fn check_detach_keys(keys: &str) -> Result<()> {
    hs_pty::detach_keys::parse(keys)
        .map(|_| ())
        .map_err(|_| HsError::BadValue {
            flag: "--detach-keys",
            value: keys.to_string(),
            why: "expected keys like ctrl-p,ctrl-q".into(),
        })
}

fn check_absolute(flag: &'static str, dir: &str) -> Result<String> {
    if dir.starts_with('/') {
        Ok(dir.to_string())
    } else {
        Err(HsError::BadValue {
            flag,
            value: dir.to_string(),
            why: "it needs to be an absolute path".into(),
        })
    }
}

/// `SRC:DST[:ro|rw]`; SRC must exist on the host (never created: hs's
/// point is not touching the host), DST is absolute in the container.
pub fn parse_volume(spec: &str) -> Result<Volume> {
    let bad = |why: &str| HsError::BadVolume {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, read_only) = match parts.as_slice() {
        [src, dst] => (*src, *dst, false),
        [src, dst, "ro"] => (*src, *dst, true),
        [src, dst, "rw"] => (*src, *dst, false),
        [_, _, mode] => return Err(bad(&format!("unknown mode {mode:?} (expected ro or rw)"))),
        _ => return Err(bad("expected SRC:DST[:ro]")),
    };
    if source.is_empty() || destination.is_empty() {
        return Err(bad("expected SRC:DST[:ro]"));
    }
    if !destination.starts_with('/') {
        return Err(bad("the destination must be an absolute path"));
    }
    if destination.split('/').any(|part| part == "..") {
        return Err(bad("the destination must not contain '..'"));
    }
    let source = Path::new(source)
        .canonicalize()
        .map_err(|e| bad(&format!("source {source}: {}", lower_io(&e))))?;
    Ok(Volume {
        source: source.to_string_lossy().into_owned(),
        destination: destination.to_string(),
        read_only,
    })
}

/// An io error's text in lowercase without the "(os error N)" suffix.
pub fn lower_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(words: &[&str]) -> RunArgs {
        let mut argv = vec!["hs", "run"];
        argv.extend_from_slice(words);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => *args,
            _ => unreachable!(),
        }
    }

    fn no_image(_: &str, _: bool) -> Result<Option<ImageInfo>> {
        Ok(None)
    }

    fn busybox_image(name: &str, _: bool) -> Result<Option<ImageInfo>> {
        Ok((name == "busybox").then(|| ImageInfo {
            id: "sha256:abc".into(),
            lowerdirs: vec!["/layers/1".into()],
            packed: false,
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec!["PATH=/bin".into(), "A=image".into()],
            workdir: Some("/srv".into()),
            user: Some("nobody".into()),
        }))
    }

    fn spec_with(
        words: &[&str],
        find: &dyn Fn(&str, bool) -> Result<Option<ImageInfo>>,
    ) -> Result<RunSpec> {
        let ctx = Context {
            stdin_is_tty: false,
            find_image: find,
            getenv: &|key| (key == "FROM_CALLER").then(|| "yes".to_string()),
            login_shell: &|| "/bin/bash".to_string(),
        };
        from_args(&args(words), &ctx)
    }

    fn spec(words: &[&str]) -> Result<RunSpec> {
        spec_with(words, &no_image)
    }

    #[test]
    fn only_an_image_with_packed_layers_is_unpacked_by_the_run() {
        assert_eq!(
            spec_with(&["busybox"], &busybox_image).unwrap().unpack,
            None
        );
        let packed = |name: &str, forced: bool| {
            busybox_image(name, forced).map(|i| i.map(|i| ImageInfo { packed: true, ..i }))
        };
        let unpack = spec_with(&["busybox"], &packed).unwrap().unpack;
        assert_eq!(unpack.as_deref(), Some("sha256:abc"));
        assert_eq!(spec(&["ls"]).unwrap().unpack, None);
    }

    #[test]
    fn a_plain_word_starts_a_host_mirror_command() {
        let spec = spec(&["ls", "-l"]).unwrap();
        assert_eq!(spec.config.rootfs, Rootfs::Host { dirs: None });
        assert_eq!(spec.config.command, ["ls", "-l"]);
    }

    #[test]
    fn a_directory_path_is_a_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let spec = spec(&[path, "true"]).unwrap();
        assert!(matches!(spec.config.rootfs, Rootfs::Dir { .. }));
        assert_eq!(spec.config.command, ["true"]);
    }

    #[test]
    fn a_bare_rootfs_without_command_runs_bin_sh() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(&[dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(spec.config.command, ["/bin/sh"]);
    }

    #[test]
    fn host_mirror_without_command_runs_the_login_shell() {
        assert_eq!(spec(&[]).unwrap().config.command, ["/bin/bash"]);
    }

    #[test]
    fn a_stored_image_name_is_an_image_with_its_cmd_env_and_workdir() {
        let spec = spec_with(&["-e", "A=mine", "busybox"], &busybox_image).unwrap();
        assert!(matches!(spec.config.rootfs, Rootfs::Image { .. }));
        assert_eq!(spec.config.command, ["sh"]);
        assert!(spec.config.env.contains(&"PATH=/bin".to_string()));
        assert!(spec.config.env.contains(&"A=mine".to_string()));
        assert!(!spec.config.env.contains(&"A=image".to_string()));
        assert_eq!(spec.config.workdir.as_deref(), Some("/srv"));
        assert_eq!(spec.config.user.as_deref(), Some("nobody"));
    }

    #[test]
    fn host_flag_forces_the_command_reading() {
        let spec = spec_with(&["--host", "busybox", "x"], &busybox_image).unwrap();
        assert_eq!(spec.config.rootfs, Rootfs::Host { dirs: None });
        assert_eq!(spec.config.command, ["busybox", "x"]);
    }

    #[test]
    fn unknown_image_flag_is_refused() {
        assert!(matches!(
            spec(&["--image", "nope", "true"]),
            Err(HsError::NoSuchImage(_))
        ));
    }

    #[test]
    fn env_key_alone_copies_the_callers_value() {
        let spec = spec(&["-e", "FROM_CALLER", "-e", "UNSET", "true"]).unwrap();
        assert!(spec.config.env.contains(&"FROM_CALLER=yes".to_string()));
        assert!(!spec.config.env.iter().any(|e| e.starts_with("UNSET")));
    }

    #[test]
    fn empty_env_key_is_refused() {
        assert!(matches!(
            spec(&["-e", "=x", "true"]),
            Err(HsError::BadEnv(_))
        ));
    }

    #[test]
    fn env_file_skips_comments_and_blank_lines() {
        assert_eq!(
            parse_env_file("# c\n\nA=1\n  B=two words\nC\n"),
            ["A=1", "B=two words", "C"]
        );
    }

    #[test]
    fn missing_env_file_is_an_error() {
        assert!(matches!(
            spec(&["--env-file", "/nonexistent/env", "true"]),
            Err(HsError::EnvFile { .. })
        ));
    }

    #[test]
    fn volume_with_missing_source_is_refused() {
        assert!(matches!(
            parse_volume("/nonexistent/x:/x"),
            Err(HsError::BadVolume { .. })
        ));
    }

    #[test]
    fn volume_forms() {
        let v = parse_volume("/tmp:/data:ro").unwrap();
        assert!(v.read_only);
        assert_eq!(v.destination, "/data");
        assert!(!parse_volume("/tmp:/data").unwrap().read_only);
        assert!(parse_volume("/tmp").is_err());
        assert!(parse_volume("/tmp:data").is_err());
        assert!(parse_volume("/tmp:/a/../b").is_err());
        assert!(parse_volume("/tmp:/d:rx").is_err());
        assert!(parse_volume("/tmp:/d:ro:x").is_err());
    }

    #[test]
    fn security_opt_takes_docker_forms_of_no_new_privileges() {
        let opts = |list: &[&str]| {
            no_new_privileges(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert!(!opts(&[]).unwrap());
        assert!(opts(&["no-new-privileges"]).unwrap());
        assert!(opts(&["no-new-privileges:true"]).unwrap());
        assert!(opts(&["no-new-privileges=true"]).unwrap());
        assert!(!opts(&["no-new-privileges", "no-new-privileges:false"]).unwrap());
        assert!(opts(&["apparmor=unconfined"]).is_err());
        assert!(opts(&["no-new-privileges:yes"]).is_err());
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(check_name("web-1.a_b").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn relative_workdir_is_refused() {
        assert!(spec(&["-w", "rel", "true"]).is_err());
    }

    #[test]
    fn a_terminal_on_stdin_means_interactive_with_a_tty() {
        let ctx = Context {
            stdin_is_tty: true,
            find_image: &no_image,
            getenv: &|_| None,
            login_shell: &|| "/bin/sh".into(),
        };
        let spec = from_args(&args(&["true"]), &ctx).unwrap();
        assert!(spec.config.tty && spec.config.interactive);
        assert!(spec.config.env.contains(&"TERM=xterm".to_string()));
        let spec = from_args(&args(&["-i", "true"]), &ctx).unwrap();
        assert!(!spec.config.tty && spec.config.interactive);
    }

    #[test]
    fn an_unknown_flag_is_not_taken_for_the_command() {
        assert!(spec(&["--bogus", "true"]).is_err());
    }

    #[test]
    fn user_is_names_or_numbers() {
        assert!(check_user("1000:1000").is_ok());
        assert!(check_user("nobody").is_ok());
        assert!(check_user("1:").is_err());
        assert!(check_user("a b").is_err());
        assert!(check_user("../x").is_err());
    }

    #[test]
    fn detach_keys_syntax() {
        assert!(check_detach_keys("ctrl-p,ctrl-q").is_ok());
        assert!(check_detach_keys("ctrl-x,a").is_ok());
        assert!(check_detach_keys("ctrl-").is_err());
    }
}
