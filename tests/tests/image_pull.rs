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
    let pushed = push_busybox("test/bb:v1");
    let reference = &pushed.reference;
    let pulled = pull(&env, reference);
    assert_eq!(pulled["reference"], *reference);
    assert_eq!(pulled["downloaded"], 1);
    let (code, out, err) = run_in_image(&lowerdirs(&env, reference), "cat /etc/hostname");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "busybox\n");
}

#[test]
fn second_pull_downloads_no_layer() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/again:v1");
    let layer = &layer_digests(&pushed.layout)[0];
    let reference = &pushed.reference;
    pull(&env, reference);
    let fetched = pushed.registry.blob_gets("test/again", layer);
    assert_eq!(fetched, 1, "first pull fetched the layer {fetched} times");
    let second = pull(&env, reference);
    assert_eq!(second["downloaded"], 0);
    assert_eq!(
        pushed.registry.blob_gets("test/again", layer),
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
    let pushed = push_busybox("test/dig:v1");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pushed.layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let reference = pushed.registry.reference(&format!("test/dig@{digest}"));
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
    let pushed = push_busybox("test/tagged:v1");
    let result = run(hs_image(&env).args([
        "pull",
        "--insecure",
        &pushed.registry.reference("test/tagged:nope"),
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
    let pushed = push_busybox("test/corrupt:v1");
    let stored = pushed.registry.blob_path(&layer_digests(&pushed.layout)[0]);
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let result = run(hs_image(&env).args(["pull", "--insecure", &pushed.reference]));
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

/// What `inspect` says of the image.
fn inspect(env: &Env, image: &str) -> serde_json::Value {
    serde_json::from_str(&image_ok(env, &["inspect", image])).unwrap()
}

/// The entries of a store subdir (`layers`, `blobs/sha256`, `tmp`).
fn store_entries(env: &Env, sub: &str) -> Vec<String> {
    std::fs::read_dir(env.root().join("images").join(sub))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A refused unpack left no layer dir and no staging dir.
fn assert_nothing_unpacked(env: &Env) {
    assert!(store_entries(env, "layers").is_empty());
    assert!(store_entries(env, "tmp").is_empty());
}

#[test]
fn pulled_layer_stays_packed_until_its_first_use() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/lazy:v1");
    let blob = layer_digests(&pushed.layout)[0].replace("sha256:", "");
    let reference = &pushed.reference;
    pull(&env, reference);
    let diff_ids = inspect(&env, reference)["layers"].clone();
    assert_eq!(inspect(&env, reference)["packed"], diff_ids);
    assert!(store_entries(&env, "layers").is_empty());
    assert!(store_entries(&env, "blobs/sha256").contains(&blob));

    let layer = std::path::PathBuf::from(lowerdirs(&env, reference));
    assert!(layer.join("bin/busybox").is_file());
    assert_eq!(inspect(&env, reference)["packed"], serde_json::json!([]));
    assert!(!store_entries(&env, "blobs/sha256").contains(&blob));
}

#[test]
fn pull_unpack_extracts_the_layers_at_once() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/eager:v1");
    let reference = &pushed.reference;
    let out = image_ok(&env, &["pull", "--insecure", "--unpack", reference]);
    let pulled: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(pulled["unpacked"], 1);
    assert_eq!(inspect(&env, reference)["packed"], serde_json::json!([]));
    assert_eq!(store_entries(&env, "layers").len(), 1);
    let layer_blob = layer_digests(&pushed.layout)[0].replace("sha256:", "");
    assert!(!store_entries(&env, "blobs/sha256").contains(&layer_blob));
}

#[test]
fn two_first_uses_at_once_both_get_the_layer() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/race:v1");
    let reference = &pushed.reference;
    pull(&env, reference);
    let children: Vec<_> = (0..2)
        .map(|_| {
            hs_image(&env)
                .args(["lowerdirs", reference])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(outputs[0].stdout, outputs[1].stdout);
    assert_eq!(store_entries(&env, "layers").len(), 1);
    assert!(store_entries(&env, "tmp").is_empty());
}

#[test]
fn packed_layer_not_matching_its_diff_id_is_refused_on_first_use() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/swapped:v1");
    let reference = &pushed.reference;
    pull(&env, reference);
    let blob = layer_digests(&pushed.layout)[0].replace("sha256:", "");
    let other = {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Regular, "other", "", b"x");
        b.into_inner().unwrap()
    };
    std::fs::write(
        env.root().join("images/blobs/sha256").join(&blob),
        gzip_bytes(&other),
    )
    .unwrap();
    let result = run(hs_image(&env).args(["lowerdirs", reference]));
    assert_tool_error(&result, "hs-image", "digest mismatch");
    assert_nothing_unpacked(&env);
}

#[test]
fn removing_a_packed_image_deletes_its_blob() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/gone:v1");
    let reference = &pushed.reference;
    pull(&env, reference);
    image_ok(&env, &["rm", reference]);
    assert_store_empty(&env);
}

#[test]
fn layer_escaping_its_dir_is_refused_on_first_use() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_layout("test/evil:v1", |l| escaping_layout(l, "hs-pulled-evil"));
    pull(&env, &pushed.reference);
    let result = run(hs_image(&env).args(["lowerdirs", &pushed.reference]));
    assert_tool_error(&result, "hs-image", "a parent is a symlink");
    assert!(!Path::new("/tmp/hs-pulled-evil").exists());
    assert_nothing_unpacked(&env);
}

#[test]
fn layer_escaping_its_dir_is_refused_by_pull_unpack() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_layout("test/evil2:v1", |l| escaping_layout(l, "hs-pulled-evil2"));
    let result = run(hs_image(&env).args(["pull", "--insecure", "--unpack", &pushed.reference]));
    assert_tool_error(&result, "hs-image", "a parent is a symlink");
    assert!(!Path::new("/tmp/hs-pulled-evil2").exists());
    assert_store_empty(&env);
}

#[test]
fn layer_that_is_not_a_tar_is_refused_by_the_pull() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let zstd_frame = b"\x28\xb5\x2f\xfd\x00\x58\x11\x00\x00hello".repeat(64);
    let image = OciImage {
        arch: "amd64",
        layers: vec![zstd_frame],
        gzip: false,
        cmd: vec!["/bin/sh"],
    };
    let pushed = push_layout("test/zstd:v1", |l| write_oci_layout(l, &[image], "v1"));
    let result = run(hs_image(&env).args(["pull", "--insecure", &pushed.reference]));
    assert_tool_error(&result, "hs-image", "zstd compression is not supported");
    assert_store_empty(&env);
}

#[test]
fn pull_draws_its_progress_only_when_stderr_is_a_terminal() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let pushed = push_busybox("test/progress:v1");
    let (code, _, err) = run(hs_image(&env).args(["pull", "--insecure", &pushed.reference]));
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "progress drawn on a pipe: {err:?}");
    image_ok(&env, &["rm", &pushed.reference]);
    // script(1) gives the pull a terminal; stdout goes elsewhere, so what
    // comes through is stderr's.
    let pull = format!(
        "{} pull --insecure {} >/dev/null",
        hs_tests::bin("hs-image").display(),
        pushed.reference
    );
    let (code, drawn, err) = run(std::process::Command::new("script")
        .args(["-qec", &pull, "/dev/null"])
        .env("HS_ROOT", env.root()));
    assert_eq!(code, 0, "{err}");
    assert!(drawn.contains("B/"), "no byte counts drawn: {drawn:?}");
}
