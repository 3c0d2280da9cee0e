//! `hs-pty attach`: the client. Relays the local terminal to the monitor
//! (raw mode, input, window size) and the container's output back, until
//! the container exits (its code becomes ours), the detach keys are typed
//! (exit 0), or a signal asks us to go (exit 128+N). The container never
//! notices a client leaving.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use hs_common::console::WindowSize;
use hs_common::Failure;
use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::detach_keys::DetachMatcher;
use crate::fdio;
use crate::protocol::{ClientMsg, ServerMsg, MAX_INPUT, MAX_PACKET};
use crate::signals::Signals;
use crate::socket;
use crate::terminal::{self, RawMode};

pub struct AttachOptions {
    pub socket: PathBuf,
    pub detach_keys: Vec<u8>,
    pub no_stdin: bool,
    pub tail_bytes: u32,
}

/// Sends `message`. A monitor that closed the connection is no error
/// here: the container has ended and the monitor sent its exit code before
/// closing, so the receiving side reads it next (or reports that it never
/// came). A client still sending input as the container exits raced this.
fn send(fd: RawFd, message: ClientMsg<'_>) -> Result<(), Failure> {
    match fdio::send_packet_blocking(fd, &message.encode()) {
        Ok(()) | Err(Errno::EPIPE | Errno::ECONNRESET) => Ok(()),
        Err(e) => Err(Failure::tool(format!("sending to the monitor: {e}"))),
    }
}

fn send_size(fd: RawFd) -> Result<(), Failure> {
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
    match WindowSize::of_terminal(stdin) {
        Some(size) => send(fd, ClientMsg::Resize(size)),
        None => Ok(()),
    }
}

pub fn attach(opts: AttachOptions) -> Result<i32, Failure> {
    fdio::ensure_stdio_open();
    let socket: OwnedFd = socket::connect(&opts.socket)?;
    let sock = socket.as_raw_fd();
    let mut signals = Signals::block(&[
        Signal::SIGWINCH,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ])
    .map_err(|e| Failure::tool(format!("blocking signals: {e}")))?;
    send(
        sock,
        ClientMsg::Hello {
            tail_bytes: opts.tail_bytes,
        },
    )?;
    let mut reading = !opts.no_stdin;
    let on_terminal = reading && terminal::is_terminal(0);
    let _raw = if on_terminal {
        send_size(sock)?;
        RawMode::enter(0).map_err(|e| Failure::tool(format!("raw mode on the terminal: {e}")))?
    } else {
        None
    };
    let mut matcher = DetachMatcher::new(opts.detach_keys);
    let mut packet = vec![0u8; MAX_PACKET];
    let mut input = [0u8; MAX_INPUT];
    let mut forward = Vec::with_capacity(MAX_INPUT);
    loop {
        let mut fds = [
            fdio::pollfd(signals.as_fd().as_raw_fd(), libc::POLLIN),
            fdio::pollfd(sock, libc::POLLIN),
            fdio::pollfd(if reading { 0 } else { -1 }, libc::POLLIN),
        ];
        match fdio::poll(&mut fds, -1) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Failure::tool(format!("poll: {e}"))),
        }
        if fds[0].revents != 0 {
            while let Some(signal) = signals.pending() {
                if signal == Signal::SIGWINCH {
                    if on_terminal {
                        send_size(sock)?;
                    }
                } else {
                    // Restoring the terminal happens as _raw drops.
                    return Ok(128 + signal as i32);
                }
            }
        }
        if fds[1].revents != 0 {
            match receive(sock, &mut packet)? {
                Some(ServerMsg::Stdout(data)) => write_out(1, data)?,
                Some(ServerMsg::Stderr(data)) => write_out(2, data)?,
                Some(ServerMsg::Exit(code)) => return Ok(code),
                None => {}
            }
        }
        if fds[2].revents != 0 {
            match fdio::read(0, &mut input) {
                Ok(0) | Err(Errno::EIO) => {
                    // The container keeps its input open: another client
                    // may still type. Pipes get EOF (docker's stdin-once).
                    reading = false;
                    send(sock, ClientMsg::InputClosed)?;
                }
                Ok(n) => {
                    forward.clear();
                    let detach = matcher.feed(&input[..n], &mut forward);
                    // Held-back detach keys can make it a little longer.
                    for chunk in forward.chunks(MAX_INPUT) {
                        send(sock, ClientMsg::Input(chunk))?;
                    }
                    if detach {
                        return Ok(0);
                    }
                }
                Err(Errno::EAGAIN) => {}
                Err(e) => return Err(Failure::tool(format!("reading stdin: {e}"))),
            }
        }
    }
}

/// Receives the next message from the monitor, if one is waiting.
fn receive(fd: RawFd, packet: &mut [u8]) -> Result<Option<ServerMsg<'_>>, Failure> {
    let n = match fdio::recv_packet(fd, packet) {
        Ok(0) => {
            return Err(Failure::tool(
                "the monitor closed the connection without an exit code",
            ))
        }
        Ok(n) => n,
        // A monitor that closes with our input still unread leaves
        // ECONNRESET pending here, and the kernel reports it once, ahead
        // of the packets still queued for us: the exit code comes next.
        Err(Errno::EAGAIN | Errno::ECONNRESET) => return Ok(None),
        Err(e) => return Err(Failure::tool(format!("receiving from the monitor: {e}"))),
    };
    Ok(ServerMsg::decode(&packet[..n]))
}

fn write_out(fd: RawFd, data: &[u8]) -> Result<(), Failure> {
    fdio::write_all(fd, data).map_err(|e| Failure::tool(format!("writing output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    #[test]
    fn the_exit_code_is_received_after_the_monitor_closed_with_input_unread() {
        let (client, monitor) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        send(client.as_raw_fd(), ClientMsg::Input(b"unread")).expect("send input");
        fdio::send_packet_blocking(monitor.as_raw_fd(), &ServerMsg::Exit(3).encode())
            .expect("send exit");
        drop(monitor);
        let mut packet = vec![0u8; MAX_PACKET];
        let mut received = Vec::new();
        for _ in 0..3 {
            match receive(client.as_raw_fd(), &mut packet) {
                Ok(Some(ServerMsg::Exit(code))) => {
                    received.push(code);
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("{}", e.message),
            }
        }
        assert_eq!(received, [3]);
    }
}
