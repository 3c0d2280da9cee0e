//! `hs` on the host mirror: writes stay in the container, `rm -rf /usr`
//! inside leaves the host whole, `$HS_ROOT` under /var is hidden, and a
//! restart keeps the container's changes.

mod hs_support;

use std::path::Path;

use hs_support::*;

#[test]
fn writes_inside_a_host_mirror_never_reach_the_host() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let tag = hs_tests::unique("hs-leak");
    let paths = [
        format!("/etc/{tag}"),
        format!("/usr/{tag}"),
        format!("/var/{tag}"),
        format!("/root/{tag}"),
        format!("/opt/{tag}"),
    ];
    let script = paths
        .iter()
        .map(|p| format!("echo x > {p}"))
        .collect::<Vec<_>>()
        .join(" && ")
        + " && echo changed >> /etc/hostname && cat /etc/hs-nothing 2>/dev/null; ls /etc/"
        + &tag;
    let hostname_before = std::fs::read("/etc/hostname").unwrap();
    let (code, out, err) = world.run(&["run", "--rm", "sh", "-c", &script]);
    assert_eq!(code, 0, "stdout: {out} stderr: {err}");
    assert_eq!(out.trim(), format!("/etc/{tag}"));
    for path in &paths {
        assert!(!Path::new(path).exists(), "{path} reached the host");
    }
    assert_eq!(std::fs::read("/etc/hostname").unwrap(), hostname_before);
}

#[test]
fn rm_rf_usr_inside_leaves_the_hosts_usr_intact() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let watched = Path::new("/usr/share/base-files");
    let before = hs_tests::tree_digest(watched);
    let count_before = std::fs::read_dir("/usr/bin").unwrap().count();
    // Refuse to rm anything unless /usr in the container is an overlay:
    // a broken mirror must not take the test machine's /usr with it.
    let script = "grep -q '^[^ ]* /usr overlay ' /proc/self/mounts || exit 99; \
                  rm -rf /usr 2>/dev/null; \
                  if [ -e /usr/bin/env ]; then echo present; else echo gone; fi";
    let (code, out, err) = world.run(&["run", "--rm", "/bin/sh", "-c", script]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out.trim(), "gone");
    assert_eq!(hs_tests::tree_digest(watched), before);
    assert_eq!(std::fs::read_dir("/usr/bin").unwrap().count(), count_before);
}

#[test]
fn hs_root_under_var_is_hidden_inside_the_mirror() {
    if !hs_tests::require_root() {
        return;
    }
    std::fs::create_dir_all("/var/tmp").unwrap();
    let world = World::with_root(Path::new("/var/tmp"));
    let root = world.env.root().to_string_lossy().into_owned();
    let (code, out, err) = world.run(&[
        "run",
        "--rm",
        "sh",
        "-c",
        &format!("ls -A {root} | wc -l; echo ok > /var/tmp/inside"),
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out.trim(), "0", "HS_ROOT is visible inside: {out}");
    hs_tests::assert_no_mounts_under(world.env.root());
}

#[test]
fn start_of_a_stopped_mirror_keeps_its_changes() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let tag = hs_tests::unique("hs-keep");
    let id = world.detach(&["sleep", "1000"]);
    world.ok(&["exec", &id, "sh", "-c", &format!("echo kept > /etc/{tag}")]);
    world.ok(&["stop", "-t", "0", &id]);
    world.ok(&["start", &id]);
    assert_eq!(
        world.ok(&["exec", &id, "cat", &format!("/etc/{tag}")]),
        "kept\n"
    );
    assert!(!Path::new(&format!("/etc/{tag}")).exists());
    let diff = world.ok(&["diff", &id]);
    assert!(diff.lines().any(|l| l == format!("A /etc/{tag}")), "{diff}");
}

#[test]
fn host_mirror_shows_host_in_the_image_column() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["sleep", "1000"]);
    assert_eq!(
        world.ok(&["ps", "--format", "{{.Image}} {{.Command}}"]),
        "host \"sleep 1000\"\n"
    );
    world.ok(&["rm", "-f", &id]);
    hs_tests::assert_no_mounts_under(world.env.root());
}

#[test]
fn plain_hs_run_on_a_terminal_is_a_login_shell_that_exit_stops() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let argv = vec![hs_bin(), "run".into(), "--name".into(), "shell".into()];
    let out = pty_session(&world, &argv, "#", "echo in-$((40+2)); exit 3\n", None);
    assert!(out.contains("in-42"), "{out}");
    assert!(out.contains("exit=3"), "{out}");
    assert!(world.wait_state("shell", "exited"));
}
