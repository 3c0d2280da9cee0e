//! Running a setup plan (see `plan`): every container path is resolved
//! below an fd of the new root (`walk`), every mount lands on an fd, and
//! the process ends up in the new root with the old one detached.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{mknodat, Mode, SFlag};

use crate::error::{io, sys, Error, Result};
use crate::mount;
use crate::plan::{Flags, Fs, Op};
use crate::walk::{self, Create, Target};

/// Runs `ops` in order. The umask is 0 while the setup creates nodes and
/// directories (their modes are meant as written) and restored afterwards.
pub fn execute(ops: &[Op]) -> Result<()> {
    let previous = nix::sys::stat::umask(Mode::empty());
    let result = run_ops(ops);
    nix::sys::stat::umask(previous);
    result
}

fn run_ops(ops: &[Op]) -> Result<()> {
    let mut root: Option<OwnedFd> = None;
    let mut parents = Parents::default();
    for op in ops {
        crate::trace("setup", &op.to_string());
        if !matches!(op, Op::Device { .. } | Op::Symlink { .. } | Op::Dir { .. }) {
            parents.forget();
        }
        if let Op::BindRoot(dir) = op {
            root = Some(bind_root(dir)?);
            continue;
        }
        match &root {
            Some(root) => run_in_root(op, root, &mut parents)?,
            None => run_before_root(op)?,
        }
    }
    Ok(())
}

/// The directories opened for the ops that create their last component
/// (device nodes, symlinks, directories), by container path. They stay
/// valid while no mount changes where a path leads (a mount on one of
/// them would leave its fd on the directory underneath), so every other
/// op forgets them: /dev is resolved once for its six nodes, once more
/// (after devpts) for its six symlinks.
#[derive(Default)]
struct Parents(Vec<(PathBuf, OwnedFd)>);

impl Parents {
    /// An fd of `path`'s parent directory (made if missing) and the last
    /// name of `path`.
    fn of<'a>(
        &'a mut self,
        root: &OwnedFd,
        path: &'a Path,
        what: &dyn Fn() -> String,
    ) -> Result<(BorrowedFd<'a>, &'a OsStr)> {
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path.file_name().ok_or_else(|| sys(what())(Errno::EINVAL))?;
        let index = match self.0.iter().position(|(known, _)| known == parent) {
            Some(index) => index,
            None => {
                let dir = resolve(root, parent, Create::Dir, what)?;
                let fd = dir.open().map_err(sys(what()))?;
                self.0.push((parent.to_path_buf(), fd));
                self.0.len() - 1
            }
        };
        Ok((self.0[index].1.as_fd(), name))
    }

    fn forget(&mut self) {
        self.0.clear();
    }
}

fn run_before_root(op: &Op) -> Result<()> {
    match op {
        Op::CheckNotInitialNamespace => {
            if crate::ns::in_initial_mount_ns()? {
                return Err(Error::InitialMountNamespace);
            }
            Ok(())
        }
        Op::MakePrivate => crate::ns::make_private(),
        _ => Err(Error::Sys {
            what: format!("{op}: the plan has no root yet"),
            errno: Errno::EINVAL,
        }),
    }
}

/// Binds DIR onto itself and opens the new mount.
fn bind_root(dir: &Path) -> Result<OwnedFd> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::BadRoot(
            dir.into(),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::BadRoot(dir.into(), Errno::ENOTDIR));
    }
    mount::bind_self(dir).map_err(sys(format!("bind {} onto itself", dir.display())))?;
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(format!("open {}", dir.display())))?;
    // SAFETY: open just returned this fd.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

fn run_in_root(op: &Op, root: &OwnedFd, parents: &mut Parents) -> Result<()> {
    let what = || op.to_string();
    match op {
        Op::Mount { fs, target } => {
            let target = resolve(root, target, Create::Dir, &what)?;
            let fd = target.open().map_err(sys(what()))?;
            mount::mount_fs(fs, fd.as_fd()).map_err(sys(what()))
        }
        Op::Sysfs(target) => {
            let target = resolve(root, target, Create::Dir, &what)?;
            let fd = target.open().map_err(sys(what()))?;
            let sysfs = Fs {
                fstype: "sysfs",
                flags: Flags {
                    nosuid: true,
                    nodev: true,
                    noexec: true,
                    readonly: true,
                },
                data: None,
            };
            match mount::mount_fs(&sysfs, fd.as_fd()) {
                Ok(()) => Ok(()),
                Err(Errno::EPERM | Errno::EBUSY) => {
                    bind_tree(None, "/sys", &target, true).map_err(sys(what()))
                }
                Err(e) => Err(sys(what())(e)),
            }
        }
        Op::Device { path, major, minor } => {
            let (parent, name) = parents.of(root, path, &what)?;
            mknodat(
                Some(parent.as_raw_fd()),
                name,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(*major, *minor),
            )
            .map_err(sys(what()))
        }
        Op::Symlink { link, target } => {
            let (parent, name) = parents.of(root, link, &what)?;
            nix::unistd::symlinkat(target.as_path(), Some(parent.as_raw_fd()), name)
                .map_err(sys(what()))
        }
        Op::Dir { path, mode } => {
            // An existing directory is the image's own: left as it is.
            if maybe(root, path, &what)?.is_some() {
                return Ok(());
            }
            let (parent, name) = parents.of(root, path, &what)?;
            nix::sys::stat::mkdirat(
                Some(parent.as_raw_fd()),
                name,
                Mode::from_bits_truncate(*mode),
            )
            .map_err(sys(what()))
        }
        Op::Bind {
            source,
            target,
            readonly,
        } => {
            let source_meta = std::fs::metadata(source).map_err(io(what()))?;
            let create = if source_meta.is_dir() {
                Create::Dir
            } else {
                Create::File
            };
            let target = resolve(root, target, create, &what)?;
            let source = source.to_str().ok_or_else(|| sys(what())(Errno::EINVAL))?;
            bind_tree(None, source, &target, *readonly).map_err(sys(what()))
        }
        Op::MaskFile(path) => match maybe(root, path, &what)? {
            // The container's own /dev/null (made earlier in the plan), so
            // nothing of the host's /dev is needed.
            Some(target) => {
                let null = resolve(root, Path::new("/dev/null"), Create::Nothing, &what)?
                    .open()
                    .map_err(sys(what()))?;
                bind_tree(Some(&null), "", &target, false).map_err(sys(what()))
            }
            None => Ok(()),
        },
        Op::MaskDir(path) => match maybe(root, path, &what)? {
            Some(target) => {
                let fd = target.open().map_err(sys(what()))?;
                let empty = Fs {
                    fstype: "tmpfs",
                    flags: Flags {
                        nosuid: true,
                        nodev: true,
                        noexec: true,
                        readonly: true,
                    },
                    data: Some("size=0"),
                };
                mount::mount_fs(&empty, fd.as_fd()).map_err(sys(what()))
            }
            None => Ok(()),
        },
        Op::ReadOnly { path, required } => {
            let target = if *required {
                Some(resolve(root, path, Create::Nothing, &what)?)
            } else {
                maybe(root, path, &what)?
            };
            match target {
                Some(target) => {
                    let fd = target.open().map_err(sys(what()))?;
                    bind_tree(Some(&fd), "", &target, true).map_err(sys(what()))
                }
                None => Ok(()),
            }
        }
        Op::ReadOnlyRoot => mount::set_readonly_one(root.as_fd()).map_err(sys(what())),
        Op::PivotRoot => mount::pivot_into(root.as_fd()).map_err(sys(what())),
        Op::CheckNotInitialNamespace | Op::MakePrivate | Op::BindRoot(_) => {
            Err(sys(format!("{op}: only valid before the root is bound"))(
                Errno::EINVAL,
            ))
        }
    }
}

/// Binds the tree at `source` (a host path, or `dir` itself when `source`
/// is empty) onto `target`, read-only all the way down when asked.
fn bind_tree(
    dir: Option<&OwnedFd>,
    source: &str,
    target: &Target,
    readonly: bool,
) -> Result<(), Errno> {
    let tree = mount::clone_tree(dir.map(|d| d.as_fd()), Path::new(source))?;
    if readonly {
        mount::set_readonly(tree.as_fd())?;
    }
    let target = target.open()?;
    mount::attach(tree.as_fd(), target.as_fd())
}

fn resolve(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    what: &dyn Fn() -> String,
) -> Result<Target> {
    walk::resolve(root.as_fd(), path, create).map_err(sys(what()))
}

/// The target when the path exists, None when it does not.
fn maybe(root: &OwnedFd, path: &Path, what: &dyn Fn() -> String) -> Result<Option<Target>> {
    match walk::resolve(root.as_fd(), path, Create::Nothing) {
        Ok(target) => Ok(Some(target)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(sys(what())(e)),
    }
}
