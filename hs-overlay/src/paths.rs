//! Path arithmetic the checks rely on: an absolute, symlink-free spelling of
//! a path that may not exist yet, and "lies at or below".

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};

/// `path` made absolute with every symlink of its existing part resolved;
/// the missing rest is appended lexically (`.` dropped, `..` applied). Two
/// spellings of one place compare equal, which the overlap checks need.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut missing: Vec<&OsStr> = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut resolved) => {
                for part in missing.iter().rev() {
                    if *part == ".." {
                        resolved.pop();
                    } else if *part != "." {
                        resolved.push(part);
                    }
                }
                return Ok(resolved);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // file_name() is None for a trailing `..`; the component is not.
                let (Some(parent), Some(last)) =
                    (existing.parent(), existing.components().next_back())
                else {
                    return Err(e);
                };
                missing.push(last.as_os_str());
                existing = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

/// True when `path` is `dir` or lies below it (both already resolved).
pub fn is_within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

/// The nearest ancestor of `path` (or `path` itself) that exists: where a
/// directory about to be created will live.
pub fn existing_ancestor(path: &Path) -> &Path {
    let mut current = path;
    while current.symlink_metadata().is_err() {
        match current.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => current = parent,
            _ => return Path::new("."),
        }
    }
    current
}

/// A relative path below `/` from user input (`usr`, `/var/cache/x`), with
/// `.`/`..` refused so it can never step outside the root it is joined to.
pub fn relative_below_root(text: &str) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for component in Path::new(text).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => rel.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!rel.as_os_str().is_empty()).then_some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_appends_the_missing_part_to_the_canonical_existing_part() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        let resolved = resolve(&real.join("link/a/./b/../c")).unwrap();
        assert_eq!(resolved, real.join("a/c"));
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within(Path::new("/var/lib/hs"), Path::new("/var")));
        assert!(is_within(Path::new("/var"), Path::new("/var")));
        assert!(!is_within(Path::new("/variable"), Path::new("/var")));
    }

    #[test]
    fn relative_below_root_strips_the_root_and_refuses_dotdot() {
        assert_eq!(relative_below_root("/usr/"), Some(PathBuf::from("usr")));
        assert_eq!(
            relative_below_root("var/./cache"),
            Some(PathBuf::from("var/cache"))
        );
        assert_eq!(relative_below_root("/"), None);
        assert_eq!(relative_below_root("../etc"), None);
        assert_eq!(relative_below_root("a/../../etc"), None);
    }
}
