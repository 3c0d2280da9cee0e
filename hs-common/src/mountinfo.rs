//! Reading this process's /proc/self/mountinfo: hs-state before it deletes
//! a container directory, hs-overlay's `umount`, hs-cgroup's hierarchies.

use std::path::{Path, PathBuf};

/// This process's mount table (its mount namespace's).
pub fn read() -> std::io::Result<String> {
    crate::proc::read_pseudo(Path::new("/proc/self/mountinfo"), 16 * 1024)
}

/// The mount points at or below `dir` in a mountinfo text, in its order.
pub fn mount_points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\' && octal.is_some_and(|o| o.iter().all(|b| (b'0'..=b'7').contains(b))) {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
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
    fn finds_the_mounts_below_a_dir_in_order() {
        assert_eq!(
            mount_points_under(MOUNTINFO, Path::new("/tmp/t")),
            vec![
                PathBuf::from("/tmp/t"),
                PathBuf::from("/tmp/t/usr"),
                PathBuf::from("/tmp/t/with space")
            ]
        );
    }

    #[test]
    fn nothing_mounted_is_an_empty_list() {
        assert!(mount_points_under(MOUNTINFO, Path::new("/srv")).is_empty());
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/end\\04"), "/end\\04");
    }
}
