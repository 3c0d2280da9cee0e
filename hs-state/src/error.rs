//! Everything the store can refuse or fail at, each with the name, id or
//! path it concerns, so a tool prints it once as `hs-state: error: …`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container name {name:?}: a name must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    InvalidName { name: String },

    #[error("invalid container id {id:?}: an id is 64 lowercase hex characters")]
    InvalidId { id: String },

    #[error("container id {id} is already in use")]
    IdInUse { id: String },

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

    #[error("{what} {}: {}", path.display(), reason(source))]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("generate a container id: {}", reason(.0))]
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

/// Why an I/O operation failed, the way every hs error line says it:
/// lowercase, without Rust's `(os error N)` suffix.
pub fn reason(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_lowercase(),
        None => err.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_lowercase_without_the_errno_suffix() {
        let err = Error::io(
            "read",
            "/x/state.json",
            std::io::Error::from_raw_os_error(2),
        );
        assert_eq!(
            err.to_string(),
            "read /x/state.json: no such file or directory"
        );
    }
}
