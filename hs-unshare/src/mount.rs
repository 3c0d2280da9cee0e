//! Thin wrappers over the mount syscalls the setup uses: classic mount(2)
//! onto an fd (through its /proc/self/fd path), and the detached-tree API
//! (open_tree, mount_setattr, move_mount) for binds, so a read-only bind is
//! read-only, recursively, before it ever becomes visible.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::plan::{Flags, Fs};

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// struct mount_attr (linux/mount.h).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// The path through which mount(2) reaches the object `fd` refers to.
fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub fn ms_flags(flags: Flags) -> MsFlags {
    let mut ms = MsFlags::empty();
    ms.set(MsFlags::MS_NOSUID, flags.nosuid);
    ms.set(MsFlags::MS_NODEV, flags.nodev);
    ms.set(MsFlags::MS_NOEXEC, flags.noexec);
    ms.set(MsFlags::MS_RDONLY, flags.readonly);
    ms
}

/// Mounts a fresh `fs` onto the directory `target`.
pub fn mount_fs(fs: &Fs, target: BorrowedFd<'_>) -> Result<(), Errno> {
    nix::mount::mount(
        Some(fs.fstype),
        fd_path(target).as_str(),
        Some(fs.fstype),
        ms_flags(fs.flags),
        fs.data,
    )
}

/// `mount --rbind PATH PATH`.
pub fn bind_self(path: &std::path::Path) -> Result<(), Errno> {
    nix::mount::mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
}

pub use hs_common::mount_ns::clone_tree;

/// Makes every mount of the detached tree `tree` read-only.
pub fn set_readonly(tree: BorrowedFd<'_>) -> Result<(), Errno> {
    set_readonly_flags(tree, libc::AT_RECURSIVE)
}

/// Makes the mount `mount` read-only, and none below it.
pub fn set_readonly_one(mount: BorrowedFd<'_>) -> Result<(), Errno> {
    set_readonly_flags(mount, 0)
}

fn set_readonly_flags(fd: BorrowedFd<'_>, flags: libc::c_int) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `attr` of the size given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | flags) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Attaches the detached tree `tree` onto `target`.
pub fn attach(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    hs_common::mount_ns::attach_tree(tree, Some(target), std::path::Path::new(""))
}

/// `pivot_root . .` in the directory `root`, then the old root (now
/// stacked under the new one at `/`) detached: runc's way, with no put_old
/// directory left in the container.
pub fn pivot_into(root: BorrowedFd<'_>) -> Result<(), Errno> {
    nix::unistd::fchdir(root.as_raw_fd())?;
    nix::unistd::pivot_root(".", ".")?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)?;
    nix::unistd::chdir("/")
}
