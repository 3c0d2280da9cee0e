//! The one error type of the image store. Every variant names the thing
//! involved (path, reference, digest) so main prints it as
//! `hs-image: error: what failed: why`.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unsafe entry {entry:?} in archive: {why}")]
    Unsafe { entry: String, why: String },
    #[error("{0}: not an image archive: {1}")]
    BadArchive(String, String),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("ambiguous image id prefix {0:?}")]
    Ambiguous(String),
    #[error("invalid reference {0:?}: {1}")]
    BadReference(String, String),
    #[error("image {image} is used by container {container} (use -f to remove it anyway)")]
    InUse { image: String, container: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("pull {reference}: {message}")]
    Registry { reference: String, message: String },
    #[error("image config {0}: {1}")]
    BadConfig(String, String),
    #[error("image store {0}: {1}")]
    Store(String, String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O failure on `path` while doing `what` ("open", "extract" …).
    pub fn io(what: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub fn unsafe_entry(entry: impl AsRef<Path>, why: impl Into<String>) -> Self {
        Error::Unsafe {
            entry: entry.as_ref().display().to_string(),
            why: why.into(),
        }
    }
}

/// Attaches a path and an action to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, what: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(what, path, e))
    }
}
