//! `--join PID`: enter the namespaces and the root of a running container's
//! process (nsenter's way), fork so the command is really in its pid
//! namespace, and stay behind forwarding signals until it ends.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use hs_common::Failure;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{sys, Error, Result};
use crate::launch::Launch;
use crate::ns::{self, Kind, Namespaces};
use crate::supervise::{self, Blocked};

pub fn run(
    pid: i32,
    wanted: Namespaces,
    launch: &Launch,
    info_fd: Option<RawFd>,
) -> Result<i32, Failure> {
    // Everything is opened before anything is entered: after setns(mnt),
    // /proc/PID may mean something else.
    let opened = ns::open_foreign(pid, wanted)?;
    let root = if wanted.has(Kind::Mnt) {
        Some(open_root(pid)?)
    } else {
        None
    };
    ns::enter(&opened)?;
    let blocked = Blocked::new()?;
    match supervise::fork()? {
        Some(child) => {
            // stay_behind closes every inherited fd: nothing may own one.
            drop(root);
            drop(opened);
            Ok(crate::stay_behind(&blocked, child, None, info_fd))
        }
        None => {
            supervise::die_with_parent()?;
            crate::close_info_fd(info_fd);
            blocked.restore()?;
            if let Some(root) = root {
                enter_root(&root)?;
            }
            Err(launch.exec())
        }
    }
}

fn open_root(pid: i32) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/root");
    match nix::fcntl::open(
        path.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        // SAFETY: open just returned this fd.
        Ok(fd) => Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }),
        Err(Errno::ENOENT | Errno::ESRCH) => Err(Error::NoSuchProcess(pid)),
        Err(e) => Err(sys(format!("open {path}"))(e)),
    }
}

/// chroot into the container's root through the fd opened from outside
/// (what `nsenter --root` does; pivot_root needs the caller's own mount
/// namespace, which this is not), then start at its `/`.
fn enter_root(root: &OwnedFd) -> Result<()> {
    nix::unistd::fchdir(root.as_raw_fd()).map_err(sys("enter the container's root"))?;
    nix::unistd::chroot(".").map_err(sys("chroot into the container's root"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))
}
