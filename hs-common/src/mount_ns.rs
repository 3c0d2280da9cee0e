//! A private mount namespace: what hs-unshare's `--ns mnt` and
//! hs-overlay's `--unshare-mount` do before they mount anything.

use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;

/// `mount --make-rprivate /`: no mount made from here on propagates back to
/// the namespace this one was copied from (and pivot_root refuses shared
/// mounts).
pub fn make_private() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// `unshare --mount --propagation private`: this process moves into a new
/// mount namespace whose tree is private. Must run before any thread is
/// started (the kernel refuses CLONE_NEWNS to a multithreaded process).
pub fn enter_private() -> nix::Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)?;
    make_private()
}
