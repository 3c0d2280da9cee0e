//! `--root`: the options turned into an ordered list of setup operations
//! (bubblewrap's SetupOp list). Building the plan touches nothing, so it
//! is unit-tested without root; `HS_TRACE=1` prints it as it runs.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A `--volume SRC:DST[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub source: PathBuf,
    pub target: PathBuf,
    pub readonly: bool,
}

impl Volume {
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || Error::BadVolume(spec.to_string());
        let (source, rest) = spec.split_once(':').ok_or_else(bad)?;
        let (target, readonly) = match rest.rsplit_once(':') {
            Some((target, "ro")) => (target, true),
            Some((target, "rw")) => (target, false),
            Some(_) => return Err(bad()),
            None => (rest, false),
        };
        if source.is_empty() || !target.starts_with('/') {
            return Err(bad());
        }
        Ok(Self {
            source: source.into(),
            target: target.into(),
            readonly,
        })
    }
}

/// What `--root` was asked to set up besides the standard layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootSpec {
    pub dir: PathBuf,
    pub volumes: Vec<Volume>,
    pub readonly: Vec<PathBuf>,
    pub tmpfs: Vec<PathBuf>,
    /// `--read-only`: the root's own mount read-only at the end.
    pub readonly_root: bool,
}

/// A filesystem type mounted fresh, with its flags and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fs {
    pub fstype: &'static str,
    pub flags: Flags,
    pub data: Option<&'static str>,
}

/// The mount flags the plan uses (a subset of MS_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub readonly: bool,
}

const NOSUID_NODEV: Flags = Flags {
    nosuid: true,
    nodev: true,
    noexec: false,
    readonly: false,
};
const NOSUID_NODEV_NOEXEC: Flags = Flags {
    noexec: true,
    ..NOSUID_NODEV
};
const NOSUID_NOEXEC: Flags = Flags {
    nodev: false,
    ..NOSUID_NODEV_NOEXEC
};

/// One step of the rootfs setup. Paths are container paths, resolved below
/// the new root when the step runs (never following a symlink out of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Refuse to go on in the host's initial mount namespace.
    CheckNotInitialNamespace,
    /// `mount --make-rprivate /`: pivot_root refuses shared mounts, and a
    /// private tree keeps every later mount out of the host's.
    MakePrivate,
    /// `mount --rbind DIR DIR`: pivot_root needs the new root to be a mount.
    BindRoot(PathBuf),
    /// A fresh filesystem on a directory (created if missing).
    Mount {
        fs: Fs,
        target: PathBuf,
    },
    /// sysfs read-only; a read-only bind of the host's /sys where the
    /// kernel refuses a new sysfs (no new net namespace under a user ns).
    Sysfs(PathBuf),
    /// A character device node, mode 0666.
    Device {
        path: PathBuf,
        major: u64,
        minor: u64,
    },
    Symlink {
        link: PathBuf,
        target: PathBuf,
    },
    /// A directory with this mode, when missing (an existing one is kept).
    Dir {
        path: PathBuf,
        mode: u32,
    },
    /// A recursive bind of a host path, optionally read-only all the way down.
    Bind {
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
    },
    /// /dev/null over a file, if it exists (runc's masked paths).
    MaskFile(PathBuf),
    /// A read-only empty tmpfs over a directory, if it exists.
    MaskDir(PathBuf),
    /// The path bound onto itself read-only, recursively; `required`: a
    /// missing path is an error (user's `--ro`), else skipped.
    ReadOnly {
        path: PathBuf,
        required: bool,
    },
    /// The new root's own mount read-only (not the mounts on it: /proc,
    /// /dev, /tmp, /run, volumes, tmpfs keep their mode).
    ReadOnlyRoot,
    /// pivot_root into the new root; the old root is detached.
    PivotRoot,
}

/// Files under /proc hidden behind /dev/null (runc's and docker's list).
const MASKED_FILES: [&str; 7] = [
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/sysrq-trigger",
];
/// Directories hidden behind an empty read-only tmpfs.
const MASKED_DIRS: [&str; 4] = ["/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware"];
/// Kernel knobs the container may read but not write.
const READONLY: [&str; 4] = ["/proc/sys", "/proc/irq", "/proc/bus", "/proc/fs"];
/// The device nodes every container gets: name, major, minor.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];
const DEV_LINKS: [(&str, &str); 6] = [
    ("/dev/ptmx", "pts/ptmx"),
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/core", "/proc/kcore"),
];

fn fs(fstype: &'static str, flags: Flags, data: Option<&'static str>) -> Fs {
    Fs {
        fstype,
        flags,
        data,
    }
}

fn mount(fs: Fs, target: &str) -> Op {
    Op::Mount {
        fs,
        target: target.into(),
    }
}

/// The whole setup for `spec`, in order: the standard layout first, then
/// the user's volumes, tmpfs and read-only paths (so they can cover any
/// part of it), then pivot_root.
pub fn plan(spec: &RootSpec) -> Vec<Op> {
    let mut ops = vec![
        Op::CheckNotInitialNamespace,
        Op::MakePrivate,
        Op::BindRoot(spec.dir.clone()),
        mount(fs("proc", NOSUID_NODEV_NOEXEC, None), "/proc"),
        Op::Sysfs("/sys".into()),
        mount(
            fs("tmpfs", NOSUID_NOEXEC, Some("mode=755,size=65536k")),
            "/dev",
        ),
    ];
    ops.extend(DEVICES.iter().map(|&(name, major, minor)| Op::Device {
        path: Path::new("/dev").join(name),
        major,
        minor,
    }));
    ops.push(mount(
        fs(
            "devpts",
            NOSUID_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=620"),
        ),
        "/dev/pts",
    ));
    ops.extend(DEV_LINKS.iter().map(|&(link, target)| Op::Symlink {
        link: link.into(),
        target: target.into(),
    }));
    ops.extend([
        mount(
            fs("tmpfs", NOSUID_NODEV_NOEXEC, Some("mode=1777,size=65536k")),
            "/dev/shm",
        ),
        mount(fs("mqueue", NOSUID_NODEV_NOEXEC, None), "/dev/mqueue"),
        mount(fs("tmpfs", NOSUID_NODEV, Some("mode=1777")), "/tmp"),
        mount(fs("tmpfs", NOSUID_NODEV, Some("mode=755")), "/run"),
        Op::Dir {
            path: "/home".into(),
            mode: 0o755,
        },
        Op::Dir {
            path: "/root".into(),
            mode: 0o700,
        },
        Op::Dir {
            path: "/mnt".into(),
            mode: 0o755,
        },
    ]);
    ops.extend(MASKED_FILES.iter().map(|p| Op::MaskFile(p.into())));
    ops.extend(MASKED_DIRS.iter().map(|p| Op::MaskDir(p.into())));
    ops.extend(READONLY.iter().map(|p| Op::ReadOnly {
        path: p.into(),
        required: false,
    }));
    ops.extend(spec.volumes.iter().map(|v| Op::Bind {
        source: v.source.clone(),
        target: v.target.clone(),
        readonly: v.readonly,
    }));
    ops.extend(spec.tmpfs.iter().map(|p| Op::Mount {
        fs: fs("tmpfs", NOSUID_NODEV, Some("mode=755")),
        target: p.clone(),
    }));
    ops.extend(spec.readonly.iter().map(|p| Op::ReadOnly {
        path: p.clone(),
        required: true,
    }));
    if spec.readonly_root {
        ops.push(Op::ReadOnlyRoot);
    }
    ops.push(Op::PivotRoot);
    ops
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CheckNotInitialNamespace => write!(f, "check-not-initial-mount-ns"),
            Op::MakePrivate => write!(f, "make-rprivate /"),
            Op::BindRoot(dir) => write!(f, "rbind {0} {0}", dir.display()),
            Op::Mount { fs, target } => write!(
                f,
                "mount -t {} {}{}",
                fs.fstype,
                target.display(),
                fs.data.map(|d| format!(" -o {d}")).unwrap_or_default()
            ),
            Op::Sysfs(target) => write!(f, "mount -t sysfs -o ro {}", target.display()),
            Op::Device { path, major, minor } => {
                write!(f, "mknod {} c {major} {minor}", path.display())
            }
            Op::Symlink { link, target } => {
                write!(f, "ln -s {} {}", target.display(), link.display())
            }
            Op::Dir { path, mode } => write!(f, "mkdir -m {mode:o} {}", path.display()),
            Op::Bind {
                source,
                target,
                readonly,
            } => write!(
                f,
                "rbind{} {} {}",
                if *readonly { " -o ro" } else { "" },
                source.display(),
                target.display()
            ),
            Op::MaskFile(path) => write!(f, "mask-file {}", path.display()),
            Op::MaskDir(path) => write!(f, "mask-dir {}", path.display()),
            Op::ReadOnly { path, .. } => write!(f, "remount-ro {}", path.display()),
            Op::ReadOnlyRoot => write!(f, "remount-ro / (its own mount only)"),
            Op::PivotRoot => write!(f, "pivot_root . . && umount -l ."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RootSpec {
        RootSpec {
            dir: "/r".into(),
            ..RootSpec::default()
        }
    }

    fn position(ops: &[Op], wanted: impl Fn(&Op) -> bool) -> usize {
        ops.iter().position(wanted).expect("op in plan")
    }

    #[test]
    fn volume_parses_source_target_and_ro() {
        let v = Volume::parse("/src:/app:ro").unwrap();
        assert_eq!(
            v,
            Volume {
                source: "/src".into(),
                target: "/app".into(),
                readonly: true
            }
        );
        assert!(!Volume::parse("/src:/app").unwrap().readonly);
        assert!(!Volume::parse("/src:/app:rw").unwrap().readonly);
    }

    #[test]
    fn malformed_volumes_are_refused() {
        for bad in ["/src", "/src:app", ":/app", "/src:/app:rx", "/src:"] {
            assert!(Volume::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_plan_checks_and_privatises_before_mounting_and_pivots_last() {
        let ops = plan(&spec());
        assert_eq!(ops[0], Op::CheckNotInitialNamespace);
        assert_eq!(ops[1], Op::MakePrivate);
        assert_eq!(ops[2], Op::BindRoot("/r".into()));
        assert_eq!(ops.last(), Some(&Op::PivotRoot));
    }

    #[test]
    fn devpts_comes_after_the_dev_tmpfs_and_is_a_new_instance() {
        let ops = plan(&spec());
        let dev = position(
            &ops,
            |op| matches!(op, Op::Mount { target, .. } if target == Path::new("/dev")),
        );
        let pts = position(
            &ops,
            |op| matches!(op, Op::Mount { fs, .. } if fs.fstype == "devpts"),
        );
        assert!(dev < pts);
        let Op::Mount { fs, .. } = &ops[pts] else {
            unreachable!()
        };
        assert!(fs.data.unwrap().contains("newinstance"));
        assert!(fs.data.unwrap().contains("ptmxmode=0666"));
    }

    #[test]
    fn kcore_is_masked_after_proc_is_mounted() {
        let ops = plan(&spec());
        let proc = position(
            &ops,
            |op| matches!(op, Op::Mount { fs, .. } if fs.fstype == "proc"),
        );
        let kcore = position(&ops, |op| *op == Op::MaskFile("/proc/kcore".into()));
        assert!(proc < kcore);
    }

    #[test]
    fn user_mounts_come_after_the_standard_layout() {
        let mut s = spec();
        s.volumes.push(Volume::parse("/src:/dev/x:ro").unwrap());
        s.readonly.push("/dev/x/y".into());
        s.tmpfs.push("/cache".into());
        let ops = plan(&s);
        let bind = position(&ops, |op| matches!(op, Op::Bind { readonly: true, .. }));
        let last_standard = position(&ops, |op| {
            *op == Op::ReadOnly {
                path: "/proc/fs".into(),
                required: false,
            }
        });
        let tmpfs = position(
            &ops,
            |op| matches!(op, Op::Mount { target, .. } if target == Path::new("/cache")),
        );
        let ro = position(&ops, |op| {
            *op == Op::ReadOnly {
                path: "/dev/x/y".into(),
                required: true,
            }
        });
        assert!(last_standard < bind && bind < tmpfs && tmpfs < ro);
    }

    #[test]
    fn a_read_only_root_is_set_after_every_mount_just_before_pivot_root() {
        assert!(!plan(&spec()).contains(&Op::ReadOnlyRoot));
        let mut s = spec();
        s.readonly_root = true;
        s.tmpfs.push("/cache".into());
        let ops = plan(&s);
        assert_eq!(ops[ops.len() - 2..], [Op::ReadOnlyRoot, Op::PivotRoot]);
    }

    #[test]
    fn plan_lines_read_like_shell_steps() {
        let op = Op::Bind {
            source: "/src".into(),
            target: "/app".into(),
            readonly: true,
        };
        assert_eq!(op.to_string(), "rbind -o ro /src /app");
    }
}
