//! Everything that can go wrong, with the path or option involved, worded
//! for the `hs-overlay: error: what failed: why` line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("bad {flag} {value:?}: {why}")]
    BadArgument {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("lower dir {0}: no such directory")]
    MissingLower(PathBuf),
    #[error("lower dir {0}: not a directory")]
    LowerNotDir(PathBuf),
    #[error("target {0}: no such directory")]
    MissingTarget(PathBuf),
    #[error("target {0}: not a directory")]
    TargetNotDir(PathBuf),
    #[error("{what} {path}: not a directory")]
    NotDir { what: &'static str, path: PathBuf },
    #[error("upper dir {0}: lies on an overlayfs, which the kernel refuses as an upper layer")]
    UpperOnOverlay(PathBuf),
    #[error(
        "work dir {work} and upper dir {upper}: on different filesystems (the kernel needs both on one)"
    )]
    DifferentFilesystems { upper: PathBuf, work: PathBuf },
    #[error("work dir {work} and upper dir {upper}: one lies inside the other (they must be separate trees)")]
    NestedUpperWork { upper: PathBuf, work: PathBuf },
    #[error(
        "{what} {path}: lies under the mirrored dir {mirrored} and is not hidden: add --hide {path} (lookups of it through the overlay fail with ELOOP)"
    )]
    Unhidden {
        what: &'static str,
        path: PathBuf,
        mirrored: PathBuf,
    },
    #[error(
        "{what} {path}: lies inside the lower dir {lower} (lookups of it through the overlay fail with ELOOP): move it out, or mirror the host with `hs-overlay host --hide`"
    )]
    InsideLower {
        what: &'static str,
        path: PathBuf,
        lower: PathBuf,
    },
    #[error(
        "work dir {0}: was last mounted with the volatile option (work/incompat/volatile exists), which the kernel refuses to mount again: remove that directory, and the upper dir too if the host crashed meanwhile"
    )]
    VolatileLeftover(PathBuf),
    #[error("mirrored dir {0}: no such directory on the host")]
    MissingMirrored(PathBuf),
    #[error("--hide {0}: not a directory (only directories can be hidden)")]
    HideNotDir(PathBuf),
    #[error("overlay option {option:?}: not supported by this kernel: {detail}")]
    UnknownOption { option: String, detail: String },
    #[error("mounting the overlay on {target}: {detail}")]
    Mount { target: PathBuf, detail: String },
    #[error("{what} {path}: {why}")]
    Io {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("{0}: not a mount point")]
    NotMounted(PathBuf),
    #[error("unmounting {path}: {why}")]
    Unmount { path: PathBuf, why: String },
}

impl OverlayError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            why: describe(&source),
        }
    }
}

/// An OS error the way the error line wants it: lowercase, no "(os error N)".
pub fn describe(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => err.to_string(),
    }
}

pub type Result<T, E = OverlayError> = std::result::Result<T, E>;
