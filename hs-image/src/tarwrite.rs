//! Writing files into a tar the way layers are written: owner, mode, mtime,
//! xattrs (PAX `SCHILY.xattr.*`), hard links as link entries, and overlayfs
//! whiteouts turned back into docker's `.wh.` files.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::extract::{OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};

/// A tar being written, remembering inodes already written so a second
/// name of the same file becomes a hard link.
pub struct LayerWriter<W: Write> {
    builder: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
    /// Write `.wh..wh..opq` into opaque dirs (a layer), or not (a flat tar).
    opaque_markers: bool,
}

impl<W: Write> LayerWriter<W> {
    pub fn new(out: W, opaque_markers: bool) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        Self {
            builder,
            links: HashMap::new(),
            opaque_markers,
        }
    }

    /// Writes the node at `source` under the archive name `name`.
    pub fn append(&mut self, source: &Path, name: &Path, meta: &Metadata) -> Result<()> {
        let file_type = meta.file_type();
        if is_whiteout(meta) {
            let hidden = name.file_name().unwrap_or_default();
            let mut marker = std::ffi::OsString::from(WHITEOUT_PREFIX);
            marker.push(hidden);
            return self.empty_file(&name.with_file_name(marker), meta.mtime());
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        let xattrs = if file_type.is_dir() || file_type.is_file() {
            read_xattrs(source)
        } else {
            Vec::new()
        };
        if !xattrs.is_empty() {
            let pax: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))
                .ctx("write", name)?;
        }
        if file_type.is_symlink() {
            let target = std::fs::read_link(source).ctx("read link", source)?;
            header.set_size(0);
            return self
                .builder
                .append_link(&mut header, name, &target)
                .ctx("write", name);
        }
        if file_type.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                let first = first.clone();
                return self
                    .builder
                    .append_link(&mut header, name, &first)
                    .ctx("write", name);
            }
            self.links.insert(key, name.to_path_buf());
        }
        if file_type.is_file() {
            let file = std::fs::File::open(source).ctx("open", source)?;
            return self
                .builder
                .append_data(&mut header, name, file)
                .ctx("write", name);
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            let rdev = meta.rdev();
            header
                .set_device_major(libc::major(rdev))
                .ctx("write", name)?;
            header
                .set_device_minor(libc::minor(rdev))
                .ctx("write", name)?;
        }
        header.set_size(0);
        self.builder
            .append_data(&mut header, name, std::io::empty())
            .ctx("write", name)?;
        if file_type.is_dir() && self.opaque_markers && is_opaque(source) {
            self.empty_file(&name.join(OPAQUE_MARKER), meta.mtime())?;
        }
        Ok(())
    }

    fn empty_file(&mut self, name: &Path, mtime: i64) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o600);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime.max(0) as u64);
        self.builder
            .append_data(&mut header, name, std::io::empty())
            .ctx("write", name)
    }

    pub fn finish(self) -> Result<W> {
        self.builder.into_inner().ctx("finish", "archive")
    }
}

/// An overlayfs whiteout: a character device 0/0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// An overlayfs opaque directory (hides everything below it).
pub fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// The xattrs worth carrying in a layer: not overlayfs' own bookkeeping.
fn read_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    names
        .filter(|n| !n.as_bytes().starts_with(b"trusted.overlay."))
        .filter_map(|n| {
            let value = xattr::get(path, &n).ok()??;
            Some((OsStr::to_string_lossy(&n).into_owned(), value))
        })
        .collect()
}

/// The names in `dir`, sorted (byte order), so archives are reproducible.
pub fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .ctx("read", dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .ctx("read", dir)?;
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    fn write(dir: &Path, markers: bool) -> Vec<u8> {
        let mut writer = LayerWriter::new(Vec::new(), markers);
        for name in sorted_names(dir).unwrap() {
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            writer.append(&path, Path::new(&name), &meta).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn second_name_of_a_file_is_a_hard_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let listed = entries(&write(dir.path(), true));
        assert_eq!(listed[0], ("a".to_string(), tar::EntryType::Regular));
        assert_eq!(listed[1], ("b".to_string(), tar::EntryType::Link));
    }

    #[test]
    fn overlay_whiteout_and_opaque_dir_become_docker_markers() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let gone =
            std::ffi::CString::new(dir.path().join("gone").as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mknod(gone.as_ptr(), libc::S_IFCHR, 0) }, 0);
        std::fs::create_dir(dir.path().join("opaque")).unwrap();
        xattr::set(dir.path().join("opaque"), OPAQUE_XATTR, b"y").unwrap();
        let names: Vec<String> = entries(&write(dir.path(), true))
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, vec![".wh.gone", "opaque", "opaque/.wh..wh..opq"]);
        let flat: Vec<String> = entries(&write(dir.path(), false))
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(flat, vec![".wh.gone", "opaque"]);
    }
}
