//! The checks made before anything is created or mounted, so bad input
//! fails with a clear message and changes nothing. Each mirrors a refusal
//! the kernel would otherwise give as a bare EINVAL.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{OverlayError, Result};
use crate::paths;

/// Every lower must be an existing directory.
pub fn lowers(lowers: &[PathBuf]) -> Result<()> {
    if lowers.is_empty() {
        return Err(OverlayError::BadArgument {
            flag: "--lower",
            value: String::new(),
            why: "at least one lower dir is needed",
        });
    }
    for lower in lowers {
        match std::fs::metadata(lower) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(OverlayError::LowerNotDir(lower.clone())),
            Err(_) => return Err(OverlayError::MissingLower(lower.clone())),
        }
    }
    Ok(())
}

/// The target must be an existing directory.
pub fn target(target: &Path) -> Result<()> {
    match std::fs::metadata(target) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(OverlayError::TargetNotDir(target.to_path_buf())),
        Err(_) => Err(OverlayError::MissingTarget(target.to_path_buf())),
    }
}

/// Upper and work dirs (which may not exist yet) must be separate trees on
/// one filesystem that is not itself an overlay. Takes resolved paths.
pub fn upper_and_work(upper: &Path, work: &Path) -> Result<()> {
    if paths::is_within(upper, work) || paths::is_within(work, upper) {
        return Err(OverlayError::NestedUpperWork {
            upper: upper.to_path_buf(),
            work: work.to_path_buf(),
        });
    }
    let upper_dev = dir_or_creatable("upper dir", upper)?;
    let work_dev = dir_or_creatable("work dir", work)?;
    if on_overlayfs(paths::existing_ancestor(upper)) {
        return Err(OverlayError::UpperOnOverlay(upper.to_path_buf()));
    }
    if upper_dev != work_dev {
        return Err(OverlayError::DifferentFilesystems {
            upper: upper.to_path_buf(),
            work: work.to_path_buf(),
        });
    }
    Ok(())
}

/// Upper and work dirs (resolved) must not lie inside a lower (resolved):
/// the kernel mounts such an overlay, but looking them up through it fails
/// with ELOOP ("overlapping layers").
pub fn outside_lowers(upper: &Path, work: &Path, lowers: &[PathBuf]) -> Result<()> {
    for (what, dir) in [("upper dir", upper), ("work dir", work)] {
        if let Some(lower) = lowers.iter().find(|lower| paths::is_within(dir, lower)) {
            return Err(OverlayError::InsideLower {
                what,
                path: dir.to_path_buf(),
                lower: lower.clone(),
            });
        }
    }
    Ok(())
}

/// A work dir last mounted with `volatile` keeps `work/incompat/volatile`,
/// and the kernel refuses it with a bare EINVAL (the reason goes only to
/// the kernel log).
pub fn no_volatile_leftover(work: &Path) -> Result<()> {
    if work
        .join("work/incompat/volatile")
        .symlink_metadata()
        .is_ok()
    {
        return Err(OverlayError::VolatileLeftover(work.to_path_buf()));
    }
    Ok(())
}

/// The device `path` is (or will be, once created) on; an existing `path`
/// must be a directory, and so must the ancestor it will be created in.
fn dir_or_creatable(what: &'static str, path: &Path) -> Result<u64> {
    let existing = paths::existing_ancestor(path);
    let meta = std::fs::metadata(existing).map_err(|e| OverlayError::io(what, existing, e))?;
    if !meta.is_dir() {
        return Err(OverlayError::NotDir {
            what,
            path: existing.to_path_buf(),
        });
    }
    Ok(meta.dev())
}

fn on_overlayfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|fs| fs.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_dir_lowers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            lowers(&[dir.path().join("nope")]),
            Err(OverlayError::MissingLower(_))
        ));
        assert!(matches!(lowers(&[file]), Err(OverlayError::LowerNotDir(_))));
        assert!(lowers(&[dir.path().to_path_buf()]).is_ok());
        assert!(lowers(&[]).is_err());
    }

    #[test]
    fn target_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(target(&file), Err(OverlayError::TargetNotDir(_))));
        assert!(matches!(
            target(&dir.path().join("nope")),
            Err(OverlayError::MissingTarget(_))
        ));
    }

    #[test]
    fn nested_upper_and_work_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("u");
        assert!(matches!(
            upper_and_work(&upper, &upper.join("w")),
            Err(OverlayError::NestedUpperWork { .. })
        ));
    }

    #[test]
    fn upper_and_work_on_different_filesystems_are_refused() {
        // /proc is another filesystem than any temp dir; the check runs
        // before anything would be created there.
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            upper_and_work(&dir.path().join("u"), Path::new("/proc/hs-work")),
            Err(OverlayError::DifferentFilesystems { .. })
        ));
    }

    #[test]
    fn upper_inside_a_lower_is_refused() {
        let lowers = [PathBuf::from("/"), PathBuf::from("/srv/image")];
        assert!(matches!(
            outside_lowers(Path::new("/var/u"), Path::new("/var/w"), &lowers[..1]),
            Err(OverlayError::InsideLower { .. })
        ));
        assert!(outside_lowers(Path::new("/var/u"), Path::new("/var/w"), &lowers[1..]).is_ok());
    }

    #[test]
    fn a_volatile_leftover_in_the_work_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(no_volatile_leftover(dir.path()).is_ok());
        std::fs::create_dir_all(dir.path().join("work/incompat/volatile")).unwrap();
        assert!(matches!(
            no_volatile_leftover(dir.path()),
            Err(OverlayError::VolatileLeftover(_))
        ));
    }

    #[test]
    fn upper_and_work_not_yet_existing_on_one_filesystem_pass() {
        let dir = tempfile::tempdir().unwrap();
        assert!(upper_and_work(&dir.path().join("a/u"), &dir.path().join("a/w")).is_ok());
    }
}
