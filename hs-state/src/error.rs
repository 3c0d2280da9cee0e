//! Everything the store can refuse or fail at, each with the name, id or
//! path it concerns, so a tool prints it once as `hs-state: error: …`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container name {name:?}: a name must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    InvalidName { name: String },

    #[error("name {name:?} is already in use by container {id}")]
    NameInUse { name: String, id: String },

    #[error("no such container: {reference}")]
    NotFound { reference: String },

    #[error(
        "ambiguous container reference {reference:?}: matches {}",
        candidates.join(", ")
    )]
    Ambiguous {
        reference: String,
        candidates: Vec<String>,
    },

    #[error("container {id} is broken: {reason}")]
    Broken { id: String, reason: String },

    #[error("cannot remove running container {id}: stop it first")]
    Running { id: String },

    #[error("cannot remove container {id}: {mount} is mounted below it")]
    Mounted { id: String, mount: String },

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("generate a container id: {0}")]
    Random(std::io::Error),
}

impl Error {
    /// An I/O failure doing `what` to `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// Adds the step and path to a raw `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(what, path, e))
    }
}
