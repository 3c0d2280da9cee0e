//! hs-overlay: the filesystem half of a container. `mount` puts one
//! overlay of image layers at a target, `host` builds the host mirror (a
//! tmpfs skeleton with one overlay per host system dir), `umount` undoes
//! either when no program was chained, and `diff` reads what a container
//! changed out of its upper dir. See README.md for the chain contract.

pub mod checks;
pub mod diff;
pub mod error;
pub mod host;
pub mod image;
pub mod lowers;
pub mod overlay;
pub mod paths;
pub mod plan;
pub mod prepare;
pub mod umount;
pub mod whiteout;

use std::path::{Path, PathBuf};

pub use error::{OverlayError, Result};

/// What `mount` and `host` report on `--info-fd`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mounted {
    pub target: PathBuf,
    /// Every mount made, in order (the target first).
    pub mounts: Vec<PathBuf>,
}

/// `hs-overlay mount`: checks, then mounts the overlay.
pub fn mount(request: &image::MountRequest) -> Result<Mounted> {
    run_plan(&request.target, &image::plan(request)?)
}

/// `hs-overlay host`: checks, then builds the host mirror.
pub fn host(request: &host::HostRequest) -> Result<Mounted> {
    run_plan(&request.target, &host::plan(request, Path::new("/"))?)
}

/// Executes a plan made by [`image::plan`] or [`host::plan`] for `target`.
pub fn run_plan(target: &Path, ops: &[plan::Op]) -> Result<Mounted> {
    let mounts = plan::execute(ops)?;
    Ok(Mounted {
        target: paths::resolve(target).unwrap_or_else(|_| target.to_path_buf()),
        mounts,
    })
}
