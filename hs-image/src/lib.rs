//! hs-image: the image store under `$HS_ROOT/images/` — import, load, pull,
//! list, remove, inspect, export, commit, and the lowerdirs `hs run` mounts.
//!
//! The front-end links this library: `Store::from_env()` or
//! `Store::open(images_dir)`, then `resolve(reference)` for an
//! [`ImageInfo`] (id, lowerdirs top first, Entrypoint/Cmd/Env/WorkingDir/User).

pub mod archive;
pub mod commit;
pub mod config;
pub mod digest;
pub mod error;
pub mod export;
pub mod extract;
pub mod import;
pub mod load;
#[cfg(feature = "pull")]
pub mod pull;
pub mod reference;
pub mod store;
pub mod tarwrite;

pub use config::RunConfig;
pub use error::{Error, Result};
pub use import::import;
pub use reference::Reference;
pub use store::{ImageInfo, ImageSummary, Removed, Store};
