//! hs-state through its binary: records, names, references, liveness,
//! concurrency and damaged records. hs-state needs no root; every test has
//! its own `HS_ROOT`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hs_tests::{assert_tool_error, run, run_ok, Env};
use serde_json::Value;

const CONFIG: &str = r#"{"command":["sh","-c","echo hi"],"rootfs":{"kind":"host"}}"#;

fn state(env: &Env, args: &[&str]) -> (i32, String, String) {
    run(env.cmd("hs-state").args(args))
}

fn state_ok(env: &Env, args: &[&str]) -> Value {
    let out = run_ok(env.cmd("hs-state").args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn create_cmd(env: &Env, name: Option<&str>) -> Command {
    let mut cmd = env.cmd("hs-state");
    cmd.args(["create", "--config", "-"]);
    if let Some(name) = name {
        cmd.args(["--name", name]);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn spawn_create(env: &Env, name: Option<&str>) -> Child {
    use std::io::Write;
    let mut child = create_cmd(env, name).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(CONFIG.as_bytes())
        .unwrap();
    child
}

/// Creates a record; returns (id, name).
fn create(env: &Env, name: Option<&str>) -> (String, String) {
    let out = spawn_create(env, name).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        v["name"].as_str().unwrap().to_string(),
    )
}

fn ls(env: &Env, all: bool) -> (Vec<Value>, String) {
    let mut cmd = env.cmd("hs-state");
    cmd.arg("ls");
    if all {
        cmd.arg("--all");
    }
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, stderr)
}

fn status(env: &Env, reference: &str) -> String {
    state_ok(env, &["get", reference])["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn container_dir(env: &Env, id: &str) -> std::path::PathBuf {
    env.root().join("containers").join(id)
}

/// Every file below `dir` with its content: equal before and after means
/// a command changed nothing.
fn snapshot(dir: &Path) -> String {
    if dir.exists() {
        hs_tests::tree_digest(dir)
    } else {
        String::from("absent")
    }
}

/// A long-running child that the test kills at the end.
struct Sleeper(Child);

impl Sleeper {
    fn new() -> Self {
        Self(Command::new("sleep").arg("1000").spawn().unwrap())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn create_prints_id_and_name_and_the_record_is_created() {
    let env = Env::new();
    let (id, name) = create(&env, Some("web"));
    assert_eq!(name, "web");
    assert_eq!(id.len(), 64);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let record = state_ok(&env, &["get", "web"]);
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["status"], "created");
    assert_eq!(record["config"]["command"][2], "echo hi");
    let dir = container_dir(&env, &id);
    for file in ["config.json", "state.json", "upper", "work"] {
        assert!(dir.join(file).exists(), "{file} missing");
    }
}

#[test]
fn create_from_a_file_works_like_stdin() {
    let env = Env::new();
    let file = env.root().join("config-input.json");
    std::fs::write(&file, CONFIG).unwrap();
    let created = state_ok(&env, &["create", "--config", file.to_str().unwrap()]);
    assert_eq!(created["id"].as_str().unwrap().len(), 64);
}

#[test]
fn create_without_a_name_generates_an_adjective_noun_name() {
    let env = Env::new();
    let (id, name) = create(&env, None);
    let (adjective, noun) = name.split_once('_').unwrap();
    assert!(!adjective.is_empty() && !noun.is_empty(), "{name}");
    assert_eq!(state_ok(&env, &["resolve", &name])["id"], id.as_str());
}

#[test]
fn duplicate_name_fails_and_changes_nothing() {
    let env = Env::new();
    let (id, _) = create(&env, Some("db"));
    let before = snapshot(env.root());
    let out = spawn_create(&env, Some("db")).wait_with_output().unwrap();
    let result = (
        out.status.code().unwrap(),
        String::new(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_tool_error(&result, "hs-state", &id);
    assert_eq!(snapshot(env.root()), before);
}

#[test]
fn invalid_name_fails_and_creates_nothing() {
    let env = Env::new();
    for bad in ["-x", ".hidden", "a/b", "a b", ""] {
        let file = env.root().join("..").join("never-read.json");
        let name = format!("--name={bad}");
        let result = state(&env, &["create", &name, "--config", file.to_str().unwrap()]);
        assert_tool_error(&result, "hs-state", "invalid container name");
    }
    assert_eq!(std::fs::read_dir(env.root()).unwrap().count(), 0);
}

#[test]
fn bad_config_fails_and_creates_nothing() {
    let env = Env::new();
    let input = env.root().join("bad.json");
    for (content, needle) in [
        ("{not json", "invalid config"),
        (r#"{"command":["sh"]}"#, "rootfs"),
        (
            r#"{"command":["sh"],"rootfs":{"kind":"host"},"version":99}"#,
            "newer",
        ),
    ] {
        std::fs::write(&input, content).unwrap();
        let result = state(&env, &["create", "--config", input.to_str().unwrap()]);
        assert_tool_error(&result, "hs-state", needle);
    }
    let result = state(&env, &["create", "--config", "/nonexistent/config.json"]);
    assert_tool_error(&result, "hs-state", "/nonexistent/config.json");
    assert!(!env.root().join("containers").exists());
}

#[test]
fn unknown_reference_fails_for_every_command() {
    let env = Env::new();
    create(&env, Some("known"));
    for args in [
        &["get", "nope"][..],
        &["resolve", "nope"],
        &["set", "nope", "--status", "exited"],
        &["exited", "nope", "--code", "1"],
        &["rm", "nope"],
        &["get", "../containers"],
    ] {
        assert_tool_error(&state(&env, args), "hs-state", "no such container");
    }
}

#[test]
fn bad_flags_fail_with_one_line_and_125() {
    let env = Env::new();
    assert_tool_error(&state(&env, &["ls", "--bogus"]), "hs-state", "--bogus");
    assert_tool_error(&state(&env, &[]), "hs-state", "subcommand");
    assert_tool_error(&state(&env, &["frobnicate"]), "hs-state", "frobnicate");
}

#[test]
fn help_describes_every_subcommand() {
    let env = Env::new();
    let (code, help, _) = state(&env, &["--help"]);
    assert_eq!(code, 0);
    for sub in ["create", "resolve", "get", "ls", "set", "exited", "rm"] {
        assert!(help.contains(sub), "--help lacks {sub}");
        let (code, sub_help, _) = state(&env, &[sub, "--help"]);
        assert_eq!(code, 0);
        assert!(sub_help.contains("Usage: hs-state"), "{sub_help}");
    }
}

#[test]
fn resolves_full_id_unique_prefix_and_name() {
    let env = Env::new();
    let (id, name) = create(&env, Some("api"));
    for reference in [id.as_str(), &id[..12], &id[..3], name.as_str()] {
        assert_eq!(state_ok(&env, &["resolve", reference])["id"], id.as_str());
    }
}

#[test]
fn ambiguous_prefix_fails_naming_the_candidates() {
    let env = Env::new();
    // 17 ids over 16 possible first digits: at least two share one.
    let ids: Vec<String> = (0..17).map(|_| create(&env, None).0).collect();
    let digit = (b'0'..=b'f')
        .map(|d| (d as char).to_string())
        .find(|d| ids.iter().filter(|id| id.starts_with(d.as_str())).count() > 1)
        .unwrap();
    let result = state(&env, &["get", &digit]);
    assert_tool_error(&result, "hs-state", "ambiguous");
    for id in ids.iter().filter(|id| id.starts_with(digit.as_str())) {
        assert!(result.2.contains(id.as_str()), "{} lacks {id}", result.2);
    }
}

#[test]
fn ls_lists_newest_first_and_only_running_without_all() {
    let env = Env::new();
    let (first, _) = create(&env, None);
    let (second, _) = create(&env, None);
    let (third, _) = create(&env, None);
    let sleeper = Sleeper::new();
    state_ok(
        &env,
        &[
            "set",
            &second,
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
        ],
    );
    let (all, _) = ls(&env, true);
    let ids: Vec<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![third.as_str(), second.as_str(), first.as_str()]);
    let (running, _) = ls(&env, false);
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["id"], second.as_str());
    assert_eq!(running[0]["status"], "running");
}

#[test]
fn ls_of_an_empty_store_prints_nothing_and_creates_nothing() {
    let env = Env::new();
    let (records, stderr) = ls(&env, true);
    assert!(records.is_empty());
    assert!(stderr.is_empty());
    assert_eq!(std::fs::read_dir(env.root()).unwrap().count(), 0);
}

#[test]
fn running_record_with_a_live_init_is_running() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let sleeper = Sleeper::new();
    state_ok(
        &env,
        &[
            "set",
            &id,
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
        ],
    );
    assert_eq!(status(&env, &id), "running");
}

#[test]
fn running_record_whose_init_is_gone_is_exited_with_unknown_code() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let mut sleeper = Sleeper::new();
    state_ok(
        &env,
        &[
            "set",
            &id,
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
        ],
    );
    sleeper.0.kill().unwrap();
    sleeper.0.wait().unwrap();
    let record = state_ok(&env, &["get", &id]);
    assert_eq!(record["status"], "exited");
    assert_eq!(record["state"]["exit_code"], Value::Null);
}

#[test]
fn running_record_whose_init_is_a_zombie_is_exited() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let mut sleeper = Sleeper::new();
    let pid = sleeper.0.id() as i32;
    state_ok(
        &env,
        &[
            "set",
            &id,
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
        ],
    );
    assert_eq!(status(&env, &id), "running");
    // Killed but not reaped: the pid stays, as a zombie, with its start time.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(hs_tests::wait_until(Duration::from_secs(10), || {
        hs_common::proc::stat(pid).is_some_and(|s| s.state == 'Z')
    }));
    assert_eq!(status(&env, &id), "exited");
    sleeper.0.wait().unwrap();
}

#[test]
fn running_record_whose_pid_was_reused_is_exited() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let sleeper = Sleeper::new();
    let real = hs_common::proc::stat(sleeper.0.id() as i32)
        .unwrap()
        .start_time;
    // The same pid with another start time: a recycled pid.
    let other = (real + 1).to_string();
    state_ok(
        &env,
        &[
            "set",
            &id,
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
            "--init-start-time",
            &other,
        ],
    );
    assert_eq!(status(&env, &id), "exited");
}

#[test]
fn set_records_every_field() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let sleeper = Sleeper::new();
    let state = state_ok(
        &env,
        &[
            "set",
            &id,
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
            "--monitor-pid",
            &std::process::id().to_string(),
            "--cgroup",
            "memory=/sys/fs/cgroup/memory/hs/x",
            "--cgroup",
            "unified=/sys/fs/cgroup/unified/hs/x",
            "--started",
            "2024-05-06T07:08:09Z",
        ],
    );
    assert_eq!(state["status"], "running");
    assert_eq!(state["init"]["pid"], sleeper.0.id());
    assert_eq!(state["monitor"]["pid"], std::process::id());
    assert_eq!(state["cgroups"]["unified"], "/sys/fs/cgroup/unified/hs/x");
    assert_eq!(state["started"], "2024-05-06T07:08:09Z");
    let stored = state_ok(&env, &["get", &id])["state"].clone();
    assert_eq!(stored, state);
    let cleared = state_ok(&env, &["set", &id, "--clear-cgroups", "--init-pid", "none"]);
    assert_eq!(cleared["cgroups"], serde_json::json!({}));
    assert_eq!(cleared["init"], Value::Null);
}

#[test]
fn set_with_a_bad_value_changes_nothing() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let before = snapshot(env.root());
    for (args, needle) in [
        (
            &["--status", "running", "--started", "yesterday"][..],
            "yesterday",
        ),
        (
            &["--status", "running", "--cgroup", "memory=relative"],
            "relative",
        ),
        (&["--status", "running", "--exit-code", "x"], "exit code"),
        (&["--status", "bogus"], "bogus"),
        (&["--status", "running", "--init-pid", "0"], "pid"),
    ] {
        let mut full = vec!["set", id.as_str()];
        full.extend_from_slice(args);
        assert_tool_error(&state(&env, &full), "hs-state", needle);
    }
    // A pid that does not exist cannot be recorded without its start time.
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id().to_string();
    child.wait().unwrap();
    let result = state(&env, &["set", &id, "--init-pid", &gone]);
    assert_tool_error(&result, "hs-state", "no process");
    assert_eq!(snapshot(env.root()), before);
}

#[test]
fn exited_records_the_code_and_finish_time() {
    let env = Env::new();
    let (id, name) = create(&env, None);
    state_ok(
        &env,
        &["set", &id, "--status", "running", "--started", "now"],
    );
    let state = state_ok(&env, &["exited", &name, "--code", "137"]);
    assert_eq!(state["status"], "exited");
    assert_eq!(state["exit_code"], 137);
    assert!(state["finished"].is_string());
    let record = state_ok(&env, &["get", &id]);
    assert_eq!(record["status"], "exited");
    assert_eq!(record["state"]["exit_code"], 137);
}

#[test]
fn rm_refuses_a_running_container_and_changes_nothing() {
    let env = Env::new();
    let (id, _) = create(&env, Some("busy"));
    let sleeper = Sleeper::new();
    state_ok(
        &env,
        &[
            "set",
            "busy",
            "--status",
            "running",
            "--init-pid",
            &sleeper.pid(),
        ],
    );
    let before = snapshot(env.root());
    assert_tool_error(&state(&env, &["rm", "busy"]), "hs-state", "running");
    assert_eq!(snapshot(env.root()), before);
    assert!(container_dir(&env, &id).is_dir());
}

#[test]
fn rm_deletes_the_record_and_frees_the_name() {
    let env = Env::new();
    let (id, _) = create(&env, Some("gone"));
    std::fs::write(container_dir(&env, &id).join("upper/file"), b"data").unwrap();
    let removed = state_ok(&env, &["rm", "gone"]);
    assert_eq!(removed["id"], id.as_str());
    assert!(!container_dir(&env, &id).exists());
    assert_eq!(
        std::fs::read_dir(env.root().join("containers"))
            .unwrap()
            .count(),
        0
    );
    assert_tool_error(
        &state(&env, &["get", "gone"]),
        "hs-state",
        "no such container",
    );
    let (again, _) = create(&env, Some("gone"));
    assert_ne!(again, id);
}

#[test]
fn rm_refuses_a_record_with_a_mount_below_it() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (id, _) = create(&env, Some("mounted"));
    let upper = container_dir(&env, &id).join("upper");
    // Mount and rm inside one private mount namespace, so nothing leaks.
    let script = format!(
        "mount -t tmpfs none '{}' && touch '{}/keep' && '{}' rm mounted; echo rc=$?; ls '{}'",
        upper.display(),
        upper.display(),
        hs_tests::bin("hs-state").display(),
        upper.display()
    );
    let out = run_ok(
        hs_tests::in_private_mount_ns("sh")
            .args(["-c", &script])
            .env("HS_ROOT", env.root()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rc=125"), "{stdout}");
    assert!(stdout.contains("keep"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("mounted below"));
    assert!(container_dir(&env, &id).is_dir());
    hs_tests::assert_no_mounts_under(env.root());
}

#[test]
fn fifty_parallel_creates_of_one_name_have_exactly_one_winner() {
    let env = Env::new();
    let children: Vec<Child> = (0..50).map(|_| spawn_create(&env, Some("same"))).collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners: Vec<_> = outputs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(winners.len(), 1);
    let winner: Value = serde_json::from_slice(&winners[0].stdout).unwrap();
    for loser in outputs.iter().filter(|o| !o.status.success()) {
        let stderr = String::from_utf8_lossy(&loser.stderr);
        assert_eq!(loser.status.code(), Some(125));
        assert!(
            stderr.starts_with("hs-state: error: name \"same\" is already in use"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1);
    }
    let (all, _) = ls(&env, true);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], winner["id"]);
    // No staging directory of a loser is left behind.
    assert_eq!(
        std::fs::read_dir(env.root().join("containers"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn two_hundred_parallel_creates_all_succeed_with_distinct_ids() {
    let env = Env::new();
    let names: Vec<String> = (0..200).map(|i| format!("c{i}")).collect();
    let children: Vec<Child> = names.iter().map(|n| spawn_create(&env, Some(n))).collect();
    let mut ids = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.insert(v["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 200);
    let (all, stderr) = ls(&env, true);
    assert_eq!(all.len(), 200, "{stderr}");
    for name in &names {
        let id = state_ok(&env, &["resolve", name])["id"].clone();
        assert!(ids.contains(id.as_str().unwrap()));
    }
}

#[test]
fn parallel_sets_on_one_record_never_tear_or_lose_an_update() {
    let env = Env::new();
    let (id, _) = create(&env, None);
    let children: Vec<Child> = (0..40)
        .map(|i| {
            env.cmd("hs-state")
                .args([
                    "set",
                    &id,
                    "--exit-code",
                    &i.to_string(),
                    "--cgroup",
                    &format!("key{i}=/cg/{i}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Read while they write: every read sees a whole record.
    let path = container_dir(&env, &id).join("state.json");
    for _ in 0..200 {
        let bytes = std::fs::read(&path).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap();
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let state = state_ok(&env, &["get", &id])["state"].clone();
    assert_eq!(state["cgroups"].as_object().unwrap().len(), 40);
    assert!((0..40).contains(&state["exit_code"].as_i64().unwrap()));
    let leftovers: Vec<_> = std::fs::read_dir(container_dir(&env, &id))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn garbage_and_truncated_records_do_not_break_the_others() {
    let env = Env::new();
    let (good, _) = create(&env, Some("good"));
    let (garbage, _) = create(&env, Some("garbage"));
    let (truncated, _) = create(&env, Some("truncated"));
    std::fs::write(
        container_dir(&env, &garbage).join("state.json"),
        b"\x00garbage",
    )
    .unwrap();
    let config = container_dir(&env, &truncated).join("config.json");
    let full = std::fs::read(&config).unwrap();
    std::fs::write(&config, &full[..full.len() / 2]).unwrap();

    let (all, stderr) = ls(&env, true);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["id"], good.as_str());
    let broken: Vec<&str> = all[1..]
        .iter()
        .inspect(|r| assert_eq!(r["status"], "broken"))
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(broken.contains(&garbage.as_str()) && broken.contains(&truncated.as_str()));
    for id in [&garbage, &truncated] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(id.as_str()) && l.contains("broken")),
            "{stderr}"
        );
    }
    assert_eq!(status(&env, "good"), "created");
    assert_tool_error(&state(&env, &["get", "garbage"]), "hs-state", "broken");
}

#[test]
fn rm_deletes_a_broken_record_and_frees_its_name() {
    let env = Env::new();
    let (id, _) = create(&env, Some("wreck"));
    std::fs::write(container_dir(&env, &id).join("config.json"), b"{").unwrap();
    state_ok(&env, &["rm", "wreck"]);
    assert!(!container_dir(&env, &id).exists());
    create(&env, Some("wreck"));
}

#[test]
fn a_hundred_parallel_creates_without_names_get_distinct_generated_names() {
    let env = Env::new();
    let children: Vec<Child> = (0..100).map(|_| spawn_create(&env, None)).collect();
    let mut names = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        names.insert(v["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names.len(), 100);
    assert_eq!(
        std::fs::read_dir(env.root().join("names")).unwrap().count(),
        100
    );
}

/// Runs hs-state with `stdin`; returns its JSON output and how many fsync
/// calls it made.
fn traced_state(env: &Env, args: &[&str], stdin: &str) -> (Value, usize) {
    let mut cmd = env.cmd("hs-state");
    cmd.args(args);
    let (out, calls) = hs_tests::run_counting_fsyncs(&cmd, stdin.as_bytes());
    assert!(
        out.status.success(),
        "hs-state {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (json, calls)
}

#[test]
fn a_kept_record_is_fsynced_when_created_and_updated() {
    let env = Env::new();
    let (created, create_syncs) = traced_state(&env, &["create", "--config", "-"], CONFIG);
    let id = created["id"].as_str().unwrap();
    let (_, set_syncs) = traced_state(&env, &["set", id, "--status", "exited"], "");
    assert!(create_syncs > 0, "create made no fsync");
    assert!(set_syncs > 0, "set made no fsync");
}

#[test]
fn a_rm_record_is_created_updated_and_removed_without_fsync() {
    let env = Env::new();
    let config = r#"{"command":["true"],"rootfs":{"kind":"host"},"auto_remove":true}"#;
    let (created, create_syncs) = traced_state(&env, &["create", "--config", "-"], config);
    let id = created["id"].as_str().unwrap().to_string();
    let (_, set_syncs) = traced_state(&env, &["set", &id, "--status", "exited"], "");
    let (_, rm_syncs) = traced_state(&env, &["rm", &id], "");
    assert_eq!((create_syncs, set_syncs, rm_syncs), (0, 0, 0));
    assert!(!container_dir(&env, &id).exists());
}
