//! A private mount namespace: what hs-unshare's `--ns mnt` and
//! hs-overlay's `--unshare-mount` do before they mount anything; and the
//! detached mounts both make (`open_tree` copies, `fsmount`s) and attach
//! in it (`move_mount`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;

/// `mount --make-rprivate /`: no mount made from here on propagates back to
/// the namespace this one was copied from (and pivot_root refuses shared
/// mounts).
pub fn make_private() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// `unshare --mount --propagation private`: this process moves into a new
/// mount namespace whose tree is private. Must run before any thread is
/// started (the kernel refuses CLONE_NEWNS to a multithreaded process).
pub fn enter_private() -> nix::Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)?;
    make_private()
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// Attaches the detached mount `tree` at `path` relative to `dir` (`dir`
/// itself when `path` is empty), or at `path` alone without a `dir` (then
/// an empty path is ENOENT, as for any path lookup).
pub fn attach_tree(
    tree: BorrowedFd<'_>,
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
) -> Result<(), Errno> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = MOVE_MOUNT_F_EMPTY_PATH;
    if dir.is_some() && path.as_os_str().is_empty() {
        flags |= MOVE_MOUNT_T_EMPTY_PATH;
    }
    let dirfd = dir.map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
    // SAFETY: move_mount takes two fds and two NUL-terminated paths (the
    // source's empty: the fd itself).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            dirfd,
            c_path.as_ptr(),
            flags,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A detached recursive copy of the mount tree at `path` (relative to
/// `dir`, or `dir` itself when `path` is empty), for `move_mount`.
pub fn clone_tree(dir: Option<BorrowedFd<'_>>, path: &Path) -> Result<OwnedFd, Errno> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    let dirfd = dir.map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
    // SAFETY: open_tree reads the path string and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, c_path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
