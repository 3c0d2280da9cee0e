//! What can go wrong in the front-end, worded like docker's messages where
//! docker has one. Every variant is a tool failure: exit 125.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HsError {
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error(
        "cannot remove container {0}: it is running: stop the container before removing or force remove (-f)"
    )]
    RemoveRunning(String),
    #[error("refusing to remove container {id}: {mount} is still mounted")]
    MountedInside { id: String, mount: String },
    #[error("invalid volume {spec:?}: {why}")]
    BadVolume { spec: String, why: String },
    #[error("invalid environment entry {0:?}: the key must not be empty")]
    BadEnv(String),
    #[error("reading env file {path}: {source}")]
    EnvFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("invalid {flag} {value:?}: {why}")]
    BadValue {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error("no such image: {0}")]
    NoSuchImage(String),
    #[error("invalid signal {0:?}")]
    BadSignal(String),
    #[error("{0}")]
    State(String),
    #[error("{0}")]
    Image(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{tool} failed: {why}")]
    Tool { tool: String, why: String },
    #[error("{0}")]
    Other(String),
}

impl HsError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = HsError> = std::result::Result<T, E>;

/// What a command returns to `main`: its exit code, or the failure
/// `run_main` prints once.
pub type Outcome = std::result::Result<i32, hs_common::Failure>;
