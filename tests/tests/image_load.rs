//! hs-image load: docker save archives and OCI layouts (dir, tar, tar.gz),
//! a two-layer image with a whiteout and an opaque dir, and broken input.

mod image_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use hs_tests::{assert_tool_error, busybox_rootfs, run, run_ok, Env};
use image_support::*;
use tar::EntryType;

/// Layer 2 of the two-layer image: deletes /etc/hostname and replaces
/// /usr/bin (opaque) with a dir holding only `only-this`.
fn upper_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, EntryType::Directory, "etc/", "", b"");
    raw_entry(&mut b, EntryType::Regular, "etc/.wh.hostname", "", b"");
    raw_entry(&mut b, EntryType::Directory, "usr/", "", b"");
    raw_entry(&mut b, EntryType::Directory, "usr/bin/", "", b"");
    raw_entry(&mut b, EntryType::Regular, "usr/bin/.wh..wh..opq", "", b"");
    raw_entry(
        &mut b,
        EntryType::Regular,
        "usr/bin/only-this",
        "",
        b"new\n",
    );
    b.into_inner().unwrap()
}

fn two_layer_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("two-layer");
    let image = OciImage {
        arch: "amd64",
        layers: vec![tar_of_dir(&busybox_rootfs()), upper_layer()],
        gzip: false,
        cmd: vec!["/bin/sh"],
    };
    write_oci_layout(&layout, &[image], "v1");
    layout
}

fn load(env: &Env, input: &Path, name: Option<&str>) -> Vec<serde_json::Value> {
    let mut cmd = hs_image(env);
    cmd.arg("load").arg("-i").arg(input);
    if let Some(name) = name {
        cmd.arg(name);
    }
    let out = run_ok(&mut cmd);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn oci_layout_dir_loads_and_runs() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    let loaded = load(&env, &layout, Some("local/bb"));
    assert_eq!(loaded[0]["refs"][0], "local/bb:v1");
    let (code, out, err) = run_in_image(
        &lowerdirs(&env, "local/bb:v1"),
        "echo hello from $(cat /etc/hostname)",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hello from busybox\n");
}

#[test]
fn oci_archive_tar_and_tar_gz_load() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    let tar = dir.path().join("oci.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    let tgz = dir.path().join("oci-archive.data");
    std::fs::write(&tgz, gzip_bytes(&std::fs::read(&tar).unwrap())).unwrap();
    let a = load(&env, &tar, Some("from-tar"));
    let b = load(&env, &tgz, Some("from-tgz:x"));
    assert_eq!(a[0]["id"], b[0]["id"]);
    assert_eq!(
        lowerdirs(&env, "from-tar:v1"),
        lowerdirs(&env, "from-tgz:x")
    );
}

#[test]
fn docker_save_archive_loads_with_its_repo_tags() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    let archive = dir.path().join("saved.tar");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker-archive:{}:saved/bb:v3", archive.display()),
    ]));
    let listing =
        String::from_utf8_lossy(&run_ok(Command::new("tar").arg("-tf").arg(&archive)).stdout)
            .into_owned();
    assert!(
        listing.lines().any(|l| l == "manifest.json"),
        "not a docker save archive: {listing}"
    );
    let loaded = load(&env, &archive, None);
    assert_eq!(loaded.len(), 1);
    let (code, out, err) = run_in_image(&lowerdirs(&env, "saved/bb:v3"), "cat /etc/hostname");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "busybox\n");
}

#[test]
fn two_layer_image_applies_whiteout_and_opaque_dir() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let layout = two_layer_layout(dir.path());
    load(&env, &layout, Some("two"));
    let lowers = lowerdirs(&env, "two:v1");
    let top = PathBuf::from(lowers.split(':').next().unwrap());
    // On disk, overlayfs' own forms: a 0/0 char device and the opaque xattr.
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let whiteout = std::fs::symlink_metadata(top.join("etc/hostname")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert_eq!(
        xattr_of(&top.join("usr/bin"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    // Through the overlay: the file is gone, the dir holds only the new file.
    let (code, out, err) = run_in_image(
        &lowers,
        "ls /usr/bin; test -e /etc/hostname || echo no-hostname; ls /bin | grep -c .",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "only-this", "{out}");
    assert_eq!(lines[1], "no-hostname", "{out}");
    assert!(
        lines[2].parse::<u32>().unwrap() > 100,
        "lower /bin lost: {out}"
    );
}

#[test]
fn export_of_two_layer_image_is_the_merged_view() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    load(&env, &two_layer_layout(dir.path()), Some("two"));
    let tar = dir.path().join("flat.tar");
    image_ok(&env, &["export", "two:v1", "-o", tar.to_str().unwrap()]);
    let listing = String::from_utf8_lossy(&run_ok(Command::new("tar").arg("-tf").arg(&tar)).stdout)
        .into_owned();
    let names: Vec<&str> = listing.lines().map(|l| l.trim_end_matches('/')).collect();
    assert!(names.contains(&"usr/bin/only-this"));
    assert!(names.contains(&"bin/busybox"));
    assert!(!names.contains(&"etc/hostname"), "deleted file exported");
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "whiteout markers in a flat export"
    );
    assert_eq!(
        names.iter().filter(|n| n.starts_with("usr/bin/")).count(),
        1,
        "{listing}"
    );
}

#[test]
fn layers_already_stored_are_not_extracted_again() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let single = dir.path().join("single");
    busybox_layout(&single, "v1");
    load(&env, &single, Some("base"));
    let base_layer = PathBuf::from(lowerdirs(&env, "base:v1"));
    let marker = base_layer.join("marker-from-first-load");
    std::fs::write(&marker, "").unwrap();
    // The same busybox layer (uncompressed this time) is the lower layer of
    // the two-layer image: its diff id matches, so it is reused as is.
    load(&env, &two_layer_layout(dir.path()), Some("two"));
    let lowers = lowerdirs(&env, "two:v1");
    assert_eq!(
        lowers.split(':').nth(1).map(PathBuf::from),
        Some(base_layer)
    );
    assert!(marker.exists());
}

#[test]
fn corrupted_blob_in_a_layout_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    // Flip a byte in the layer blob (the biggest blob).
    let blobs = layout.join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&biggest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&biggest, bytes).unwrap();
    let result = run(hs_image(&env).arg("load").arg("-i").arg(&layout).arg("bad"));
    assert_tool_error(&result, "hs-image", "digest mismatch");
    assert_store_empty(&env);
}

#[test]
fn archive_without_manifest_or_index_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let tar = dir.path().join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(busybox_rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg("./etc"),
    );
    let result = run(hs_image(&env).arg("load").arg("-i").arg(&tar));
    assert_tool_error(&result, "hs-image", "no manifest.json or index.json");
    assert_store_empty(&env);
}

#[test]
fn junk_is_not_a_loadable_archive() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("load");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "{}\n".repeat(400)).unwrap();
    let result = run(hs_image(&env).arg("load").arg("-i").arg(&junk));
    assert_tool_error(&result, "hs-image", "not an image archive");
    assert_store_empty(&env);
}
