//! `hs-overlay umount T`: undoes a `mount` or `host` made without a chained
//! program: every mount at or below T, the most recent first.

use std::path::{Path, PathBuf};

use nix::mount::MntFlags;

use crate::error::{OverlayError, Result};
use crate::paths;

/// Unmounts everything at or below `target`; returns what it unmounted.
pub fn umount_tree(target: &Path) -> Result<Vec<PathBuf>> {
    let target = paths::resolve(target).map_err(|e| OverlayError::io("target", target, e))?;
    let mountinfo = hs_common::proc::read_pseudo(Path::new("/proc/self/mountinfo"), 16 * 1024)
        .map_err(|e| OverlayError::io("reading", "/proc/self/mountinfo", e))?;
    let mounts = mounts_under(&mountinfo, &target);
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

/// Mount points at or below `target` in a mountinfo text, in its order.
pub fn mounts_under(mountinfo: &str, target: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|mount| paths::is_within(mount, target))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(value) = u8::from_str_radix(digits, 8) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
90 27 0:50 / /tmp/t rw - tmpfs tmpfs rw
91 90 0:51 / /tmp/t/usr rw - overlay overlay rw,lowerdir=/usr
92 27 0:52 / /tmp/t2 rw - tmpfs tmpfs rw
93 90 0:53 / /tmp/t/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_the_mounts_below_the_target_in_order() {
        assert_eq!(
            mounts_under(MOUNTINFO, Path::new("/tmp/t")),
            vec![
                PathBuf::from("/tmp/t"),
                PathBuf::from("/tmp/t/usr"),
                PathBuf::from("/tmp/t/with space")
            ]
        );
    }

    #[test]
    fn nothing_mounted_is_an_empty_list() {
        assert!(mounts_under(MOUNTINFO, Path::new("/srv")).is_empty());
    }
}
