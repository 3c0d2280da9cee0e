//! `hs run`'s and the other commands' flags, one behaviour each, on the
//! busybox rootfs.

mod hs_support;

use std::time::Duration;

use hs_support::*;

#[test]
fn workdir_hostname_and_user_apply_to_the_command() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&[
        "run",
        "--rm",
        "-w",
        "/tmp",
        "-h",
        "box1",
        "-u",
        "65534:65534",
        &rootfs(),
        "sh",
        "-c",
        "pwd; hostname; id -u; id -g",
    ]);
    assert_eq!(out, "/tmp\nbox1\n65534\n65534\n");
}

#[test]
fn env_file_and_env_flags_reach_the_command_in_order() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let dir = hs_tests::tempdir_in_target("envfile");
    let file = dir.path().join("env");
    std::fs::write(&file, "# comment\nA=from-file\nB=also file\n").unwrap();
    let out = world.ok(&[
        "run",
        "--rm",
        "--env-file",
        file.to_str().unwrap(),
        "-e",
        "A=from-flag",
        &rootfs(),
        "sh",
        "-c",
        "echo $A; echo $B",
    ]);
    assert_eq!(out, "from-flag\nalso file\n");
}

#[test]
fn env_values_stay_off_command_lines_and_the_callers_environment_out_of_pid_1() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let secret = hs_tests::unique("hunter");
    let callers = hs_tests::unique("callers-own");
    let out = run_ok(world.hs().env("HS_TEST_CALLERS_VALUE", &callers).args([
        "run",
        "-d",
        "-e",
        &format!("PASS={secret}"),
        &rootfs(),
        "sleep",
        "1000",
    ]));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        world.ok(&["exec", &id, "sh", "-c", "echo $PASS"]),
        format!("{secret}\n")
    );
    // The monitor and hs-unshare's supervisor and PID 1 live on with the
    // chain's arguments: `ps` must not show the value to every user.
    let showing = || hs_tests::pids_with_cmdline(&secret);
    assert!(
        wait_until(Duration::from_secs(10), || showing().is_empty()),
        "still on a command line: {:?}",
        showing()
            .into_iter()
            .map(|pid| std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default())
            .collect::<Vec<_>>()
    );
    let pid1_environ = world.ok(&["exec", &id, "cat", "/proc/1/environ"]);
    assert!(!pid1_environ.contains(&callers), "{pid1_environ:?}");
}

#[test]
fn the_container_does_not_inherit_hs_environment() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = run_ok(world.hs().env("HS_SECRET_OF_CALLER", "leak").args([
        "run",
        "--rm",
        &rootfs(),
        "sh",
        "-c",
        "env | grep -c HS_ || true",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
}

#[test]
fn read_only_volume_cannot_be_written() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let dir = hs_tests::tempdir_in_target("rovol");
    std::fs::write(dir.path().join("in.txt"), "from host\n").unwrap();
    let volume = format!("{}:/data:ro", dir.path().display());
    let (code, out, _) = world.run(&[
        "run",
        "--rm",
        "-v",
        &volume,
        &rootfs(),
        "sh",
        "-c",
        "cat /data/in.txt; echo x > /data/new 2>/dev/null || echo refused",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "from host\nrefused\n");
    assert!(!dir.path().join("new").exists());
}

#[test]
fn no_init_makes_the_command_pid_1() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&["run", "--rm", "--no-init", &rootfs(), "sh", "-c", "echo $$"]);
    assert_eq!(out, "1\n");
}

#[test]
fn follow_logs_end_when_the_container_exits() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "echo a; sleep 0.5; echo b"]);
    assert_eq!(world.ok(&["logs", "-f", &id]), "a\nb\n");
}

#[test]
fn restart_runs_the_command_again_on_the_same_layer() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "echo run >> /count; sleep 1000"]);
    world.ok(&["restart", "-t", "0", &id]);
    assert_eq!(world.state(&id), "running");
    assert_eq!(world.ok(&["exec", &id, "cat", "/count"]), "run\nrun\n");
}

#[test]
fn start_of_a_running_container_fails_with_125() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    let result = world.run(&["start", &id]);
    hs_tests::assert_tool_error(&result, "hs", "already running");
}

#[test]
fn start_attach_prints_the_new_runs_output_and_exit_code() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "echo once; exit 4"]);
    assert_eq!(world.ok(&["wait", &id]), "4\n");
    let (code, out, _) = world.run(&["start", "-a", &id]);
    assert_eq!(code, 4);
    assert_eq!(out, "once\n");
}

#[test]
fn stats_no_stream_reports_memory_and_pids() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["-m", "64M", &rootfs(), "sleep", "1000"]);
    let out = world.ok(&["stats", "--no-stream", "--json", &id]);
    let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(value["ID"], id.as_str());
    assert_eq!(value["Stats"]["memory"]["limit"], 64 << 20);
    assert!(value["Stats"]["pids"]["current"].as_u64().unwrap() >= 1);
    let table = world.ok(&["stats", "--no-stream", &id]);
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    assert!(table.contains(&id[..12]), "{table}");
}

#[test]
fn prune_removes_only_stopped_containers() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let stopped = world.detach(&[&rootfs(), "true"]);
    let running = world.detach(&[&rootfs(), "sleep", "1000"]);
    assert_eq!(world.ok(&["wait", &stopped]), "0\n");
    let out = world.ok(&["prune"]);
    assert!(out.contains(&stopped), "{out}");
    assert_eq!(world.containers(), vec![running]);
}

#[test]
fn prune_leaves_a_staging_directory_that_a_create_may_still_be_using() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    world.detach(&[&rootfs(), "true"]);
    let staging = world.env.root().join("containers/.new-0123");
    std::fs::create_dir(&staging).unwrap();
    world.ok(&["prune"]);
    assert!(staging.is_dir());
}

#[test]
fn pids_limit_is_enforced_by_the_kernel() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let script = "i=0; while [ $i -lt 10 ]; do sleep 100 & i=$((i+1)); done; echo all-started";
    let (code, out, err) = world.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        &rootfs(),
        "sh",
        "-c",
        script,
    ]);
    assert_ne!(code, 0, "stdout: {out}");
    assert!(!out.contains("all-started"), "{out}");
    assert!(err.contains("fork"), "{err}");
}

#[test]
fn exec_with_a_tty_gets_a_terminal() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    let argv = vec![hs_bin(), "exec".into(), "-it".into(), id, "tty".into()];
    let out = pty_session(&world, &argv, "", "", None);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("exit=0"), "{out}");
}

#[test]
fn exec_detached_returns_at_once_and_the_command_runs() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    world.ok(&["exec", "-d", &id, "sh", "-c", "sleep 0.2; echo done > /bg"]);
    assert!(wait_until(Duration::from_secs(10), || {
        run(world.hs().args(["exec", &id, "cat", "/bg"])).1 == "done\n"
    }));
}

#[test]
fn inspect_of_several_containers_is_one_array() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let a = world.detach(&["--name", "a", &rootfs(), "true"]);
    let b = world.detach(&["--name", "b", &rootfs(), "true"]);
    let out = world.ok(&["inspect", "a", "b"]);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value[0]["Id"], a.as_str());
    assert_eq!(value[1]["Id"], b.as_str());
    assert_eq!(value[1]["Name"], "/b");
}

#[test]
fn ps_last_and_no_trunc() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    world.detach(&[&rootfs(), "true"]);
    let newest = world.detach(&[&rootfs(), "true"]);
    let out = world.ok(&["ps", "-n", "1", "-q", "--no-trunc"]);
    assert_eq!(out, format!("{newest}\n"));
}

#[test]
fn killing_the_monitor_does_not_leave_a_running_status_after_the_init_dies() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sleep", "1000"]);
    let info = world.inspect(&id);
    let monitor = info["State"]["MonitorPid"].as_i64().unwrap() as i32;
    let init = info["State"]["Pid"].as_i64().unwrap() as i32;
    use nix::sys::signal::{kill, Signal::SIGKILL};
    use nix::unistd::Pid;
    kill(Pid::from_raw(monitor), SIGKILL).unwrap();
    kill(Pid::from_raw(init), SIGKILL).unwrap();
    assert!(world.wait_state(&id, "exited"));
    world.ok(&["rm", &id]);
    assert!(world.containers().is_empty());
}

#[test]
fn follow_logs_end_when_the_monitor_was_killed() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "sh", "-c", "echo hi; exec sleep 1000"]);
    assert!(wait_until(Duration::from_secs(10), || world
        .ok(&["logs", &id])
        == "hi\n"));
    let monitor = world.inspect(&id)["State"]["MonitorPid"].as_i64().unwrap() as i32;
    use nix::sys::signal::{kill, Signal::SIGKILL};
    kill(nix::unistd::Pid::from_raw(monitor), SIGKILL).unwrap();
    // No exit file will ever come: the follow ends with the monitor.
    let mut follow = world
        .hs()
        .args(["logs", "-f", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ended = wait_until(Duration::from_secs(10), || {
        matches!(follow.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = follow.kill();
    }
    let out = follow.wait_with_output().unwrap();
    assert!(ended, "hs logs -f still following a dead monitor's log");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

#[test]
fn interactive_run_reads_piped_stdin() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let mut child = world
        .hs()
        .args([
            "run",
            "--rm",
            "-i",
            &rootfs(),
            "sh",
            "-c",
            "read x; echo got-$x",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-piped\n");
}

#[test]
fn logs_timestamps_are_rfc3339_with_nanoseconds() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[&rootfs(), "echo", "stamped"]);
    assert_eq!(world.ok(&["wait", &id]), "0\n");
    let out = world.ok(&["logs", "-t", &id]);
    let (stamp, text) = out.trim_end().split_once(' ').unwrap();
    assert_eq!(text, "stamped");
    let fraction = stamp.split('.').nth(1).unwrap_or("");
    assert_eq!(fraction.trim_end_matches('Z').len(), 9, "{stamp}");
    assert!(chrono_like(stamp), "{stamp}");
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
fn chrono_like(stamp: &str) -> bool {
    let b = stamp.as_bytes();
    b.len() == 30 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[29] == b'Z'
}

#[test]
fn sigint_to_a_foreground_run_reaches_the_command() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let script = "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done";
    let child = world
        .hs()
        .args(["run", "--name", "fg", &rootfs(), "sh", "-c", script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || world
        .run(&["logs", "fg"])
        .1
        .contains("ready")));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\ngot-int\n");
}

#[test]
fn read_only_keeps_the_root_from_writes_but_tmp_volumes_and_tmpfs_take_them() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let volume = hs_tests::tempdir_in_target("ro-volume");
    let spec = format!("{}:/data", volume.path().display());
    let script = "touch /etc/x 2>/dev/null || echo root-ro; touch /tmp/t && echo tmp; \
                  touch /data/v && echo volume; ls -A /cache | wc -l; touch /cache/c && echo tmpfs";
    let out = world.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/cache",
        "-v",
        &spec,
        &rootfs(),
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out, "root-ro\ntmp\nvolume\n0\ntmpfs\n");
    assert!(volume.path().join("v").exists());
}

#[test]
fn read_only_and_tmpfs_are_recorded_and_shown_by_inspect() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[
        "--read-only",
        "--tmpfs",
        "/cache",
        &rootfs(),
        "sleep",
        "1000",
    ]);
    let host = &world.inspect(&id)["HostConfig"];
    assert_eq!(host["ReadonlyRootfs"], serde_json::json!(true));
    assert_eq!(host["Tmpfs"], serde_json::json!({"/cache": ""}));
    // hs exec sees the same read-only root.
    let out = world.ok(&["exec", &id, "sh", "-c", "touch /x 2>/dev/null || echo ro"]);
    assert_eq!(out, "ro\n");
}

#[test]
fn a_relative_tmpfs_path_is_refused_and_nothing_is_created() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let result = world.run(&["run", "--rm", "--tmpfs", "cache", &rootfs(), "true"]);
    hs_tests::assert_tool_error(&result, "hs", "invalid --tmpfs \"cache\"");
    assert!(world.containers().is_empty());
}

#[test]
fn log_opt_max_size_and_max_file_keep_the_log_to_its_size() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=2",
        &rootfs(),
        "sh",
        "-c",
        "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    assert!(world.wait_state(&id, "exited"), "{}", world.state(&id));
    let inspect = world.inspect(&id);
    assert_eq!(
        inspect["HostConfig"]["LogConfig"]["Config"],
        serde_json::json!({"max-size": "4096", "max-file": "2"})
    );
    let log = std::path::PathBuf::from(inspect["LogPath"].as_str().unwrap());
    let rotated = |n: u32| std::path::PathBuf::from(format!("{}.{n}", log.display()));
    assert!(rotated(1).is_file());
    assert!(!rotated(2).exists());
    for file in [log.clone(), rotated(1)] {
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size < 4096 + 100, "{}: {size} bytes", file.display());
    }
    // What is kept is the end of the output, without a gap between files.
    let out = world.ok(&["logs", &id]);
    let numbers: Vec<u32> = out
        .lines()
        .map(|l| l.trim_start_matches("line-").parse().unwrap())
        .collect();
    assert_eq!(numbers.last(), Some(&399));
    assert!(numbers[0] > 0, "nothing was rotated away: {out}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{out}");
}

#[test]
fn a_bad_log_opt_is_refused_and_nothing_is_created() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    for opt in ["max-size=0", "max-file=3", "mode=non-blocking"] {
        let result = world.run(&["run", "--rm", "--log-opt", opt, &rootfs(), "echo", "ran"]);
        hs_tests::assert_tool_error(&result, "hs", "invalid --log-opt");
        assert_eq!(result.1, "");
    }
    assert!(world.containers().is_empty(), "{:?}", world.containers());
}
