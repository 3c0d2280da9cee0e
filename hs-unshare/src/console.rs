//! `--console`: the command's terminal is a PTY of the container's own
//! devpts. The slave becomes its controlling terminal and stdio; the
//! master goes back up the chain over `HS_CONSOLE_FD` (runc's console
//! socket), with the window size from `HS_CONSOLE_SIZE` already set.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use hs_common::console::{send_fd, WindowSize};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{sys, Error, Result};

/// The container's PTY multiplexer: its own devpts instance, not the host's.
const PTMX: &str = "/dev/pts/ptmx";

/// Opens a PTY pair in the container, hands the master over `socket`, and
/// makes the slave the controlling terminal and fds 0-2 of this process;
/// with `dev_console` (a container being started, not joined) the slave is
/// also bound onto /dev/console, as runc does.
pub fn take_over(socket: RawFd, size: Option<WindowSize>, dev_console: bool) -> Result<()> {
    let master = nix::fcntl::open(
        PTMX,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(format!("open {PTMX}")))?;
    // SAFETY: open just returned this fd.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(sys("unlock the console pty")(nix::errno::Errno::last()));
    }
    // TIOCGPTPEER opens the slave through the master, in the master's own
    // devpts, with no path lookup that a container could redirect.
    // SAFETY: the ioctl returns a new fd or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(sys("open the console pty slave")(nix::errno::Errno::last()));
    }
    // SAFETY: the kernel just returned this fd.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if dev_console {
        bind_dev_console(&master)?;
    }
    if let Some(size) = size {
        size.apply(slave.as_fd())
            .map_err(crate::error::io("set the console size"))?;
    }
    // SAFETY: the socket fd was inherited for exactly this hand-over.
    let socket_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket) };
    send_fd(socket_fd, master.as_fd()).map_err(|e| Error::Sys {
        what: e.to_string(),
        errno: nix::errno::Errno::EIO,
    })?;
    drop(master);
    let _ = nix::unistd::close(socket);

    nix::unistd::setsid().map_err(sys("setsid for the console"))?;
    // SAFETY: TIOCSCTTY takes an int argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(sys("make the console the controlling terminal")(
            nix::errno::Errno::last(),
        ));
    }
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(sys("put the console on stdio"))?;
    }
    Ok(())
}

/// `mount --bind /dev/pts/N /dev/console` for the slave of `master`.
fn bind_dev_console(master: &OwnedFd) -> Result<()> {
    let mut index: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut index) } < 0 {
        return Err(sys("get the console pty number")(nix::errno::Errno::last()));
    }
    let slave = format!("/dev/pts/{index}");
    let console = "/dev/console";
    match nix::fcntl::open(
        console,
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::from_bits_truncate(0o600),
    ) {
        // SAFETY: open just returned this fd; it only marks the mount point.
        Ok(fd) => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) => return Err(sys(format!("create {console}"))(e)),
    }
    nix::mount::mount(
        Some(slave.as_str()),
        console,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys(format!("bind {slave} onto {console}")))
}
