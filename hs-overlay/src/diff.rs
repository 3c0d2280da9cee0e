//! `hs-overlay diff`: what a container changed, read from its upper dir,
//! as `docker diff` reports it: A added, C changed, D deleted, sorted by
//! path. A directory that holds a change is itself C (its entries
//! changed), as docker shows it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;

use serde::Serialize;

use crate::error::{OverlayError, Result};
use crate::host::container_rel;
use crate::lowers::Lowers;
use crate::whiteout::{copied_up, marker, Marker};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Kind {
    A,
    C,
    D,
}

/// One line of output: `{"kind":"A","path":"/etc/x"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub path: String,
}

/// The changes in an image-mode upper (its root is the container's `/`).
/// With `lowers`, A and C are told apart by looking below; without, an
/// entry counts as C only when overlayfs recorded it as copied up.
pub fn diff_upper(upper: &Path, lowers: Option<&Lowers>) -> Result<Vec<Change>> {
    let mut changes = Changes::new();
    let below = lowers.map_or(Below::Unknown, Below::Layers);
    walk(upper, Path::new(""), Path::new("/"), below, &mut changes)?;
    Ok(changes.into_sorted())
}

/// The changes in a host-mirror upper: one subdir per mirrored dir (see
/// [`crate::host::subdir_name`]), each compared against the live host dir
/// below `host_root`.
pub fn diff_host(upper: &Path, host_root: &Path) -> Result<Vec<Change>> {
    let mut changes = Changes::new();
    for name in sorted_names(upper)? {
        let subdir = upper.join(&name);
        if !subdir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let rel = container_rel(&name);
        let base = Path::new("/").join(&rel);
        let lowers = Lowers::new(vec![host_root.join(&rel)]);
        if sorted_names(&subdir)?.is_empty() {
            continue;
        }
        for ancestor in base.ancestors().filter(|a| *a != Path::new("/")) {
            changes.insert(ancestor, Kind::C);
        }
        walk(
            &subdir,
            Path::new(""),
            &base,
            Below::Layers(&lowers),
            &mut changes,
        )?;
    }
    Ok(changes.into_sorted())
}

/// What lies below the upper dir currently walked.
#[derive(Clone, Copy)]
enum Below<'a> {
    /// No lowers given: guess from the upper's own xattrs.
    Unknown,
    Layers(&'a Lowers),
    /// Below an opaque dir: nothing of the lowers shows.
    Nothing,
}

impl Below<'_> {
    fn kind(self, rel: &Path, upper_path: &Path) -> Kind {
        let existed = match self {
            Below::Unknown => copied_up(upper_path),
            Below::Layers(lowers) => lowers.exists(rel),
            Below::Nothing => false,
        };
        if existed {
            Kind::C
        } else {
            Kind::A
        }
    }
}

/// Walks the upper dir `root`/`rel`, recording changes at `base`/`rel`.
fn walk(root: &Path, rel: &Path, base: &Path, below: Below, changes: &mut Changes) -> Result<()> {
    let dir = root.join(rel);
    let names = sorted_names(&dir)?;
    for name in &names {
        let child = rel.join(name);
        let path = dir.join(name);
        let meta = path
            .symlink_metadata()
            .map_err(|e| OverlayError::io("reading", &path, e))?;
        let shown = base.join(&child);
        match marker(&path, &meta) {
            Marker::Whiteout => {
                let hides_something = match below {
                    Below::Unknown => true,
                    Below::Layers(lowers) => lowers.exists(&child),
                    Below::Nothing => false,
                };
                if hides_something {
                    changes.insert(&shown, Kind::D);
                }
            }
            Marker::OpaqueDir => {
                changes.insert(&shown, below.kind(&child, &path));
                if let Below::Layers(lowers) = below {
                    let in_upper: BTreeSet<OsString> = sorted_names(&path)?.into_iter().collect();
                    for gone in lowers.children(&child).difference(&in_upper) {
                        changes.insert(&shown.join(gone), Kind::D);
                    }
                }
                walk(root, &child, base, Below::Nothing, changes)?;
            }
            Marker::Plain => {
                changes.insert(&shown, below.kind(&child, &path));
                if meta.is_dir() {
                    walk(root, &child, base, below, changes)?;
                }
            }
        }
    }
    Ok(())
}

fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let entries = std::fs::read_dir(dir).map_err(|e| OverlayError::io("reading", dir, e))?;
    let mut names = entries
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| OverlayError::io("reading", dir, e))?;
    names.sort();
    Ok(names)
}

/// Changes keyed by path, so each path is reported once and in order.
struct Changes(BTreeMap<String, Kind>);

impl Changes {
    fn new() -> Self {
        Self(BTreeMap::new())
    }

    fn insert(&mut self, path: &Path, kind: Kind) {
        self.0.insert(path.to_string_lossy().into_owned(), kind);
    }

    fn into_sorted(self) -> Vec<Change> {
        self.0
            .into_iter()
            .map(|(path, kind)| Change { kind, path })
            .collect()
    }
}

/// The JSON Lines text of `changes`.
pub fn to_json_lines(changes: &[Change]) -> String {
    changes
        .iter()
        .filter_map(|change| serde_json::to_string(change).ok())
        .map(|line| line + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whiteout::tests::{make_opaque, make_whiteout};
    use std::path::PathBuf;

    fn change(kind: Kind, path: &str) -> Change {
        Change {
            kind,
            path: path.to_string(),
        }
    }

    /// A lower with etc/{keep,edit,gone}, old/{a,b}, swap/{x,y}, and an
    /// upper as overlayfs leaves it after: edit etc/edit, add etc/new,
    /// rm etc/gone, rm -rf old, rm -rf swap && mkdir swap && touch swap/z,
    /// mkdir fresh && touch fresh/f.
    fn scripted() -> Option<(tempfile::TempDir, PathBuf, Lowers)> {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let upper = dir.path().join("upper");
        for d in [
            "lower/etc",
            "lower/old",
            "lower/swap",
            "upper/etc",
            "upper/swap",
            "upper/fresh",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in [
            "lower/etc/keep",
            "lower/etc/edit",
            "lower/etc/gone",
            "lower/old/a",
            "lower/old/b",
            "lower/swap/x",
            "lower/swap/y",
            "upper/etc/edit",
            "upper/etc/new",
            "upper/swap/z",
            "upper/fresh/f",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        if !make_whiteout(&upper.join("etc/gone")) || !make_whiteout(&upper.join("old")) {
            eprintln!("skipped: mknod needs root");
            return None;
        }
        if !make_opaque(&upper.join("swap")) {
            eprintln!("skipped: no user xattrs on this filesystem");
            return None;
        }
        let lowers = Lowers::new(vec![lower]);
        Some((dir, upper, lowers))
    }

    #[test]
    fn diff_with_lowers_tells_added_from_changed_and_lists_deletions() {
        let Some((_dir, upper, lowers)) = scripted() else {
            return;
        };
        assert_eq!(
            diff_upper(&upper, Some(&lowers)).unwrap(),
            vec![
                change(Kind::C, "/etc"),
                change(Kind::C, "/etc/edit"),
                change(Kind::D, "/etc/gone"),
                change(Kind::A, "/etc/new"),
                change(Kind::A, "/fresh"),
                change(Kind::A, "/fresh/f"),
                change(Kind::D, "/old"),
                change(Kind::C, "/swap"),
                change(Kind::D, "/swap/x"),
                change(Kind::D, "/swap/y"),
                change(Kind::A, "/swap/z"),
            ]
        );
    }

    #[test]
    fn diff_without_lowers_reports_whiteouts_and_guesses_added() {
        let Some((_dir, upper, _lowers)) = scripted() else {
            return;
        };
        let changes = diff_upper(&upper, None).unwrap();
        assert!(changes.contains(&change(Kind::D, "/old")));
        assert!(changes.contains(&change(Kind::D, "/etc/gone")));
        // Nothing in this hand-made upper carries an origin xattr.
        assert!(changes.contains(&change(Kind::A, "/etc/edit")));
    }

    #[test]
    fn host_upper_subdirs_map_to_container_paths() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host");
        let upper = dir.path().join("upper");
        for d in [
            "host/usr/share",
            "host/var/lib/x",
            "upper/usr/share",
            "upper/var%2Flib%2Fx",
            "upper/etc",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("upper/usr/share/new"), "x").unwrap();
        std::fs::write(dir.path().join("upper/var%2Flib%2Fx/f"), "x").unwrap();
        assert_eq!(
            diff_host(&upper, &host).unwrap(),
            vec![
                change(Kind::C, "/usr"),
                change(Kind::C, "/usr/share"),
                change(Kind::A, "/usr/share/new"),
                change(Kind::C, "/var"),
                change(Kind::C, "/var/lib"),
                change(Kind::C, "/var/lib/x"),
                change(Kind::A, "/var/lib/x/f"),
            ]
        );
    }

    #[test]
    fn output_is_one_json_object_per_line() {
        let text = to_json_lines(&[change(Kind::D, "/x")]);
        assert_eq!(text, "{\"kind\":\"D\",\"path\":\"/x\"}\n");
    }
}
