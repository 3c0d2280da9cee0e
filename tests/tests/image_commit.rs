//! hs-image commit: a container's upper dir becomes a layer on top of its
//! image (whiteouts and opaque dirs carried over), or, for a host mirror,
//! an image of the diff alone.

mod image_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use hs_tests::{assert_tool_error, run, run_ok, Env};
use image_support::*;

fn base(env: &Env, dir: &Path, name: &str) {
    image_ok(
        env,
        &["import", rootfs_tar(dir, false).to_str().unwrap(), name],
    );
}

#[test]
fn committed_changes_show_in_a_run_of_the_new_image() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("commit");
    base(&env, dir.path(), "base");
    let container = dir.path().join("c1");
    let (code, _, err) = run_in_image_at(
        &lowerdirs(&env, "base"),
        &container,
        "echo added > /etc/added && rm /etc/hostname && rm -rf /usr/bin && mkdir /usr/bin && echo x > /usr/bin/fresh",
    );
    assert_eq!(code, 0, "{err}");
    let upper = container.join("upper");
    image_ok(
        &env,
        &[
            "commit",
            upper.to_str().unwrap(),
            "committed:v1",
            "--parent",
            "base",
        ],
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&image_ok(&env, &["inspect", "committed:v1"])).unwrap();
    assert_eq!(inspect["layers"].as_array().unwrap().len(), 2);
    let (code, out, err) = run_in_image(
        &lowerdirs(&env, "committed:v1"),
        "cat /etc/added; test -e /etc/hostname || echo no-hostname; ls /usr/bin",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "added\nno-hostname\nfresh\n");
}

#[test]
fn committed_layer_keeps_deletions_and_opaque_dirs() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("commit");
    base(&env, dir.path(), "base");
    let container = dir.path().join("c1");
    let (code, _, err) = run_in_image_at(
        &lowerdirs(&env, "base"),
        &container,
        "rm /etc/hostname && rm -rf /usr/bin && mkdir /usr/bin",
    );
    assert_eq!(code, 0, "{err}");
    image_ok(
        &env,
        &[
            "commit",
            container.join("upper").to_str().unwrap(),
            "wh",
            "--parent",
            "base",
        ],
    );
    // The layer went through a tar with `.wh.` entries and came back as
    // overlayfs whiteouts and opaque dirs.
    let top = PathBuf::from(lowerdirs(&env, "wh").split(':').next().unwrap());
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let whiteout = std::fs::symlink_metadata(top.join("etc/hostname")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(top.join("usr/bin").is_dir());
    assert_eq!(
        xattr_of(&top.join("usr/bin"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert_eq!(std::fs::read_dir(top.join("usr/bin")).unwrap().count(), 0);
}

#[test]
fn a_run_of_the_committed_image_starts_with_no_diff() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("commit");
    base(&env, dir.path(), "base");
    let first = dir.path().join("first");
    let (code, _, err) =
        run_in_image_at(&lowerdirs(&env, "base"), &first, "echo changed > /etc/motd");
    assert_eq!(code, 0, "{err}");
    image_ok(
        &env,
        &[
            "commit",
            first.join("upper").to_str().unwrap(),
            "next",
            "--parent",
            "base",
        ],
    );
    let second = dir.path().join("second");
    let (code, out, err) = run_in_image_at(&lowerdirs(&env, "next"), &second, "cat /etc/motd");
    assert_eq!((code, out.as_str()), (0, "changed\n"), "{err}");
    let diff = run_ok(
        Command::new(hs_tests::bin("hs-overlay"))
            .arg("diff")
            .arg(second.join("upper")),
    );
    assert!(
        diff.stdout.is_empty(),
        "new container has a diff: {}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

#[test]
fn host_mirror_commit_is_the_diff_alone() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("commit");
    // A host-mirror upper: one subdir per mirrored top-level dir.
    let upper = dir.path().join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/only-in-container"), "mine\n").unwrap();
    image_ok(&env, &["commit", upper.to_str().unwrap(), "hostdiff"]);
    let lowers = lowerdirs(&env, "hostdiff");
    assert!(!lowers.contains(':'), "more than one layer: {lowers}");
    let layer = PathBuf::from(&lowers);
    assert_eq!(
        std::fs::read_to_string(layer.join("etc/only-in-container")).unwrap(),
        "mine\n"
    );
    let top: Vec<_> = std::fs::read_dir(&layer)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(top, vec![std::ffi::OsString::from("etc")]);
    assert_eq!(std::fs::read_dir(layer.join("etc")).unwrap().count(), 1);
}

#[test]
fn commit_of_a_missing_upper_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let result = run(hs_image(&env).args(["commit", "/nonexistent/upper", "x"]));
    assert_tool_error(&result, "hs-image", "/nonexistent/upper");
    assert_store_empty(&env);
}

#[test]
fn commit_onto_an_unknown_parent_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("commit");
    let result = run(hs_image(&env)
        .arg("commit")
        .arg(dir.path())
        .args(["x", "--parent", "nope"]));
    assert_tool_error(&result, "hs-image", "no such image: nope");
    assert_store_empty(&env);
}
