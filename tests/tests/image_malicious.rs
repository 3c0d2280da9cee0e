//! Hostile archives: every entry that would write outside the layer dir is
//! refused (exit 125, one error line), nothing lands outside the store and
//! the store shows no half image. Absolute symlink *targets* are fine: they
//! resolve inside the container.

mod image_support;

use std::path::{Path, PathBuf};

use hs_tests::{assert_tool_error, run, Env};
use image_support::*;
use tar::EntryType;

/// Writes a crafted archive built by `build` and imports it.
fn import_crafted(
    env: &Env,
    dir: &Path,
    build: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> (i32, String, String) {
    let mut builder = tar::Builder::new(Vec::new());
    build(&mut builder);
    let path = dir.join("crafted.tar");
    std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
    run(hs_image(env).arg("import").arg(&path).arg("crafted"))
}

/// A directory outside the store that an escaping entry would write into
/// (under /tmp: short enough for a 100-byte tar name with the `../`s).
fn canary() -> (hs_tests::TempDir, PathBuf) {
    let dir = hs_tests::TempDir::new().unwrap();
    let target = dir.path().join(hs_tests::unique("escaped"));
    (dir, target)
}

/// `../` repeated far enough to reach `/` from the store's staging dirs.
fn up_to_root() -> String {
    let depth = hs_tests::bin_dir().components().count() + 8;
    "../".repeat(depth)
}

#[test]
fn parent_dir_entry_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, target) = canary();
    let name = format!(
        "{}{}",
        up_to_root(),
        target.display().to_string().trim_start_matches('/')
    );
    let result = import_crafted(&env, dir.path(), |b| {
        raw_entry(b, EntryType::Regular, "ok", "", b"fine");
        raw_entry(b, EntryType::Regular, &name, "", b"escaped");
    });
    assert_tool_error(&result, "hs-image", "path contains `..`");
    assert!(!target.exists(), "entry escaped to {}", target.display());
    assert_store_empty(&env);
}

#[test]
fn absolute_entry_lands_inside_the_layer_not_on_the_host() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, target) = canary();
    let name = target.display().to_string();
    let result = import_crafted(&env, dir.path(), |b| {
        raw_entry(b, EntryType::Directory, "/", "", b"");
        raw_entry(b, EntryType::Regular, &name, "", b"rooted");
    });
    assert_eq!(result.0, 0, "import failed: {}", result.2);
    assert!(!target.exists(), "entry escaped to {}", target.display());
    let layer = PathBuf::from(lowerdirs(&env, "crafted"));
    let inside = layer.join(name.trim_start_matches('/'));
    assert_eq!(std::fs::read(&inside).unwrap(), b"rooted");
}

#[test]
fn write_through_a_symlink_pointing_out_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, target) = canary();
    std::fs::create_dir(&target).unwrap();
    let link_target = target.display().to_string();
    let result = import_crafted(&env, dir.path(), |b| {
        raw_entry(b, EntryType::Symlink, "escape", &link_target, b"");
        raw_entry(b, EntryType::Regular, "escape/evil", "", b"escaped");
    });
    assert_tool_error(&result, "hs-image", "a parent is a symlink");
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "wrote through the symlink"
    );
    assert_store_empty(&env);
}

#[test]
fn write_through_a_relative_symlink_climbing_out_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, target) = canary();
    std::fs::create_dir(&target).unwrap();
    let link_target = format!(
        "{}{}",
        up_to_root(),
        target.display().to_string().trim_start_matches('/')
    );
    let result = import_crafted(&env, dir.path(), |b| {
        raw_entry(b, EntryType::Directory, "a/", "", b"");
        raw_entry(b, EntryType::Symlink, "a/up", &link_target, b"");
        raw_entry(b, EntryType::Regular, "a/up/evil", "", b"escaped");
    });
    assert_tool_error(&result, "hs-image", "a parent is a symlink");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    assert_store_empty(&env);
}

#[test]
fn hard_link_to_a_host_file_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, target) = canary();
    std::fs::write(&target, "host secret").unwrap();
    let climbing = format!(
        "{}{}",
        up_to_root(),
        target.display().to_string().trim_start_matches('/')
    );
    // Climbing is unsafe; an absolute target is rooted at the layer, where
    // no such file exists: both are refused and neither reaches the host.
    let absolute = target.display().to_string();
    for (link, why) in [(climbing, "unsafe entry"), (absolute, "no such file")] {
        let result = import_crafted(&env, dir.path(), |b| {
            raw_entry(b, EntryType::Link, "stolen", &link, b"");
        });
        assert_eq!(result.0, 125, "{result:?}");
        assert!(result.2.to_lowercase().contains(why), "{}", result.2);
        assert_store_empty(&env);
    }
    // The host file did not gain a link (or a changed mode) from the store.
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::nlink(&meta), 1);
}

#[test]
fn hard_link_through_a_symlinked_dir_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, target) = canary();
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("secret"), "host secret").unwrap();
    let link_target = target.display().to_string();
    let result = import_crafted(&env, dir.path(), |b| {
        raw_entry(b, EntryType::Symlink, "d", &link_target, b"");
        raw_entry(b, EntryType::Link, "stolen", "d/secret", b"");
    });
    assert_tool_error(&result, "hs-image", "a parent is a symlink");
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(target.join("secret")).unwrap()),
        1
    );
    assert_store_empty(&env);
}

#[test]
fn absolute_symlink_targets_are_kept_as_they_are() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, _) = canary();
    let result = import_crafted(&env, dir.path(), |b| {
        raw_entry(b, EntryType::Directory, "etc/", "", b"");
        raw_entry(b, EntryType::Symlink, "etc/mtab", "/proc/self/mounts", b"");
        raw_entry(b, EntryType::Symlink, "sh", "/bin/busybox", b"");
    });
    assert_eq!(result.0, 0, "{result:?}");
    let layer = PathBuf::from(lowerdirs(&env, "crafted"));
    assert_eq!(
        std::fs::read_link(layer.join("etc/mtab")).unwrap(),
        Path::new("/proc/self/mounts")
    );
    assert_eq!(
        std::fs::read_link(layer.join("sh")).unwrap(),
        Path::new("/bin/busybox")
    );
}

#[test]
fn device_nodes_are_created_as_root() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, _) = canary();
    let result = import_crafted(&env, dir.path(), |b| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(EntryType::Char);
        h.set_path("null").unwrap();
        h.set_mode(0o666);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
    });
    assert_eq!(result.0, 0, "{result:?}");
    let meta =
        std::fs::symlink_metadata(PathBuf::from(lowerdirs(&env, "crafted")).join("null")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &meta.file_type()
    ));
    assert_eq!(
        std::os::unix::fs::MetadataExt::rdev(&meta),
        libc::makedev(1, 3)
    );
}

#[test]
fn ownership_modes_and_mtimes_are_preserved() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, _) = canary();
    let result = import_crafted(&env, dir.path(), |b| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(EntryType::Regular);
        h.set_path("suid").unwrap();
        h.set_mode(0o4751);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(1_234_567_890);
        h.set_size(2);
        h.set_cksum();
        b.append(&h, &b"hi"[..]).unwrap();
    });
    assert_eq!(result.0, 0, "{result:?}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(PathBuf::from(lowerdirs(&env, "crafted")).join("suid")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    assert_eq!(meta.mode() & 0o7777, 0o4751);
    assert_eq!(meta.mtime(), 1_234_567_890);
}

#[test]
fn pax_xattrs_are_preserved_but_overlay_ones_dropped() {
    if !hs_tests::require_root() {
        return;
    }
    let env = Env::new();
    let (dir, _) = canary();
    let result = import_crafted(&env, dir.path(), |b| {
        b.append_pax_extensions([
            ("SCHILY.xattr.user.hs-test", &b"kept"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/elsewhere"[..]),
        ])
        .unwrap();
        raw_entry(b, EntryType::Regular, "tagged", "", b"data");
    });
    assert_eq!(result.0, 0, "{result:?}");
    let file = PathBuf::from(lowerdirs(&env, "crafted")).join("tagged");
    assert_eq!(xattr_of(&file, "user.hs-test"), Some(b"kept".to_vec()));
    assert_eq!(xattr_of(&file, "trusted.overlay.redirect"), None);
}
