//! `hs exec`: another command in a running container, by joining its
//! cgroup and namespaces (hs-cgroup exec --path, hs-unshare --join).

use std::ffi::OsString;

use crate::chain;
use crate::cli::ExecArgs;
use crate::commands::{resolve, store};
use crate::error::{HsError, Outcome};
use crate::lifecycle::is_running;
use crate::{spec, tools};

pub fn exec(args: ExecArgs) -> Outcome {
    let store = store()?;
    let record = resolve(&store, &args.container)?;
    let init = match record.state.init {
        Some(init) if is_running(&record) => init,
        _ => return Err(HsError::NotRunning(args.container.clone()).into()),
    };
    if let Some(user) = &args.user {
        spec::check_user(user)?;
    }
    if let Some(dir) = &args.workdir {
        if !dir.starts_with('/') {
            return Err(HsError::BadValue {
                flag: "--workdir",
                value: dir.clone(),
                why: "it needs to be an absolute path".into(),
            }
            .into());
        }
    }
    // Only the tools this chain runs (Tools::find would also look for
    // hs-pty and hs-overlay, a stat each).
    let tool = |name: &str| -> Result<String, hs_common::sibling::NotFound> {
        Ok(hs_common::sibling::sibling(name)?
            .to_string_lossy()
            .into_owned())
    };
    let hostname = record
        .config
        .hostname
        .clone()
        .unwrap_or_else(|| chain::short_id(&record.id).to_string());
    let mut env = chain::container_env(&record.config, &hostname);
    for entry in &args.env {
        let key = entry.split('=').next().unwrap_or_default();
        if key.is_empty() {
            return Err(HsError::BadEnv(entry.clone()).into());
        }
        let entry = if entry.contains('=') {
            entry.clone()
        } else {
            match std::env::var(key) {
                Ok(value) => format!("{key}={value}"),
                Err(_) => continue,
            }
        };
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry);
    }
    if args.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push(format!(
            "TERM={}",
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into())
        ));
    }
    let mut argv: Vec<String> = Vec::new();
    if args.tty && !args.detach {
        argv.extend([
            tool("hs-pty")?,
            "run".into(),
            "--tty".into(),
            "--console".into(),
            "--".into(),
        ]);
    }
    if !record.state.cgroups.is_empty() {
        argv.extend([tool("hs-cgroup")?, "exec".into()]);
        argv.extend(tools::path_flags(record.state.cgroups.values()));
        argv.push("--".into());
    }
    argv.extend([tool("hs-unshare")?, "--join".into(), init.pid.to_string()]);
    if let Some(dir) = args.workdir.as_ref().or(record.config.workdir.as_ref()) {
        argv.extend(["--chdir".into(), dir.clone()]);
    }
    if let Some(user) = args.user.as_ref().or(record.config.user.as_ref()) {
        argv.extend(["--user".into(), user.clone()]);
    }
    argv.extend(chain::privilege_flags(
        &record.config,
        args.privileged || record.config.privileged,
    )?);
    if args.tty && !args.detach {
        argv.push("--console".into());
    }
    argv.extend(chain::env_flags(&env));
    argv.push("--".into());
    argv.extend(args.command.iter().cloned());
    if args.detach {
        return exec_detached(&argv);
    }
    if !args.interactive && !args.tty {
        // docker exec without -i gives the command no input.
        if let Ok(null) = std::fs::File::open("/dev/null") {
            use std::os::fd::AsRawFd;
            let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
        }
    }
    let argv: Vec<OsString> = argv.into_iter().map(OsString::from).collect();
    Err(hs_common::exec::exec(&argv))
}

/// `exec -d`: the chain in its own session with no terminal; returns once
/// it is spawned.
fn exec_detached(argv: &[String]) -> Outcome {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut command = std::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    command
        .spawn()
        .map_err(|e| HsError::io(format!("running {}", argv[0]), e))?;
    Ok(0)
}
