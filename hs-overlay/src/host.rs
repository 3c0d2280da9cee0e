//! `hs-overlay host`: the host mirror. A tmpfs skeleton at the target, the
//! mirrored host directories on it copy-on-write (lower = the live host
//! dir; its changes in the upper dir's subdir of the same name), host
//! top-level symlinks recreated as symlinks, empty mount points for what
//! `hs-unshare --root` mounts, and read-only empty tmpfs over every
//! `--hide` path.
//!
//! The mirrored dirs that live on the host root's own mount (usr, etc,
//! var… on most systems) share one overlay, lower = the host root, upper
//! = the upper dir itself: each dir is a bind of that overlay's subdir, so
//! its changes land in `UPPER/usr`, `UPPER/etc`… as with an overlay per
//! dir, but the kernel sets up one superblock (the work dir probes), and
//! at the end syncs the upper filesystem once instead of once a dir.
//! A mirrored dir on a mount of its own gets an overlay of its own
//! (upper and work subdirs named by [`subdir_name`]).
//!
//! An overlay shows only the lower directory's own filesystem: host mounts
//! below a mirrored dir (say /var/lib/docker on its own disk) appear as
//! their empty mount point. `--add-dir` mirrors such a dir as an overlay of
//! its own, mounted on top of its parent's.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::checks;
use crate::error::{OverlayError, Result};
use crate::image::resolve;
use crate::overlay::{MountOption, OverlaySpec};
use crate::paths;
use crate::plan::Op;

/// The host top-level directories mirrored by default (those that exist).
pub const DEFAULT_DIRS: &[&str] = &[
    "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt", "var", "srv",
];

/// Empty directories the container root needs as mount points.
pub const MOUNT_POINTS: &[&str] = &["proc", "sys", "dev", "tmp", "run", "home", "root", "mnt"];

/// Options for an overlay whose lower is a live filesystem: no inode index
/// and no metadata-only copy-up, both of which record lower inodes in the
/// upper and assume the lower never changes.
pub fn host_options() -> Vec<MountOption> {
    vec![
        MountOption::new("index", "off"),
        MountOption::new("metacopy", "off"),
    ]
}

#[derive(Debug, Clone, Default)]
pub struct HostRequest {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub target: PathBuf,
    /// Replaces [`DEFAULT_DIRS`]; missing entries are skipped like there.
    pub dirs: Option<Vec<String>>,
    /// Mirrored in addition; each must exist.
    pub add_dirs: Vec<String>,
    pub hides: Vec<PathBuf>,
    /// Added after [`host_options`], so they can override them.
    pub options: Vec<MountOption>,
}

/// Splits a `--dirs` list (comma- or space-separated).
pub fn split_dir_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The upper/work subdir of a mirrored dir: its path below `/` with `%`
/// and `/` percent-encoded, so `usr` stays `usr` and nested
/// `var/lib/docker` becomes the single name `var%2Flib%2Fdocker`.
pub fn subdir_name(rel: &Path) -> OsString {
    let mut name = Vec::new();
    for &byte in rel.as_os_str().as_bytes() {
        match byte {
            b'%' => name.extend_from_slice(b"%25"),
            b'/' => name.extend_from_slice(b"%2F"),
            other => name.push(other),
        }
    }
    OsString::from_vec(name)
}

/// The container path (below `/`) of an upper subdir: [`subdir_name`] undone.
pub fn container_rel(name: &OsStr) -> PathBuf {
    let bytes = name.as_bytes();
    let mut rel = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match &bytes[i..] {
            [b'%', b'2', b'F' | b'f', ..] => {
                rel.push(b'/');
                i += 3;
            }
            [b'%', b'2', b'5', ..] => {
                rel.push(b'%');
                i += 3;
            }
            [byte, ..] => {
                rel.push(*byte);
                i += 1;
            }
            [] => break,
        }
    }
    PathBuf::from(OsString::from_vec(rel))
}

/// The shared overlay's work dir and (mount(2) only) its scratch mount
/// point, in the work dir: `%2F` is `/` encoded, a name [`subdir_name`]
/// never makes, so no mirrored dir's work subdir can clash with them.
const SHARED_WORK: &str = "%2F";
const SHARED_SCRATCH: &str = "%2F.mnt";

/// The id of the mount `path` is on (statx STATX_MNT_ID); None when the
/// kernel does not tell (before 5.8): every mirrored dir then gets an
/// overlay of its own.
fn mount_id(path: &Path) -> Option<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statx fills the zeroed struct it is given.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out pointer.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    (rc == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}

/// How one mirrored entry appears in the skeleton.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mirror {
    Dir,
    Symlink(PathBuf),
}

/// Checks the request against the host (rooted at `host_root`, `/` except
/// in unit tests) and turns it into the plan.
pub fn plan(request: &HostRequest, host_root: &Path) -> Result<Vec<Op>> {
    plan_with(request, host_root, &mount_id)
}

/// [`plan`], with `mount_of` telling which mount a path is on.
fn plan_with(
    request: &HostRequest,
    host_root: &Path,
    mount_of: &dyn Fn(&Path) -> Option<u64>,
) -> Result<Vec<Op>> {
    checks::target(&request.target)?;
    let host_root = resolve("host root", host_root)?;
    let target = resolve("target", &request.target)?;
    let upper = resolve("upper dir", &request.upper)?;
    let work = resolve("work dir", &request.work)?;
    checks::upper_and_work(&upper, &work)?;
    let mirrors = mirrors(request, &host_root)?;

    let mut ops = vec![Op::MountTmpfs {
        target: target.clone(),
        read_only: false,
    }];
    let mut in_skeleton: BTreeSet<PathBuf> = BTreeSet::new();
    let mut mounted: Vec<PathBuf> = Vec::new();
    let root_mount = mount_of(&host_root);
    let mut shared: Vec<PathBuf> = Vec::new();
    for (rel, mirror) in &mirrors {
        let under_overlay = mounted.iter().any(|dir| rel != dir && rel.starts_with(dir));
        match mirror {
            // The parent overlay already shows the host's symlink.
            Mirror::Symlink(_) if under_overlay => {}
            Mirror::Symlink(points_to) => {
                if let Some(parent) = rel.parent() {
                    make_dirs(&mut ops, &mut in_skeleton, &target, parent);
                }
                ops.push(Op::Symlink {
                    link: target.join(rel),
                    points_to: points_to.clone(),
                });
                in_skeleton.insert(rel.clone());
            }
            Mirror::Dir => {
                let on_root_mount =
                    root_mount.is_some() && mount_of(&host_root.join(rel)) == root_mount;
                // Shown already, by the bind of a shared ancestor.
                if on_root_mount && shared.iter().any(|dir| rel.starts_with(dir)) {
                    mounted.push(rel.clone());
                    continue;
                }
                // Below another overlay the mount point is the host's own dir.
                if !under_overlay {
                    make_dirs(&mut ops, &mut in_skeleton, &target, rel);
                }
                if on_root_mount {
                    ops.push(Op::BindShared {
                        subdir: rel.clone(),
                        target: target.join(rel),
                    });
                    shared.push(rel.clone());
                    mounted.push(rel.clone());
                    continue;
                }
                let name = subdir_name(rel);
                checks::no_volatile_leftover(&work.join(&name))?;
                ops.push(Op::CreateDir {
                    path: upper.join(&name),
                });
                ops.push(Op::CreateDir {
                    path: work.join(&name),
                });
                let mut options = host_options();
                options.extend(request.options.iter().cloned());
                ops.push(Op::MountOverlay {
                    spec: OverlaySpec {
                        lowers: vec![host_root.join(rel)],
                        upper: Some(upper.join(&name)),
                        work: Some(work.join(&name)),
                        options,
                    },
                    target: target.join(rel),
                });
                mounted.push(rel.clone());
            }
        }
    }
    if !shared.is_empty() {
        let shared_work = work.join(SHARED_WORK);
        checks::no_volatile_leftover(&shared_work)?;
        let mut options = host_options();
        options.extend(request.options.iter().cloned());
        // Right after the skeleton, before the binds that use it.
        ops.splice(
            1..1,
            [
                Op::CreateDir {
                    path: upper.clone(),
                },
                Op::CreateDir {
                    path: shared_work.clone(),
                },
                Op::CreateSharedOverlay {
                    spec: OverlaySpec {
                        lowers: vec![host_root.clone()],
                        upper: Some(upper.clone()),
                        work: Some(shared_work),
                        options,
                    },
                    scratch: work.join(SHARED_SCRATCH),
                },
            ],
        );
    }
    for mount_point in MOUNT_POINTS {
        make_dirs(&mut ops, &mut in_skeleton, &target, Path::new(mount_point));
    }
    let created = [upper.as_path(), work.as_path()];
    let hidden = hides(
        &request.hides,
        &created,
        &host_root,
        &target,
        &mounted,
        &mut ops,
    )?;
    for (what, dir) in [("upper dir", &upper), ("work dir", &work)] {
        check_hidden(what, dir, &host_root, &mounted, &hidden)?;
    }
    Ok(ops)
}

/// Adds a read-only empty tmpfs for each `--hide` path that shows through a
/// mirrored dir; returns the (resolved) paths hidden. `created` are the
/// upper and work dirs, which the plan makes, so they may not exist yet.
fn hides(
    requested: &[PathBuf],
    created: &[&Path],
    host_root: &Path,
    target: &Path,
    mounted: &[PathBuf],
    ops: &mut Vec<Op>,
) -> Result<Vec<PathBuf>> {
    let mut hidden = Vec::new();
    for hide in requested {
        let hide = resolve("--hide", hide)?;
        let Ok(rel) = hide.strip_prefix(host_root) else {
            continue;
        };
        if !mounted.iter().any(|dir| rel.starts_with(dir)) {
            hs_common::trace::log("skip", &format!("--hide {}: not mirrored", hide.display()));
            continue;
        }
        let will_exist = created.iter().any(|dir| dir.starts_with(&hide));
        match std::fs::symlink_metadata(&hide) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(OverlayError::HideNotDir(hide)),
            Err(_) if will_exist => {}
            Err(_) => continue,
        }
        ops.push(Op::MountTmpfs {
            target: target.join(rel),
            read_only: true,
        });
        hidden.push(hide);
    }
    Ok(hidden)
}

/// An upper or work dir below a mirrored dir must be covered by a hide
/// inside that mirrored dir: looked up through the overlay it fails with
/// ELOOP, and the container could reach other overlays' uppers.
fn check_hidden(
    what: &'static str,
    dir: &Path,
    host_root: &Path,
    mounted: &[PathBuf],
    hidden: &[PathBuf],
) -> Result<()> {
    for rel in mounted {
        let mirrored = host_root.join(rel);
        let covered = hidden
            .iter()
            .any(|hide| dir.starts_with(hide) && hide.starts_with(&mirrored));
        if paths::is_within(dir, &mirrored) && !covered {
            return Err(OverlayError::Unhidden {
                what,
                path: dir.to_path_buf(),
                mirrored,
            });
        }
    }
    Ok(())
}

/// `mkdir` in the skeleton for `rel` and each missing parent.
fn make_dirs(ops: &mut Vec<Op>, in_skeleton: &mut BTreeSet<PathBuf>, target: &Path, rel: &Path) {
    let mut prefix = PathBuf::new();
    for component in rel.components() {
        prefix.push(component);
        if in_skeleton.insert(prefix.clone()) {
            ops.push(Op::MakeDir {
                path: target.join(&prefix),
            });
        }
    }
}

/// The mirrored entries, parents before children (Path orders by
/// component), each as the skeleton shows it.
fn mirrors(request: &HostRequest, host_root: &Path) -> Result<Vec<(PathBuf, Mirror)>> {
    let optional: Vec<String> = match &request.dirs {
        Some(dirs) => dirs.clone(),
        None => DEFAULT_DIRS.iter().map(|d| d.to_string()).collect(),
    };
    let mut found = std::collections::BTreeMap::new();
    let entries = optional
        .iter()
        .map(|d| (d, false))
        .chain(request.add_dirs.iter().map(|d| (d, true)));
    for (text, strict) in entries {
        let bad = || OverlayError::BadArgument {
            flag: if strict { "--add-dir" } else { "--dirs" },
            value: text.clone(),
            why: "expected a directory below /, without `..`",
        };
        let rel = paths::relative_below_root(text).ok_or_else(bad)?;
        let host = host_root.join(&rel);
        let Ok(meta) = host.symlink_metadata() else {
            if strict {
                return Err(OverlayError::MissingMirrored(host));
            }
            continue;
        };
        if meta.file_type().is_symlink() && rel.components().count() == 1 {
            let points_to = std::fs::read_link(&host)
                .map_err(|e| OverlayError::io("reading symlink", &host, e))?;
            found.insert(rel, Mirror::Symlink(points_to));
            continue;
        }
        // Nested entries are mirrored at their real place, so no mount
        // ever goes through a symlink (which could point out of the root).
        let real = host
            .canonicalize()
            .map_err(|e| OverlayError::io("mirrored dir", &host, e))?;
        let Some(real_rel) = real
            .strip_prefix(host_root)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
        else {
            return Err(bad());
        };
        if !real.is_dir() {
            if strict {
                return Err(OverlayError::NotDir {
                    what: "mirrored dir",
                    path: host,
                });
            }
            continue;
        }
        found.insert(real_rel.to_path_buf(), Mirror::Dir);
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake host: merged-usr symlinks, a few dirs, and a dir for the
    /// container's files under var.
    struct FakeHost {
        _dir: tempfile::TempDir,
        root: PathBuf,
    }

    fn fake_host() -> FakeHost {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in [
            "usr/bin",
            "usr/lib",
            "etc",
            "var/lib/hs",
            "srv",
            "t",
            "data/u",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        symlink("usr/bin", root.join("bin")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        FakeHost { _dir: dir, root }
    }

    fn request(host: &FakeHost, upper_base: &str) -> HostRequest {
        HostRequest {
            upper: host.root.join(upper_base).join("upper"),
            work: host.root.join(upper_base).join("work"),
            target: host.root.join("t"),
            ..Default::default()
        }
    }

    fn printed(ops: &[Op]) -> Vec<String> {
        ops.iter().map(|op| op.to_string()).collect()
    }

    /// Mount ids of a host where the dirs named in `own` are mounts of
    /// their own, and everything else is on the root's mount.
    fn mounts<'a>(host: &'a FakeHost, own: &'a [&'a str]) -> impl Fn(&Path) -> Option<u64> + 'a {
        move |path: &Path| {
            let rel = path.strip_prefix(&host.root).ok()?;
            let position = own.iter().position(|dir| rel == Path::new(dir));
            Some(position.map_or(1, |i| 2 + i as u64))
        }
    }

    fn binds(ops: &[Op]) -> Vec<&PathBuf> {
        ops.iter()
            .filter_map(|op| match op {
                Op::BindShared { target, .. } => Some(target),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn symlinks_are_recreated_and_dirs_on_the_root_mount_share_one_overlay() {
        let host = fake_host();
        let ops = plan_with(&request(&host, "data"), &host.root, &mounts(&host, &[])).unwrap();
        let t = host.root.join("t");
        assert_eq!(
            ops[0],
            Op::MountTmpfs {
                target: t.clone(),
                read_only: false
            }
        );
        assert!(ops.contains(&Op::Symlink {
            link: t.join("bin"),
            points_to: "usr/bin".into()
        }));
        let shared: Vec<&OverlaySpec> = ops
            .iter()
            .filter_map(|op| match op {
                Op::CreateSharedOverlay { spec, .. } => Some(spec),
                _ => None,
            })
            .collect();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].lowers, vec![host.root.clone()]);
        // Changes land where an overlay per dir put them: UPPER/usr…
        assert_eq!(shared[0].upper, Some(host.root.join("data/upper")));
        assert_eq!(shared[0].work, Some(host.root.join("data/work/%2F")));
        assert_eq!(
            binds(&ops),
            vec![
                &t.join("etc"),
                &t.join("srv"),
                &t.join("usr"),
                &t.join("var")
            ]
        );
        assert!(!ops.iter().any(|op| matches!(op, Op::MountOverlay { .. })));
        for mount_point in MOUNT_POINTS {
            assert!(ops.contains(&Op::MakeDir {
                path: t.join(mount_point)
            }));
        }
    }

    #[test]
    fn a_dir_on_a_mount_of_its_own_gets_its_own_overlay_and_subdirs() {
        let host = fake_host();
        let ops = plan_with(
            &request(&host, "data"),
            &host.root,
            &mounts(&host, &["srv"]),
        )
        .unwrap();
        let spec = ops
            .iter()
            .find_map(|op| match op {
                Op::MountOverlay { spec, target } if target.ends_with("srv") => Some(spec),
                _ => None,
            })
            .unwrap();
        assert_eq!(spec.lowers, vec![host.root.join("srv")]);
        assert_eq!(spec.upper, Some(host.root.join("data/upper/srv")));
        assert_eq!(spec.work, Some(host.root.join("data/work/srv")));
        assert!(!binds(&ops).contains(&&host.root.join("t/srv")));
    }

    #[test]
    fn without_mount_ids_every_dir_gets_its_own_overlay() {
        let host = fake_host();
        let ops = plan_with(&request(&host, "data"), &host.root, &|_| None).unwrap();
        assert!(binds(&ops).is_empty());
        let overlays = ops
            .iter()
            .filter(|op| matches!(op, Op::MountOverlay { .. }))
            .count();
        assert_eq!(overlays, 4);
    }

    #[test]
    fn upper_under_a_mirrored_dir_without_hide_is_refused() {
        let host = fake_host();
        let err = plan(&request(&host, "var/lib/hs"), &host.root).unwrap_err();
        assert!(matches!(err, OverlayError::Unhidden { .. }), "{err}");
    }

    #[test]
    fn upper_under_a_mirrored_dir_with_hide_gets_a_read_only_tmpfs() {
        let host = fake_host();
        let mut req = request(&host, "var/lib/hs");
        req.hides = vec![host.root.join("var/lib/hs")];
        let ops = plan(&req, &host.root).unwrap();
        assert_eq!(
            ops.last(),
            Some(&Op::MountTmpfs {
                target: host.root.join("t/var/lib/hs"),
                read_only: true
            })
        );
    }

    #[test]
    fn a_hide_outside_the_mirrored_dirs_is_skipped() {
        let host = fake_host();
        let mut req = request(&host, "data");
        req.hides = vec![host.root.join("data")];
        let ops = plan(&req, &host.root).unwrap();
        assert!(!printed(&ops).iter().any(|op| op.contains("ro,")));
    }

    #[test]
    fn added_nested_dir_on_the_root_mount_is_shown_by_its_parent_bind() {
        let host = fake_host();
        let mut req = request(&host, "data");
        req.add_dirs = vec!["/var/lib".into()];
        let ops = plan_with(&req, &host.root, &mounts(&host, &[])).unwrap();
        let nested = host.root.join("t/var/lib").display().to_string();
        assert!(!printed(&ops).iter().any(|op| op.contains(&nested)));
    }

    #[test]
    fn added_nested_mount_point_mounts_after_its_parent_without_mkdir() {
        let host = fake_host();
        let mut req = request(&host, "data");
        req.add_dirs = vec!["/var/lib".into()];
        let ops = plan_with(&req, &host.root, &mounts(&host, &["var/lib"])).unwrap();
        let t = host.root.join("t");
        let position = |target: &Path| {
            ops.iter()
                .position(|op| match op {
                    Op::MountOverlay { target: t2, .. } | Op::BindShared { target: t2, .. } => {
                        t2 == target
                    }
                    _ => false,
                })
                .unwrap()
        };
        assert!(position(&t.join("var")) < position(&t.join("var/lib")));
        assert!(!ops.contains(&Op::MakeDir {
            path: t.join("var/lib")
        }));
        assert!(ops.contains(&Op::CreateDir {
            path: host.root.join("data/upper/var%2Flib")
        }));
    }

    #[test]
    fn added_dir_outside_the_mirror_gets_skeleton_parents() {
        let host = fake_host();
        let mut req = request(&host, "var/lib/hs");
        req.dirs = Some(vec!["usr".into()]);
        req.add_dirs = vec!["data/u".into()];
        let ops = plan(&req, &host.root).unwrap();
        let t = host.root.join("t");
        assert!(ops.contains(&Op::MakeDir {
            path: t.join("data")
        }));
        assert!(ops.contains(&Op::MakeDir {
            path: t.join("data/u")
        }));
        // The target's own path: a temp dir whose random name ends in `t`
        // would make a bare "t/var" match the host's var.
        let target_var = t.join("var").display().to_string();
        assert!(!printed(&ops).iter().any(|op| op.contains(&target_var)));
    }

    #[test]
    fn missing_added_dir_is_refused_missing_listed_dir_is_skipped() {
        let host = fake_host();
        let mut req = request(&host, "data");
        req.dirs = Some(vec!["usr".into(), "lib32".into()]);
        assert!(plan(&req, &host.root).is_ok());
        req.add_dirs = vec!["nope".into()];
        assert!(matches!(
            plan(&req, &host.root),
            Err(OverlayError::MissingMirrored(_))
        ));
        req.add_dirs = vec!["../etc".into()];
        assert!(matches!(
            plan(&req, &host.root),
            Err(OverlayError::BadArgument { .. })
        ));
    }

    #[test]
    fn subdir_names_round_trip() {
        for rel in ["usr", "var/lib/docker", "odd%name/x"] {
            let name = subdir_name(Path::new(rel));
            assert!(!name.as_bytes().contains(&b'/'));
            assert_eq!(container_rel(&name), PathBuf::from(rel));
        }
        assert_eq!(subdir_name(Path::new("usr")), OsString::from("usr"));
    }

    #[test]
    fn dir_list_splits_on_commas_and_spaces() {
        assert_eq!(split_dir_list("usr,etc  var"), vec!["usr", "etc", "var"]);
    }
}
