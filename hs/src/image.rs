//! The image store as `hs run` sees it: a stored image's layers and its
//! run configuration (Entrypoint, Cmd, Env, WorkingDir).

use std::path::Path;

use crate::error::Result;

/// What `hs run` needs of a stored image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    /// Extracted layer dirs, top first (overlay lowerdir order).
    pub lowerdirs: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
}

/// The stored image `name` in the store under `root`, if there is one.
pub fn find(_root: &Path, _name: &str) -> Result<Option<ImageInfo>> {
    Ok(None)
}
