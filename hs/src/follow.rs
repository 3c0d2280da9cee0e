//! Following a container's log until it exits, for a foreground run
//! without a terminal: the records are hs-pty's (`hs_pty::log::Record`),
//! the wake-up the monitor's exit notice (a pipe it closes once the exit
//! file is written: `hs-pty serve --exit-fd`), or without one a pidfd on
//! the container's init plus a short poll; not inotify (closing an inotify
//! fd waits for an SRCU grace period, which alone cost a short run ~20 ms).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hs_pty::log::{Record, Stream};
use hs_state::ProcessRef;

use crate::error::{HsError, Result};
use crate::launch::Started;
use crate::lifecycle::wait_gone;

/// How often the log is read while the init runs (output latency).
const LIVE_POLL: Duration = Duration::from_millis(10);
/// How often the exit file is looked for once the init is gone: the
/// monitor writes it within a millisecond or so (it reaps the chain, drains
/// the output, renames the file), and each look is one stat, so a fine
/// poll costs little and saves half a poll period on every short run.
const END_POLL: Duration = Duration::from_micros(100);

/// What a foreground run knows of its container's init when it starts to
/// follow the log.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Its process: a pidfd wakes the follower when it ends.
    Live(ProcessRef),
    /// It ended before hs had the start's report (a quick `true`): the
    /// exit file is due any moment.
    Ended,
    /// Not reported: the log is polled.
    Unknown,
}

impl Init {
    /// The init as the monitor reported it at the start.
    pub fn of(started: &Started) -> Init {
        match started.init {
            Some(Ok(init)) => Init::Live(init),
            Some(Err(_gone)) => Init::Ended,
            None => Init::Unknown,
        }
    }
}

/// Copies the output logged from `since` on to stdout and stderr, as it
/// comes, until `exit_file` exists and the log is drained. Gives up when
/// the monitor is gone without writing it (killed, or the container was
/// removed under us). `exit_notice`: the read end of the monitor's
/// `--exit-fd`.
pub fn follow(
    log: &Path,
    exit_file: &Path,
    since: DateTime<Utc>,
    init: Init,
    monitor: Option<ProcessRef>,
    mut exit_notice: Option<OwnedFd>,
) -> Result<()> {
    let mut file = File::open(log)
        .map_err(|e| HsError::io(format!("opening the log {}", log.display()), e))?;
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let exited = exit_file.exists();
        loop {
            let n = file
                .read(&mut chunk)
                .map_err(|e| HsError::io(format!("reading the log {}", log.display()), e))?;
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&chunk[..n]);
        }
        let complete = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        emit(&pending[..complete], since, log)?;
        pending.drain(..complete);
        if exited {
            return Ok(());
        }
        if monitor.is_some_and(|m| !m.is_alive()) && !exit_file.exists() {
            return Err(HsError::Other(
                "the container's monitor ended without writing its exit file".into(),
            ));
        }
        if let Some(notice) = &exit_notice {
            // EOF: the exit file is there (or the monitor is gone, which
            // the next round tells apart). It stays readable from now on,
            // so the rounds after this one use the short poll below.
            if hung_up(notice, LIVE_POLL) {
                exit_notice = None;
            }
            continue;
        }
        match init {
            Init::Live(init) if init.is_alive() => {
                wait_gone(&init, LIVE_POLL);
            }
            // The init is gone: the exit file follows in a moment.
            Init::Live(_) | Init::Ended => std::thread::sleep(END_POLL),
            Init::Unknown => std::thread::sleep(LIVE_POLL),
        }
    }
}

/// Waits up to `timeout` for the write end of `pipe` to close.
fn hung_up(pipe: &OwnedFd, timeout: Duration) -> bool {
    let mut fds = [nix::poll::PollFd::new(
        pipe.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let timeout = nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX);
    // Nothing is ever written: any event is the hang-up (and after an
    // error, polling is no use either).
    match nix::poll::poll(&mut fds, timeout) {
        Ok(ready) => ready > 0,
        Err(nix::errno::Errno::EINTR) => false,
        Err(_) => true,
    }
}

/// Writes the output bytes of complete log lines to stdout or stderr.
fn emit(lines: &[u8], since: DateTime<Utc>, log: &Path) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let bad = |detail: String| {
            HsError::Other(format!("bad record in the log {}: {detail}", log.display()))
        };
        let record = Record::parse(line).map_err(bad)?;
        if record.t < since {
            continue;
        }
        let bytes = record.bytes().map_err(bad)?;
        let written = match record.stream {
            Stream::Stdout => out.write_all(&bytes).and_then(|()| out.flush()),
            Stream::Stderr => err.write_all(&bytes),
        };
        // A closed stdout (`hs run … | head`) ends the copy, not the run.
        if written.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(init: Option<std::result::Result<ProcessRef, i32>>) -> Started {
        Started {
            monitor: None,
            init,
            at: Utc::now(),
        }
    }

    #[test]
    fn a_live_init_is_followed_by_its_pidfd() {
        let own = ProcessRef::of(std::process::id() as i32).unwrap();
        assert!(matches!(Init::of(&started(Some(Ok(own)))), Init::Live(init) if init == own));
    }

    #[test]
    fn an_init_gone_by_the_report_means_the_exit_file_is_due() {
        assert!(matches!(
            Init::of(&started(Some(Err(1 << 22)))),
            Init::Ended
        ));
    }

    #[test]
    fn an_unreported_init_is_polled() {
        assert!(matches!(Init::of(&started(None)), Init::Unknown));
    }
}
