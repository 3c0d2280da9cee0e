//! Ending containers: stop (TERM, grace period, then kill the cgroup),
//! kill, wait for the end, remove. Liveness always comes from the record's
//! process references, never from its status word alone.

use std::time::{Duration, Instant};

use hs_state::schema::{ProcessRef, Status};
use hs_state::{Record, Store};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::chain::{self, Tools};
use crate::error::{HsError, Result};
use crate::tools;

/// How often liveness is polled while waiting.
const POLL: Duration = Duration::from_millis(10);
/// How long the monitor's cleanup may take after the container ended.
const CLEANUP_WAIT: Duration = Duration::from_secs(10);
/// How long a SIGKILLed container may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(10);

pub fn is_running(record: &Record) -> bool {
    record.live_status() == Status::Running
}

/// Polls `done` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `process` has ended (a zombie counts) or `timeout` passed;
/// true when it is gone. Woken by a pidfd the moment it exits, not by
/// polling; falls back to polling where pidfd_open is missing.
pub fn wait_gone(process: &ProcessRef, timeout: Duration) -> bool {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, process.pid, 0) };
    if raw < 0 {
        return wait_for(timeout, || !process.is_alive());
    }
    // SAFETY: the kernel just returned this fd to us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    // Opened by pid: make sure it is still the recorded process.
    if !process.is_alive() {
        return true;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let timeout = nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX);
        match nix::poll::poll(&mut fds, timeout) {
            Ok(n) if n > 0 => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return !process.is_alive(),
        }
    }
}

/// `hs stop`: SIGTERM to the init (which forwards it to the command), up to
/// `grace` for it to end, then SIGKILL to the whole cgroup. Returns once
/// the init is gone and the monitor has recorded the exit.
pub fn stop(record: &Record, grace: Duration, tools: &Tools) -> Result<()> {
    if !is_running(record) {
        return Ok(());
    }
    let Some(init) = record.state.init else {
        return Ok(());
    };
    let _ = nix::sys::signal::kill(Pid::from_raw(init.pid), Signal::SIGTERM);
    if !wait_gone(&init, grace) {
        kill_all(record, tools)?;
    }
    finish(record);
    Ok(())
}

/// SIGKILL to every process of the container and wait until the init is
/// gone.
pub fn kill_all(record: &Record, tools: &Tools) -> Result<()> {
    let Some(init) = record.state.init else {
        return Ok(());
    };
    if !record.state.cgroups.is_empty() {
        let mut argv = vec![
            tools.cgroup.clone(),
            "kill".into(),
            "-s".into(),
            "KILL".into(),
        ];
        argv.extend(tools::path_flags(record.state.cgroups.values()));
        // The init's own SIGKILL below ends the PID namespace anyway.
        let _ = tools::output(&argv);
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(init.pid), Signal::SIGKILL);
    if wait_gone(&init, KILL_WAIT) {
        Ok(())
    } else {
        Err(HsError::Other(format!(
            "container {}: its init {} survived SIGKILL",
            record.id, init.pid
        )))
    }
}

/// Waits for the monitor (which runs `hs cleanup` on exit) to be done, so
/// the record holds the exit code and the cgroups are gone when we return.
pub fn finish(record: &Record) {
    if let Some(monitor) = record.state.monitor {
        wait_gone(&monitor, CLEANUP_WAIT);
    }
}

/// Records how the container ended (the monitor's exit file, when it
/// wrote one) in its state. `hs cleanup` does this, and so does a
/// foreground run that read the exit file first, so it need not wait for
/// the monitor; whichever comes second changes nothing. Ok(false) when the
/// record is gone.
pub fn record_exit(
    store: &Store,
    id: &str,
    exit: Option<&hs_pty::exit_file::ExitFile>,
) -> Result<bool> {
    let updated = store.update(id, |state| {
        state.status = Status::Exited;
        if let Some(exit) = exit {
            state.exit_code = Some(exit.exit_code);
        }
        if state.finished.is_none() || exit.is_some() {
            state.finished = Some(exit.map(|e| e.finished).unwrap_or_else(chrono::Utc::now));
        }
    });
    match updated {
        Ok(_) => Ok(true),
        Err(hs_state::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(HsError::State(e.to_string())),
    }
}

/// `hs kill -s SIG`: the signal to the init (SIGKILL ends the whole PID
/// namespace; others are forwarded by the init to the command).
pub fn kill(record: &Record, signal: Signal) -> Result<()> {
    let init = match record.state.init {
        Some(init) if is_running(record) => init,
        _ => return Err(HsError::NotRunning(record.id.clone())),
    };
    nix::sys::signal::kill(Pid::from_raw(init.pid), signal)
        .map_err(|e| HsError::Other(format!("signalling container {}: {}", record.id, e.desc())))
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || HsError::BadSignal(text.to_string());
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// The exit code of a container that ended: the monitor's exit file, or
/// what `hs cleanup` recorded.
pub fn exit_code(store: &Store, record: &Record) -> Option<i32> {
    let layout = crate::launch::layout(store, &record.id);
    read_exit_file(&layout.exit_file())
        .map(|e| e.exit_code)
        .or(record.state.exit_code)
}

/// The monitor's exit file, if it was written.
pub fn read_exit_file(path: &std::path::Path) -> Option<hs_pty::exit_file::ExitFile> {
    hs_pty::exit_file::ExitFile::read(path).ok()
}

/// `hs wait`: blocks until the container is not running and its monitor
/// is done, then returns its exit code (None when nobody observed it).
pub fn wait(store: &Store, id: &str) -> Result<Option<i32>> {
    let layout = crate::launch::layout(store, id);
    loop {
        // Read the exit file first: with --rm the record may vanish any time.
        if let Some(exit) = read_exit_file(&layout.exit_file()) {
            // Return once the monitor's cleanup recorded it, so a `ps`
            // right after shows the code.
            if let Ok(record) = store.get(id) {
                finish(&record);
            }
            return Ok(Some(exit.exit_code));
        }
        let record = match store.get(id) {
            Ok(record) => record,
            Err(hs_state::Error::NotFound { .. }) => {
                return Err(HsError::NoSuchContainer(id.to_string()))
            }
            Err(e) => return Err(HsError::State(e.to_string())),
        };
        let monitor_alive = record.state.monitor.is_some_and(|m| m.is_alive());
        if !is_running(&record) && !monitor_alive && record.state.status != Status::Created {
            return Ok(exit_code(store, &record));
        }
        std::thread::sleep(POLL);
    }
}

/// Removes the container's cgroups (idempotent): by their recorded dirs,
/// or by parent and name when the start never recorded them.
pub fn remove_cgroups(record: &Record, tools: &Tools) {
    if record.state.cgroups.is_empty() {
        remove_named_cgroups(chain::cgroup_parent(&record.config), &record.id, tools);
    } else {
        cgroup_rm(tools, tools::path_flags(record.state.cgroups.values()));
    }
}

/// Removes the cgroup `name` under `parent` (relative to this process's own
/// cgroup when it has no leading `/`).
pub fn remove_named_cgroups(parent: &str, name: &str, tools: &Tools) {
    let address = ["--parent", parent, "--name", name];
    cgroup_rm(tools, address.iter().map(|s| s.to_string()).collect());
}

fn cgroup_rm(tools: &Tools, address: Vec<String>) {
    let mut argv = vec![tools.cgroup.clone(), "rm".into(), "--kill".into()];
    argv.extend(address);
    if let Err(e) = tools::output(&argv) {
        hs_common::trace::log("cleanup", &e.to_string());
    }
}

/// A foreground client's claim on removing its `--rm` container itself:
/// a shared flock on the container's directory, held until it has read the
/// exit code and unlisted the container. `hs cleanup` waits for it before
/// it deletes anything, or the exit file would vanish before the client
/// could read it. The directory itself, not a lock file in it: one file
/// less to create on every run.
pub struct RemovalClaim {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

pub fn claim_removal(dir: &std::path::Path) -> Result<RemovalClaim> {
    let file = std::fs::File::open(dir)
        .map_err(|e| HsError::io(format!("opening {}", dir.display()), e))?;
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockShared)
        .map_err(|(_, e)| HsError::io(format!("locking {}", dir.display()), e.into()))?;
    Ok(RemovalClaim { _lock: lock })
}

/// Returns once no foreground client holds its claim on `dir` (at once
/// when there is none, or the directory was unlisted already).
pub fn wait_for_client(dir: &std::path::Path) {
    if let Ok(file) = std::fs::File::open(dir) {
        // Blocks until the client dropped its shared lock (or died).
        let _ = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive);
    }
}

/// `hs rm`: a stopped container's record and layers; with `force` a running
/// one is killed first. Never deletes through a mount.
pub fn remove(store: &Store, record: &Record, force: bool, tools: &Tools) -> Result<()> {
    if is_running(record) {
        if !force {
            return Err(HsError::RemoveRunning(record.id.clone()));
        }
        kill_all(record, tools)?;
        finish(record);
    }
    // A monitor killed -9 never ran its cleanup: do its part here (no
    // process to spawn when the cleanup did remove them).
    let fresh = store.get(&record.id).unwrap_or_else(|_| record.clone());
    if fresh.state.cgroups.is_empty()
        || fresh
            .state
            .cgroups
            .values()
            .any(|dir| std::path::Path::new(dir).exists())
    {
        remove_cgroups(&fresh, tools);
    }
    remove_record(store, record)
}

/// Deletes a stopped container's record and layers; hs-state refuses when
/// anything below its directory is a mount point in this mount namespace.
pub fn remove_record(store: &Store, record: &Record) -> Result<()> {
    removal_result(store.remove(&record.id))
}

/// [`remove_record`] but for the deletion of the layers, which is left to
/// `hs cleanup` ([`Store::unlist`]): the container is gone for every
/// command and its name is free when this returns. A container that runs
/// again (someone started it meanwhile) is theirs and stays.
pub fn unlist_ended(store: &Store, id: &str) -> Result<()> {
    match store.unlist(id) {
        Err(hs_state::Error::Running { .. }) => Ok(()),
        result => removal_result(result),
    }
}

/// A removal that found nothing to remove did its job.
fn removal_result(result: hs_state::Result<()>) -> Result<()> {
    match result {
        Ok(()) | Err(hs_state::Error::NotFound { .. }) => Ok(()),
        Err(hs_state::Error::Mounted { id, mount }) => Err(HsError::MountedInside { id, mount }),
        Err(e) => Err(HsError::State(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_number_or_sig_prefix() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
