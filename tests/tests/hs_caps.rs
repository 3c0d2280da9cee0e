//! The container's capabilities: podman's default set, adjusted by
//! `--cap-add` / `--cap-drop`, every one with `--privileged`; `hs exec`
//! gets the container's.

mod hs_support;

use hs_support::*;

/// What `grep CapEff /proc/self/status` shows in a podman container.
const DEFAULT_CAPS: u64 = 0x8004_05fb;
const CAP_CHOWN: u64 = 1 << 0;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// The CapEff mask in `grep ^CapEff` output.
fn cap_eff(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap_or_default();
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16)
        .unwrap_or_else(|_| panic!("no CapEff line in {out:?}"))
}

fn own_caps() -> u64 {
    cap_eff(&std::fs::read_to_string("/proc/self/status").unwrap())
}

const SHOW_CAPS: [&str; 3] = ["grep", "^CapEff", "/proc/self/status"];

#[test]
fn a_container_gets_the_default_capabilities_and_root_inside_cannot_mount() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let script =
        "grep ^CapEff /proc/self/status; mount -t tmpfs t /mnt 2>/dev/null || echo refused";
    let out = world.ok(&["run", "--rm", &rootfs(), "sh", "-c", script]);
    assert_eq!(cap_eff(&out), DEFAULT_CAPS);
    assert!(out.ends_with("refused\n"), "{out}");
}

#[test]
fn a_host_mirror_gets_the_default_capabilities_too() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&[&["run", "--rm"][..], &SHOW_CAPS].concat());
    assert_eq!(cap_eff(&out), DEFAULT_CAPS);
}

#[test]
fn cap_drop_and_cap_add_adjust_the_default_set() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let script = "grep ^CapEff /proc/self/status; mount -t tmpfs t /mnt && echo mounted; \
                  touch /tmp/f; chown 1 /tmp/f 2>/dev/null || echo no-chown";
    let out = world.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "chown",
        "--cap-add",
        "CAP_SYS_ADMIN",
        &rootfs(),
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(cap_eff(&out), (DEFAULT_CAPS & !CAP_CHOWN) | CAP_SYS_ADMIN);
    assert!(out.ends_with("mounted\nno-chown\n"), "{out}");
}

#[test]
fn cap_drop_all_leaves_root_inside_no_capability() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&[
        &["run", "--rm", "--cap-drop", "ALL", &rootfs()][..],
        &SHOW_CAPS,
    ]
    .concat());
    assert_eq!(cap_eff(&out), 0);
}

#[test]
fn privileged_gives_the_command_every_capability_hs_has() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&[&["run", "--rm", "--privileged", &rootfs()][..], &SHOW_CAPS].concat());
    assert_eq!(cap_eff(&out), own_caps());
}

#[test]
fn exec_gets_the_containers_capabilities_unless_privileged() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&["--cap-add", "SYS_ADMIN", &rootfs(), "sleep", "1000"]);
    let exec =
        |extra: &[&str]| world.ok(&[&["exec"][..], extra, &[id.as_str()], &SHOW_CAPS].concat());
    assert_eq!(cap_eff(&exec(&[])), DEFAULT_CAPS | CAP_SYS_ADMIN);
    assert_eq!(cap_eff(&exec(&["--privileged"])), own_caps());
    // PID 1 (hs-unshare's init) holds no more than the command does.
    let pid1 = world.ok(&["exec", &id, "grep", "^CapEff", "/proc/1/status"]);
    assert_eq!(cap_eff(&pid1), DEFAULT_CAPS | CAP_SYS_ADMIN);
}

#[test]
fn an_unknown_capability_is_refused_and_nothing_is_created() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    for flag in ["--cap-add", "--cap-drop"] {
        let result = world.run(&[
            "run",
            "--rm",
            flag,
            "KILL,SYS_WIZARD",
            &rootfs(),
            "echo",
            "ran",
        ]);
        hs_tests::assert_tool_error(&result, "hs", &format!("invalid {flag} \"SYS_WIZARD\""));
        assert_eq!(result.1, "");
    }
    assert!(world.containers().is_empty(), "{:?}", world.containers());
}

#[test]
fn inspect_shows_the_capability_flags_as_given() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let id = world.detach(&[
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        &rootfs(),
        "sleep",
        "1000",
    ]);
    let host = &world.inspect(&id)["HostConfig"];
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["CapAdd"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(host["Privileged"], serde_json::json!(false));
}

const SHOW_NO_NEW_PRIVS: [&str; 3] = ["grep", "^NoNewPrivs", "/proc/self/status"];

#[test]
fn security_opt_no_new_privileges_holds_for_the_command_and_exec() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let run = world.ok(&[
        &[
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges:true",
            &rootfs(),
        ][..],
        &SHOW_NO_NEW_PRIVS,
    ]
    .concat());
    assert_eq!(run, "NoNewPrivs:\t1\n");
    let id = world.detach(&[
        "--security-opt",
        "no-new-privileges",
        &rootfs(),
        "sleep",
        "1000",
    ]);
    let exec = world.ok(&[&["exec", id.as_str()][..], &SHOW_NO_NEW_PRIVS].concat());
    assert_eq!(exec, "NoNewPrivs:\t1\n");
    assert_eq!(
        world.inspect(&id)["HostConfig"]["SecurityOpt"],
        serde_json::json!(["no-new-privileges"])
    );
}

#[test]
fn without_security_opt_the_command_may_gain_privileges_by_exec() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let out = world.ok(&[&["run", "--rm", &rootfs()][..], &SHOW_NO_NEW_PRIVS].concat());
    assert_eq!(out, "NoNewPrivs:\t0\n");
}

#[test]
fn an_unsupported_security_opt_is_refused_and_nothing_is_created() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    for opt in ["seccomp=unconfined", "no-new-privileges:maybe"] {
        let result = world.run(&[
            "run",
            "--rm",
            "--security-opt",
            opt,
            &rootfs(),
            "echo",
            "ran",
        ]);
        hs_tests::assert_tool_error(&result, "hs", &format!("invalid --security-opt \"{opt}\""));
        assert_eq!(result.1, "");
    }
    assert!(world.containers().is_empty(), "{:?}", world.containers());
}
