//! Creating a cgroup and moving into it as an ordered list of operations
//! (bubblewrap's SetupOp list): built from the options and the current
//! state of the tree, printed by `HS_TRACE=1`, then executed. A failure
//! undoes what the plan did (the directories it made, the moves it made),
//! so a refused limit leaves no cgroup behind.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::fs::Fs;
use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Mkdir(PathBuf),
    /// A new v1 cpuset starts with empty `cpuset.cpus`/`cpuset.mems`, and a
    /// process cannot join it until they are set: copy the parent's.
    CopyFromParent {
        dir: PathBuf,
        file: &'static str,
    },
    /// v2: make `controller` available to the children of `dir`. Required
    /// ones fail the plan; the others (wanted for stats) are best effort.
    Enable {
        dir: PathBuf,
        controller: String,
        required: bool,
    },
    /// `optional`: skipped when the kernel has no such file (swap
    /// accounting is a build and boot option).
    Write {
        path: PathBuf,
        value: String,
        optional: bool,
    },
    /// Move `pid` into `dir`; undone by moving it back to `from` (none:
    /// the caller exits on failure, so there is nothing to undo).
    Join {
        dir: PathBuf,
        pid: i32,
        from: Option<PathBuf>,
    },
    /// v1: the calling process, single-threaded, moves itself by writing
    /// `0` to `tasks`. Moving one thread skips the kernel's global
    /// threadgroup lock, whose first writer waits for a whole RCU grace
    /// period (4-16 ms measured here, most of an `hs run`); for a
    /// single-threaded process the result is the same as `cgroup.procs`.
    /// Undone the same way into `from`, when there is one.
    JoinSelf {
        dir: PathBuf,
        from: Option<PathBuf>,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Mkdir(dir) => write!(f, "mkdir {}", dir.display()),
            Op::CopyFromParent { dir, file } => {
                write!(f, "copy {file} from the parent into {}", dir.display())
            }
            Op::Enable {
                dir,
                controller,
                required,
            } => write!(
                f,
                "enable +{controller} in {}/cgroup.subtree_control{}",
                dir.display(),
                if *required { "" } else { " (best effort)" }
            ),
            Op::Write { path, value, .. } => write!(f, "write {value:?} to {}", path.display()),
            Op::Join { dir, pid, .. } => {
                write!(f, "move pid {pid} into {}/cgroup.procs", dir.display())
            }
            Op::JoinSelf { dir, .. } => {
                write!(f, "move this thread into {}/tasks", dir.display())
            }
        }
    }
}

/// Runs `plan` in order; on the first failure undoes what was done (in
/// reverse) and returns that failure.
pub fn execute(plan: &[Op], fs: &dyn Fs) -> Result<(), Error> {
    let mut done = Vec::new();
    for op in plan {
        hs_common::trace::log("cgroup", &op.to_string());
        match run(op, fs) {
            Ok(Effect::Changed) => done.push(op),
            Ok(Effect::None) => {}
            Err(e) => {
                undo(&done, fs);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Whether an operation changed something that a failure must undo.
enum Effect {
    Changed,
    None,
}

fn run(op: &Op, fs: &dyn Fs) -> Result<Effect, Error> {
    match op {
        Op::Mkdir(dir) => match fs.mkdir(dir) {
            Ok(()) => Ok(Effect::Changed),
            // A concurrent hs-cgroup made it (a shared parent): not ours to undo.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Effect::None),
            Err(e) => Err(Error::io("creating", dir, e)),
        },
        Op::CopyFromParent { dir, file } => {
            let (value, empty) = nearest_value(dir, file, fs)?;
            // Top-down: the kernel takes only a subset of the parent's.
            for target in empty.iter().rev() {
                let path = target.join(file);
                fs.write(&path, &value)
                    .map_err(|e| Error::io("writing", &path, e))?;
            }
            Ok(Effect::None)
        }
        Op::Enable {
            dir,
            controller,
            required,
        } => {
            let path = dir.join("cgroup.subtree_control");
            match fs.write(&path, &format!("+{controller}")) {
                Err(e) if *required => Err(Error::io(
                    &format!("enabling the {controller} controller in"),
                    &path,
                    e,
                )),
                _ => Ok(Effect::None),
            }
        }
        Op::Write {
            path,
            value,
            optional,
        } => {
            // An optional file is simply written: cgroupfs never creates
            // files, so a missing one fails with ENOENT, and that is the
            // skip (one syscall fewer than looking first).
            match fs.write(path, value) {
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => Ok(Effect::None),
                Err(e) => Err(Error::io(&format!("writing {value:?} to"), path, e)),
                Ok(()) => Ok(Effect::None),
            }
        }
        Op::Join { dir, pid, .. } => {
            let path = dir.join("cgroup.procs");
            fs.write(&path, &pid.to_string())
                .map_err(|e| Error::io("moving into", dir, e))?;
            Ok(Effect::Changed)
        }
        Op::JoinSelf { dir, .. } => {
            fs.write(&dir.join("tasks"), "0")
                .map_err(|e| Error::io("moving into", dir, e))?;
            Ok(Effect::Changed)
        }
    }
}

/// The value of `file` in the closest ancestor of `dir` that has one, and
/// the directories from `dir` up that are still empty. A parent made a
/// moment ago by a concurrent hs-cgroup may not have its copy yet, and
/// the kernel refuses a child more than its parent has (EACCES), so the
/// caller fills the parent too (the same value: writing it twice is
/// harmless).
fn nearest_value(dir: &Path, file: &str, fs: &dyn Fs) -> Result<(String, Vec<PathBuf>), Error> {
    let mut empty = vec![dir.to_path_buf()];
    for ancestor in dir.ancestors().skip(1) {
        let path = ancestor.join(file);
        let value = fs.read(&path).map_err(|e| Error::io("reading", &path, e))?;
        if !value.trim().is_empty() {
            return Ok((value.trim().to_string(), empty));
        }
        empty.push(ancestor.to_path_buf());
    }
    Err(Error::io(
        "reading",
        &dir.join(file),
        std::io::Error::from(std::io::ErrorKind::NotFound),
    ))
}

/// Best effort: the original failure is what the caller reports.
fn undo(done: &[&Op], fs: &dyn Fs) {
    for op in done.iter().rev() {
        match op {
            Op::Mkdir(dir) => {
                hs_common::trace::log("undo", &format!("rmdir {}", dir.display()));
                let _ = fs.rmdir(dir);
            }
            Op::Join {
                pid,
                from: Some(from),
                ..
            } => {
                let _ = fs.write(&from.join("cgroup.procs"), &pid.to_string());
            }
            Op::JoinSelf {
                from: Some(from), ..
            } => {
                let _ = fs.write(&from.join("tasks"), "0");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeFs;
    use crate::fs::HostFs;

    #[test]
    fn a_new_cpuset_and_its_still_empty_parent_copy_the_nearest_ancestor_that_has_cpus() {
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path().join("a/b");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(tmp.path().join("cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(tmp.path().join("a/cpuset.cpus"), "\n").unwrap();
        std::fs::write(b.join("cpuset.cpus"), "").unwrap();
        let plan = [Op::CopyFromParent {
            dir: b.clone(),
            file: "cpuset.cpus",
        }];
        execute(&plan, &HostFs).unwrap();
        // `a` was made by a concurrent hs-cgroup that has not copied yet.
        for dir in [&b, &tmp.path().join("a")] {
            assert_eq!(
                std::fs::read_to_string(dir.join("cpuset.cpus")).unwrap(),
                "0-1"
            );
        }
    }

    #[test]
    fn an_optional_file_the_kernel_lacks_is_skipped_and_a_required_one_fails() {
        let fake = FakeFs::new();
        let write = |optional| Op::Write {
            path: fake.root().join("memory.memsw.limit_in_bytes"),
            value: "1".into(),
            optional,
        };
        execute(&[write(true)], &fake).unwrap();
        let err = execute(&[write(false)], &fake).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
    }

    #[test]
    fn a_failure_undoes_only_what_this_plan_made() {
        let fake = FakeFs::new();
        let shared = fake.root().join("hs");
        let mine = shared.join("c");
        let plan = [
            Op::Mkdir(shared.clone()),
            Op::Mkdir(mine.clone()),
            Op::Write {
                path: mine.join("cgroup.freeze"),
                value: "7".into(),
                optional: false,
            },
        ];
        // Another hs-cgroup made the shared parent first.
        fake.mkdir(&shared).unwrap();
        let err = execute(&plan, &fake).unwrap_err();
        assert!(err.to_string().contains("cgroup.freeze"), "{err}");
        assert!(!mine.exists());
        assert!(shared.exists());
    }

    #[test]
    fn a_failed_join_moves_the_process_back() {
        let fake = FakeFs::new();
        let (a, b) = (fake.root().join("a"), fake.root().join("b"));
        fake.mkdir(&a).unwrap();
        fake.add_process(fake.root(), 9);
        let plan = [
            Op::Join {
                dir: a.clone(),
                pid: 9,
                from: Some(fake.root().to_path_buf()),
            },
            Op::Join {
                dir: b,
                pid: 9,
                from: Some(fake.root().to_path_buf()),
            },
        ];
        assert!(execute(&plan, &fake).is_err());
        assert_eq!(fake.read(&a.join("cgroup.procs")).unwrap().trim(), "");
        assert_eq!(
            fake.read(&fake.root().join("cgroup.procs")).unwrap().trim(),
            "9"
        );
    }
}
