//! hs-image pull against a real registry (Debian's docker-registry) on
//! 127.0.0.1, with images pushed by skopeo.

mod image_support;

use std::path::Path;
use std::sync::atomic::Ordering;

use hs_tests::{assert_tool_error, run, Env};
use image_support::*;

fn pull(env: &Env, reference: &str) -> serde_json::Value {
    let out = image_ok(env, &["pull", "--insecure", reference]);
    serde_json::from_str(out.trim()).unwrap()
}

/// The digests of the layer blobs of the layout's single image.
fn layer_digests(layout: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = layout
        .join("blobs/sha256")
        .join(manifest.trim_start_matches("sha256:"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pulled_image_runs() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    registry.push(&layout, "v1", "test/bb:v1");
    let reference = registry.reference("test/bb:v1");
    let pulled = pull(&env, &reference);
    assert_eq!(pulled["reference"], reference);
    assert_eq!(pulled["downloaded"], 1);
    let (code, out, err) = run_in_image(&lowerdirs(&env, &reference), "cat /etc/hostname");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "busybox\n");
}

#[test]
fn second_pull_downloads_no_layer() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    registry.push(&layout, "v1", "test/again:v1");
    let layer = &layer_digests(&layout)[0];
    let reference = registry.reference("test/again:v1");
    pull(&env, &reference);
    let fetched = registry.blob_gets("test/again", layer);
    assert_eq!(fetched, 1, "first pull fetched the layer {fetched} times");
    let second = pull(&env, &reference);
    assert_eq!(second["downloaded"], 0);
    assert_eq!(
        registry.blob_gets("test/again", layer),
        1,
        "layer downloaded again"
    );
}

#[test]
fn pull_by_digest() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    registry.push(&layout, "v1", "test/dig:v1");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let reference = registry.reference(&format!("test/dig@{digest}"));
    let pulled = pull(&env, &reference);
    assert_eq!(pulled["digest"], digest);
    let listed = image_ok(&env, &["ls"]);
    let line: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(line["digest"], digest);
    assert!(!lowerdirs(&env, &reference).is_empty());
}

#[test]
fn multi_platform_index_resolves_to_amd64() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    let arm = {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(
            &mut b,
            tar::EntryType::Regular,
            "arch-arm64",
            "",
            b"arm64\n",
        );
        b.into_inner().unwrap()
    };
    let images = [
        OciImage {
            arch: "arm64",
            layers: vec![arm],
            gzip: true,
            cmd: vec!["/bin/false"],
        },
        OciImage {
            arch: "amd64",
            layers: vec![tar_of_dir(&hs_tests::busybox_rootfs())],
            gzip: true,
            cmd: vec!["/bin/sh"],
        },
    ];
    write_oci_layout(&layout, &images, "multi");
    registry.push(&layout, "multi", "test/multi:v1");
    let reference = registry.reference("test/multi:v1");
    pull(&env, &reference);
    let inspect: serde_json::Value =
        serde_json::from_str(&image_ok(&env, &["inspect", &reference])).unwrap();
    assert_eq!(inspect["config"]["architecture"], "amd64");
    let layer = std::path::PathBuf::from(lowerdirs(&env, &reference));
    assert!(layer.join("bin/busybox").is_file());
    assert!(!layer.join("arch-arm64").exists());
}

#[test]
fn pull_through_bearer_token_auth() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let tokens = TokenServer::start("test/secure");
    let registry = Registry::start_with(&tokens.registry_config());
    // Without a token the registry refuses.
    assert!(
        http_status(&registry.addr, "/v2/").contains(" 401 "),
        "registry does not require auth"
    );
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    registry.push(&layout, "v1", "test/secure:v1");
    let before = tokens.requests.load(Ordering::SeqCst);
    let reference = registry.reference("test/secure:v1");
    pull(&env, &reference);
    assert!(
        tokens.requests.load(Ordering::SeqCst) > before,
        "pull asked for no token"
    );
    assert!(std::path::PathBuf::from(lowerdirs(&env, &reference))
        .join("bin/busybox")
        .is_file());
}

#[test]
fn missing_tag_is_a_clear_error() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    registry.push(&layout, "v1", "test/tagged:v1");
    let result = run(hs_image(&env).args([
        "pull",
        "--insecure",
        &registry.reference("test/tagged:nope"),
    ]));
    assert_tool_error(&result, "hs-image", "manifest unknown");
    assert_store_empty(&env);
}

#[test]
fn corrupted_blob_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    registry.push(&layout, "v1", "test/corrupt:v1");
    let stored = registry.blob_path(&layer_digests(&layout)[0]);
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let result =
        run(hs_image(&env).args(["pull", "--insecure", &registry.reference("test/corrupt:v1")]));
    assert_tool_error(&result, "hs-image", "digest mismatch");
    assert_store_empty(&env);
}

#[test]
fn bad_reference_is_refused_before_any_request() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let result = run(hs_image(&env).args(["pull", "--insecure", "127.0.0.1:1/UPPER:tag"]));
    assert_tool_error(&result, "hs-image", "invalid reference");
    assert_store_empty(&env);
}

/// The status line of a plain `GET path` without credentials.
fn http_status(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().unwrap_or_default().to_string()
}

#[test]
fn layer_escaping_its_dir_is_refused_on_pull() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    let evil = {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Symlink, "out", "/tmp", b"");
        raw_entry(
            &mut b,
            tar::EntryType::Regular,
            "out/hs-pulled-evil",
            "",
            b"x",
        );
        b.into_inner().unwrap()
    };
    let image = OciImage {
        arch: "amd64",
        layers: vec![evil],
        gzip: true,
        cmd: vec!["/bin/sh"],
    };
    write_oci_layout(&layout, &[image], "v1");
    registry.push(&layout, "v1", "test/evil:v1");
    let result =
        run(hs_image(&env).args(["pull", "--insecure", &registry.reference("test/evil:v1")]));
    assert_tool_error(&result, "hs-image", "a parent is a symlink");
    assert!(!Path::new("/tmp/hs-pulled-evil").exists());
    assert_store_empty(&env);
}
