//! How overlayfs marks things in a layer: a whiteout (a char device 0/0, or
//! on newer kernels an empty file with an `overlay.whiteout` xattr) deletes
//! the name below it; an opaque dir (`overlay.opaque` = `y`) hides
//! everything below it; `overlay.origin` says an entry was copied up from
//! a lower one. The xattrs live in `trusted.` (mounted by root) or `user.`
//! (`userxattr` mounts).

use std::ffi::CString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Whiteout,
    OpaqueDir,
    Plain,
}

/// What the layer entry at `path` (with its lstat `meta`) means to overlayfs.
pub fn marker(path: &Path, meta: &Metadata) -> Marker {
    let file_type = meta.file_type();
    if file_type.is_char_device() && meta.rdev() == 0 {
        return Marker::Whiteout;
    }
    if file_type.is_file() && meta.len() == 0 && overlay_xattr(path, "whiteout").is_some() {
        return Marker::Whiteout;
    }
    if file_type.is_dir() && overlay_xattr(path, "opaque").as_deref() == Some(b"y") {
        return Marker::OpaqueDir;
    }
    Marker::Plain
}

/// True when the entry was copied up from a lower layer (so it is a
/// change, not an addition), as far as the upper alone can tell.
pub fn copied_up(path: &Path) -> bool {
    overlay_xattr(path, "origin").is_some()
}

/// `trusted.overlay.NAME` or `user.overlay.NAME` of `path` (not followed).
fn overlay_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    ["trusted.overlay.", "user.overlay."]
        .iter()
        .find_map(|prefix| lgetxattr(path, &format!("{prefix}{name}")))
}

fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let c_name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: lgetxattr writes at most buf.len() bytes into buf.
    let len = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A whiteout as overlayfs makes it; needs CAP_MKNOD (tests run as root).
    pub fn make_whiteout(path: &Path) -> bool {
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .is_ok()
    }

    /// Marks `dir` opaque in the `user.` namespace, which tmpfs and ext4
    /// allow without root.
    pub fn make_opaque(dir: &Path) -> bool {
        let c_path = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain setxattr of a one-byte value.
        unsafe {
            libc::lsetxattr(
                c_path.as_ptr(),
                c"user.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            ) == 0
        }
    }

    #[test]
    fn char_device_zero_is_a_whiteout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        if !make_whiteout(&path) {
            eprintln!("skipped: mknod needs root");
            return;
        }
        let meta = path.symlink_metadata().unwrap();
        assert_eq!(marker(&path, &meta), Marker::Whiteout);
    }

    #[test]
    fn opaque_xattr_marks_an_opaque_dir_and_plain_dirs_are_plain() {
        let dir = tempfile::tempdir().unwrap();
        let opaque = dir.path().join("o");
        std::fs::create_dir(&opaque).unwrap();
        let plain = dir.path().join("p");
        std::fs::create_dir(&plain).unwrap();
        if !make_opaque(&opaque) {
            eprintln!("skipped: no user xattrs on this filesystem");
            return;
        }
        assert_eq!(
            marker(&opaque, &opaque.symlink_metadata().unwrap()),
            Marker::OpaqueDir
        );
        assert_eq!(
            marker(&plain, &plain.symlink_metadata().unwrap()),
            Marker::Plain
        );
    }
}
