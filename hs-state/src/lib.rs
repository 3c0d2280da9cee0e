//! Container records under `$HS_ROOT`: create, get, set, ls, rm, resolve.
//!
//! hs-state owns the record schema ([`schema`]) and the store layout
//! ([`Store`]); every other tool reads and writes records through this
//! library, never by parsing the files itself.

pub mod change;
pub mod error;
pub mod ident;
pub mod record;
pub mod schema;
pub mod store;

pub use change::StateChange;
pub use error::{Error, Result};
pub use record::{BrokenRecord, Record, RecordView};
pub use schema::{Config, Limits, ProcessRef, Rootfs, State, Status, Volume};
pub use store::{Created, LockGuard, Store, DEFAULT_ROOT};
