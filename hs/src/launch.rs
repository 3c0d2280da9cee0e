//! Starting a container (`run`, `start`, `restart`): exec the chain under a
//! monitor that detaches in place (`hs-pty serve --report-fd`: its own
//! session, hs's child until hs exits), wait for its report, and record
//! what it reported (monitor and init pids, cgroup dirs) in the
//! container's state.
//!
//! The monitor is started first and told to go later (`--go-fd`, runc's
//! create/start split in small): its exec and start-up, half a
//! millisecond of CPU here, run on the other core while `hs run` writes
//! the record the monitor is about to work in.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hs_state::schema::{ProcessRef, Status};
use hs_state::{Record, Store};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use serde::Deserialize;

use crate::chain::{self, ChainFds, Layout, Tools};
use crate::error::{HsError, Result};

/// How a start ended when it did not start: the chain's exit code, whose
/// message a tool already printed.
#[derive(Debug)]
pub enum StartError {
    Failed(i32),
    Hs(HsError),
}

impl From<HsError> for StartError {
    fn from(e: HsError) -> Self {
        Self::Hs(e)
    }
}

#[derive(Debug, Default, Deserialize)]
struct MonitorInfo {
    monitor_pid: Option<i32>,
    init_pid: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
struct CgroupInfo {
    #[serde(default)]
    cgroups: BTreeMap<String, String>,
}

/// How long a finished handshake may take to show up on an info fd.
const INFO_WAIT: Duration = Duration::from_secs(5);

pub fn layout(store: &Store, id: &str) -> Layout {
    Layout::new(store.root(), &store.container_dir(id))
}

/// Starts the container of `record`, records it as running, and returns
/// what the monitor reported.
pub fn start(store: &Store, record: &Record, tools: &Tools) -> Result<Started, StartError> {
    let pending = spawn(
        &record.config,
        &record.id,
        &layout(store, &record.id),
        tools,
        false,
    )?;
    pending
        .go(store, record, tools)
        .map(|launched| launched.started)
}

/// The chain of container `id`, started and waiting for its go: its
/// monitor has not created anything yet. Dropped without [`Pending::go`],
/// the monitor is killed and nothing is left.
pub struct Pending {
    child: std::process::Child,
    program: String,
    report: Option<OwnedFd>,
    go: Option<OwnedFd>,
    monitor_read: Option<OwnedFd>,
    cgroup_read: Option<OwnedFd>,
    exit_notice: Option<OwnedFd>,
}

/// A started container: what the monitor reported, and with `notice`
/// asked of [`spawn`], the read end of the monitor's `--exit-fd` (it
/// reports EOF once the exit file is written).
pub struct Launched {
    pub started: Started,
    pub exit_notice: Option<OwnedFd>,
}

/// Starts the chain of container `id` (whose record may not exist yet)
/// waiting for its go; `notice`: ask the monitor for an exit notice.
pub fn spawn(
    config: &hs_state::Config,
    id: &str,
    layout: &Layout,
    tools: &Tools,
    notice: bool,
) -> Result<Pending> {
    let (monitor_read, monitor_write) = pipe_to_child(Keep::Read)?;
    let (cgroup_read, cgroup_write) = pipe_to_child(Keep::Read)?;
    let (report_read, report_write) = pipe_to_child(Keep::Read)?;
    let (go_read, go_write) = pipe_to_child(Keep::Write)?;
    let exit = notice.then(|| pipe_to_child(Keep::Read)).transpose()?;
    let fds = ChainFds {
        monitor: monitor_write.as_raw_fd(),
        cgroup: cgroup_write.as_raw_fd(),
        report: report_write.as_raw_fd(),
        go: go_read.as_raw_fd(),
        exit: exit.as_ref().map(|(_, write)| write.as_raw_fd()),
    };
    let argv = chain::flatten(&chain::run_chain(config, id, layout, tools, Some(fds))?);
    hs_common::trace::log("start", &argv.join(" "));
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .env_remove(hs_common::sync::SYNC_ENV)
        .env_remove(hs_common::console::CONSOLE_ENV);
    // No pre_exec hook (say, to unblock the signals a foreground run
    // blocks before it starts): it would make std fork instead of
    // posix_spawn's vfork, and copy-on-write fault this process's pages.
    // hs-pty starts the chain with nothing blocked whatever it inherited.
    if config.tty {
        if let Some(size) = caller_window_size() {
            command.env(hs_common::console::SIZE_ENV, size.env_value());
        }
    }
    let child = command
        .spawn()
        .map_err(|e| HsError::io(format!("running {}", argv[0]), e))?;
    // The chain's ends close here: EOF on ours must depend on it alone.
    drop((monitor_write, cgroup_write, report_write, go_read));
    let exit_notice = exit.map(|(read, _write)| read);
    Ok(Pending {
        child,
        program: argv[0].clone(),
        report: Some(report_read),
        go: Some(go_write),
        monitor_read: Some(monitor_read),
        cgroup_read: Some(cgroup_read),
        exit_notice,
    })
}

impl Pending {
    /// Readies `record` for the start ([`prepare`]), tells the monitor to
    /// go, waits for the chain's handshake and records the start.
    pub fn go(
        mut self,
        store: &Store,
        record: &Record,
        tools: &Tools,
    ) -> Result<Launched, StartError> {
        prepare(store, record)?;
        if let Some(go) = self.go.take() {
            // A monitor that failed on its own input is gone already: its
            // exit code below says why (EPIPE here says nothing).
            let _ = nix::unistd::write(&go, b"g");
        }
        let code = self.start_code()?;
        if code != 0 {
            after_failed_start(store, record, tools, code);
            return Err(StartError::Failed(code));
        }
        let monitor: MonitorInfo = self
            .monitor_read
            .take()
            .and_then(read_info)
            .unwrap_or_default();
        let cgroups: CgroupInfo = self
            .cgroup_read
            .take()
            .and_then(read_info)
            .unwrap_or_default();
        let started = Started {
            monitor: monitor.monitor_pid.and_then(ProcessRef::of),
            init: monitor.init_pid.map(|pid| ProcessRef::of(pid).ok_or(pid)),
            at: chrono::Utc::now(),
        };
        let launched = Launched {
            started,
            exit_notice: self.exit_notice.take(),
        };
        // A `--rm` container whose program has ended already (a quick
        // `true`) is about to be removed: writing its start would only
        // cost a file.
        if record.config.auto_remove && matches!(started.init, Some(Err(_))) {
            return Ok(launched);
        }
        let result = store.update(&record.id, |state| {
            if state.cgroups.is_empty() {
                state.cgroups = cgroups.cgroups;
            }
            record_start(state, &started);
        });
        match result {
            // `--rm` cleanup removed it already: it ran and is gone.
            Err(hs_state::Error::NotFound { .. }) => Ok(launched),
            Err(e) => Err(HsError::State(e.to_string()).into()),
            Ok(_) => Ok(launched),
        }
    }
}

impl Pending {
    /// How the start went, from the monitor's `--report-fd`: 0 once the
    /// program runs (the monitor goes on as hs's child until hs exits and
    /// it is handed to init), else the chain's code, with its error line
    /// printed here (the monitor's stderr is /dev/null by then). A monitor
    /// that ended without a report failed before it detached: it printed
    /// why, and its exit code says it.
    fn start_code(&mut self) -> Result<i32> {
        let report = self
            .report
            .take()
            .and_then(hs_pty::serve::read_start_report);
        match report {
            Some((0, _)) => return Ok(0),
            // Not waited for: the monitor goes on to its on-exit step,
            // and for `--rm` that `hs cleanup` waits for this run's
            // removal claim (hs and the monitor waited for each other).
            Some((code, error)) => {
                if let Some(error) = error {
                    eprintln!("{error}");
                }
                return Ok(code);
            }
            None => {}
        }
        let status = self
            .child
            .wait()
            .map_err(|e| HsError::io(format!("waiting for {}", self.program), e))?;
        Ok(match status.code() {
            Some(0) | None => {
                eprintln!("hs-pty: error: the monitor died during start-up ({status})");
                hs_common::EXIT_TOOL
            }
            Some(code) => code,
        })
    }
}

impl Drop for Pending {
    /// Never told to go: the monitor is still in its wait, with nothing
    /// made, and goes quietly (closing the pipe would make it say so).
    fn drop(&mut self) {
        // The go pipe stays open until the monitor is dead: its EOF would
        // make it say it was never told to go.
        if let Some(go) = self.go.take() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            drop(go);
        }
    }
}

/// What the monitor reported of a start, as found in /proc right after.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub monitor: Option<ProcessRef>,
    /// The init's reference, or its pid when it has ended already.
    pub init: Option<Result<ProcessRef, i32>>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Records a start in `state`, unless the container ran and was cleaned up
/// already (a quick `true`): then `hs cleanup` recorded the end, which
/// stands.
fn record_start(state: &mut hs_state::State, started: &Started) {
    if state.finished.is_some() || state.status == Status::Exited {
        return;
    }
    state.monitor = started.monitor;
    state.started = Some(started.at);
    match started.init {
        Some(Ok(init)) => {
            state.status = Status::Running;
            state.init = Some(init);
        }
        // The init has ended already: "running" with no init would fall
        // back on the monitor, alive for its cleanup, and show a finished
        // container as running until the cleanup records the end (and a
        // foreground `run --rm` would leave its removal to the cleanup).
        Some(Err(_gone)) => {}
        None => state.status = Status::Running,
    }
}

/// Resets the record for a new start and clears what a previous run left
/// (its exit file, a stale socket).
pub fn prepare(store: &Store, record: &Record) -> Result<()> {
    let layout = layout(store, &record.id);
    for stale in [layout.exit_file(), layout.socket()] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(HsError::io(format!("removing {}", stale.display()), e)),
        }
    }
    for dir in [layout.upper(), layout.work(), layout.rootfs()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| HsError::io(format!("creating {}", dir.display()), e))?;
    }
    // A record just created has nothing to reset (saves a locked write).
    if record.state == hs_state::State::new() {
        return Ok(());
    }
    store
        .update(&record.id, |state| {
            state.status = Status::Created;
            state.init = None;
            state.monitor = None;
            state.cgroups.clear();
            state.exit_code = None;
            state.started = None;
            state.finished = None;
        })
        .map_err(|e| HsError::State(e.to_string()))?;
    Ok(())
}

/// A chain that failed before the program ran: the record says so with the
/// chain's code, its cgroup goes, and `--rm` removes it.
fn after_failed_start(store: &Store, record: &Record, tools: &Tools, code: i32) {
    let _ = store.update(&record.id, |state| {
        if state.finished.is_none() {
            state.status = Status::Exited;
            state.exit_code = Some(code);
            state.finished = Some(chrono::Utc::now());
        }
    });
    crate::lifecycle::remove_cgroups(record, tools);
    if record.config.auto_remove {
        let _ = store.remove(&record.id);
    }
}

/// Which end of a pipe to the chain stays in this process.
#[derive(Clone, Copy)]
enum Keep {
    Read,
    Write,
}

/// A pipe between this process and the chain, returned as (read, write):
/// the end we keep is close-on-exec, the other is inherited by the chain.
fn pipe_to_child(keep: Keep) -> Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| HsError::io("creating a pipe", e.into()))?;
    let inherited = match keep {
        Keep::Read => &write,
        Keep::Write => &read,
    };
    fcntl(inherited.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))
        .map_err(|e| HsError::io("creating a pipe", e.into()))?;
    Ok((read, write))
}

/// The first JSON line on an info fd. Processes that stay behind in the
/// chain may keep the write end open, so this reads up to a newline (or
/// EOF), with a deadline, never waiting for EOF alone.
fn read_info<T: for<'de> Deserialize<'de>>(fd: OwnedFd) -> Option<T> {
    let deadline = Instant::now() + INFO_WAIT;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let timeout = nix::poll::PollTimeout::try_from(left.as_millis().min(60_000) as i32)
            .unwrap_or(nix::poll::PollTimeout::MAX);
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                text.extend_from_slice(&buf[..n]);
                if text.contains(&b'\n') {
                    break;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
    let line = text.split(|&b| b == b'\n').next()?;
    serde_json::from_slice(line).ok()
}

/// The size of the terminal hs runs in, to start the container's at.
pub fn caller_window_size() -> Option<hs_common::console::WindowSize> {
    [std::io::stdin().as_fd(), std::io::stdout().as_fd()]
        .into_iter()
        .find_map(hs_common::console::WindowSize::of_terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(init: Option<Result<ProcessRef, i32>>) -> Started {
        Started {
            monitor: ProcessRef::of(std::process::id() as i32),
            init,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_start_with_a_live_init_is_running() {
        let own = ProcessRef::of(std::process::id() as i32).unwrap();
        let mut state = hs_state::State::new();
        record_start(&mut state, &started(Some(Ok(own))));
        assert_eq!(state.status, Status::Running);
        assert_eq!(state.init, Some(own));
    }

    #[test]
    fn a_start_whose_init_has_ended_is_not_recorded_as_running() {
        let mut state = hs_state::State::new();
        record_start(&mut state, &started(Some(Err(1 << 22))));
        assert_eq!(state.status, Status::Created);
        assert_eq!(state.init, None);
        assert!(state.started.is_some());
    }

    #[test]
    fn an_end_recorded_first_stands() {
        let own = ProcessRef::of(std::process::id() as i32).unwrap();
        let mut state = hs_state::State::new();
        state.status = Status::Exited;
        record_start(&mut state, &started(Some(Ok(own))));
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.init, None);
    }
}
