//! `hs-overlay umount T`: undoes a `mount` or `host` made without a chained
//! program: every mount at or below T, the most recent first.

use std::path::{Path, PathBuf};

use nix::mount::MntFlags;

use crate::error::{OverlayError, Result};
use crate::paths;

/// Unmounts everything at or below `target`; returns what it unmounted.
pub fn umount_tree(target: &Path) -> Result<Vec<PathBuf>> {
    let target = paths::resolve(target).map_err(|e| OverlayError::io("target", target, e))?;
    let mountinfo = hs_common::mountinfo::read()
        .map_err(|e| OverlayError::io("reading", "/proc/self/mountinfo", e))?;
    let mounts = hs_common::mountinfo::mount_points_under(&mountinfo, &target);
    if mounts.is_empty() {
        return Err(OverlayError::NotMounted(target));
    }
    // Deepest first, so no mount is unmounted while another sits below it.
    // mountinfo's order is not enough: a mount made detached (fsmount) and
    // attached later is listed before its parent.
    let mut order = mounts.clone();
    order.reverse();
    order.sort_by_key(|mount| std::cmp::Reverse(mount.components().count()));
    for mount in &order {
        hs_common::trace::log("umount", &mount.display().to_string());
        if let Err(errno) = nix::mount::umount2(mount, MntFlags::empty()) {
            // Gone already (e.g. stacked twice on one path): nothing to do.
            if errno != nix::errno::Errno::EINVAL {
                return Err(OverlayError::Unmount {
                    path: mount.clone(),
                    why: errno.desc().to_lowercase(),
                });
            }
        }
    }
    Ok(mounts)
}
