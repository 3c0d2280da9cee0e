//! Finding the other hs tools: next to this executable first, then PATH.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("cannot find the hs tool {0:?} next to this program or on PATH")]
pub struct NotFound(pub String);

/// The path of hs tool `name` (e.g. `hs-pty`).
pub fn sibling(name: &str) -> Result<PathBuf, NotFound> {
    if let Some(dir) = own_dir() {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    crate::exec::which(name.as_ref()).ok_or_else(|| NotFound(name.to_string()))
}

/// This executable's directory, read once (a readlink of /proc/self/exe)
/// however many tools a command looks for.
fn own_dir() -> Option<&'static PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(PathBuf::from))
    })
    .as_ref()
}
