//! One function per `hs` command: resolve the containers, do the step
//! (through the lifecycle and launch modules, or by exec'ing a tool), and
//! print docker's output.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use hs_common::Failure;
use hs_state::schema::Rootfs;
use hs_state::{Record, Store};

use crate::attach::{attach_to, follows_log, foreground};
use crate::chain::{self, Layout, Tools};
use crate::cli::*;
use crate::error::{HsError, Outcome, Result};
use crate::launch::{self, StartError};
use crate::lifecycle::{self, is_running};
use crate::listing::{self, JsonRow, Row, Template};
use crate::spec::{self, Context};
use crate::{image, inspect, tools};

pub fn dispatch(cli: Cli) -> Outcome {
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Attach(args) => attach_cmd(args),
        Command::Start(args) => start(args),
        Command::Restart(args) => restart(args),
        Command::Stop(args) => stop(args),
        Command::Kill(args) => kill(args),
        Command::Wait(args) => wait(args),
        Command::Exec(args) => crate::exec::exec(args),
        Command::Ps(args) => ps(args),
        Command::Rm(args) => rm(args),
        Command::Logs(args) => logs(args),
        Command::Inspect(args) => inspect_cmd(args),
        Command::Diff(args) => diff(args),
        Command::Top(args) => top(args),
        Command::Stats(args) => stats(args),
        Command::Prune(_) => prune(),
        Command::Commit(args) => crate::images::commit(args),
        Command::Images(args) => crate::images::images(args),
        Command::Import(args) => crate::images::import(args),
        Command::Load(args) => crate::images::load(args),
        Command::Pull(args) => crate::images::pull(args),
        Command::Rmi(args) => crate::images::rmi(args),
        Command::Export(args) => crate::images::export(args),
        Command::Completion(args) => completion(args),
        Command::Man(args) => man(args),
        Command::Cleanup(args) => crate::cleanup::cleanup(args),
    }
}

/// The store at `$HS_ROOT` (default /var/lib/hs). A relative `HS_ROOT` is
/// made absolute here, in the environment too: the monitor runs in `/` and
/// hands that environment to `hs cleanup`.
pub fn store() -> Result<Store> {
    if let Some(root) = std::env::var_os("HS_ROOT").filter(|r| !r.is_empty()) {
        let root = std::path::PathBuf::from(root);
        if root.is_relative() {
            let cwd = std::env::current_dir()
                .map_err(|e| HsError::io("finding the current directory", e))?;
            let absolute = cwd.join(root);
            std::env::set_var("HS_ROOT", &absolute);
            return Store::open(&absolute).map_err(|e| HsError::State(e.to_string()));
        }
    }
    Store::from_env().map_err(|e| HsError::State(e.to_string()))
}

fn state_error(reference: &str, e: hs_state::Error) -> HsError {
    match e {
        hs_state::Error::NotFound { .. } => HsError::NoSuchContainer(reference.to_string()),
        other => HsError::State(other.to_string()),
    }
}

/// The record a user's reference (id, prefix or name) means.
pub fn resolve(store: &Store, reference: &str) -> Result<Record> {
    let id = store
        .resolve(reference)
        .map_err(|e| state_error(reference, e))?;
    store.get(&id).map_err(|e| state_error(reference, e))
}

/// Runs `step` for every reference, docker-style: each success prints the
/// reference, each failure its own error line; 125 if any failed.
fn for_each(refs: &[String], mut step: impl FnMut(&str) -> Result<()>) -> Outcome {
    let mut failed = false;
    for reference in refs {
        match step(reference) {
            Ok(()) => println!("{reference}"),
            Err(e) => {
                hs_common::exit::report_failure("hs", &Failure::tool(e));
                failed = true;
            }
        }
    }
    Ok(if failed { hs_common::EXIT_TOOL } else { 0 })
}

/// The invoking user's login shell (passwd), else $SHELL, else /bin/sh.
fn login_shell() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.shell.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && std::path::Path::new(s).is_file())
        .or_else(|| std::env::var("SHELL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "/bin/sh".into())
}

fn run(args: RunArgs) -> Outcome {
    let store = store()?;
    let find = |name: &str, forced: bool| image::find(store.root(), name, forced);
    let getenv = |key: &str| std::env::var(key).ok();
    let ctx = Context {
        stdin_is_tty: std::io::stdin().is_terminal(),
        find_image: &find,
        getenv: &getenv,
        login_shell: &login_shell,
    };
    let spec = spec::from_args(&args, &ctx)?;
    if spec.dry_run {
        let tools = Tools::find().unwrap_or_else(|_| Tools::bare());
        let id = "<id>";
        let layout = Layout::new(store.root(), &store.container_dir(id));
        print!(
            "{}",
            chain::render(&chain::run_chain(&spec.config, id, &layout, &tools, None)?)
        );
        return Ok(0);
    }
    if let Some(id) = &spec.unpack {
        image::unpack(store.root(), id)?;
    }
    let tools = Tools::find()?;
    let detach = spec.detach;
    let interactive = spec.config.interactive;
    // The chain starts first and waits for its go while the record is
    // written: if that fails, dropping `pending` ends it, nothing made.
    let id = hs_state::ident::new_id().map_err(|e| HsError::State(e.to_string()))?;
    let pending = launch::spawn(
        &spec.config,
        &id,
        &launch::layout(&store, &id),
        &tools,
        !detach && follows_log(&spec.config, interactive),
    )?;
    let created = store
        .create_as(&id, &spec.config, spec.name.as_deref())
        .map_err(|e| HsError::State(e.to_string()))?;
    let record = Record {
        dir: store.container_dir(&created.id),
        id: created.id,
        name: created.name,
        config: spec.config,
        state: hs_state::State::new(),
    };
    let claim = if record.config.auto_remove && !detach {
        Some(lifecycle::claim_removal(&record.dir)?)
    } else {
        None
    };
    if detach {
        return match pending.go(&store, &record, &tools) {
            Ok(_) => {
                println!("{}", record.id);
                Ok(0)
            }
            Err(StartError::Failed(code)) => Ok(code),
            Err(StartError::Hs(e)) => Err(e.into()),
        };
    }
    let outcome = foreground(
        &store,
        &record,
        &tools,
        args.detach_keys.as_deref(),
        interactive,
        pending,
    );
    if let Some(claim) = claim {
        // As with docker, the container is gone (no record, its name free)
        // when we return; deleting its layer and cgroups is the monitor's
        // `hs cleanup`, which waits for our claim to go. Deleting a host
        // mirror's five upper and work trees here cost 5-10 ms a run.
        lifecycle::unlist_ended(&store, &record.id)?;
        drop(claim);
    }
    outcome
}

fn attach_cmd(args: AttachArgs) -> Outcome {
    let store = store()?;
    let record = resolve(&store, &args.container)?;
    if !is_running(&record) {
        return Err(Failure::tool(
            "you cannot attach to a stopped container, start it first",
        ));
    }
    attach_to(
        &store,
        &record,
        args.detach_keys.as_deref(),
        args.no_stdin,
        0,
    )
}

fn start_one(
    store: &Store,
    reference: &str,
    tools: &Tools,
) -> std::result::Result<Record, Failure> {
    let record = resolve(store, reference)?;
    if is_running(&record) {
        return Err(HsError::AlreadyRunning(reference.to_string()).into());
    }
    match launch::start(store, &record, tools) {
        Ok(_) => Ok(record),
        Err(StartError::Failed(code)) => Err(Failure::new(code, String::new())),
        Err(StartError::Hs(e)) => Err(e.into()),
    }
}

fn start(args: StartArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    if args.attach || args.interactive {
        if args.containers.len() != 1 {
            return Err(Failure::tool(
                "you cannot start and attach multiple containers at once",
            ));
        }
        let record = resolve(&store, &args.containers[0])?;
        if is_running(&record) {
            return Err(HsError::AlreadyRunning(args.containers[0].clone()).into());
        }
        let pending = launch::spawn(
            &record.config,
            &record.id,
            &launch::layout(&store, &record.id),
            &tools,
            follows_log(&record.config, args.interactive),
        )?;
        return foreground(
            &store,
            &record,
            &tools,
            args.detach_keys.as_deref(),
            args.interactive,
            pending,
        );
    }
    let mut code = 0;
    for reference in &args.containers {
        match start_one(&store, reference, &tools) {
            Ok(_) => println!("{reference}"),
            Err(f) => {
                if !f.message.is_empty() {
                    hs_common::exit::report_failure("hs", &f);
                }
                code = f.code;
            }
        }
    }
    Ok(code)
}

fn restart(args: RestartArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    let grace = Duration::from_secs(args.time);
    for_each(&args.containers, |reference| {
        let record = resolve(&store, reference)?;
        lifecycle::stop(&record, grace, &tools)?;
        let record = resolve(&store, reference)?;
        match launch::start(&store, &record, &tools) {
            Ok(_) => Ok(()),
            Err(StartError::Failed(code)) => Err(HsError::Other(format!(
                "restarting {reference}: the command failed to start (exit {code})"
            ))),
            Err(StartError::Hs(e)) => Err(e),
        }
    })
}

fn stop(args: StopArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    let grace = Duration::from_secs(args.time);
    for_each(&args.containers, |reference| {
        let record = resolve(&store, reference)?;
        lifecycle::stop(&record, grace, &tools)
    })
}

fn kill(args: KillArgs) -> Outcome {
    let signal = lifecycle::parse_signal(&args.signal)?;
    let store = store()?;
    for_each(&args.containers, |reference| {
        let record = resolve(&store, reference)?;
        lifecycle::kill(&record, signal)
    })
}

fn wait(args: ContainersArgs) -> Outcome {
    let store = store()?;
    let mut failed = false;
    for reference in &args.containers {
        let result = resolve(&store, reference).and_then(|r| lifecycle::wait(&store, &r.id));
        match result {
            Ok(Some(code)) => println!("{code}"),
            Ok(None) => println!("-1"),
            Err(e) => {
                hs_common::exit::report_failure("hs", &Failure::tool(e));
                failed = true;
            }
        }
    }
    Ok(if failed { hs_common::EXIT_TOOL } else { 0 })
}

fn ps(args: PsArgs) -> Outcome {
    enum Format {
        Json,
        Template(Template),
    }
    let format = match args.format.as_deref() {
        None | Some("table") => Format::Template(listing::default_template()),
        Some("json") => Format::Json,
        Some(text) => {
            let template = Template::parse(text).map_err(Failure::tool)?;
            template.check().map_err(Failure::tool)?;
            Format::Template(template)
        }
    };
    let store = store()?;
    let last = if args.latest { Some(1) } else { args.last };
    let records = store.list();
    let rows: Vec<Row> = records
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(Row::from_record)
        .filter(|row| args.all || last.is_some() || row.status == hs_state::schema::Status::Running)
        .take(last.unwrap_or(usize::MAX))
        .collect();
    let now = chrono::Utc::now();
    let mut out = std::io::stdout().lock();
    let text = if args.quiet {
        rows.iter()
            .map(|r| {
                let id = if args.no_trunc {
                    &r.id[..]
                } else {
                    chain::short_id(&r.id)
                };
                format!("{id}\n")
            })
            .collect()
    } else {
        match format {
            Format::Json => rows
                .iter()
                .map(|row| {
                    let json = serde_json::to_string(&JsonRow::new(row, now, args.no_trunc))
                        .unwrap_or_default();
                    format!("{json}\n")
                })
                .collect(),
            Format::Template(t) => t.render(&rows, now, args.no_trunc),
        }
    };
    let _ = out.write_all(text.as_bytes());
    Ok(0)
}

fn rm(args: RmArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    for_each(&args.containers, |reference| {
        let record = resolve(&store, reference)?;
        lifecycle::remove(&store, &record, args.force, &tools)
    })
}

fn logs(args: LogsArgs) -> Outcome {
    let store = store()?;
    let record = resolve(&store, &args.container)?;
    let tools = Tools::find()?;
    let layout = launch::layout(&store, &record.id);
    let mut argv: Vec<OsString> = vec![
        tools.pty.into(),
        "logs".into(),
        "--log".into(),
        layout.log().into(),
    ];
    if args.follow {
        argv.push("--follow".into());
        argv.push("--exit-file".into());
        argv.push(layout.exit_file().into());
        // A monitor killed -9 writes no exit file: following ends with it.
        if let Some(monitor) = record.state.monitor {
            argv.push("--monitor".into());
            argv.push(format!("{}:{}", monitor.pid, monitor.start_time).into());
        }
    }
    if let Some(tail) = &args.tail {
        argv.push("--tail".into());
        argv.push(tail.into());
    }
    if args.timestamps {
        argv.push("--timestamps".into());
    }
    if let Some(since) = &args.since {
        argv.push("--since".into());
        argv.push(since.into());
    }
    Err(hs_common::exec::exec(&argv))
}

fn inspect_cmd(args: ContainersArgs) -> Outcome {
    let store = store()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for reference in &args.containers {
        match resolve(&store, reference) {
            Ok(record) => {
                let layout = launch::layout(&store, &record.id);
                found.push(inspect::inspect(&record, &layout));
            }
            Err(e) => errors.push(e),
        }
    }
    let text = serde_json::to_string_pretty(&found).map_err(Failure::tool)?;
    println!("{text}");
    for e in &errors {
        hs_common::exit::report_failure("hs", &Failure::tool(e));
    }
    Ok(if errors.is_empty() {
        0
    } else {
        hs_common::EXIT_TOOL
    })
}

fn diff(args: DiffArgs) -> Outcome {
    let store = store()?;
    let record = resolve(&store, &args.container)?;
    let tools = Tools::find()?;
    let layout = launch::layout(&store, &record.id);
    let mut argv = vec![
        tools.overlay.clone(),
        "diff".into(),
        layout.upper().to_string_lossy().into_owned(),
    ];
    match &record.config.rootfs {
        Rootfs::Host { .. } => argv.push("--host".into()),
        Rootfs::Dir { path } => argv.extend(["--lower".into(), path.clone()]),
        Rootfs::Image { lowerdirs, .. } => argv.extend(["--lower".into(), lowerdirs.join(":")]),
    }
    let out = tools::output(&argv)?;
    if args.json {
        std::io::stdout().write_all(&out).map_err(Failure::tool)?;
        return Ok(0);
    }
    let mut text = String::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let change: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| HsError::Other(format!("bad output from hs-overlay diff: {e}")))?;
        text.push_str(&format!(
            "{} {}\n",
            change["kind"].as_str().unwrap_or("?"),
            change["path"].as_str().unwrap_or("?")
        ));
    }
    print!("{text}");
    Ok(0)
}

/// Pids in the container's cgroup (the first recorded hierarchy that has
/// a `cgroup.procs`).
fn cgroup_pids(record: &Record) -> Vec<i32> {
    let preferred = ["unified", "pids", "memory"];
    let mut dirs: Vec<&String> = preferred
        .iter()
        .filter_map(|k| record.state.cgroups.get(*k))
        .collect();
    dirs.extend(record.state.cgroups.values());
    for dir in dirs {
        if let Ok(text) = std::fs::read_to_string(std::path::Path::new(dir).join("cgroup.procs")) {
            return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

fn top(args: ContainerArg) -> Outcome {
    let store = store()?;
    let record = resolve(&store, &args.container)?;
    if !is_running(&record) {
        return Err(HsError::NotRunning(args.container).into());
    }
    let pids = cgroup_pids(&record);
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    let mut argv = vec!["ps".to_string(), "-f".into()];
    if list.is_empty() {
        argv.extend(["-p".into(), "0".into()]);
    } else {
        argv.extend(["-p".into(), list.join(",")]);
    }
    // ps exits 1 when no pid matched: still print its header.
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| HsError::io("running ps", e))?;
    std::io::stdout()
        .write_all(&out.stdout)
        .map_err(Failure::tool)?;
    Ok(0)
}

fn stats(args: StatsArgs) -> Outcome {
    crate::stats::stats(args)
}

fn prune() -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    let mut deleted = Vec::new();
    for record in store.list().into_iter().flatten() {
        if is_running(&record) {
            continue;
        }
        match lifecycle::remove(&store, &record, false, &tools) {
            Ok(()) => deleted.push(record.id),
            Err(e) => hs_common::exit::report_failure("hs", &Failure::tool(e)),
        }
    }
    // What a create or a removal killed half-way left. A create renames
    // its staging directory within milliseconds; a purge still at work on
    // an old one loses nothing (that directory is doomed either way).
    if let Err(e) = store.sweep(std::time::Duration::from_secs(60)) {
        hs_common::exit::report_failure("hs", &Failure::tool(e));
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    Ok(0)
}

fn completion(args: CompletionArgs) -> Outcome {
    use clap::CommandFactory;
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "hs", &mut std::io::stdout());
    Ok(0)
}

fn man(args: ManArgs) -> Outcome {
    use clap::CommandFactory;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| HsError::io(format!("creating {}", args.out.display()), e))?;
    let command = Cli::command();
    let mut pages = vec![("hs".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("hs-{}", sub.get_name());
        let leaked: &'static str = name.clone().leak();
        pages.push((name, sub.clone().name(leaked)));
    }
    for (name, page) in pages {
        let path = args.out.join(format!("{name}.1"));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut bytes)
            .map_err(|e| HsError::io(format!("rendering {name}.1"), e))?;
        std::fs::write(&path, bytes)
            .map_err(|e| HsError::io(format!("writing {}", path.display()), e))?;
    }
    Ok(0)
}
