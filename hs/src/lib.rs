//! hs, the front-end: docker-like commands built by exec-chaining the hs
//! tools (hs-pty, hs-cgroup, hs-unshare, hs-overlay) and keeping the books
//! with hs-state's library. No isolation step is done in-process.

pub mod attach;
pub mod chain;
pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod error;
pub mod exec;
pub mod follow;
pub mod image;
pub mod images;
pub mod inspect;
pub mod launch;
pub mod lifecycle;
pub mod limits;
pub mod listing;
pub mod log_opts;
pub mod spec;
pub mod stats;
pub mod tools;

pub use error::HsError;
