//! The merged view of read-only layers (top first) that `diff` compares an
//! upper against, honouring the layers' own whiteouts and opaque dirs, so
//! "exists below" means what the container saw before it changed anything.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::whiteout::{marker, Marker};

#[derive(Debug, Clone)]
pub struct Lowers {
    layers: Vec<PathBuf>,
}

impl Lowers {
    pub fn new(layers: Vec<PathBuf>) -> Self {
        Self { layers }
    }

    /// True when `rel` (relative to the layer roots) exists in the merged view.
    pub fn exists(&self, rel: &Path) -> bool {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return true;
        };
        for dir in self.dir_layers(parent) {
            let path = dir.join(name);
            if let Ok(meta) = path.symlink_metadata() {
                return marker(&path, &meta) != Marker::Whiteout;
            }
        }
        false
    }

    /// The names visible in the merged directory `rel`.
    pub fn children(&self, rel: &Path) -> BTreeSet<OsString> {
        let mut seen = BTreeSet::new();
        let mut visible = BTreeSet::new();
        for dir in self.dir_layers(rel) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if !seen.insert(name.clone()) {
                    continue;
                }
                let path = entry.path();
                let whiteout = path
                    .symlink_metadata()
                    .is_ok_and(|meta| marker(&path, &meta) == Marker::Whiteout);
                if !whiteout {
                    visible.insert(name);
                }
            }
        }
        visible
    }

    /// The layer directories that make up the merged directory `rel`, top
    /// first: descending stops at a whiteout, a non-directory or an opaque
    /// directory, as overlayfs lookup does. Empty when `rel` is no directory.
    fn dir_layers(&self, rel: &Path) -> Vec<PathBuf> {
        let mut active = self.layers.clone();
        for component in rel.components() {
            let mut next = Vec::new();
            for dir in &active {
                let path = dir.join(component);
                let Ok(meta) = path.symlink_metadata() else {
                    continue;
                };
                match marker(&path, &meta) {
                    Marker::Whiteout => break,
                    _ if !meta.is_dir() => break,
                    Marker::OpaqueDir => {
                        next.push(path);
                        break;
                    }
                    Marker::Plain => next.push(path),
                }
            }
            if next.is_empty() {
                return next;
            }
            active = next;
        }
        active
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whiteout::tests::{make_opaque, make_whiteout};

    fn layers() -> (tempfile::TempDir, Lowers) {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        let bottom = dir.path().join("bottom");
        for d in [
            "top/d",
            "top/o",
            "bottom/d",
            "bottom/o",
            "bottom/f-then-dir",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in ["bottom/d/a", "bottom/o/hidden", "top/d/b", "top/f-then-dir"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        std::fs::write(dir.path().join("top/o/shown"), "x").unwrap();
        (dir, Lowers::new(vec![top, bottom]))
    }

    #[test]
    fn names_in_any_layer_exist() {
        let (_dir, lowers) = layers();
        assert!(lowers.exists(Path::new("d/a")));
        assert!(lowers.exists(Path::new("d/b")));
        assert!(!lowers.exists(Path::new("d/c")));
        assert_eq!(
            lowers.children(Path::new("d")),
            ["a", "b"].iter().map(OsString::from).collect()
        );
    }

    #[test]
    fn a_file_in_a_higher_layer_hides_a_dir_below() {
        let (dir, lowers) = layers();
        std::fs::write(dir.path().join("bottom/f-then-dir/inner"), "x").unwrap();
        assert!(lowers.exists(Path::new("f-then-dir")));
        assert!(!lowers.exists(Path::new("f-then-dir/inner")));
    }

    #[test]
    fn whiteouts_in_a_layer_delete_below() {
        let (dir, lowers) = layers();
        if !make_whiteout(&dir.path().join("top/d/a")) {
            eprintln!("skipped: mknod needs root");
            return;
        }
        assert!(!lowers.exists(Path::new("d/a")));
        assert!(!lowers
            .children(Path::new("d"))
            .contains(&OsString::from("a")));
    }

    #[test]
    fn an_opaque_dir_in_a_layer_hides_below() {
        let (dir, lowers) = layers();
        if !make_opaque(&dir.path().join("top/o")) {
            eprintln!("skipped: no user xattrs on this filesystem");
            return;
        }
        assert!(lowers.exists(Path::new("o/shown")));
        assert!(!lowers.exists(Path::new("o/hidden")));
    }
}
