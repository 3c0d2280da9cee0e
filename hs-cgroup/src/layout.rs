//! Where the cgroup hierarchies are and where the caller sits in them.
//!
//! The layout (legacy v1, hybrid, unified v2) comes from statfs on
//! /sys/fs/cgroup and /sys/fs/cgroup/unified; the hierarchies themselves
//! from /proc/self/mountinfo (fstype `cgroup`/`cgroup2`, the super options
//! give a v1 mount's controllers) and the caller's own cgroup in each from
//! /proc/self/cgroup, with the mount's root stripped.

use std::path::{Path, PathBuf};

use crate::Error;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers hs-cgroup uses; other v1 hierarchies (devices,
/// blkio, name=systemd, …) are left alone.
pub const V1_USED: &[&str] = &["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"];

const V1_KNOWN: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// The key of the unified hierarchy in reports (v1 keys are controller lists).
pub const UNIFIED: &str = "unified";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only v1 controller hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 tree (usually without controllers).
    Hybrid,
    /// One cgroup2 tree at /sys/fs/cgroup.
    Unified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One mounted hierarchy and the caller's own cgroup in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// `memory`, `cpu,cpuacct` (as in /proc/self/cgroup) or `unified`.
    pub key: String,
    pub version: Version,
    /// v1: the controllers of the mount; v2: empty (read from the tree).
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    /// The caller's own cgroup directory in this hierarchy.
    pub own: PathBuf,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The machine's layout by statfs, as the issue asks (mountinfo alone
/// cannot tell a hybrid /sys/fs/cgroup from a v1 one with a stray mount).
pub fn detect_layout() -> Layout {
    let is_cgroup2 = |path: &str| {
        nix::sys::statfs::statfs(path)
            .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false)
    };
    if is_cgroup2(CGROUP_ROOT) {
        Layout::Unified
    } else if is_cgroup2(&format!("{CGROUP_ROOT}/unified")) {
        Layout::Hybrid
    } else {
        Layout::Legacy
    }
}

/// The hierarchies hs-cgroup uses on this machine.
pub fn hierarchies() -> Result<Vec<Hierarchy>, Error> {
    let read = |path: &str| {
        crate::fs::read_pseudo(Path::new(path), 16 * 1024)
            .map_err(|e| Error::io("reading", Path::new(path), e))
    };
    let layout = detect_layout();
    let found = parse_hierarchies(
        &read("/proc/self/mountinfo")?,
        &read("/proc/self/cgroup")?,
        layout,
    );
    if hs_common::trace::enabled() {
        let keys: Vec<&str> = found.iter().map(|h| h.key.as_str()).collect();
        hs_common::trace::log("layout", &format!("{layout:?}: {}", keys.join(" ")));
    }
    if found.is_empty() {
        return Err(Error::NoHierarchies);
    }
    Ok(found)
}

/// The used hierarchies from mountinfo and /proc/self/cgroup text: v1
/// hierarchies holding one of [`V1_USED`] (not on a unified layout), and
/// the cgroup2 tree (not on a legacy one). The first mount of each wins.
pub fn parse_hierarchies(mountinfo: &str, own_cgroups: &str, layout: Layout) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some(mount) = parse_mount_line(line) else {
            continue;
        };
        let version = match mount.fstype {
            "cgroup" if layout != Layout::Unified => Version::V1,
            "cgroup2" if layout != Layout::Legacy => Version::V2,
            _ => continue,
        };
        let controllers: Vec<String> = match version {
            Version::V1 => mount
                .super_options
                .split(',')
                .filter(|o| V1_KNOWN.contains(o))
                .map(str::to_string)
                .collect(),
            Version::V2 => Vec::new(),
        };
        if version == Version::V1 && !controllers.iter().any(|c| V1_USED.contains(&c.as_str())) {
            continue;
        }
        let Some((key, own_path)) = own_cgroup_line(own_cgroups, version, &controllers) else {
            continue;
        };
        let key = if version == Version::V2 {
            UNIFIED.to_string()
        } else {
            key
        };
        if found.iter().any(|h| h.key == key) {
            continue;
        }
        // Inside the mount, the caller's cgroup is its path minus the mount's root.
        let Some(relative) = strip_root(own_path, mount.root) else {
            continue;
        };
        found.push(Hierarchy {
            key,
            version,
            controllers,
            own: mount.mount_point.join(relative),
            mount_point: mount.mount_point,
        });
    }
    found
}

struct MountLine<'a> {
    root: &'a str,
    mount_point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

fn parse_mount_line(line: &str) -> Option<MountLine<'_>> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    Some(MountLine {
        root: fields.get(3)?,
        mount_point: PathBuf::from(hs_common::mountinfo::unescape(fields.get(4)?)),
        fstype: fields.get(sep + 1)?,
        super_options: fields.get(sep + 3)?,
    })
}

/// The /proc/self/cgroup entry for a hierarchy: (its controller field, path).
fn own_cgroup_line<'a>(
    text: &'a str,
    version: Version,
    controllers: &[String],
) -> Option<(String, &'a str)> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, field, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match version {
            Version::V2 => id == "0" && field.is_empty(),
            Version::V1 => {
                let mut listed: Vec<&str> = field.split(',').filter(|c| !c.is_empty()).collect();
                let mut wanted: Vec<&str> = controllers.iter().map(String::as_str).collect();
                listed.sort_unstable();
                wanted.sort_unstable();
                !wanted.is_empty() && listed == wanted
            }
        };
        matches.then(|| (field.to_string(), path))
    })
}

fn strip_root<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    if root == "/" {
        return Some(path.trim_start_matches('/'));
    }
    let rest = path.strip_prefix(root)?;
    (rest.is_empty() || rest.starts_with('/')).then(|| rest.trim_start_matches('/'))
}

/// Checks a cgroup name: one path component, no `.`/`..`.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::BadName(name.to_string()));
    }
    Ok(())
}

/// Checks a parent: absolute (under each hierarchy's root) or relative
/// (under the caller's cgroup), never climbing out with `..`.
pub fn check_parent(parent: &str) -> Result<(), Error> {
    if parent
        .split('/')
        .any(|c| c == ".." || c == "." || c.contains('\0'))
    {
        return Err(Error::BadParent(parent.to_string()));
    }
    Ok(())
}

/// Where a cgroup lives in one hierarchy: the directory itself and the
/// existing directory creation starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub hierarchy: Hierarchy,
    /// Never created nor removed by hs-cgroup (the caller's cgroup or the
    /// hierarchy root).
    pub base: PathBuf,
    pub dir: PathBuf,
}

/// The cgroup `parent/name` in every hierarchy.
pub fn resolve_named(hierarchies: &[Hierarchy], parent: &str, name: &str) -> Vec<Target> {
    hierarchies
        .iter()
        .map(|h| {
            let base = if parent.starts_with('/') {
                h.mount_point.clone()
            } else {
                h.own.clone()
            };
            let dir = base.join(parent.trim_start_matches('/')).join(name);
            Target {
                hierarchy: h.clone(),
                base,
                dir,
            }
        })
        .collect()
}

/// The recorded absolute directories, each matched to the hierarchy it
/// lies in.
pub fn resolve_paths(hierarchies: &[Hierarchy], paths: &[PathBuf]) -> Result<Vec<Target>, Error> {
    paths
        .iter()
        .map(|path| {
            let normal = is_plain_absolute(path);
            let hierarchy = hierarchies
                .iter()
                .filter(|h| path.starts_with(&h.mount_point) && path != &h.mount_point)
                .max_by_key(|h| h.mount_point.as_os_str().len())
                .filter(|_| normal)
                .ok_or_else(|| Error::NotACgroup(path.clone()))?;
            Ok(Target {
                hierarchy: hierarchy.clone(),
                base: hierarchy.mount_point.clone(),
                dir: path.clone(),
            })
        })
        .collect()
}

/// An absolute path without `.` or `..`: a recorded directory cannot
/// climb out of its hierarchy.
pub fn is_plain_absolute(path: &Path) -> bool {
    path.is_absolute()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        })
}

/// The directories from `base` (exclusive) down to `dir` (inclusive).
pub fn chain_below(base: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut chain: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| *a != base && a.starts_with(base))
        .map(Path::to_path_buf)
        .collect();
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "\
9:name=systemd:/
8:pids:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_uses_the_v1_controllers_and_the_unified_tree() {
        let found = parse_hierarchies(MOUNTINFO, OWN, Layout::Hybrid);
        let keys: Vec<&str> = found.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(
            keys,
            ["cpu", "cpuacct", "cpuset", "memory", "pids", "unified"]
        );
        let memory = &found[3];
        assert_eq!(
            memory.own,
            Path::new("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(found[5].version, Version::V2);
        assert_eq!(found[5].own, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn co_mounted_controllers_share_one_key_as_in_proc_self_cgroup() {
        let mountinfo =
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n";
        let own = "2:cpu,cpuacct:/user.slice\n";
        let found = parse_hierarchies(mountinfo, own, Layout::Legacy);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "cpu,cpuacct");
        assert!(found[0].has("cpu") && found[0].has("cpuacct"));
        assert_eq!(
            found[0].own,
            Path::new("/sys/fs/cgroup/cpu,cpuacct/user.slice")
        );
    }

    #[test]
    fn unified_layout_has_one_tree_and_strips_the_mount_root() {
        let mountinfo = "30 23 0:26 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "0::/ns/user.slice/me\n";
        let found = parse_hierarchies(mountinfo, own, Layout::Unified);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].own, Path::new("/sys/fs/cgroup/user.slice/me"));
    }

    #[test]
    fn relative_parent_is_under_the_own_cgroup_and_absolute_under_the_root() {
        let found = parse_hierarchies(MOUNTINFO, OWN, Layout::Hybrid);
        let memory = std::slice::from_ref(&found[3]);
        let rel = resolve_named(memory, "t1", "c");
        assert_eq!(
            rel[0].dir,
            Path::new("/sys/fs/cgroup/memory/process_api/abc/t1/c")
        );
        let abs = resolve_named(memory, "/hs", "c");
        assert_eq!(abs[0].dir, Path::new("/sys/fs/cgroup/memory/hs/c"));
        assert_eq!(abs[0].base, Path::new("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn recorded_paths_find_their_hierarchy() {
        let found = parse_hierarchies(MOUNTINFO, OWN, Layout::Hybrid);
        let paths = [
            PathBuf::from("/sys/fs/cgroup/unified/hs/c"),
            PathBuf::from("/sys/fs/cgroup/cpuset/hs/c"),
        ];
        let targets = resolve_paths(&found, &paths).unwrap();
        assert_eq!(targets[0].hierarchy.key, "unified");
        assert_eq!(targets[1].hierarchy.key, "cpuset");
        for bad in [
            "/tmp/x",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/memory/../x",
            "rel",
        ] {
            assert!(
                resolve_paths(&found, &[PathBuf::from(bad)]).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn names_and_parents_cannot_escape() {
        assert!(check_name("abc").is_ok());
        for bad in ["", ".", "..", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_parent("/hs").is_ok());
        assert!(check_parent("a/b").is_ok());
        assert!(check_parent("../x").is_err());
        assert!(check_parent("/hs/../..").is_err());
    }

    #[test]
    fn chain_below_lists_the_dirs_to_create_top_down() {
        let chain = chain_below(Path::new("/a"), Path::new("/a/b/c"));
        assert_eq!(chain, [PathBuf::from("/a/b"), PathBuf::from("/a/b/c")]);
    }
}
