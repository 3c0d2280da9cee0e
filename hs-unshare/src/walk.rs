//! Resolving a container path inside the new root without ever leaving it:
//! one component at a time from an fd of the root, symlinks read and
//! re-resolved relative to the root (an absolute link target starts again
//! at the root, `..` stops there), missing components created inside the
//! root. This is what keeps a `/data -> /etc` symlink in an image from
//! turning a volume bind into a bind onto the host's /etc.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};

/// Symlinks followed in one resolution before giving up, as the kernel does.
const MAX_LINKS: u32 = 40;

/// What to create when the path does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Nothing: a missing component is ENOENT.
    Nothing,
    /// Directories, the last one included.
    Dir,
    /// Directories, and an empty regular file as the last component.
    File,
}

/// A resolved path: its parent directory and its name there (not a
/// symlink). The name is `.` for the root itself.
#[derive(Debug)]
pub struct Target {
    pub parent: OwnedFd,
    pub name: OsString,
}

impl Target {
    /// An O_PATH fd of the object, reopened each time so that after a mount
    /// onto it the fd is the new mount's root.
    pub fn open(&self) -> Result<OwnedFd, Errno> {
        let fd = openat(
            Some(self.parent.as_raw_fd()),
            self.name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: openat just returned this fd.
        Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
    }

    /// True when the object is a directory.
    pub fn is_dir(&self) -> Result<bool, Errno> {
        let st = fstatat(
            Some(self.parent.as_raw_fd()),
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
    }
}

/// Resolves `path` (taken as relative to the root whether or not it starts
/// with `/`) below `root`, creating what `create` asks for.
pub fn resolve(root: BorrowedFd<'_>, path: &Path, create: Create) -> Result<Target, Errno> {
    // The directories entered below the root; the root itself is only
    // borrowed (a copy is made when it is the target's parent).
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut pending: VecDeque<OsString> = components(path).collect();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            stack.pop();
            continue;
        }
        let last = pending.is_empty();
        let current = stack.last().map_or(root.as_raw_fd(), |fd| fd.as_raw_fd());
        match fstatat(
            Some(current),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => {
                let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
                if kind == SFlag::S_IFLNK {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::ELOOP);
                    }
                    let link = readlinkat(Some(current), name.as_os_str())?;
                    if link.as_bytes().starts_with(b"/") {
                        stack.clear();
                    }
                    for (i, part) in components(Path::new(&link)).enumerate() {
                        pending.insert(i, part);
                    }
                    continue;
                }
                if last {
                    return finish(root, stack, name);
                }
                if kind != SFlag::S_IFDIR {
                    return Err(Errno::ENOTDIR);
                }
                stack.push(open_dir(current, &name)?);
            }
            Err(Errno::ENOENT) if create != Create::Nothing => {
                if last && create == Create::File {
                    let fd = openat(
                        Some(current),
                        name.as_os_str(),
                        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o644),
                    )?;
                    let _ = nix::unistd::close(fd);
                    return finish(root, stack, name);
                }
                match mkdirat(
                    Some(current),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                if last {
                    return finish(root, stack, name);
                }
                stack.push(open_dir(current, &name)?);
            }
            Err(e) => return Err(e),
        }
    }
    finish(root, stack, OsString::from("."))
}

fn finish(root: BorrowedFd<'_>, mut stack: Vec<OwnedFd>, name: OsString) -> Result<Target, Errno> {
    let parent = match stack.pop() {
        Some(parent) => parent,
        // try_clone_to_owned duplicates close-on-exec (F_DUPFD_CLOEXEC).
        None => root
            .try_clone_to_owned()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)))?,
    };
    Ok(Target { parent, name })
}

fn open_dir(dir: i32, name: &OsStr) -> Result<OwnedFd, Errno> {
    let fd = openat(
        Some(dir),
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this fd.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// The names of `path` without `/` and `.`; `..` is kept for the walk.
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn root_fd(dir: &Path) -> OwnedFd {
        OwnedFd::from(std::fs::File::open(dir).unwrap())
    }

    /// The path of a resolved target as seen from the host, for assertions.
    fn host_path(target: &Target) -> std::path::PathBuf {
        let parent =
            std::fs::read_link(format!("/proc/self/fd/{}", target.parent.as_raw_fd())).unwrap();
        parent.join(&target.name)
    }

    #[test]
    fn absolute_symlink_resolves_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("data")).unwrap();
        let fd = root_fd(root.path());
        let target = resolve(fd.as_fd(), Path::new("/data/x"), Create::Dir).unwrap();
        assert!(host_path(&target).starts_with(root.path()));
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(root
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
    }

    #[test]
    fn dotdot_stops_at_the_root() {
        let root = tempfile::tempdir().unwrap();
        symlink("../../../../etc", root.path().join("up")).unwrap();
        let fd = root_fd(root.path());
        let target = resolve(fd.as_fd(), Path::new("/up/passwd"), Create::File).unwrap();
        assert_eq!(host_path(&target), root.path().join("etc/passwd"));
        assert_eq!(std::fs::read(root.path().join("etc/passwd")).unwrap(), b"");
    }

    #[test]
    fn relative_symlink_is_followed_from_its_directory() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        symlink("usr/bin", root.path().join("bin")).unwrap();
        let fd = root_fd(root.path());
        let target = resolve(fd.as_fd(), Path::new("bin"), Create::Nothing).unwrap();
        assert_eq!(host_path(&target), root.path().join("usr/bin"));
    }

    #[test]
    fn nothing_is_created_when_not_asked() {
        let root = tempfile::tempdir().unwrap();
        let fd = root_fd(root.path());
        let err = resolve(fd.as_fd(), Path::new("/a/b"), Create::Nothing).unwrap_err();
        assert_eq!(err, Errno::ENOENT);
        assert!(!root.path().join("a").exists());
    }

    #[test]
    fn symlink_loops_end_in_eloop() {
        let root = tempfile::tempdir().unwrap();
        symlink("b", root.path().join("a")).unwrap();
        symlink("a", root.path().join("b")).unwrap();
        let fd = root_fd(root.path());
        let err = resolve(fd.as_fd(), Path::new("/a"), Create::Dir).unwrap_err();
        assert_eq!(err, Errno::ELOOP);
    }

    #[test]
    fn a_file_in_the_middle_is_not_a_directory() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), "").unwrap();
        let fd = root_fd(root.path());
        let err = resolve(fd.as_fd(), Path::new("/f/x"), Create::Dir).unwrap_err();
        assert_eq!(err, Errno::ENOTDIR);
    }

    #[test]
    fn the_root_itself_resolves_to_dot() {
        let root = tempfile::tempdir().unwrap();
        let fd = root_fd(root.path());
        let target = resolve(fd.as_fd(), Path::new("/"), Create::Nothing).unwrap();
        assert_eq!(target.name, ".");
        assert!(target.is_dir().unwrap());
    }
}
