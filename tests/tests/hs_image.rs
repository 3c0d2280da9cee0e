//! `hs` end to end on the busybox rootfs: run, detach, exec, stop, kill,
//! wait, start, rm, logs, ps, inspect, diff, top, names, parallel runs.

mod hs_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use hs_support::*;

#[test]
fn foreground_run_prints_output_and_exits_with_the_commands_code() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let (code, out, err) = world.run(&["run", &rootfs(), "sh", "-c", "echo hello; exit 3"]);
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "hello\n");
}

#[test]
fn detached_run_prints_the_full_id_and_ps_shows_it_up() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["--name", "web", &rootfs(), "sleep", "1000"]);
    let out = world.ok(&["ps"]);
    let line = out.lines().nth(1).unwrap_or("");
    assert!(line.starts_with(&id[..12]), "{out}");
    assert!(line.contains("Up "), "{out}");
    assert!(line.ends_with("web"), "{out}");
    assert!(out.lines().next().unwrap().starts_with("CONTAINER ID"));
}

#[test]
fn missing_command_fails_with_127() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let (code, _, err) = world.run(&["run", "-d", &rootfs(), "no-such-program"]);
    assert_eq!(code, 127, "stderr: {err}");
    assert!(err.contains("no-such-program"), "{err}");
}

/// `hs run FLAGS… ROOTFS no-such-program`, stdin on /dev/null, failed
/// when it has not returned within 30 s.
fn run_missing_program(world: &World, flags: &[&str]) -> (i32, String, String) {
    let image = rootfs();
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend([image.as_str(), "no-such-program"]);
    hs_tests::run_within(
        world.hs().args(&args).stdin(Stdio::null()),
        Duration::from_secs(30),
    )
}

/// A foreground `--rm` run whose start fails returns at once: it once
/// waited for the monitor, whose on-exit cleanup waited for the run.
#[test]
fn missing_command_of_a_foreground_rm_run_fails_with_127_and_leaves_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    for flags in [&["--rm"][..], &["--rm", "-t"], &["--rm", "-i"]] {
        let (code, _, err) = run_missing_program(&world, flags);
        assert_eq!(code, 127, "{flags:?}: {err}");
        assert!(err.contains("no-such-program"), "{flags:?}: {err}");
    }
    assert_eq!(world.ok(&["ps", "-aq"]).trim(), "");
}

/// An attached run whose program cannot start says so once (the chain
/// tool's line also came back as the container's output), and its log
/// keeps the line once.
#[test]
fn missing_command_of_an_attached_run_is_one_error_line() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    for (i, flags) in [&["-i"][..], &["-t"], &["-i", "-t"]].iter().enumerate() {
        let name = format!("attached-{i}");
        let mut args = vec!["--name", name.as_str()];
        args.extend_from_slice(flags);
        let (code, out, err) = run_missing_program(&world, &args);
        assert_eq!(code, 127, "{flags:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{flags:?}: {err}");
        assert!(err.contains("no-such-program"), "{flags:?}: {err}");
        assert!(!out.contains("no-such-program"), "{flags:?}: {out}");
        let (code, out, err) = world.run(&["logs", &name]);
        assert_eq!(code, 0, "{err}");
        let logged = format!("{out}{err}");
        assert_eq!(logged.matches("no-such-program").count(), 1, "{logged}");
    }
}

#[test]
fn exec_runs_a_command_in_the_running_container() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["-e", "FROM_RUN=1", &rootfs(), "sleep", "1000"]);
    let out = world.ok(&[
        "exec",
        "-e",
        "FROM_EXEC=2",
        &id,
        "sh",
        "-c",
        "cat /etc/hostname; echo $FROM_RUN$FROM_EXEC; hostname",
    ]);
    assert_eq!(out, format!("busybox\n12\n{}\n", &id[..12]));
}

#[test]
fn exec_into_a_stopped_container_fails_with_125() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "true"]);
    assert!(world.wait_state(&id, "exited"));
    let result = world.run(&["exec", &id, "true"]);
    hs_tests::assert_tool_error(&result, "hs", "is not running");
}

#[test]
fn stop_of_a_term_ignoring_process_takes_the_grace_period_and_leaves_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let marker = hs_tests::unique("hs-ignore-term");
    let script = format!("trap '' TERM; while :; do sleep 1; done # {marker}");
    let id = world.detach(&[&rootfs(), "sh", "-c", &script]);
    let started = Instant::now();
    world.ok(&["stop", "-t", "2", &id]);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "stop returned before -t 2"
    );
    assert_eq!(world.state(&id), "exited");
    assert!(hs_tests::pids_with_cmdline(&marker).is_empty());
    assert!(
        world.cgroups_of(&id).is_empty(),
        "{:?}",
        world.cgroups_of(&id)
    );
}

#[test]
fn stop_sends_sigterm_and_the_trap_runs() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out_dir = hs_tests::tempdir_in_target("trap");
    let volume = format!("{}:/out", out_dir.path().display());
    let script = "trap 'echo got-term > /out/t; exit 0' TERM; while :; do sleep 0.1; done";
    let id = world.detach(&["-v", &volume, &rootfs(), "sh", "-c", script]);
    world.ok(&["stop", "-t", "20", &id]);
    let text = std::fs::read_to_string(out_dir.path().join("t")).unwrap_or_default();
    assert_eq!(text, "got-term\n");
    assert_eq!(world.inspect(&id)["State"]["ExitCode"], 0);
}

#[test]
fn start_after_stop_keeps_a_file_written_before() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    world.ok(&["exec", &id, "sh", "-c", "echo kept > /kept.txt"]);
    world.ok(&["stop", "-t", "0", &id]);
    assert_eq!(world.state(&id), "exited");
    world.ok(&["start", &id]);
    assert_eq!(world.state(&id), "running");
    assert_eq!(world.ok(&["exec", &id, "cat", "/kept.txt"]), "kept\n");
}

#[test]
fn ten_parallel_detached_rm_runs_all_succeed_and_are_removed() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let root = rootfs();
    let results: Vec<(i32, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| s.spawn(|| world.run(&["run", "-d", "--rm", &root, "true"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (code, out, err) in &results {
        assert_eq!(*code, 0, "stdout: {out} stderr: {err}");
        assert_eq!(out.trim().len(), 64);
    }
    assert!(
        wait_until(Duration::from_secs(30), || world.containers().is_empty()),
        "left: {:?}",
        world.containers()
    );
}

#[test]
fn five_parallel_runs_with_one_name_make_exactly_one_container() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let root = rootfs();
    let results: Vec<(i32, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..5)
            .map(|_| {
                s.spawn(|| world.run(&["run", "-d", "--name", "same", &root, "sleep", "1000"]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners = results.iter().filter(|r| r.0 == 0).count();
    assert_eq!(winners, 1, "{results:?}");
    for (code, _, err) in results.iter().filter(|r| r.0 != 0) {
        assert_eq!(*code, 125, "{err}");
        assert!(err.contains("same"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(world.containers().len(), 1);
    // Each loser had started its monitor before it lost the name: killed,
    // none is left waiting (a monitor's arguments name its socket there).
    let containers = format!("{}/containers/", world.env.root().display());
    assert_eq!(hs_tests::pids_with_cmdline(&containers).len(), 1);
}

#[test]
fn rm_f_of_a_running_container_leaves_no_mount_cgroup_or_process() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let marker = hs_tests::unique("hs-rmf");
    let id = world.detach(&[&rootfs(), "sh", "-c", &format!("sleep 1000 # {marker}")]);
    assert!(!world.cgroups_of(&id).is_empty());
    world.ok(&["rm", "-f", &id]);
    assert!(world.containers().is_empty());
    hs_tests::assert_no_processes_with(&marker);
    hs_tests::assert_no_mounts_under(world.env.root());
    assert!(
        world.cgroups_of(&id).is_empty(),
        "{:?}",
        world.cgroups_of(&id)
    );
}

#[test]
fn containers_share_one_mount_point_yet_each_sees_only_its_own_root() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let first = world.detach(&[&rootfs(), "sleep", "1000"]);
    let second = world.detach(&[&rootfs(), "sleep", "1000"]);
    world.ok(&["exec", &first, "touch", "/only-in-first"]);
    let (code, _, _) = world.run(&["exec", &second, "test", "-e", "/only-in-first"]);
    assert_eq!(code, 1, "the second container sees the first one's file");
    let merged = world.inspect(&first)["GraphDriver"]["Data"]["MergedDir"]
        .as_str()
        .map(std::path::PathBuf::from)
        .expect("MergedDir");
    assert_eq!(
        world.inspect(&second)["GraphDriver"]["Data"]["MergedDir"],
        merged.to_string_lossy().as_ref()
    );
    // On the host the mount point stays an empty directory.
    assert_eq!(std::fs::read_dir(&merged).unwrap().count(), 0);
    hs_tests::assert_no_mounts_under(world.env.root());
}

#[test]
fn rm_of_a_running_container_without_f_fails_and_keeps_it() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    let result = world.run(&["rm", &id]);
    hs_tests::assert_tool_error(&result, "hs", "running");
    assert_eq!(world.state(&id), "running");
}

#[test]
fn rm_removes_the_containers_files_and_name() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["--name", "gone", &rootfs(), "true"]);
    assert!(world.wait_state(&id, "exited"));
    world.ok(&["rm", "gone"]);
    assert!(world.containers().is_empty());
    world.detach(&["--name", "gone", &rootfs(), "true"]);
}

#[test]
fn logs_show_the_output_of_a_detached_run() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "echo one; echo two"]);
    assert!(world.wait_state(&id, "exited"));
    assert_eq!(world.ok(&["logs", &id]), "one\ntwo\n");
    assert_eq!(world.ok(&["logs", "--tail", "1", &id]), "two\n");
}

#[test]
fn wait_prints_the_exit_code() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "sleep 0.3; exit 7"]);
    assert_eq!(world.ok(&["wait", &id]), "7\n");
}

#[test]
fn kill_defaults_to_sigkill() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "trap '' TERM; sleep 1000"]);
    world.ok(&["kill", &id]);
    assert_eq!(world.ok(&["wait", &id]), "137\n");
}

#[test]
fn ps_shows_exited_with_code_and_hides_it_without_a() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "exit 3"]);
    assert_eq!(world.ok(&["wait", &id]), "3\n");
    let all = world.ok(&["ps", "-a"]);
    assert!(all.contains("Exited (3)"), "{all}");
    assert_eq!(world.ok(&["ps", "-q"]), "");
    assert_eq!(world.ok(&["ps", "-aq"]), format!("{}\n", &id[..12]));
    let line = world.ok(&["ps", "-a", "--format", "{{.ID}} {{.State}} {{.Image}}"]);
    assert_eq!(line, format!("{} exited {}\n", &id[..12], rootfs()));
}

#[test]
fn ps_json_carries_the_pids() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    let out = world.ok(&["ps", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["FullID"], id.as_str());
    let pid = row["Pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(row["MonitorPid"].as_i64().is_some());
}

#[test]
fn killing_the_init_shows_the_container_exited() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    let pid = world.inspect(&id)["State"]["Pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(world.wait_state(&id, "exited"));
}

#[test]
fn inspect_reports_pid_limits_and_layers() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[
        "-m",
        "64M",
        "--pids-limit",
        "50",
        &rootfs(),
        "sleep",
        "1000",
    ]);
    let value = world.inspect(&id);
    assert_eq!(value["Id"], id.as_str());
    assert!(value["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(value["State"]["Running"], true);
    assert_eq!(value["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(value["HostConfig"]["PidsLimit"], 50);
    let upper = value["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    assert!(std::path::Path::new(upper).is_dir());
}

#[test]
fn memory_limit_reaches_the_kernel() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["-m", "64M", &rootfs(), "sleep", "1000"]);
    let cgroups = world.inspect(&id)["Cgroups"].clone();
    let memory = cgroups["memory"].as_str().expect("a memory cgroup");
    let limit = std::fs::read_to_string(format!("{memory}/memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
}

#[test]
fn diff_lists_what_the_container_changed() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "echo x > /new.txt; rm /etc/hostname"]);
    assert!(world.wait_state(&id, "exited"));
    let out = world.ok(&["diff", &id]);
    assert!(out.lines().any(|l| l == "A /new.txt"), "{out}");
    assert!(out.lines().any(|l| l == "D /etc/hostname"), "{out}");
}

#[test]
fn top_lists_the_containers_processes() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let marker = hs_tests::unique("hs-top");
    let id = world.detach(&[&rootfs(), "sh", "-c", &format!("sleep 1000 # {marker}")]);
    let out = world.ok(&["top", &id]);
    assert!(out.lines().next().unwrap().contains("PID"), "{out}");
    assert!(out.contains(&marker), "{out}");
}

#[test]
fn rm_flag_removes_the_container_after_a_foreground_run() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let (code, out, _) = world.run(&["run", "--rm", &rootfs(), "echo", "bye"]);
    assert_eq!(code, 0);
    assert_eq!(out, "bye\n");
    assert!(wait_until(Duration::from_secs(10), || world
        .containers()
        .is_empty()));
    // The monitor's cleanup removes the cgroup, even though the
    // foreground run removed the record before it got there.
    let parent = world.env.cgroup_parent.clone();
    assert!(wait_until(Duration::from_secs(10), || {
        hs_tests::own_cgroup_dirs().iter().all(|dir| {
            std::fs::read_dir(dir.join(&parent))
                .map(|entries| !entries.flatten().any(|e| e.path().is_dir()))
                .unwrap_or(true)
        })
    }));
}

#[test]
fn a_foreground_rm_run_returns_with_its_name_free_and_its_layer_is_deleted_after() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let name = hs_tests::unique("quick");
    let write = "dd if=/dev/zero of=/written bs=1024 count=64 2>/dev/null";
    let (code, _, err) = world.run(&["run", "--rm", "--name", &name, &rootfs(), "sh", "-c", write]);
    assert_eq!(code, 0, "{err}");
    // At once, not eventually: nothing is listed and the name is free.
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
    let (code, _, err) = world.run(&["run", "--rm", "--name", &name, &rootfs(), "true"]);
    assert_eq!(code, 0, "{err}");
    // The layers (hidden ones included) go with the monitor's cleanup.
    let containers = world.env.root().join("containers");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_dir(&containers).map_or(true, |mut d| d.next().is_none())
    }));
}

#[test]
fn an_rm_containers_cleanup_waits_for_its_client_at_idle_priority() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["--rm", &rootfs(), "sleep", "1000"]);
    // The claim a foreground `run --rm` client holds until it has the
    // exit code: the cleanup waits for it before deleting anything.
    let dir = std::fs::File::open(world.env.root().join("containers").join(&id)).unwrap();
    let claim = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockShared).unwrap();
    world.ok(&["kill", &id]);
    let cleanup = || {
        hs_tests::pids_with_cmdline(&id).into_iter().find(|pid| {
            // `hs cleanup …`, not the monitor that has it in its argv.
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|raw| raw.split(|&b| b == 0).nth(1) == Some(b"cleanup"))
        })
    };
    // Field 41 of /proc/PID/stat is the scheduling policy; 5 is SCHED_IDLE.
    let policy = |pid: i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after_comm.split_whitespace().nth(38).map(str::to_string)
    };
    assert!(
        wait_until(Duration::from_secs(10), || cleanup()
            .and_then(policy)
            .is_some_and(|p| p == "5")),
        "no hs cleanup at SCHED_IDLE: {:?}",
        cleanup().map(|pid| (pid, policy(pid)))
    );
    drop(claim);
    assert!(wait_until(Duration::from_secs(10), || world
        .containers()
        .is_empty()));
}

#[test]
fn a_cleaned_up_exit_removes_the_cgroups() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "true"]);
    assert_eq!(world.ok(&["wait", &id]), "0\n");
    assert!(
        wait_until(Duration::from_secs(10), || world.cgroups_of(&id).is_empty()),
        "{:?}",
        world.cgroups_of(&id)
    );
}

#[test]
fn exit_in_an_interactive_run_stops_the_container() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let argv = vec![
        hs_bin(),
        "run".into(),
        "--name".into(),
        "tty1".into(),
        rootfs(),
        "sh".into(),
    ];
    let out = pty_session(&world, &argv, "#", "exit 5\n", None);
    assert!(out.contains("exit=5"), "{out}");
    assert!(world.wait_state("tty1", "exited"));
}

#[test]
fn the_container_has_its_own_terminal() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let argv = vec![hs_bin(), "run".into(), "-it".into(), rootfs(), "tty".into()];
    let out = pty_session(&world, &argv, "", "", None);
    assert!(out.contains("/dev/pts/0"), "{out}");
}

#[test]
fn closing_the_attached_terminal_leaves_a_detached_tty_container_running() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["-it", &rootfs(), "sh"]);
    let argv = vec![hs_bin(), "attach".into(), id.clone()];
    let out = pty_session(
        &world,
        &argv,
        "#",
        "echo attached-$((6*7))\n",
        Some("attached-42"),
    );
    assert!(out.contains("attached-42"), "{out}");
    assert_eq!(world.state(&id), "running");
}

/// A tarball of the busybox rootfs, imported as image `name`.
fn import_busybox(world: &World, name: &str) {
    let dir = hs_tests::tempdir_in_target("bbtar");
    let tar = dir.path().join("busybox.tar");
    run_ok(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    let id = world.ok(&["import", tar.to_str().unwrap(), name]);
    assert!(id.starts_with("sha256:"), "{id}");
}

#[test]
fn a_stored_image_name_runs_that_image() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    import_busybox(&world, "bb");
    assert!(world.ok(&["images"]).contains("bb "));
    let out = world.ok(&["run", "--rm", "bb", "cat", "/etc/hostname"]);
    assert_eq!(out, "busybox\n");
}

#[test]
fn commit_makes_an_image_with_the_containers_changes() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    import_busybox(&world, "base");
    let id = world.detach(&["base", "sh", "-c", "echo committed > /new.txt"]);
    assert_eq!(world.ok(&["wait", &id]), "0\n");
    world.ok(&["commit", &id, "derived:v1"]);
    let out = world.ok(&["run", "--rm", "derived:v1", "cat", "/new.txt"]);
    assert_eq!(out, "committed\n");
}

#[test]
fn detach_keys_leave_the_container_running() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["-it", &rootfs(), "sh"]);
    let argv = vec![
        hs_bin(),
        "attach".into(),
        "--detach-keys".into(),
        "ctrl-x".into(),
        id.clone(),
    ];
    let out = pty_session(&world, &argv, "#", "\x18", None);
    assert!(out.contains("exit=0"), "{out}");
    assert_eq!(world.state(&id), "running");
}

#[test]
fn export_writes_the_containers_filesystem_and_rmi_removes_an_image() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    import_busybox(&world, "exp");
    let id = world.detach(&["exp", "sh", "-c", "echo exported > /out.txt"]);
    assert_eq!(world.ok(&["wait", &id]), "0\n");
    let dir = hs_tests::tempdir_in_target("export");
    let tar = dir.path().join("c.tar");
    world.ok(&["export", "-o", tar.to_str().unwrap(), &id]);
    let listing = run_ok(std::process::Command::new("tar").arg("-tf").arg(&tar));
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "out.txt"),
        "{names}"
    );
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{names}"
    );
    world.ok(&["rm", &id]);
    world.ok(&["rmi", "exp"]);
    assert!(!world.ok(&["images"]).contains("exp "));
}
