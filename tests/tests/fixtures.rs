//! The fixtures themselves: the busybox rootfs runs, and the cgroup
//! discovery finds this test's own cgroups.

use std::process::Command;

#[test]
fn busybox_rootfs_has_a_working_shell_with_relative_links() {
    if !hs_tests::require_root() {
        return;
    }
    let root = hs_tests::busybox_rootfs();
    let link = std::fs::read_link(root.join("bin/ls")).unwrap();
    assert!(
        !link.starts_with(&root),
        "link points at the build path: {link:?}"
    );
    let out = hs_tests::run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["/bin/sh", "-c", "echo ok"]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

#[test]
fn own_cgroup_dirs_include_every_mounted_hierarchy() {
    let dirs = hs_tests::own_cgroup_dirs();
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" - cgroup"))
        .count();
    assert_eq!(dirs.len(), mounted, "{dirs:?}");
    for dir in dirs {
        assert!(dir.join("cgroup.procs").exists(), "{}", dir.display());
    }
}
