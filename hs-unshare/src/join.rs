//! `--join PID`: enter the namespaces and the root of a running container's
//! process (nsenter's way), start the command in a child so it is really in
//! the pid namespace, and stay behind forwarding signals until it ends.
//!
//! A plain command (no console, no user switch) starts in a vfork-style
//! child (`CLONE_VM | CLONE_VFORK`, posix_spawn's way): it shares this
//! process's memory until its exec, so no page table is copied and no page
//! is faulted back in, and it makes nothing but system calls prepared
//! beforehand. A console or a user switch needs real work before the exec
//! (opening the container's devpts, reading its /etc/passwd): those fork.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use hs_common::exec::{ExecError, Prepared};
use hs_common::Failure;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::SigSet;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

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
    let root = if wanted.has(Kind::Mnt) {
        Some(open_root(pid)?)
    } else {
        None
    };
    let opened = if ns::enter_all(pid, wanted)? {
        Vec::new()
    } else {
        let opened = ns::open_foreign(pid, wanted)?;
        ns::enter(&opened)?;
        opened
    };
    let blocked = Blocked::new()?;
    launch.restrict_privileges()?;
    if launch.is_plain() {
        let (prepared, chdir) = launch.prepare_plain()?;
        let child = spawn(
            &prepared,
            chdir.as_deref(),
            root.as_ref(),
            info_fd,
            &blocked,
        )?;
        // stay_behind closes every inherited fd: nothing may own one.
        drop(root);
        drop(opened);
        return Ok(crate::stay_behind(&blocked, child, None, info_fd));
    }
    match supervise::fork()? {
        Some(child) => {
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

/// What a vfork'd child did before its exec, named as the fork path's
/// errors name it.
#[derive(Debug, Clone, Copy)]
enum Step {
    DeathSignal,
    SignalMask,
    EnterRoot,
    Chroot,
    ChdirRoot,
    Chdir,
}

impl Step {
    fn what(self, chdir: Option<&CStr>) -> String {
        match self {
            Step::DeathSignal => "set the parent-death signal".into(),
            Step::SignalMask => "restore the signal mask".into(),
            Step::EnterRoot => "enter the container's root".into(),
            Step::Chroot => "chroot into the container's root".into(),
            Step::ChdirRoot => "chdir /".into(),
            Step::Chdir => format!(
                "--chdir {}",
                chdir.map(|c| c.to_string_lossy()).unwrap_or_default()
            ),
        }
    }
}

/// Why a vfork'd child did not exec; `Copy`, as it crosses to the parent
/// through shared memory.
#[derive(Debug, Clone, Copy)]
enum ChildError {
    Step(Step, Errno),
    Exec(ExecError),
}

/// Starts the prepared command in a vfork-style child in the container's
/// root; returns once it has exec'd, or its failure.
fn spawn(
    prepared: &Prepared,
    chdir: Option<&CStr>,
    root: Option<&OwnedFd>,
    info_fd: Option<RawFd>,
    blocked: &Blocked,
) -> Result<Pid, Failure> {
    let root = root.map(|fd| fd.as_raw_fd());
    let mask = blocked.previous();
    // SAFETY: before it execs, `child_exec` only makes system calls (no
    // allocation, no lock); the signals this process handles are blocked.
    let (child, failed) = unsafe {
        hs_common::exec::vfork(|| {
            let error = child_exec(prepared, chdir, root, info_fd, &mask);
            (error, hs_common::EXIT_TOOL)
        })
    }
    .map_err(sys("clone the command"))?;
    match failed {
        None => Ok(child),
        Some(error) => {
            let _ = nix::sys::wait::waitpid(child, None);
            Err(match error {
                ChildError::Exec(e) => prepared.failure(e),
                ChildError::Step(step, errno) => Error::Sys {
                    what: step.what(chdir),
                    errno,
                }
                .into(),
            })
        }
    }
}

/// The vfork'd child: the fork path's steps as bare system calls (this
/// memory is the parent's: see [`spawn`]), then the exec. Returns only on
/// failure.
fn child_exec(
    prepared: &Prepared,
    chdir: Option<&CStr>,
    root: Option<RawFd>,
    info_fd: Option<RawFd>,
    mask: &SigSet,
) -> ChildError {
    let check = |step, rc: libc::c_int| {
        if rc < 0 {
            Err(ChildError::Step(step, Errno::last()))
        } else {
            Ok(())
        }
    };
    let steps = || -> std::result::Result<(), ChildError> {
        // SAFETY: plain system calls on numbers and NUL-terminated strings
        // that outlive them.
        unsafe {
            check(
                Step::DeathSignal,
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL),
            )?;
            if let Some(fd) = info_fd {
                libc::close(fd);
            }
            check(
                Step::SignalMask,
                libc::sigprocmask(libc::SIG_SETMASK, mask.as_ref(), std::ptr::null_mut()),
            )?;
            if let Some(fd) = root {
                check(Step::EnterRoot, libc::fchdir(fd))?;
                check(Step::Chroot, libc::chroot(c".".as_ptr()))?;
                check(Step::ChdirRoot, libc::chdir(c"/".as_ptr()))?;
            }
            if let Some(dir) = chdir {
                check(Step::Chdir, libc::chdir(dir.as_ptr()))?;
            }
        }
        Ok(())
    };
    match steps() {
        Ok(()) => ChildError::Exec(prepared.exec()),
        Err(error) => error,
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
