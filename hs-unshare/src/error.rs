//! The one error type of hs-unshare: every variant names what it was doing
//! and the path or value involved, so main prints a complete line.

use std::path::PathBuf;

use nix::errno::Errno;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad --ns {0:?}: expected a comma-separated list of mnt, pid, uts, ipc, net, cgroup")]
    BadNamespace(String),
    #[error("bad --volume {0:?}: expected SRC:DST[:ro] with an absolute DST")]
    BadVolume(String),
    #[error("bad --user {0:?}: expected USER[:GROUP] (names or numbers)")]
    BadUser(String),
    #[error("bad --env {0:?}: expected KEY=VALUE")]
    BadEnv(String),
    #[error("bad {option} {path:?}: expected an absolute container path")]
    BadContainerPath { option: &'static str, path: PathBuf },
    #[error("volume source {}: {}", .0.display(), lower(*.1))]
    VolumeSource(PathBuf, Errno),
    #[error("--root {}: {}", .0.display(), lower(*.1))]
    BadRoot(PathBuf, Errno),
    #[error("bad --cap-add/--cap-drop: {0}")]
    BadCapability(#[from] hs_common::caps::BadCapability),
    #[error("{0}")]
    Usage(&'static str),
    #[error("{0}")]
    BadConsoleSize(String),
    #[error("--root refused in the host's initial mount namespace (pivot_root would move the whole host): run it under --ns mnt")]
    InitialMountNamespace,
    #[error("--join {0}: no such process")]
    NoSuchProcess(i32),
    #[error("{what}: {}", lower(*.errno))]
    Sys { what: String, errno: Errno },
}

/// `errno.desc()` in the lowercase the error lines use.
fn lower(errno: Errno) -> String {
    errno.desc().to_lowercase()
}

/// Wraps an errno with what was being done: `.map_err(sys("mount proc"))`.
pub fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> Error {
    let what = what.into();
    move |errno| Error::Sys { what, errno }
}

/// The same for std's io errors (they carry an errno from the kernel).
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |err| Error::Sys {
        what,
        errno: Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
    }
}
