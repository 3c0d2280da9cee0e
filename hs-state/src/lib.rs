//! Container records under `$HS_ROOT`: create, get, set, ls, rm, resolve.

pub mod schema;
