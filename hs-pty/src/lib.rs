//! hs-pty: the container monitor (`serve`), its client (`attach`), the log
//! reader (`logs`) and the foreground relay for `hs exec -it` (`run`).
//! See README.md for the chain contract.

pub mod attach;
pub mod child;
pub mod detach_keys;
pub mod exit_file;
pub mod fdio;
pub mod log;
pub mod logs;
pub mod monitor;
pub mod protocol;
pub mod ring;
pub mod run;
pub mod serve;
pub mod signals;
pub mod socket;
pub mod terminal;
