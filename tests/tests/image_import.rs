//! hs-image import, ls, inspect, rm, export, lowerdirs: black-box, as root.

mod image_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use hs_tests::{assert_tool_error, busybox_rootfs, run, tree_digest, Env};
use image_support::*;

/// Staging dirs left in the store (tmp/ itself goes when empty).
fn staging_dirs(env: &Env) -> usize {
    std::fs::read_dir(env.root().join("images/tmp")).map_or(0, |d| d.count())
}

fn layer_dirs(env: &Env) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(env.root().join("images/layers")) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn import_of_a_plain_tar_extracts_the_rootfs_exactly() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let id = added_id(&image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "bb",
        ],
    ));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let lowers = lowerdirs(&env, "bb");
    assert_eq!(
        tree_digest(std::path::Path::new(&lowers)),
        tree_digest(&busybox_rootfs())
    );
}

#[test]
fn import_recognises_gzip_by_content() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), true).to_str().unwrap(),
            "bbgz:v1",
        ],
    );
    let lowers = lowerdirs(&env, "bbgz:v1");
    assert_eq!(
        tree_digest(std::path::Path::new(&lowers)),
        tree_digest(&busybox_rootfs())
    );
}

#[test]
fn import_reads_stdin() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let file = std::fs::File::open(rootfs_tar(dir.path(), true)).unwrap();
    let out = hs_tests::run_ok(
        hs_image(&env)
            .args(["import", "-", "fromstdin"])
            .stdin(file),
    );
    assert!(added_id(&String::from_utf8_lossy(&out.stdout)).starts_with("sha256:"));
    assert_eq!(layer_dirs(&env).len(), 1);
}

#[test]
fn the_same_layer_is_stored_once() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let tar = rootfs_tar(dir.path(), false);
    image_ok(&env, &["import", tar.to_str().unwrap(), "one"]);
    image_ok(&env, &["import", tar.to_str().unwrap(), "two:x"]);
    assert_eq!(layer_dirs(&env).len(), 1);
    assert_eq!(lowerdirs(&env, "one"), lowerdirs(&env, "two:x"));
}

#[test]
fn ls_prints_one_json_line_per_reference() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let tar = rootfs_tar(dir.path(), false);
    let id = added_id(&image_ok(
        &env,
        &["import", tar.to_str().unwrap(), "lsme:v2"],
    ));
    let out = image_ok(&env, &["ls"]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["name"], "lsme");
    assert_eq!(lines[0]["tag"], "v2");
    assert_eq!(lines[0]["id"], id.trim());
    assert!(lines[0]["size"].as_u64().unwrap() > 1_000_000);
    assert!(lines[0]["created"].as_str().unwrap().contains('T'));
}

#[test]
fn inspect_shows_layers_lowerdirs_and_config() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "insp",
        ],
    );
    let out = image_ok(&env, &["inspect", "insp"]);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["refs"][0], "insp:latest");
    assert_eq!(value["layers"].as_array().unwrap().len(), 1);
    assert_eq!(value["lowerdirs"][0], lowerdirs(&env, "insp"));
    assert_eq!(value["config"]["os"], "linux");
}

#[test]
fn junk_input_is_refused_and_leaves_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "this is not a tar archive\n".repeat(100)).unwrap();
    let result = run(hs_image(&env).arg("import").arg(&junk).arg("junk"));
    assert_tool_error(&result, "hs-image", "not an image archive");
    assert_store_empty(&env);
}

#[test]
fn empty_file_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let result = run(hs_image(&env).arg("import").arg(&empty));
    assert_tool_error(&result, "hs-image", "not an image archive");
    assert_store_empty(&env);
}

#[test]
fn truncated_gzip_is_refused_and_leaves_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let tgz = std::fs::read(rootfs_tar(dir.path(), true)).unwrap();
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &tgz[..tgz.len() / 2]).unwrap();
    let result = run(hs_image(&env).arg("import").arg(&cut).arg("cut"));
    assert_eq!(result.0, 125, "{result:?}");
    assert!(result.2.starts_with("hs-image: error: "), "{}", result.2);
    assert_eq!(result.2.lines().count(), 1, "{}", result.2);
    assert_store_empty(&env);
}

#[test]
fn gzip_of_junk_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let file = dir.path().join("junk.tar.gz");
    std::fs::write(&file, gzip_bytes(&b"junk ".repeat(1000))).unwrap();
    let result = run(hs_image(&env).arg("import").arg(&file));
    assert_tool_error(&result, "hs-image", "not an image archive");
    assert_store_empty(&env);
}

#[test]
fn bad_name_is_refused_before_reading_the_archive() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let result = run(hs_image(&env)
        .arg("import")
        .arg(rootfs_tar(dir.path(), false))
        .arg("Bad Name"));
    assert_tool_error(&result, "hs-image", "invalid reference");
    assert_store_empty(&env);
}

#[test]
fn killed_import_leaves_no_visible_image_and_is_swept() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let tar = std::fs::read(rootfs_tar(dir.path(), false)).unwrap();
    let mut child = hs_image(&env)
        .args(["import", "-", "halfway"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&tar[..tar.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let tmp = env.root().join("images/tmp");
    let staging = hs_tests::wait_until(Duration::from_secs(10), || {
        std::fs::read_dir(&tmp)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    });
    assert!(staging, "import never started staging");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let (code, out, _) = run(hs_image(&env).arg("ls"));
    assert_eq!(code, 0);
    assert!(out.is_empty(), "half image visible: {out}");
    // The next import sweeps the dead one's staging dir.
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "after",
        ],
    );
    assert_eq!(staging_dirs(&env), 0);
}

#[test]
fn rm_removes_the_image_and_its_layers() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "gone",
        ],
    );
    let out = image_ok(&env, &["rm", "gone"]);
    let removed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(removed["untagged"][0], "gone:latest");
    assert_store_empty(&env);
}

#[test]
fn rm_keeps_layers_another_image_uses() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let tar = rootfs_tar(dir.path(), false);
    image_ok(&env, &["import", tar.to_str().unwrap(), "keep"]);
    image_ok(&env, &["import", tar.to_str().unwrap(), "drop"]);
    image_ok(&env, &["rm", "drop"]);
    assert_eq!(layer_dirs(&env).len(), 1);
    let lowers = lowerdirs(&env, "keep");
    assert!(std::path::Path::new(&lowers).join("bin/busybox").is_file());
}

#[test]
fn rm_refuses_an_image_a_container_uses_unless_forced() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let id = added_id(&image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "used",
        ],
    ));
    // A container record made by hs-state whose rootfs is this image.
    let config = serde_json::json!({
        "command": ["sh"],
        "rootfs": {"kind": "image", "reference": "used", "id": id.trim(), "lowerdirs": []},
    });
    let config_path = dir.path().join("container.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    hs_tests::run_ok(
        env.cmd("hs-state")
            .arg("create")
            .arg("--config")
            .arg(&config_path),
    );
    let result = run(hs_image(&env).args(["rm", "used"]));
    assert_tool_error(&result, "hs-image", "used by container");
    assert!(!lowerdirs(&env, "used").is_empty());
    image_ok(&env, &["rm", "-f", "used"]);
    assert_store_empty(&env);
}

#[test]
fn unknown_image_is_an_error() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    for args in [
        &["rm", "nope"][..],
        &["lowerdirs", "nope"],
        &["inspect", "nope"],
    ] {
        let result = run(hs_image(&env).args(args));
        assert_tool_error(&result, "hs-image", "no such image: nope");
    }
}

#[test]
fn image_is_found_by_id_prefix() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let id = added_id(&image_ok(
        &env,
        &["import", rootfs_tar(dir.path(), false).to_str().unwrap()],
    ));
    let prefix = &id.trim()["sha256:".len().."sha256:".len() + 12];
    assert_eq!(lowerdirs(&env, prefix), lowerdirs(&env, id.trim()));
}

#[test]
fn imported_image_runs_in_an_overlay() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), true).to_str().unwrap(),
            "runme",
        ],
    );
    let (code, out, err) = run_in_image(
        &lowerdirs(&env, "runme"),
        "cat /etc/hostname && echo ran > /tmp/x && cat /tmp/x",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "busybox\nran\n");
}

#[test]
fn export_round_trips_through_import() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "orig",
        ],
    );
    let exported = dir.path().join("exported.tar");
    image_ok(&env, &["export", "orig", "-o", exported.to_str().unwrap()]);
    image_ok(&env, &["import", exported.to_str().unwrap(), "copy"]);
    let (a, b) = (lowerdirs(&env, "orig"), lowerdirs(&env, "copy"));
    // Same content (tree_digest covers files, links and dir modes).
    assert_eq!(
        tree_digest(std::path::Path::new(&a)),
        tree_digest(std::path::Path::new(&b))
    );
}

#[test]
fn export_to_stdout_is_a_tar() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "out",
        ],
    );
    let out = hs_tests::run_ok(hs_image(&env).args(["export", "out", "-o", "-"]));
    let listing = pipe_tar_list(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{listing}"
    );
}

fn pipe_tar_list(bytes: &[u8]) -> String {
    let mut child = Command::new("tar")
        .arg("-tf")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn concurrent_imports_all_land() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let tar = rootfs_tar(dir.path(), false);
    let children: Vec<_> = (0..4)
        .map(|i| {
            hs_image(&env)
                .arg("import")
                .arg(&tar)
                .arg(format!("par:{i}"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let listed = image_ok(&env, &["ls"]);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert_eq!(layer_dirs(&env).len(), 1);
    assert_eq!(staging_dirs(&env), 0);
}

#[test]
fn failed_export_leaves_no_file() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let out = dir.path().join("never.tar");
    let result = run(hs_image(&env).args(["export", "missing", "-o"]).arg(&out));
    assert_tool_error(&result, "hs-image", "no such image: missing");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn usage_error_is_one_line_and_125() {
    let env = Env::new();
    let result = run(hs_image(&env).arg("import"));
    assert_tool_error(&result, "hs-image", "<FILE>");
}

#[test]
fn failed_first_import_creates_nothing() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, vec![b'x'; 2048]).unwrap();
    let result = run(hs_image(&env).arg("import").arg(&junk).arg("x"));
    assert_eq!(result.0, 125);
    let left: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in HS_ROOT: {left:?}");
}

#[test]
fn image_with_a_missing_layer_is_an_error_not_a_bad_mount() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "broken",
        ],
    );
    for layer in layer_dirs(&env) {
        std::fs::remove_dir_all(layer).unwrap();
    }
    let result = run(hs_image(&env).args(["lowerdirs", "broken"]));
    assert_tool_error(&result, "hs-image", "is missing");
}

#[test]
fn tar_header_followed_by_junk_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, tar::EntryType::Regular, "first", "", b"fine");
    let mut bytes = builder.into_inner().unwrap();
    bytes.truncate(1024);
    bytes.extend(std::iter::repeat_n(b'#', 8192));
    let file = dir.path().join("junk-after-header.tar");
    std::fs::write(&file, bytes).unwrap();
    let result = run(hs_image(&env).arg("import").arg(&file).arg("junky"));
    assert_tool_error(&result, "hs-image", "not an image archive");
    assert_store_empty(&env);
}

#[test]
fn import_prints_id_and_refs_as_json() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let dir = hs_tests::tempdir_in_target("import");
    let out = image_ok(
        &env,
        &[
            "import",
            rootfs_tar(dir.path(), false).to_str().unwrap(),
            "json:v1",
        ],
    );
    let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(value["refs"], serde_json::json!(["json:v1"]));
    assert!(value["id"].as_str().unwrap().starts_with("sha256:"));
}
