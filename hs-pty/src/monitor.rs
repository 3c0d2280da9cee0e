//! The monitor's event loop: one thread, poll(2) over nonblocking fds.
//!
//! It reads the program's output (PTY master or pipes) and hands every
//! chunk to the log, the history ring, the local terminal (`run`) and each
//! attached client; it writes clients' input to the program; it finishes
//! the start-up handshake; it reaps the program and forwards signals to it.
//! The program is never slowed down by a client: output to a client that
//! does not keep up is queued; a stuck one (nothing taken for a while) or
//! one hopelessly behind is dropped.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use hs_common::console::{self, WindowSize};
use hs_common::sync::Outcome;
use hs_common::Failure;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::child::Spawned;
use crate::fdio;
use crate::log::{LogWriter, Stream};
use crate::protocol::{ClientMsg, ServerMsg, MAX_CLIENT_PACKET, MAX_DATA, MAX_INPUT};
use crate::ring::Ring;
use crate::signals::{Signals, FORWARDED};
use crate::socket::Listener;

/// Output history kept for `--tail-bytes`.
pub const HISTORY_BYTES: usize = 64 * 1024;
/// A client with this much output queued that took none of it for
/// [`CLIENT_STALL`] is stuck, and dropped. One that merely lags (a busy
/// machine, a slow terminal) keeps up to [`CLIENT_QUEUE_MAX`] queued.
pub const CLIENT_QUEUE_LIMIT: usize = 1024 * 1024;
pub const CLIENT_STALL: Duration = Duration::from_secs(5);
/// Queued output beyond which a client is dropped at once: it is too far
/// behind the program to ever catch up.
pub const CLIENT_QUEUE_MAX: usize = 64 * 1024 * 1024;
/// Input queued for the program before clients' input is no longer read
/// (the clients then wait, the program does not).
const INPUT_QUEUE_LIMIT: usize = 64 * 1024;
/// How long output may still arrive after the program exited (a leftover
/// process holding the terminal must not keep the monitor alive).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long exiting clients get to take their last output.
const FAREWELL_GRACE: Duration = Duration::from_secs(1);
const MAX_CLIENTS: usize = 128;
/// Bulk output is gathered this long (or up to a full message) before it
/// goes to the log and the clients: a PTY hands it out 4 KiB at a time,
/// and per-chunk work (a log record, a message, a client wakeup) would
/// otherwise dominate. Output that comes in small reads (typing, prompts)
/// goes out at once.
const BATCH_WINDOW: Duration = Duration::from_millis(4);
/// A read this short means the program is not streaming.
const SMALL_READ: usize = 1024;
/// A batch this full goes out: one more PTY read could overflow a message.
const FULL_BATCH: usize = MAX_DATA - 8192;

/// What happens once the handshake ends: Ok when the user's program runs,
/// else the failure (its message is a whole `TOOL: error: …` line).
pub type OnStarted = Box<dyn FnOnce(&Result<Outcome, Failure>)>;

/// The start-up handshake while it is under way.
struct Handshake {
    sync: OwnedFd,
    text: Vec<u8>,
    console: Option<OwnedFd>,
    wants_console: bool,
    on_started: Option<OnStarted>,
}

struct Client {
    fd: OwnedFd,
    /// Packets not sent yet (the socket was full, or no hello yet).
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    /// The hello arrived: output goes out directly from now on.
    greeted: bool,
    /// Since when the client took nothing of its queue (None: empty).
    stalled_since: Option<Instant>,
    dead: bool,
}

/// Closing a unix socket with unread packets makes the peer's next recv
/// fail with ECONNRESET before it reads what is queued for it (the kernel
/// checks the socket error first): a client that sent its input-closed or a
/// resize just before the container exited would lose its exit code. So
/// whatever the client sent and nobody read is discarded before the close.
impl Drop for Client {
    fn drop(&mut self) {
        let mut scratch = [0u8; 512];
        // Bounded: a client that keeps writing cannot hold the monitor here.
        for _ in 0..4096 {
            match fdio::recv_packet(self.fd.as_raw_fd(), &mut scratch) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

impl Client {
    fn new(fd: OwnedFd) -> Self {
        Self {
            fd,
            queue: VecDeque::new(),
            queued: 0,
            greeted: false,
            stalled_since: None,
            dead: false,
        }
    }

    fn enqueue(&mut self, packet: Vec<u8>) {
        self.queued += packet.len();
        self.queue.push_back(packet);
        self.stalled_since.get_or_insert_with(Instant::now);
        if self.queued > CLIENT_QUEUE_MAX {
            hs_common::trace::log("drop-client", "too far behind the output");
            self.dead = true;
        }
    }

    /// When this client counts as stuck, if it is backlogged.
    fn stuck_at(&self) -> Option<Instant> {
        (self.queued > CLIENT_QUEUE_LIMIT)
            .then_some(self.stalled_since)
            .flatten()
            .map(|since| since + CLIENT_STALL)
    }

    fn send(&mut self, packet: &[u8]) {
        if self.dead {
            return;
        }
        if !self.greeted || !self.queue.is_empty() {
            self.enqueue(packet.to_vec());
            return;
        }
        match fdio::send_packet(self.fd.as_raw_fd(), packet) {
            Ok(()) => {}
            Err(Errno::EAGAIN) => self.enqueue(packet.to_vec()),
            Err(_) => self.dead = true,
        }
    }

    fn flush(&mut self) {
        while let Some(packet) = self.queue.front() {
            match fdio::send_packet(self.fd.as_raw_fd(), packet) {
                Ok(()) => {
                    self.queued -= packet.len();
                    self.queue.pop_front();
                    self.stalled_since = (!self.queue.is_empty()).then(Instant::now);
                }
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }
}

/// The caller's own terminal in `hs-pty run`.
pub struct Local {
    /// Still reading input from fd 0.
    pub reading: bool,
}

#[derive(Clone, Copy)]
enum Token {
    Signals,
    Sync,
    Console,
    Listener,
    Master,
    Stdout,
    Stderr,
    Stdin,
    LocalIn,
    Client(usize),
}

pub struct Monitor {
    pid: Pid,
    status: Option<WaitStatus>,
    exited_at: Option<Instant>,
    signals: Signals,
    master: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    close_stdin_when_flushed: bool,
    input: VecDeque<u8>,
    size: Option<WindowSize>,
    handshake: Option<Handshake>,
    listener: Option<Listener>,
    clients: Vec<Client>,
    log: Option<LogWriter>,
    log_failed: bool,
    ring: Ring,
    local: Option<Local>,
    packet: Vec<u8>,
    batch: Batch,
    /// The chain's mount namespace, held from the start until the exit is
    /// reported (see [`Monitor::hold_mount_namespace`]).
    mount_ns: Option<OwnedFd>,
}

/// Output read but not handed out yet (see [`BATCH_WINDOW`]).
struct Batch {
    buf: Vec<u8>,
    stream: Stream,
    since: Option<Instant>,
}

impl Monitor {
    pub fn new(
        spawned: Spawned,
        signals: Signals,
        listener: Option<Listener>,
        log: Option<LogWriter>,
        local: Option<Local>,
        on_started: OnStarted,
    ) -> Self {
        let wants_console = spawned.console.is_some();
        for fd in [
            &spawned.master,
            &spawned.stdout,
            &spawned.stderr,
            &spawned.stdin,
        ]
        .into_iter()
        .flatten()
        {
            let _ = fdio::set_nonblocking(fd.as_raw_fd());
        }
        let _ = fdio::set_nonblocking(spawned.sync.as_raw_fd());
        Self {
            pid: spawned.pid,
            status: None,
            exited_at: None,
            signals,
            master: spawned.master,
            stdout: spawned.stdout,
            stderr: spawned.stderr,
            stdin: spawned.stdin,
            close_stdin_when_flushed: false,
            input: VecDeque::new(),
            size: None,
            handshake: Some(Handshake {
                sync: spawned.sync,
                text: Vec::new(),
                console: spawned.console,
                wants_console,
                on_started: Some(on_started),
            }),
            listener,
            clients: Vec::new(),
            log,
            log_failed: false,
            ring: Ring::new(if local.is_some() { 0 } else { HISTORY_BYTES }),
            local,
            packet: Vec::new(),
            batch: Batch {
                buf: Vec::new(),
                stream: Stream::Stdout,
                since: None,
            },
            mount_ns: None,
        }
    }

    /// Keeps a reference to the mount namespace the chain runs in, so that
    /// tearing it down (unmounting the container's overlays, /proc, /dev…,
    /// a good part of a millisecond) does not happen in the exit of the
    /// chain's last process, before the monitor hears of the end, but in
    /// [`Monitor::farewell`], once the exit is reported. A chain without a
    /// namespace of its own shares ours: holding that changes nothing.
    fn hold_mount_namespace(&mut self) {
        let path = format!("/proc/{}/ns/mnt\0", self.pid);
        // SAFETY: a NUL-terminated path; the fd, if any, is ours.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: open just returned this fd.
            self.mount_ns = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }

    /// The fds the monitor owns (everything else inherited can be closed).
    pub fn own_fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.signals.as_fd().as_raw_fd()];
        fds.extend(
            [&self.master, &self.stdout, &self.stderr, &self.stdin]
                .into_iter()
                .flatten()
                .map(|fd| fd.as_raw_fd()),
        );
        if let Some(handshake) = &self.handshake {
            fds.push(handshake.sync.as_raw_fd());
            fds.extend(handshake.console.as_ref().map(|fd| fd.as_raw_fd()));
        }
        if let Some(listener) = &self.listener {
            fds.extend(listener.fds());
        }
        fds.extend(self.log.as_ref().map(|log| log.as_fd().as_raw_fd()));
        fds
    }

    /// Runs until the program exited and its output is drained; returns
    /// its wait status.
    pub fn run(&mut self) -> WaitStatus {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut tokens: Vec<Token> = Vec::new();
        loop {
            if let Some(status) = self.finished() {
                self.flush_batch();
                self.finish_handshake();
                return status;
            }
            fds.clear();
            tokens.clear();
            self.register(&mut fds, &mut tokens);
            // The clock is read only when there is a deadline: an idle
            // monitor runs as little code as it can (README, "The monitor's memory").
            let timeout = [
                self.exited_at.map(|at| at + DRAIN_GRACE),
                self.batch.since.map(|at| at + BATCH_WINDOW),
                self.clients.iter().filter_map(Client::stuck_at).min(),
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(-1, |at| {
                at.saturating_duration_since(Instant::now())
                    .as_micros()
                    .div_ceil(1000) as i32
            });
            match fdio::poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    hs_common::trace::log("poll", &e.to_string());
                    return self.status.unwrap_or(WaitStatus::Exited(self.pid, 125));
                }
            }
            // Console before sync: the master is sent before the handshake's EOF.
            for (pfd, token) in fds.iter().zip(tokens.iter()) {
                if pfd.revents != 0 {
                    self.handle(*token, pfd.revents);
                }
            }
            if self
                .batch
                .since
                .is_some_and(|at| at.elapsed() >= BATCH_WINDOW)
            {
                self.flush_batch();
            }
            let stuck = self.clients.iter().filter_map(Client::stuck_at).min();
            let now = stuck.map(|_| Instant::now());
            for client in &mut self.clients {
                if client
                    .stuck_at()
                    .is_some_and(|at| now.is_some_and(|now| at <= now))
                {
                    hs_common::trace::log("drop-client", "it took no output for a while");
                    client.dead = true;
                }
            }
            self.clients.retain(|c| !c.dead);
        }
    }

    fn finished(&self) -> Option<WaitStatus> {
        let status = self.status?;
        let drained = self.master.is_none() && self.stdout.is_none() && self.stderr.is_none();
        let late = self.exited_at.is_some_and(|at| at.elapsed() >= DRAIN_GRACE);
        (drained || late).then_some(status)
    }

    fn register(&self, fds: &mut Vec<libc::pollfd>, tokens: &mut Vec<Token>) {
        let mut add = |fd: RawFd, events: i16, token: Token| {
            fds.push(fdio::pollfd(fd, events));
            tokens.push(token);
        };
        add(
            self.signals.as_fd().as_raw_fd(),
            libc::POLLIN,
            Token::Signals,
        );
        if let Some(handshake) = &self.handshake {
            if let Some(console) = &handshake.console {
                add(console.as_raw_fd(), libc::POLLIN, Token::Console);
            }
            add(handshake.sync.as_raw_fd(), libc::POLLIN, Token::Sync);
        }
        if let Some(listener) = &self.listener {
            add(listener.as_fd().as_raw_fd(), libc::POLLIN, Token::Listener);
        }
        let wants_out = if self.input.is_empty() {
            0
        } else {
            libc::POLLOUT
        };
        if let Some(master) = &self.master {
            add(master.as_raw_fd(), libc::POLLIN | wants_out, Token::Master);
        }
        if let Some(fd) = &self.stdout {
            add(fd.as_raw_fd(), libc::POLLIN, Token::Stdout);
        }
        if let Some(fd) = &self.stderr {
            add(fd.as_raw_fd(), libc::POLLIN, Token::Stderr);
        }
        if let Some(fd) = &self.stdin {
            if wants_out != 0 {
                add(fd.as_raw_fd(), wants_out, Token::Stdin);
            }
        }
        let read_input = self.input.len() < INPUT_QUEUE_LIMIT;
        if self.local.as_ref().is_some_and(|l| l.reading) && read_input {
            add(0, libc::POLLIN, Token::LocalIn);
        }
        for (i, client) in self.clients.iter().enumerate() {
            let mut events = if read_input { libc::POLLIN } else { 0 };
            if !client.queue.is_empty() && client.greeted {
                events |= libc::POLLOUT;
            }
            add(client.fd.as_raw_fd(), events, Token::Client(i));
        }
    }

    fn handle(&mut self, token: Token, revents: i16) {
        let readable = revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
        match token {
            Token::Signals => self.on_signals(),
            Token::Console => self.on_console(),
            Token::Sync => self.on_sync(),
            Token::Listener => self.on_accept(),
            Token::Master => {
                if revents & libc::POLLOUT != 0 {
                    self.flush_input();
                }
                if readable {
                    self.on_output(Token::Master);
                }
            }
            Token::Stdout | Token::Stderr => self.on_output(token),
            Token::Stdin => self.flush_input(),
            Token::LocalIn => self.on_local_input(),
            Token::Client(i) => {
                if revents & libc::POLLOUT != 0 {
                    self.clients[i].flush();
                }
                if readable {
                    self.on_client_packet(i);
                }
            }
        }
    }

    fn on_signals(&mut self) {
        while let Some(signal) = self.signals.pending() {
            match signal {
                Signal::SIGCHLD => self.reap(),
                Signal::SIGWINCH => {
                    if let Some(size) = WindowSize::of_terminal(std::io::stdin().as_fd()) {
                        self.resize(size);
                    }
                }
                other if FORWARDED.contains(&other) && self.status.is_none() => {
                    hs_common::trace::log("forward", other.as_str());
                    let _ = kill(self.pid, other);
                }
                _ => {}
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)))
                    if pid == self.pid =>
                {
                    if hs_common::trace::enabled() {
                        hs_common::trace::log("exit", &format!("{status:?}"));
                    }
                    self.status = Some(status);
                    self.exited_at = Some(Instant::now());
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn on_console(&mut self) {
        let Some(handshake) = &mut self.handshake else {
            return;
        };
        let Some(console) = handshake.console.take() else {
            return;
        };
        match console::recv_fd(console.as_fd()) {
            Ok(master) => {
                hs_common::trace::log("console", "received the pty master");
                let _ = fdio::set_nonblocking(master.as_raw_fd());
                if let Some(size) = self.size {
                    let _ = size.apply(master.as_fd());
                }
                self.master = Some(master);
            }
            Err(e) => hs_common::trace::log("console", &e.to_string()),
        }
    }

    fn on_sync(&mut self) {
        let Some(handshake) = &mut self.handshake else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match fdio::read(handshake.sync.as_raw_fd(), &mut buf) {
                Ok(0) => return self.finish_handshake(),
                Ok(n) => handshake.text.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN) => return,
                Err(_) => return self.finish_handshake(),
            }
        }
    }

    /// The handshake ended (EOF, or the program is gone): tell the caller.
    fn finish_handshake(&mut self) {
        let Some(mut handshake) = self.handshake.take() else {
            return;
        };
        // Strict UTF-8 (the messages are JSON): lossy decoding is more code
        // for the monitor to keep resident, for no gain.
        let mut outcome = std::str::from_utf8(&handshake.text)
            .map_err(|_| Failure::tool("the start-up handshake is not UTF-8"))
            .and_then(hs_common::sync::parse_outcome);
        if outcome.is_ok() && handshake.wants_console && self.master.is_none() {
            let failure = Failure::tool(
                "the chain sent no terminal over HS_CONSOLE_FD (its last step needs --console)",
            );
            outcome = Err(Failure::new(
                failure.code,
                format!("hs-pty: error: {}", failure.message),
            ));
            if self.status.is_none() {
                let _ = kill(self.pid, Signal::SIGKILL);
            }
        }
        if hs_common::trace::enabled() {
            hs_common::trace::log("handshake", &format!("{outcome:?}"));
        }
        match &outcome {
            Ok(_) => self.hold_mount_namespace(),
            // The log keeps why the program never ran (`hs logs`); the
            // line is not output, so clients get it from whoever reports
            // the start, once.
            Err(failure) => {
                if let Some(log) = &mut self.log {
                    let _ = log.write(Stream::Stderr, format!("{}\n", failure.message).as_bytes());
                }
            }
        }
        if let Some(on_started) = handshake.on_started.take() {
            on_started(&outcome);
        }
    }

    fn on_accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok(Some(fd)) = listener.accept() {
            if self.clients.len() >= MAX_CLIENTS {
                continue;
            }
            self.clients.push(Client::new(fd));
        }
    }

    fn on_output(&mut self, token: Token) {
        let (fd, stream) = match token {
            Token::Master => (&self.master, Stream::Stdout),
            Token::Stdout => (&self.stdout, Stream::Stdout),
            _ => (&self.stderr, Stream::Stderr),
        };
        let Some(raw) = fd.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        if self.batch.stream != stream {
            self.flush_batch();
        }
        // Read until the fd is drained or the batch is full, not once per
        // wakeup: a PTY hands out at most 4095 bytes a read, and a poll(2)
        // between reads of output already waiting would double the
        // syscalls of bulk output. Gathering goes on across wakeups, in the
        // batch (flushed before a message would overflow).
        let before = self.batch.buf.len();
        let mut ended = false;
        while self.batch.buf.len() <= FULL_BATCH {
            let room = MAX_DATA - self.batch.buf.len();
            match fdio::read_append(raw, &mut self.batch.buf, room) {
                Ok(0) => ended = true,
                Ok(_) => continue,
                Err(Errno::EAGAIN) => {}
                // EIO: every slave fd is closed.
                Err(_) => ended = true,
            }
            break;
        }
        let filled = self.batch.buf.len() - before;
        if filled > 0 {
            if before == 0 {
                self.batch.stream = stream;
            }
            self.batch.since.get_or_insert_with(Instant::now);
        }
        if ended || (1..SMALL_READ).contains(&filled) || self.batch.buf.len() > FULL_BATCH {
            self.flush_batch();
        }
        if ended {
            match token {
                Token::Master => self.master = None,
                Token::Stdout => self.stdout = None,
                _ => self.stderr = None,
            }
        }
    }

    fn flush_batch(&mut self) {
        self.batch.since = None;
        if self.batch.buf.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.batch.buf);
        self.output(self.batch.stream, &data);
        self.batch.buf = data;
        self.batch.buf.clear();
    }

    /// Clients first: they work on their copy (on another CPU) while the
    /// log is written.
    fn output(&mut self, stream: Stream, data: &[u8]) {
        if self.local.is_some() {
            let fd = if stream == Stream::Stderr { 2 } else { 1 };
            let _ = fdio::write_all(fd, data);
        }
        if !self.clients.is_empty() {
            let message = match stream {
                Stream::Stdout => ServerMsg::Stdout(data),
                Stream::Stderr => ServerMsg::Stderr(data),
            };
            message.encode_into(&mut self.packet);
            for client in &mut self.clients {
                client.send(&self.packet);
            }
        }
        self.ring.push(data);
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(stream, data) {
                if !self.log_failed {
                    hs_common::trace::log("log", &e.to_string());
                    self.log_failed = true;
                }
            }
        }
    }

    fn on_local_input(&mut self) {
        let mut buf = [0u8; MAX_INPUT];
        match fdio::read(0, &mut buf) {
            Ok(0) | Err(Errno::EIO) | Err(Errno::EBADF) => {
                if let Some(local) = &mut self.local {
                    local.reading = false;
                }
            }
            Ok(n) => self.queue_input(&buf[..n]),
            Err(_) => {}
        }
    }

    fn on_client_packet(&mut self, i: usize) {
        let mut buf = [0u8; MAX_CLIENT_PACKET];
        let n = match fdio::recv_packet(self.clients[i].fd.as_raw_fd(), &mut buf) {
            Ok(0) => {
                self.clients[i].dead = true;
                return;
            }
            Ok(n) => n,
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                self.clients[i].dead = true;
                return;
            }
        };
        match ClientMsg::decode(&buf[..n]) {
            Some(ClientMsg::Hello { tail_bytes }) => self.greet(i, tail_bytes as usize),
            Some(ClientMsg::Input(data)) => self.queue_input(data),
            Some(ClientMsg::Resize(size)) => self.resize(size),
            Some(ClientMsg::InputClosed) if self.stdin.is_some() => {
                self.close_stdin_when_flushed = true;
                self.flush_input();
            }
            _ => {}
        }
    }

    /// Replays the history a client asked for ahead of whatever output
    /// was queued for it since it connected.
    fn greet(&mut self, i: usize, tail_bytes: usize) {
        let client = &mut self.clients[i];
        if client.greeted {
            return;
        }
        let (a, b) = self.ring.tail(tail_bytes);
        let history: Vec<Vec<u8>> = a
            .chunks(MAX_DATA)
            .chain(b.chunks(MAX_DATA))
            .map(|chunk| ServerMsg::Stdout(chunk).encode())
            .collect();
        for packet in history.into_iter().rev() {
            client.queued += packet.len();
            client.queue.push_front(packet);
        }
        client.greeted = true;
        client.flush();
    }

    fn queue_input(&mut self, data: &[u8]) {
        let has_target = self.master.is_some()
            || self.stdin.is_some()
            || self.handshake.as_ref().is_some_and(|h| h.wants_console);
        if has_target {
            self.input.extend(data);
            self.flush_input();
        }
    }

    fn flush_input(&mut self) {
        let target = match (&self.master, &self.stdin) {
            (Some(master), _) => master.as_raw_fd(),
            (None, Some(stdin)) => stdin.as_raw_fd(),
            (None, None) => return,
        };
        while !self.input.is_empty() {
            let (front, _) = self.input.as_slices();
            match fdio::write(target, front) {
                Ok(n) => {
                    self.input.drain(..n);
                }
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.input.clear();
                    if self.master.is_none() {
                        self.stdin = None;
                    }
                }
            }
        }
        if self.close_stdin_when_flushed && self.master.is_none() {
            self.stdin = None;
        }
    }

    fn resize(&mut self, size: WindowSize) {
        self.size = Some(size);
        if let Some(master) = &self.master {
            let _ = size.apply(master.as_fd());
        }
    }

    /// The program ended: give every client (and any still waiting to be
    /// accepted) the rest of its output and the exit code, then close.
    pub fn farewell(&mut self, code: i32) {
        if let Some(listener) = self.listener.take() {
            listener.remove();
            self.listener = Some(listener);
            self.on_accept();
            self.listener = None;
        }
        let exit = ServerMsg::Exit(code).encode();
        for client in &mut self.clients {
            client.greeted = true;
            client.enqueue(exit.clone());
        }
        let deadline = Instant::now() + FAREWELL_GRACE;
        loop {
            self.clients.iter_mut().for_each(Client::flush);
            self.clients.retain(|c| !c.dead && !c.queue.is_empty());
            let left = deadline.saturating_duration_since(Instant::now());
            if self.clients.is_empty() || left.is_zero() {
                break;
            }
            let mut fds: Vec<libc::pollfd> = self
                .clients
                .iter()
                .map(|c| fdio::pollfd(c.fd.as_raw_fd(), libc::POLLOUT))
                .collect();
            let _ = fdio::poll(&mut fds, left.as_millis() as i32 + 1);
        }
        self.clients.clear();
        // The end is out: the namespace's mounts can go now (the last
        // reference, so the unmounts run here, before any on-exit step).
        self.mount_ns = None;
    }
}
