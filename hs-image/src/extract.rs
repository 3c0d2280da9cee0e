//! Safe layer extraction: a tar stream becomes a layer directory, and no
//! entry can write outside it.
//!
//! Every entry's parent is reached from the layer's own directory fd one
//! component at a time with `O_NOFOLLOW`, so neither `..` (refused), an
//! absolute name (rooted at the layer), nor a symlink planted by an earlier entry (`a -> /etc`, then
//! `a/passwd`) can lead out; hard links are resolved the same way. Symlink
//! *targets* are stored as they are: they resolve inside the container.
//! Ownership, modes, mtimes and xattrs are kept (ownership and device nodes
//! only as root), and docker's whiteout files become overlayfs ones
//! (`.wh.NAME` → char device 0/0, `.wh..wh..opq` → `trusted.overlay.opaque`).

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use crate::digest::HashingReader;
use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Open parent dir fds kept by one extraction.
const CACHED_DIRS: usize = 128;

/// What extracting a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// sha256 of the uncompressed tar stream: the layer's diff id.
    pub diff_id: String,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
    pub entries: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Turn docker whiteout files into overlayfs whiteouts (image layers);
    /// off for archives that are not layers (a `docker save` wrapper).
    pub whiteouts: bool,
    /// Set ownership and create device nodes (root only).
    pub privileged: bool,
}

impl Options {
    /// A layer, with privileges when running as root.
    pub fn layer() -> Self {
        Self {
            whiteouts: true,
            privileged: nix::unistd::geteuid().is_root(),
        }
    }

    /// A plain archive of files (no whiteouts, no owners, no devices).
    pub fn plain() -> Self {
        Self {
            whiteouts: false,
            privileged: false,
        }
    }
}

/// Extracts the tar stream `reader` into the existing empty directory
/// `dest`. On error `dest` holds a partial tree: the caller stages it in a
/// temp dir and removes it.
///
/// Reading (and decompressing, when `reader` is a decoder) and hashing run
/// on a second thread, like `tar -xz` runs gzip beside tar, so they overlap
/// with the file writes.
pub fn extract<R: Read + Send + 'static>(
    reader: R,
    dest: &Path,
    options: Options,
) -> Result<Extracted> {
    let root = open_path_dir(dest)?;
    let (mut stream, producer) = read_ahead(reader);
    let mut extractor = Extractor {
        root,
        dest: dest.to_path_buf(),
        cache: HashMap::new(),
        dirs: Vec::new(),
        options,
        buf: vec![0; 256 * 1024],
    };
    let bad = |e: std::io::Error| Error::BadArchive(dest.display().to_string(), e.to_string());
    let mut entries = 0;
    {
        let mut archive = tar::Archive::new(&mut stream);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            extractor.entry(&mut entry)?;
            entries += 1;
        }
    }
    // The diff id covers the whole stream, end-of-archive padding included.
    std::io::copy(&mut stream, &mut std::io::sink()).map_err(bad)?;
    drop(stream);
    extractor.finish_dirs();
    let (digest, size) = producer.join().map_err(|_| {
        Error::BadArchive(dest.display().to_string(), "reader thread failed".into())
    })?;
    Ok(Extracted {
        diff_id: digest,
        size,
        entries,
    })
}

/// Bytes per chunk handed from the reader thread to the extractor.
const CHUNK: usize = 512 * 1024;

/// Starts a thread that reads `reader` to its end in chunks, hashing them;
/// returns the reading end and the thread, which yields the digest and
/// byte count. If the extractor stops early it drops the reading end and
/// the thread ends at its next chunk (it is not joined then: it may sit in
/// a read of a pipe nobody closes).
fn read_ahead<R: Read + Send + 'static>(
    mut reader: R,
) -> (ChunkReader, std::thread::JoinHandle<(String, u64)>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
    let producer = std::thread::spawn(move || {
        let mut hasher = HashingReader::new(std::io::empty());
        loop {
            let mut chunk = vec![0; CHUNK];
            let mut filled = 0;
            let result = loop {
                match reader.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == CHUNK {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            if let Err(e) = result {
                let _ = tx.send(Err(e));
                break;
            }
            if filled == 0 {
                break;
            }
            chunk.truncate(filled);
            hasher.update(&chunk);
            if tx.send(Ok(chunk)).is_err() {
                break;
            }
        }
        (hasher.digest(), hasher.count())
    });
    (ChunkReader::new(rx), producer)
}

/// Reads a stream handed over in chunks through a channel (the
/// extractor's side of [`read_ahead`]); a closed channel is the end of the
/// stream.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>) -> Self {
        Self {
            rx,
            current: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct Extractor {
    root: OwnedFd,
    dest: PathBuf,
    /// Parent directories walked to recently: entries come grouped by
    /// directory, so most lookups hit, and a miss walks on from the longest
    /// cached prefix.
    cache: HashMap<Vec<OsString>, OwnedFd>,
    /// Directory mtimes, set last (creating children changes them).
    dirs: Vec<(Vec<OsString>, i64)>,
    options: Options,
    buf: Vec<u8>,
}

/// Metadata of one entry as the header gives it.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let path = entry
            .path()
            .map_err(|e| Error::BadArchive(self.dest.display().to_string(), e.to_string()))?
            .into_owned();
        let components = components_of(&path)?;
        let meta = self.meta(entry, &path)?;
        let Some((name, parents)) = components.split_last() else {
            // `./` itself: the layer root's own metadata.
            if kind.is_dir() {
                self.apply_meta(self.root.as_raw_fd(), &meta, &path)?;
                self.dirs.push((Vec::new(), meta.mtime));
            }
            return Ok(());
        };
        let parent = self.parent(parents, &path)?;
        let name_c = cstring(name, &path)?;
        if self.options.whiteouts {
            if name == OPAQUE_MARKER {
                return set_xattr(parent, OPAQUE_XATTR, b"y").ctx("mark opaque", &path);
            }
            if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
                return self.whiteout(parent, hidden, &path);
            }
        }
        match kind {
            EntryType::Directory => {
                self.directory(parent, &name_c, &meta, &path)?;
                self.dirs.push((components.clone(), meta.mtime));
                Ok(())
            }
            EntryType::Regular | EntryType::Continuous => {
                self.regular(parent, &name_c, entry, &meta, &path)
            }
            EntryType::Symlink => {
                let target = link_name(entry, &path)?;
                let target_c = cstring(target.as_os_str(), &path)?;
                let create = || {
                    check(unsafe { libc::symlinkat(target_c.as_ptr(), parent, name_c.as_ptr()) })
                };
                match create() {
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                        self.remove_existing(parent, &name_c, &path)?;
                        create()
                    }
                    other => other,
                }
                .ctx("create symlink", &path)?;
                self.apply_meta_at(parent, &name_c, &meta, &path)
            }
            EntryType::Link => {
                let target = link_name(entry, &path)?;
                self.hardlink(parent, &name_c, &target, &path)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let format = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if format != libc::S_IFIFO && !self.options.privileged {
                    hs_common::trace::log("skip-device", &path.display().to_string());
                    return Ok(());
                }
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                self.remove_existing(parent, &name_c, &path)?;
                let dev = libc::makedev(major, minor);
                check(unsafe { libc::mknodat(parent, name_c.as_ptr(), format | 0o600, dev) })
                    .ctx("create device node", &path)?;
                self.apply_meta_at(parent, &name_c, &meta, &path)
            }
            other => {
                hs_common::trace::log("skip-entry", &format!("{} {other:?}", path.display()));
                Ok(())
            }
        }
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<R>, path: &Path) -> Result<Meta> {
        let bad = |e: std::io::Error| Error::unsafe_entry(path, format!("bad header: {e}"));
        let header = entry.header();
        let mode = header.mode().map_err(bad)? & 0o7777;
        // Some archivers leave these fields blank; 0 is what tar assumes.
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().map_err(bad)? {
            for extension in extensions {
                let extension = extension.map_err(bad)?;
                let Ok(key) = extension.key() else { continue };
                let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
                    continue;
                };
                // overlayfs' own xattrs would let a layer redirect lookups.
                if name.starts_with("trusted.overlay.") {
                    continue;
                }
                if let Ok(name) = CString::new(name) {
                    xattrs.push((name, extension.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// The fd of the directory `parents` below the root, created as
    /// needed, never through a symlink.
    fn parent(&mut self, parents: &[OsString], path: &Path) -> Result<RawFd> {
        if parents.is_empty() {
            return Ok(self.root.as_raw_fd());
        }
        if let Some(fd) = self.cache.get(parents) {
            return Ok(fd.as_raw_fd());
        }
        let (start, from) = (1..parents.len())
            .rev()
            .find_map(|n| self.cache.get(&parents[..n]).map(|fd| (n, fd)))
            .unwrap_or((0, &self.root));
        let fd = walk(from, &parents[start..], true, path)?;
        let raw = fd.as_raw_fd();
        if self.cache.len() >= CACHED_DIRS {
            self.cache.clear();
        }
        self.cache.insert(parents.to_vec(), fd);
        Ok(raw)
    }

    fn whiteout(&mut self, parent: RawFd, hidden: &[u8], path: &Path) -> Result<()> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(Error::unsafe_entry(path, "bad whiteout name"));
        }
        let name = cstring(OsStr::from_bytes(hidden), path)?;
        self.remove_existing(parent, &name, path)?;
        if !self.options.privileged {
            return Err(Error::unsafe_entry(
                path,
                "whiteouts can only be created as root",
            ));
        }
        check(unsafe { libc::mknodat(parent, name.as_ptr(), libc::S_IFCHR, 0) })
            .ctx("create whiteout", path)
    }

    fn directory(&mut self, parent: RawFd, name: &CString, meta: &Meta, path: &Path) -> Result<()> {
        match lstat_at(parent, name) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Ok(_) => {
                self.remove_existing(parent, name, path)?;
                check(unsafe { libc::mkdirat(parent, name.as_ptr(), 0o700) })
                    .ctx("create directory", path)?;
            }
            Err(_) => check(unsafe { libc::mkdirat(parent, name.as_ptr(), 0o700) })
                .ctx("create directory", path)?,
        }
        let fd = open_at(parent, name, libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(|e| nofollow_error(e, path, "create directory"))?;
        self.apply_meta(fd.as_raw_fd(), meta, path)
    }

    fn regular<R: Read>(
        &mut self,
        parent: RawFd,
        name: &CString,
        entry: &mut tar::Entry<R>,
        meta: &Meta,
        path: &Path,
    ) -> Result<()> {
        let create = || {
            open_at_mode(
                parent,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            )
        };
        // Most entries are new: try first, clear the way only when needed.
        let fd = match create() {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.remove_existing(parent, name, path)?;
                create()
            }
            other => other,
        }
        .ctx("create file", path)?;
        let mut file = File::from(fd);
        loop {
            let n = entry
                .read(&mut self.buf)
                .map_err(|e| Error::BadArchive(self.dest.display().to_string(), e.to_string()))?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buf[..n]).ctx("write", path)?;
        }
        self.apply_meta(file.as_raw_fd(), meta, path)
    }

    fn hardlink(
        &mut self,
        parent: RawFd,
        name: &CString,
        target: &Path,
        path: &Path,
    ) -> Result<()> {
        let target_components = components_of(target)?;
        let Some((target_name, target_parents)) = target_components.split_last() else {
            return Err(Error::unsafe_entry(path, "hard link to the root"));
        };
        let target_parent = walk(&self.root, target_parents, false, path)?;
        let target_name = cstring(target_name, path)?;
        self.remove_existing(parent, name, path)?;
        check(unsafe {
            libc::linkat(
                target_parent.as_raw_fd(),
                target_name.as_ptr(),
                parent,
                name.as_ptr(),
                0,
            )
        })
        .ctx("create hard link", path)
    }

    /// Whatever is at `name` goes: a later entry replaces an earlier one.
    fn remove_existing(&mut self, parent: RawFd, name: &CString, path: &Path) -> Result<()> {
        if unsafe { libc::unlinkat(parent, name.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOENT) => Ok(()),
            Some(libc::EISDIR) | Some(libc::EPERM) => {
                // The cached parent may be inside the tree about to go.
                self.cache.clear();
                let dir = PathBuf::from(format!("/proc/self/fd/{parent}"))
                    .join(OsStr::from_bytes(name.as_bytes()));
                std::fs::remove_dir_all(&dir).ctx("replace directory", path)
            }
            _ => Err(Error::io("replace", path, err)),
        }
    }

    fn apply_meta(&self, fd: RawFd, meta: &Meta, path: &Path) -> Result<()> {
        if self.options.privileged {
            check(unsafe { libc::fchown(fd, meta.uid, meta.gid) }).ctx("chown", path)?;
        }
        // After chown, which clears set-id bits.
        check(unsafe { libc::fchmod(fd, meta.mode) }).ctx("chmod", path)?;
        for (name, value) in &meta.xattrs {
            let rc = unsafe {
                libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0)
            };
            if rc != 0 {
                // Some filesystems or unprivileged runs cannot hold every
                // namespace; the file itself still matters more.
                hs_common::trace::log("skip-xattr", &format!("{} {name:?}", path.display()));
            }
        }
        let times = [timespec(meta.mtime), timespec(meta.mtime)];
        check(unsafe { libc::futimens(fd, times.as_ptr()) }).ctx("set mtime", path)
    }

    /// Metadata of a node that cannot be opened (symlink, device).
    fn apply_meta_at(&self, parent: RawFd, name: &CString, meta: &Meta, path: &Path) -> Result<()> {
        let is_link = lstat_at(parent, name)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
            .unwrap_or(false);
        if self.options.privileged {
            check(unsafe {
                libc::fchownat(
                    parent,
                    name.as_ptr(),
                    meta.uid,
                    meta.gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })
            .ctx("chown", path)?;
        }
        if !is_link {
            check(unsafe { libc::fchmodat(parent, name.as_ptr(), meta.mode, 0) })
                .ctx("chmod", path)?;
        }
        let times = [timespec(meta.mtime), timespec(meta.mtime)];
        check(unsafe {
            libc::utimensat(
                parent,
                name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .ctx("set mtime", path)
    }

    fn finish_dirs(&mut self) {
        self.cache.clear();
        let times = |mtime| [timespec(mtime), timespec(mtime)];
        for (components, mtime) in self.dirs.iter().rev() {
            let t = times(*mtime);
            if components.is_empty() {
                unsafe { libc::futimens(self.root.as_raw_fd(), t.as_ptr()) };
            } else if let Ok(fd) = walk(&self.root, components, false, Path::new("")) {
                unsafe { libc::futimens(fd.as_raw_fd(), t.as_ptr()) };
            }
        }
    }
}

/// The normal components of an entry name, relative to the layer root.
/// An absolute name is rooted at the layer, as docker and GNU tar read it
/// (layer tars made from `/` carry entries like `/` or `/etc/x`); `..` is
/// refused outright, since nothing legitimate climbs out of the layer.
pub fn components_of(path: &Path) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c.to_os_string()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return Err(Error::unsafe_entry(path, "path contains `..`")),
        }
    }
    Ok(out)
}

/// Opens the directory `components` below `root` one step at a time,
/// never following a symlink; creates missing ones when `create`.
fn walk(root: &OwnedFd, components: &[OsString], create: bool, path: &Path) -> Result<OwnedFd> {
    let mut current: Option<OwnedFd> = None;
    for component in components {
        let at = current
            .as_ref()
            .map_or(root.as_raw_fd(), |fd| fd.as_raw_fd());
        let name = cstring(component, path)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let fd = match open_at(at, &name, flags) {
            Ok(fd) => fd,
            Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                check(unsafe { libc::mkdirat(at, name.as_ptr(), 0o755) })
                    .ctx("create directory", path)?;
                open_at(at, &name, flags).map_err(|e| nofollow_error(e, path, "open directory"))?
            }
            Err(e) => return Err(nofollow_error(e, path, "open directory")),
        };
        current = Some(fd);
    }
    match current {
        Some(fd) => Ok(fd),
        None => dup(root).ctx("dup", path),
    }
}

fn nofollow_error(e: std::io::Error, path: &Path, what: &'static str) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            Error::unsafe_entry(path, "a parent is a symlink or not a directory")
        }
        _ => Error::io(what, path, e),
    }
}

fn link_name<R: Read>(entry: &tar::Entry<R>, path: &Path) -> Result<PathBuf> {
    entry
        .link_name()
        .map_err(|e| Error::unsafe_entry(path, format!("bad link name: {e}")))?
        .map(|p| p.into_owned())
        .ok_or_else(|| Error::unsafe_entry(path, "link without a target"))
}

fn cstring(name: &OsStr, path: &Path) -> Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| Error::unsafe_entry(path, "NUL byte in name"))
}

fn open_path_dir(path: &Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::io("open", path, std::io::ErrorKind::InvalidInput.into()))?;
    open_at(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY).ctx("open", path)
}

fn open_at(at: RawFd, name: &CString, flags: i32) -> std::io::Result<OwnedFd> {
    open_at_mode(at, name, flags, 0)
}

fn open_at_mode(at: RawFd, name: &CString, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let fd = unsafe {
        libc::openat(
            at,
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dup(fd: &OwnedFd) -> std::io::Result<OwnedFd> {
    fd.try_clone()
}

fn lstat_at(parent: RawFd, name: &CString) -> std::io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstatat(parent, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn set_xattr(fd: RawFd, name: &str, value: &[u8]) -> std::io::Result<()> {
    let name =
        CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    check(unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
}

fn timespec(secs: i64) -> libc::timespec {
    libc::timespec {
        // `as _`: libc's time_t alias is deprecated on musl (its width
        // changed there), and the field's own type is the one wanted.
        tv_sec: secs as _,
        tv_nsec: 0,
    }
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// Writes an entry with a raw name, bypassing the tar crate's checks.
    fn raw(
        builder: &mut tar::Builder<Vec<u8>>,
        kind: EntryType,
        name: &str,
        link: Option<&str>,
        data: &[u8],
    ) {
        let mut h = header(kind, data.len() as u64);
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        if let Some(link) = link {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        builder.append(&h, data).unwrap();
    }

    fn extract_bytes(tar: Vec<u8>) -> (tempfile::TempDir, Result<Extracted>) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let options = Options {
            whiteouts: true,
            privileged: false,
        };
        let result = extract(std::io::Cursor::new(tar), &dest, options);
        (dir, result)
    }

    #[test]
    fn files_dirs_and_symlinks_are_extracted() {
        let mut b = tar::Builder::new(Vec::new());
        raw(&mut b, EntryType::Directory, "etc/", None, b"");
        raw(&mut b, EntryType::Regular, "etc/hostname", None, b"box\n");
        raw(
            &mut b,
            EntryType::Symlink,
            "etc/abs",
            Some("/etc/hostname"),
            b"",
        );
        raw(
            &mut b,
            EntryType::Link,
            "etc/hard",
            Some("etc/hostname"),
            b"",
        );
        let tar = b.into_inner().unwrap();
        let (dir, result) = extract_bytes(tar.clone());
        let extracted = result.unwrap();
        let layer = dir.path().join("layer");
        assert_eq!(std::fs::read(layer.join("etc/hostname")).unwrap(), b"box\n");
        assert_eq!(
            std::fs::read_link(layer.join("etc/abs")).unwrap(),
            Path::new("/etc/hostname")
        );
        assert_eq!(std::fs::read(layer.join("etc/hard")).unwrap(), b"box\n");
        assert_eq!(extracted.diff_id, crate::digest::of_bytes(&tar));
        assert_eq!(extracted.size, tar.len() as u64);
    }

    #[test]
    fn parent_dir_components_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        raw(&mut b, EntryType::Regular, "../evil", None, b"x");
        let (dir, result) = extract_bytes(b.into_inner().unwrap());
        assert!(matches!(result, Err(Error::Unsafe { .. })));
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn absolute_names_are_rooted_at_the_layer() {
        let mut b = tar::Builder::new(Vec::new());
        raw(&mut b, EntryType::Directory, "/", None, b"");
        raw(&mut b, EntryType::Regular, "/etc/inside", None, b"x");
        let (dir, result) = extract_bytes(b.into_inner().unwrap());
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(
            std::fs::read(dir.path().join("layer/etc/inside")).unwrap(),
            b"x"
        );
    }

    #[test]
    fn writing_through_a_symlinked_parent_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        raw(
            &mut b,
            EntryType::Symlink,
            "escape",
            Some(outside.path().to_str().unwrap()),
            b"",
        );
        raw(&mut b, EntryType::Regular, "escape/evil", None, b"x");
        let (_dir, result) = extract_bytes(b.into_inner().unwrap());
        assert!(matches!(result, Err(Error::Unsafe { .. })));
        assert!(!outside.path().join("evil").exists());
    }

    #[test]
    fn hard_link_out_of_the_layer_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        raw(
            &mut b,
            EntryType::Link,
            "passwd",
            Some("../../../etc/passwd"),
            b"",
        );
        let (_dir, result) = extract_bytes(b.into_inner().unwrap());
        assert!(matches!(result, Err(Error::Unsafe { .. })));
    }

    #[test]
    fn later_entry_replaces_earlier_one() {
        let mut b = tar::Builder::new(Vec::new());
        raw(&mut b, EntryType::Directory, "x/", None, b"");
        raw(&mut b, EntryType::Regular, "x/inner", None, b"1");
        raw(&mut b, EntryType::Regular, "x", None, b"file now");
        let (dir, result) = extract_bytes(b.into_inner().unwrap());
        result.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("layer/x")).unwrap(),
            b"file now"
        );
    }

    #[test]
    fn truncated_archive_is_an_error() {
        let mut b = tar::Builder::new(Vec::new());
        raw(&mut b, EntryType::Regular, "big", None, &[7u8; 4096]);
        let mut tar = b.into_inner().unwrap();
        tar.truncate(1024);
        let (_dir, result) = extract_bytes(tar);
        assert!(result.is_err());
    }
}
