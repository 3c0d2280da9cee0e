//! A change to a record's state as `hs-state set` / `exited` express it on
//! the command line: parsed and checked in full before anything is written,
//! then applied under the store lock.

use chrono::{DateTime, Utc};

use crate::schema::{ProcessRef, State, Status};

/// Each field: `None` leaves the state's field alone, `Some(None)` clears
/// it, `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateChange {
    pub status: Option<Status>,
    pub init: Option<Option<ProcessRef>>,
    pub monitor: Option<Option<ProcessRef>>,
    /// Drop every recorded cgroup before adding `cgroups`.
    pub clear_cgroups: bool,
    /// `(hierarchy key, absolute dir)` to record, replacing the key's entry.
    pub cgroups: Vec<(String, String)>,
    pub exit_code: Option<Option<i32>>,
    pub started: Option<Option<DateTime<Utc>>>,
    pub finished: Option<Option<DateTime<Utc>>>,
}

impl StateChange {
    /// What the monitor's on-exit hook records: exited with `code`,
    /// finished at `finished`.
    pub fn exited(code: i32, finished: DateTime<Utc>) -> Self {
        Self {
            status: Some(Status::Exited),
            exit_code: Some(Some(code)),
            finished: Some(Some(finished)),
            ..Self::default()
        }
    }

    pub fn apply(&self, state: &mut State) {
        if let Some(status) = self.status {
            state.status = status;
        }
        if let Some(init) = self.init {
            state.init = init;
        }
        if let Some(monitor) = self.monitor {
            state.monitor = monitor;
        }
        if self.clear_cgroups {
            state.cgroups.clear();
        }
        for (key, dir) in &self.cgroups {
            state.cgroups.insert(key.clone(), dir.clone());
        }
        if let Some(code) = self.exit_code {
            state.exit_code = code;
        }
        if let Some(started) = self.started {
            state.started = started;
        }
        if let Some(finished) = self.finished {
            state.finished = finished;
        }
    }
}

/// Why a command-line value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid time {0:?}: expected now, none or an RFC 3339 time")]
    Time(String),
    #[error("invalid cgroup {0:?}: expected KEY=ABSOLUTE_DIR")]
    Cgroup(String),
    #[error("invalid pid {0:?}: expected a positive number or none")]
    Pid(String),
    #[error("invalid exit code {0:?}: expected a number or none")]
    ExitCode(String),
    #[error("no process with pid {0}")]
    NoProcess(i32),
}

/// `now`, `none` (clear) or an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<Option<DateTime<Utc>>, ParseError> {
    match s {
        "none" => Ok(None),
        "now" => Ok(Some(Utc::now())),
        _ => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ParseError::Time(s.to_string())),
    }
}

/// `KEY=DIR` with an absolute DIR (a hierarchy key as hs-cgroup reports it).
pub fn parse_cgroup(s: &str) -> Result<(String, String), ParseError> {
    match s.split_once('=') {
        Some((key, dir)) if !key.is_empty() && dir.starts_with('/') => {
            Ok((key.to_string(), dir.to_string()))
        }
        _ => Err(ParseError::Cgroup(s.to_string())),
    }
}

/// A pid, or `none` to clear.
pub fn parse_pid(s: &str) -> Result<Option<i32>, ParseError> {
    if s == "none" {
        return Ok(None);
    }
    match s.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(Some(pid)),
        _ => Err(ParseError::Pid(s.to_string())),
    }
}

/// An exit code, or `none` for unknown.
pub fn parse_exit_code(s: &str) -> Result<Option<i32>, ParseError> {
    if s == "none" {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| ParseError::ExitCode(s.to_string()))
}

/// The process to record for `pid`: with an explicit start time as given,
/// otherwise as it runs now (a pid that does not exist is refused, so a
/// record never names a process that was already gone when written).
pub fn process_ref(pid: i32, start_time: Option<u64>) -> Result<ProcessRef, ParseError> {
    match start_time {
        Some(start_time) => Ok(ProcessRef { pid, start_time }),
        None => ProcessRef::of(pid).ok_or(ParseError::NoProcess(pid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_fields_stay() {
        let mut state = State::new();
        state.exit_code = Some(4);
        state.cgroups.insert("memory".into(), "/m".into());
        let change = StateChange {
            status: Some(Status::Running),
            ..Default::default()
        };
        change.apply(&mut state);
        assert_eq!(state.status, Status::Running);
        assert_eq!(state.exit_code, Some(4));
        assert_eq!(state.cgroups.len(), 1);
    }

    #[test]
    fn clear_then_set_cgroups() {
        let mut state = State::new();
        state.cgroups.insert("memory".into(), "/old".into());
        let change = StateChange {
            clear_cgroups: true,
            cgroups: vec![("unified".into(), "/u".into())],
            ..Default::default()
        };
        change.apply(&mut state);
        assert_eq!(state.cgroups.len(), 1);
        assert_eq!(state.cgroups["unified"], "/u");
    }

    #[test]
    fn none_clears_a_field() {
        let mut state = State::new();
        state.exit_code = Some(1);
        let change = StateChange {
            exit_code: Some(parse_exit_code("none").unwrap()),
            ..Default::default()
        };
        change.apply(&mut state);
        assert_eq!(state.exit_code, None);
    }

    #[test]
    fn exited_records_code_and_time() {
        let mut state = State::new();
        let t = Utc::now();
        StateChange::exited(137, t).apply(&mut state);
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.exit_code, Some(137));
        assert_eq!(state.finished, Some(t));
    }

    #[test]
    fn parses_values() {
        assert!(parse_time("now").unwrap().is_some());
        assert_eq!(parse_time("none").unwrap(), None);
        assert!(parse_time("2024-01-02T03:04:05.5Z").unwrap().is_some());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(
            parse_cgroup("cpu,cpuacct=/sys/fs/cgroup/cpu/x").unwrap(),
            ("cpu,cpuacct".into(), "/sys/fs/cgroup/cpu/x".into())
        );
        assert!(parse_cgroup("memory=relative").is_err());
        assert!(parse_cgroup("=/x").is_err());
        assert_eq!(parse_pid("12").unwrap(), Some(12));
        assert!(parse_pid("0").is_err());
        assert!(parse_pid("-3").is_err());
        assert_eq!(parse_exit_code("-1").unwrap(), Some(-1));
        assert!(parse_exit_code("x").is_err());
    }

    #[test]
    fn process_ref_of_a_missing_pid_is_refused() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert_eq!(process_ref(pid, None), Err(ParseError::NoProcess(pid)));
        assert_eq!(
            process_ref(pid, Some(7)).unwrap(),
            ProcessRef { pid, start_time: 7 }
        );
    }
}
