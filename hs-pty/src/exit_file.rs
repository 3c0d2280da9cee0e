//! The exit file: how the container ended, written once by the monitor
//! (atomically) and read by `hs cleanup`, `hs wait` and `hs-pty logs
//! --follow`. This module is its one reader and writer.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

/// `{"exit_code":N,"signal":S|null,"finished":"RFC3339"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitFile {
    /// The shell's view of the status: the code, or 128+N after signal N.
    pub exit_code: i32,
    /// The signal that killed the program, if one did.
    pub signal: Option<i32>,
    pub finished: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExitFileError {
    #[error("reading the exit file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad exit file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing the exit file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ExitFileError {
    /// True when the file does not exist (yet): the program still runs or
    /// its monitor died before writing it.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

impl ExitFile {
    /// The exit file for a wait status that ended the program; None for a
    /// status that did not (stopped, continued).
    pub fn from_status(status: WaitStatus, finished: DateTime<Utc>) -> Option<Self> {
        let signal = match status {
            WaitStatus::Signaled(_, signal, _) => Some(signal as i32),
            WaitStatus::Exited(..) => None,
            _ => return None,
        };
        Some(Self {
            exit_code: hs_common::exit_code_from_status(status)?,
            signal,
            finished,
        })
    }

    pub fn read(path: &Path) -> Result<Self, ExitFileError> {
        let bytes = std::fs::read(path).map_err(|source| ExitFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| ExitFileError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the file atomically: a reader sees no file or the whole one.
    ///
    /// Not fsynced: whoever waits for it (`hs cleanup`, a foreground `hs
    /// run`) reads it at once and records the code in the container's
    /// record, which is durable itself; syncing here cost the end of every
    /// run two fsyncs on its critical path (conmon does not sync its exit
    /// file either).
    pub fn write(&self, path: &Path) -> Result<(), ExitFileError> {
        let mut bytes = serde_json::to_vec(self).map_err(|source| ExitFileError::Parse {
            path: path.to_owned(),
            source,
        })?;
        bytes.push(b'\n');
        hs_common::atomic::write_atomic_with(
            path,
            &bytes,
            0o644,
            hs_common::atomic::Durability::Unsynced,
        )
        .map_err(|source| ExitFileError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn a_signal_death_records_the_signal_and_128_plus_n() {
        let status = WaitStatus::Signaled(Pid::from_raw(5), Signal::SIGKILL, false);
        let exit = ExitFile::from_status(status, Utc::now()).unwrap();
        assert_eq!(exit.exit_code, 137);
        assert_eq!(exit.signal, Some(9));
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        let exit =
            ExitFile::from_status(WaitStatus::Exited(Pid::from_raw(5), 3), Utc::now()).unwrap();
        exit.write(&path).unwrap();
        assert_eq!(ExitFile::read(&path).unwrap(), exit);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"exit_code\":3") && text.contains("\"signal\":null"));
    }

    #[test]
    fn a_missing_file_is_reported_as_missing() {
        let err = ExitFile::read(Path::new("/nonexistent/exit.json")).unwrap_err();
        assert!(err.is_missing());
    }
}
