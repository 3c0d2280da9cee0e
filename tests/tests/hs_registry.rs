//! `hs load` and `hs pull` end to end: what they store runs through `hs run`.

mod hs_support;
mod image_support;

use hs_support::World;
use image_support::{busybox_layout, escaping_layout, push_busybox, push_layout, Registry};

#[test]
fn loaded_oci_layout_runs_by_its_id() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let dir = hs_tests::tempdir_in_target("hs-load");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "v1");
    let out = world.ok(&["load", "-i", layout.to_str().unwrap()]);
    let id = out
        .trim()
        .strip_prefix("Loaded image ID: ")
        .unwrap_or_else(|| panic!("unexpected load output: {out}"));
    assert!(id.starts_with("sha256:"), "{out}");
    let (code, run_out, err) = world.run(&["run", "--rm", id, "cat", "/etc/hostname"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run_out, "busybox\n");
}

#[test]
fn pulled_image_runs_by_reference_and_a_second_pull_is_up_to_date() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let pushed = push_busybox("test/bb:v1");
    let reference = &pushed.reference;
    let first = world.ok(&["pull", "--insecure", reference]);
    assert!(
        first.contains(&format!("Status: Downloaded newer image for {reference}")),
        "{first}"
    );
    assert_eq!(first.lines().last(), Some(reference.as_str()), "{first}");
    let (code, out, err) = world.run(&["run", "--rm", reference, "cat", "/etc/hostname"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "busybox\n");
    let again = world.ok(&["pull", "--insecure", reference]);
    assert!(again.contains("Status: Image is up to date for"), "{again}");
}

#[test]
fn pull_of_a_missing_tag_fails_with_one_error_line_and_125() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let registry = Registry::start();
    let reference = registry.reference("test/none:v1");
    let (code, out, err) = world.run(&["pull", "--insecure", &reference]);
    assert_eq!(code, 125, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("error:"), "{err}");
    assert!(world.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn run_of_a_pulled_image_whose_layer_is_unsafe_fails_with_125_and_leaves_no_container() {
    if !hs_tests::require_root() {
        return;
    }
    let world = World::new();
    let pushed = push_layout("test/evil:v1", |l| escaping_layout(l, "hs-run-pulled-evil"));
    let reference = &pushed.reference;
    world.ok(&["pull", "--insecure", reference]);
    let (code, out, err) = world.run(&["run", "--rm", reference, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("a parent is a symlink"), "{err}");
    assert!(!std::path::Path::new("/tmp/hs-run-pulled-evil").exists());
    assert!(world.ok(&["ps", "-a", "-q"]).trim().is_empty());
}
