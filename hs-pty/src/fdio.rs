//! Thin, EINTR-safe wrappers over the raw fd calls the event loops make.

use std::os::fd::RawFd;

use nix::errno::Errno;

/// Marks `fd` close-on-exec (best effort: a bad fd was checked before).
pub fn set_cloexec(fd: RawFd) {
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    read_raw(fd, buf.as_mut_ptr().cast(), buf.len())
}

/// Reads up to `max` bytes onto the end of `buf` (no zeroing, no bounce
/// buffer: the monitor's hot path).
pub fn read_append(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> Result<usize, Errno> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    let max = max.min(spare.len());
    let n = read_raw(fd, spare.as_mut_ptr().cast(), max)?;
    // SAFETY: read(2) initialised the first n bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

fn read_raw(fd: RawFd, ptr: *mut libc::c_void, len: usize) -> Result<usize, Errno> {
    loop {
        // SAFETY: the caller passes memory valid for len bytes.
        let n = unsafe { libc::read(fd, ptr, len) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

/// Writes all of `buf`, waiting for the fd when it is nonblocking and full
/// (stdout may be a nonblocking fd shared with whoever started us).
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::EAGAIN) => {
                let mut pfd = [pollfd(fd, libc::POLLOUT)];
                poll(&mut pfd, -1)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends one whole packet on a SOCK_SEQPACKET socket without blocking.
pub fn send_packet(fd: RawFd, packet: &[u8]) -> Result<(), Errno> {
    loop {
        // SAFETY: packet is valid for packet.len() bytes.
        let n = unsafe {
            libc::send(
                fd,
                packet.as_ptr().cast(),
                packet.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|_| ()),
        }
    }
}

/// Sends one whole packet, waiting while the socket is full.
pub fn send_packet_blocking(fd: RawFd, packet: &[u8]) -> Result<(), Errno> {
    loop {
        match send_packet(fd, packet) {
            Err(Errno::EAGAIN) => {
                let mut pfd = [pollfd(fd, libc::POLLOUT)];
                poll(&mut pfd, -1)?;
            }
            other => return other,
        }
    }
}

/// Receives one packet without blocking; Ok(0) is end of stream.
pub fn recv_packet(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

pub fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// poll(2); EINTR is returned to the caller, whose loop just polls again.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, Errno> {
    // SAFETY: fds is a valid array of fds.len() pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    Errno::result(n).map(|n| n as usize)
}

pub fn set_nonblocking(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on an fd we hold.
    let flags = Errno::result(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(|_| ())
}

/// Points any of fds 0-2 that is closed at /dev/null, so fds this process
/// opens later never land on 0-2 (and get clobbered by a child's dup2).
pub fn ensure_stdio_open() {
    for fd in 0..3 {
        if !hs_common::info::is_open(fd) {
            // SAFETY: opening /dev/null; the lowest free fd is `fd`.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// dup2 with EINTR retry.
pub fn dup2(old: RawFd, new: RawFd) -> Result<(), Errno> {
    loop {
        // SAFETY: dup2 on fds we hold.
        match Errno::result(unsafe { libc::dup2(old, new) }) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|_| ()),
        }
    }
}
