//! `HS_CONSOLE_FD`: passing a PTY master back up the chain over a unix
//! socket with SCM_RIGHTS (runc's console socket), and the window size
//! handed down in `HS_CONSOLE_SIZE=ROWSxCOLS`.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

/// The environment variable naming the socket the PTY master is sent over.
pub const CONSOLE_ENV: &str = "HS_CONSOLE_FD";
/// The environment variable carrying the terminal size, `ROWSxCOLS`.
pub const SIZE_ENV: &str = "HS_CONSOLE_SIZE";

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("creating the console socket pair: {0}")]
    SocketPair(nix::Error),
    #[error("sending the terminal over {CONSOLE_ENV}: {0}")]
    Send(nix::Error),
    #[error("receiving the terminal over {CONSOLE_ENV}: {0}")]
    Receive(nix::Error),
    #[error("receiving the terminal over {CONSOLE_ENV}: the other end closed without sending one")]
    NothingSent,
    #[error("bad {SIZE_ENV} {0:?}: expected ROWSxCOLS, e.g. 24x80")]
    BadSize(String),
}

/// A socket pair for the console hand-over: the first end stays with the
/// receiver, the second (inheritable) goes down the chain.
pub fn pair() -> Result<(OwnedFd, OwnedFd), ConsoleError> {
    let (keep, give) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ConsoleError::SocketPair)?;
    nix::fcntl::fcntl(
        give.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(ConsoleError::SocketPair)?;
    Ok((keep, give))
}

/// Sends `fd` over the unix socket `socket`.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), ConsoleError> {
    let fds = [fd.as_raw_fd()];
    let control = [ControlMessage::ScmRights(&fds)];
    let payload = [IoSlice::new(b"T")];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &payload,
        &control,
        MsgFlags::empty(),
        None,
    )
    .map_err(ConsoleError::Send)?;
    Ok(())
}

/// Receives one fd sent with [`send_fd`]; it arrives close-on-exec.
pub fn recv_fd(socket: BorrowedFd<'_>) -> Result<OwnedFd, ConsoleError> {
    let mut byte = [0u8; 1];
    let mut payload = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut payload,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(ConsoleError::Receive)?;
    for cmsg in message.cmsgs().map_err(ConsoleError::Receive)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(ConsoleError::NothingSent)
}

/// The inherited console socket, if `HS_CONSOLE_FD` names an open fd.
pub fn inherited_fd() -> Option<RawFd> {
    crate::info::fd_from_env(CONSOLE_ENV)
}

/// A terminal size, as carried in `HS_CONSOLE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

impl WindowSize {
    pub fn parse(text: &str) -> Result<Self, ConsoleError> {
        let bad = || ConsoleError::BadSize(text.to_string());
        let (rows, cols) = text.split_once('x').ok_or_else(bad)?;
        Ok(Self {
            rows: rows.trim().parse().map_err(|_| bad())?,
            cols: cols.trim().parse().map_err(|_| bad())?,
        })
    }

    /// The size in `HS_CONSOLE_SIZE`, if set.
    pub fn from_env() -> Result<Option<Self>, ConsoleError> {
        match std::env::var(SIZE_ENV) {
            Ok(text) => Self::parse(&text).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The size of the terminal on `fd`, if it is one.
    pub fn of_terminal(fd: BorrowedFd<'_>) -> Option<Self> {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        (rc == 0).then_some(Self {
            rows: ws.ws_row,
            cols: ws.ws_col,
        })
    }

    /// Sets this size on the terminal `fd` (the foreground process group
    /// gets SIGWINCH from the kernel).
    pub fn apply(self, fd: BorrowedFd<'_>) -> std::io::Result<()> {
        let ws = libc::winsize {
            ws_row: self.rows,
            ws_col: self.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ only reads the struct.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub fn env_value(self) -> String {
        format!("{}x{}", self.rows, self.cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn an_fd_sent_over_the_pair_arrives_usable() {
        let (keep, give) = pair().unwrap();
        let (read, write) = nix::unistd::pipe().unwrap();
        send_fd(give.as_fd(), write.as_fd()).unwrap();
        drop(write);
        let received = recv_fd(keep.as_fd()).unwrap();
        std::fs::File::from(received).write_all(b"hello").unwrap();
        let mut text = String::new();
        std::fs::File::from(read).read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
    }

    #[test]
    fn closing_without_sending_is_an_error() {
        let (keep, give) = pair().unwrap();
        drop(give);
        assert!(matches!(
            recv_fd(keep.as_fd()),
            Err(ConsoleError::NothingSent) | Err(ConsoleError::Receive(_))
        ));
    }

    #[test]
    fn window_size_round_trips_through_env_form() {
        let size = WindowSize::parse("40x132").unwrap();
        assert_eq!(
            size,
            WindowSize {
                rows: 40,
                cols: 132
            }
        );
        assert_eq!(size.env_value(), "40x132");
    }

    #[test]
    fn malformed_window_size_is_refused() {
        assert!(WindowSize::parse("40,132").is_err());
        assert!(WindowSize::parse("x").is_err());
    }
}
