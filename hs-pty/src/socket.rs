//! The attach socket: a unix SOCK_SEQPACKET socket bound and reached
//! through `/proc/self/fd/DIRFD/NAME`, because a path under `$HS_ROOT` can
//! exceed the 108 bytes of `sun_path`.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::socket::{
    accept4, bind, connect as connect_socket, listen as listen_socket, socket, AddressFamily,
    Backlog, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::Mode;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("socket path {0}: has no file name")]
    NoName(PathBuf),
    #[error("socket path {path}: opening its directory: {source}")]
    Dir { path: PathBuf, source: Errno },
    #[error("socket {path}: {what}: {source}")]
    Sys {
        path: PathBuf,
        what: &'static str,
        source: Errno,
    },
    #[error("socket {0}: a running monitor already listens there")]
    InUse(PathBuf),
}

/// The socket's directory (held open) and the short path that names the
/// socket through it.
struct ShortPath {
    dir: OwnedFd,
    name: OsString,
    short: PathBuf,
}

fn short_path(path: &Path) -> Result<ShortPath, SocketError> {
    let name = path
        .file_name()
        .ok_or_else(|| SocketError::NoName(path.to_owned()))?
        .to_owned();
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = open(
        parent,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| SocketError::Dir {
        path: path.to_owned(),
        source,
    })?;
    // SAFETY: open returned a new fd that nothing else owns.
    let dir = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dir) };
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(&name);
    Ok(ShortPath { dir, name, short })
}

fn seqpacket(path: &Path, flags: SockFlag) -> Result<OwnedFd, SocketError> {
    socket(AddressFamily::Unix, SockType::SeqPacket, flags, None).map_err(|source| {
        SocketError::Sys {
            path: path.to_owned(),
            what: "creating it",
            source,
        }
    })
}

fn unix_addr(path: &Path, short: &Path) -> Result<UnixAddr, SocketError> {
    UnixAddr::new(short).map_err(|source| SocketError::Sys {
        path: path.to_owned(),
        what: "the name is too long",
        source,
    })
}

/// Send buffer of each client's connection.
const CLIENT_SNDBUF: usize = 1024 * 1024;

/// The monitor's listening socket.
pub struct Listener {
    fd: OwnedFd,
    at: ShortPath,
    path: PathBuf,
}

/// Binds and listens at `path`. A stale socket left by a monitor that was
/// killed is replaced; one a live monitor answers on is not.
pub fn listen(path: &Path) -> Result<Listener, SocketError> {
    let at = short_path(path)?;
    let addr = unix_addr(path, &at.short)?;
    let fd = seqpacket(path, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK)?;
    let sys = |what, source| SocketError::Sys {
        path: path.to_owned(),
        what,
        source,
    };
    match bind(fd.as_raw_fd(), &addr) {
        Err(Errno::EADDRINUSE) => {
            if connect(path).is_ok() {
                return Err(SocketError::InUse(path.to_owned()));
            }
            unlink_at(&at).map_err(|e| sys("removing a stale socket", e))?;
            bind(fd.as_raw_fd(), &addr).map_err(|e| sys("binding", e))?;
        }
        other => other.map_err(|e| sys("binding", e))?,
    }
    listen_socket(&fd, Backlog::new(64).unwrap_or(Backlog::MAXCONN))
        .map_err(|e| sys("listening", e))?;
    Ok(Listener {
        fd,
        at,
        path: path.to_owned(),
    })
}

fn unlink_at(at: &ShortPath) -> Result<(), Errno> {
    nix::unistd::unlinkat(
        Some(at.dir.as_raw_fd()),
        at.name.as_bytes(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    )
}

impl Listener {
    /// A new client, nonblocking; None when none is waiting.
    pub fn accept(&self) -> Result<Option<OwnedFd>, Errno> {
        match accept4(
            self.fd.as_raw_fd(),
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        ) {
            Ok(fd) => {
                // SAFETY: accept4 returned a new fd that nothing else owns.
                let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                // Room for bursts in the kernel rather than in our queue: a
                // client that lags a moment costs no copy and no wakeup.
                use nix::sys::socket::{setsockopt, sockopt};
                if setsockopt(&fd, sockopt::SndBufForce, &CLIENT_SNDBUF).is_err() {
                    let _ = setsockopt(&fd, sockopt::SndBuf, &CLIENT_SNDBUF);
                }
                Ok(Some(fd))
            }
            Err(Errno::EAGAIN | Errno::ECONNABORTED | Errno::EINTR) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the socket from the file system (through the directory it
    /// was bound in, even if that was renamed since).
    pub fn remove(&self) {
        let _ = unlink_at(&self.at);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fds the monitor must keep open (listening socket, directory).
    pub fn fds(&self) -> [i32; 2] {
        [self.fd.as_raw_fd(), self.at.dir.as_raw_fd()]
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Connects to the monitor at `path` (blocking socket).
pub fn connect(path: &Path) -> Result<OwnedFd, SocketError> {
    let at = short_path(path)?;
    let addr = unix_addr(path, &at.short)?;
    let fd = seqpacket(path, SockFlag::SOCK_CLOEXEC)?;
    connect_socket(fd.as_raw_fd(), &addr).map_err(|source| SocketError::Sys {
        path: path.to_owned(),
        what: "connecting",
        source,
    })?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_longer_than_sun_path_binds_and_connects() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(100)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join("attach.sock");
        assert!(path.as_os_str().len() > 108);
        let listener = listen(&path).unwrap();
        let _client = connect(&path).unwrap();
        assert!(listener.accept().unwrap().is_some());
        listener.remove();
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let first = listen(&path).unwrap();
        assert!(matches!(listen(&path), Err(SocketError::InUse(_))));
        drop(first);
        let second = listen(&path).unwrap();
        assert!(connect(&path).is_ok());
        second.remove();
    }
}
