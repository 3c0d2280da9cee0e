//! Conventions every hs tool follows (see DESIGN.md, "Conventions" and
//! "The chain protocol"), implemented once.

pub mod args;
pub mod atomic;
pub mod caps;
pub mod cli;
pub mod console;
pub mod exec;
pub mod exit;
pub mod info;
pub mod mount_ns;
pub mod mountinfo;
pub mod priority;
pub mod proc;
pub mod proctitle;
pub mod sibling;
pub mod sync;
pub mod trace;

pub use exit::{
    exit_code_from_status, run_bare_main, run_main, Failure, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND,
    EXIT_TOOL,
};

/// Every program that belongs to the hs chain. A chain tool that execs one of
/// these passes the chain fds on; anything else is the user's program.
pub const TOOLS: &[&str] = &[
    "hs",
    "hs-state",
    "hs-overlay",
    "hs-cgroup",
    "hs-unshare",
    "hs-pty",
    "hs-image",
];

#[cfg(target_env = "musl")]
#[doc(hidden)]
pub use dlmalloc;
