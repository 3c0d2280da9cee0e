//! The image store as `hs run` sees it: a stored image's layers and its
//! run configuration (Entrypoint, Cmd, Env, WorkingDir, User), through
//! hs-image's library.

use std::path::Path;

use crate::error::{HsError, Result};

/// What `hs run` needs of a stored image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    /// Layer dirs, top first (overlay lowerdir order).
    pub lowerdirs: Vec<String>,
    /// Some layers are still packed (pulled, not yet extracted): the run
    /// unpacks them first ([`unpack`]).
    pub packed: bool,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// The image's User (a name or uid[:gid], resolved in the container).
    pub user: Option<String>,
}

/// The image store of the container store at `hs_root`.
pub fn store(hs_root: &Path) -> Result<hs_image::Store> {
    hs_image::Store::open(&hs_root.join("images")).map_err(|e| HsError::Image(e.to_string()))
}

/// Extracts what a pull left packed of image `id` (once, for the first
/// container of it; nothing to do after that).
pub fn unpack(hs_root: &Path, id: &str) -> Result<()> {
    store(hs_root)?
        .unpack(id)
        .map(drop)
        .map_err(|e| HsError::Image(e.to_string()))
}

/// The stored image `word` names, if any. Unless `forced` (`--image`), only
/// a reference name or a full `sha256:` id counts: a command word such as
/// `dd` must not be taken for an image id prefix.
pub fn find(hs_root: &Path, word: &str, forced: bool) -> Result<Option<ImageInfo>> {
    if !hs_root.join("images").exists() {
        return Ok(None);
    }
    let info = match store(hs_root)?.resolve(word) {
        Ok(info) => info,
        Err(hs_image::Error::NotFound(_)) | Err(hs_image::Error::BadReference(..)) => {
            return Ok(None)
        }
        Err(hs_image::Error::Ambiguous(_)) if !forced => return Ok(None),
        Err(e) => return Err(HsError::Image(e.to_string())),
    };
    if !forced && info.reference.is_none() && !word.starts_with("sha256:") {
        return Ok(None);
    }
    let run = info.config;
    Ok(Some(ImageInfo {
        id: info.id,
        lowerdirs: info
            .lowerdirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect(),
        packed: !info.packed.is_empty(),
        entrypoint: run.entrypoint.unwrap_or_default(),
        cmd: run.cmd.unwrap_or_default(),
        env: run.env.unwrap_or_default(),
        workdir: run.working_dir.filter(|d| !d.is_empty()),
        user: run.user.filter(|u| !u.is_empty()),
    }))
}
