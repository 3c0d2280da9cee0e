//! `hs` refuses bad input with one line and 125, before creating anything;
//! `--dry-run` prints the chain and creates nothing.

mod hs_support;

use hs_support::*;

/// Nothing under HS_ROOT but what reading may leave (no record, no name),
/// and no cgroup under the test's parent.
fn assert_nothing_created(world: &World) {
    assert!(
        world.containers().is_empty(),
        "records left: {:?}",
        world.containers()
    );
    let names = world.env.root().join("names");
    let left = std::fs::read_dir(&names).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "names left in {}", names.display());
    hs_tests::assert_no_cgroups(&world.env.cgroup_parent);
}

fn assert_refused(args: &[&str], needle: &str) {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let result = world.run(args);
    hs_tests::assert_tool_error(&result, "hs", needle);
    assert_nothing_created(&world);
}

#[test]
fn bad_memory_size_is_refused() {
    assert_refused(&["run", "-m", "12Q", &rootfs(), "true"], "--memory");
}

#[test]
fn volume_with_missing_source_is_refused() {
    assert_refused(
        &["run", "-v", "/nonexistent/hs-src:/data", &rootfs(), "true"],
        "/nonexistent/hs-src",
    );
}

#[test]
fn malformed_volume_is_refused() {
    assert_refused(&["run", "-v", "/tmp", &rootfs(), "true"], "invalid volume");
}

#[test]
fn bad_container_name_is_refused() {
    assert_refused(
        &["run", "--name", "bad/name", &rootfs(), "true"],
        "bad/name",
    );
}

#[test]
fn missing_env_file_is_refused() {
    assert_refused(
        &["run", "--env-file", "/nonexistent/env", &rootfs(), "true"],
        "/nonexistent/env",
    );
}

#[test]
fn bad_cpuset_is_refused() {
    assert_refused(
        &["run", "--cpuset-cpus", "0-x", &rootfs(), "true"],
        "--cpuset-cpus",
    );
}

#[test]
fn unknown_image_is_refused() {
    assert_refused(
        &["run", "--image", "no-such-image", "true"],
        "no such image",
    );
}

#[test]
fn unknown_flag_is_refused() {
    assert_refused(&["run", "--bogus", "true"], "--bogus");
}

#[test]
fn unknown_container_is_refused_by_every_command() {
    for command in [
        "stop", "start", "kill", "rm", "wait", "attach", "logs", "diff", "top",
    ] {
        assert_refused(
            &[command, "no-such-container"],
            "no such container: no-such-container",
        );
    }
    assert_refused(&["exec", "no-such-container", "true"], "no such container");
}

#[test]
fn dry_run_prints_the_chain_and_creates_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&[
        "run",
        "--dry-run",
        "-m",
        "64M",
        &rootfs(),
        "sh",
        "-c",
        "echo 'a b'",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "one step a line: {out}");
    let tools: Vec<&str> = lines
        .iter()
        .map(|l| {
            let first = l.split_whitespace().next().unwrap();
            first.rsplit('/').next().unwrap()
        })
        .collect();
    assert_eq!(tools, ["hs-pty", "hs-cgroup", "hs-overlay", "hs-unshare"]);
    assert!(lines[1].contains("--memory 67108864"), "{out}");
    assert!(lines[3].ends_with("-- sh -c 'echo '\\''a b'\\'''"), "{out}");
    assert!(!world.env.root().join("containers").exists());
    assert_nothing_created(&world);
}

#[test]
fn completion_scripts_are_generated_for_each_shell() {
    let world = World::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = world.ok(&["completion", shell]);
        assert!(out.contains("hs"), "{shell}: {out}");
        assert!(
            out.contains("dry-run"),
            "{shell} completion lacks run's flags"
        );
    }
}

#[test]
fn man_pages_are_written_for_hs_and_its_commands() {
    let world = World::new();
    let dir = hs_tests::tempdir_in_target("man");
    world.ok(&["man", "--out", dir.path().to_str().unwrap()]);
    for page in ["hs.1", "hs-run.1", "hs-ps.1", "hs-exec.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    assert!(!dir.path().join("hs-cleanup.1").exists());
}
