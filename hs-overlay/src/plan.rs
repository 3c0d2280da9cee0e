//! The ordered list of filesystem steps a mode turns its options into
//! (bubblewrap's SetupOp list): built without touching anything, so it is
//! unit-testable without root and `HS_TRACE=1` prints it; then executed in
//! order, undoing what was done if a step fails.

use std::fmt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{OverlayError, Result};
use crate::overlay::{self, OverlaySpec, Prepared, Shared};
use crate::prepare::Preparer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `mkdir -p` of an upper or work dir on the host.
    CreateDir {
        path: PathBuf,
    },
    /// A tmpfs: the host mirror's skeleton, or (read-only) a `--hide`.
    MountTmpfs {
        target: PathBuf,
        read_only: bool,
    },
    /// A directory inside the skeleton (a mount point or a parent of one).
    MakeDir {
        path: PathBuf,
    },
    /// A symlink inside the skeleton, as the host has it.
    Symlink {
        link: PathBuf,
        points_to: PathBuf,
    },
    MountOverlay {
        spec: OverlaySpec,
        target: PathBuf,
    },
    /// One overlay for several mirrored dirs, attached nowhere itself: the
    /// [`Op::BindShared`] steps after it show its subdirectories. (With
    /// mount(2) only, it is mounted on `scratch` meanwhile.)
    CreateSharedOverlay {
        spec: OverlaySpec,
        scratch: PathBuf,
    },
    /// `subdir` of the shared overlay on `target`.
    BindShared {
        subdir: PathBuf,
        target: PathBuf,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateDir { path } => write!(f, "mkdir -p {}", path.display()),
            Op::MountTmpfs { target, read_only } => write!(
                f,
                "mount -t tmpfs -o {}mode=0755 tmpfs {}",
                if *read_only {
                    "ro,nosuid,nodev,noexec,"
                } else {
                    ""
                },
                target.display()
            ),
            Op::MakeDir { path } => write!(f, "mkdir {}", path.display()),
            Op::Symlink { link, points_to } => {
                write!(f, "ln -s {} {}", points_to.display(), link.display())
            }
            Op::MountOverlay { spec, target } => write!(
                f,
                "mount -t overlay -o {} overlay {}",
                String::from_utf8_lossy(&spec.data()),
                target.display()
            ),
            Op::CreateSharedOverlay { spec, .. } => write!(
                f,
                "mount -t overlay -o {} overlay (detached: shared by the binds below)",
                String::from_utf8_lossy(&spec.data()),
            ),
            Op::BindShared { subdir, target } => write!(
                f,
                "mount --bind <shared overlay>/{} {}",
                subdir.display(),
                target.display()
            ),
        }
    }
}

/// Runs `ops` and returns the mount points made, in mount order. On
/// failure, unmounts what it mounted and removes the directories it created
/// on the host, then returns the error.
///
/// The host-side directories (upper and work) are made first, as every
/// overlay needs its own; then helper threads start preparing the overlays
/// (see [`crate::prepare`]) while the remaining steps run in plan order,
/// each overlay attached where the plan puts it.
pub fn execute(ops: &[Op]) -> Result<Vec<PathBuf>> {
    let mut done = Done::default();
    match run(ops, &mut done) {
        Ok(()) => Ok(done.mounts),
        Err(err) => {
            done.undo();
            Err(err)
        }
    }
}

fn run(ops: &[Op], done: &mut Done) -> Result<()> {
    let (host_dirs, rest): (Vec<&Op>, Vec<&Op>) = ops
        .iter()
        .partition(|op| matches!(op, Op::CreateDir { .. }));
    for op in host_dirs {
        hs_common::trace::log("plan", &op.to_string());
        step(op, None, done)?;
    }
    let preparer = Preparer::new(
        rest.iter()
            .filter_map(|op| match op {
                Op::MountOverlay { spec, target } => Some((spec, target.as_path())),
                Op::CreateSharedOverlay { spec, scratch } => Some((spec, scratch.as_path())),
                _ => None,
            })
            .collect(),
    );
    std::thread::scope(|scope| {
        preparer.start(scope);
        let mut overlays = 0..;
        // Dropped at the end: the binds hold its superblock from then on.
        let mut shared: Option<Shared> = None;
        for op in &rest {
            hs_common::trace::log("plan", &op.to_string());
            let ready = match op {
                Op::MountOverlay { .. } | Op::CreateSharedOverlay { .. } => {
                    overlays.next().map(|i| preparer.get(i))
                }
                _ => None,
            };
            let result = match op {
                Op::CreateSharedOverlay { spec, scratch } => {
                    let prepared = ready.unwrap_or_else(|| overlay::prepare(spec, scratch));
                    prepared
                        .and_then(|prepared| Shared::new(prepared, spec, scratch))
                        .map(|made| shared = Some(made))
                }
                Op::BindShared { subdir, target } => bind_shared(shared.as_ref(), subdir, target)
                    .map(|()| done.mounts.push(target.clone())),
                _ => step(op, ready, done),
            };
            if let Err(err) = result {
                preparer.stop();
                return Err(err);
            }
        }
        Ok(())
    })
}

fn bind_shared(shared: Option<&Shared>, subdir: &Path, target: &Path) -> Result<()> {
    match shared {
        Some(shared) => shared.bind(subdir, target),
        None => Err(OverlayError::Mount {
            target: target.to_path_buf(),
            detail: "internal: the plan binds a shared overlay it never made".into(),
        }),
    }
}

/// What has been done so far, for the undo.
#[derive(Default)]
struct Done {
    mounts: Vec<PathBuf>,
    created_dirs: Vec<PathBuf>,
}

impl Done {
    fn undo(&mut self) {
        for target in self.mounts.iter().rev() {
            let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
        }
        for dir in self.created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn step(op: &Op, prepared: Option<Result<Prepared>>, done: &mut Done) -> Result<()> {
    match op {
        Op::CreateDir { path } => create_dirs(path, &mut done.created_dirs),
        Op::MountTmpfs { target, read_only } => {
            let mut flags = MsFlags::empty();
            if *read_only {
                flags |= MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                flags |= MsFlags::MS_NOEXEC;
            }
            nix::mount::mount(
                Some("tmpfs"),
                target,
                Some("tmpfs"),
                flags,
                Some("mode=0755"),
            )
            .map_err(|errno| OverlayError::Mount {
                target: target.clone(),
                detail: format!("tmpfs: {}", errno.desc().to_lowercase()),
            })?;
            done.mounts.push(target.clone());
            Ok(())
        }
        Op::MakeDir { path } => std::fs::DirBuilder::new()
            .mode(0o755)
            .create(path)
            .map_err(|e| OverlayError::io("creating mount point", path, e)),
        Op::Symlink { link, points_to } => std::os::unix::fs::symlink(points_to, link)
            .map_err(|e| OverlayError::io("creating symlink", link, e)),
        Op::MountOverlay { spec, target } => {
            match prepared {
                Some(prepared) => overlay::attach(prepared?, spec, target)?,
                None => overlay::mount(spec, target)?,
            }
            done.mounts.push(target.clone());
            Ok(())
        }
        Op::CreateSharedOverlay { .. } | Op::BindShared { .. } => Err(OverlayError::Mount {
            target: PathBuf::new(),
            detail: "internal: a shared overlay step run on its own".into(),
        }),
    }
}

/// `mkdir -p`, remembering each directory it made so the undo removes
/// exactly those.
fn create_dirs(path: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let missing: Vec<&Path> = path
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && dir.symlink_metadata().is_err())
        .collect();
    for dir in missing.into_iter().rev() {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(dir)
            .map_err(|e| OverlayError::io("creating directory", dir, e))?;
        created.push(dir.to_path_buf());
    }
    if !path.is_dir() {
        return Err(OverlayError::NotDir {
            what: "directory",
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_print_as_shell_commands() {
        let op = Op::Symlink {
            link: "/t/bin".into(),
            points_to: "usr/bin".into(),
        };
        assert_eq!(op.to_string(), "ln -s usr/bin /t/bin");
        let op = Op::MountTmpfs {
            target: "/t/var/lib/hs".into(),
            read_only: true,
        };
        assert!(op.to_string().starts_with("mount -t tmpfs -o ro,"));
    }

    #[test]
    fn a_failed_step_removes_the_dirs_made_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("a/b");
        let ops = [
            Op::CreateDir { path: made.clone() },
            Op::MakeDir {
                path: dir.path().join("missing/parent"),
            },
        ];
        assert!(execute(&ops).is_err());
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn create_dir_keeps_what_existed() {
        let dir = tempfile::tempdir().unwrap();
        let mut created = Vec::new();
        create_dirs(&dir.path().join("x/y"), &mut created).unwrap();
        assert_eq!(created, vec![dir.path().join("x"), dir.path().join("x/y")]);
    }
}
