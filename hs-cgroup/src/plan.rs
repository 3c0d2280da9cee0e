//! Creating a cgroup and moving into it as an ordered list of operations
//! (bubblewrap's SetupOp list): built from the options and the current
//! state of the tree, printed by `HS_TRACE=1`, then executed. A failure
//! undoes what the plan did (the directories it made, the moves it made),
//! so a refused limit leaves no cgroup behind.

use std::fmt;
use std::path::PathBuf;

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
    /// Move `pid` into `dir`; undone by moving it back to `from`.
    Join {
        dir: PathBuf,
        pid: i32,
        from: PathBuf,
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
        }
    }
}

/// Runs `plan` in order; on the first failure undoes what was done (in
/// reverse) and returns that failure.
pub fn execute(plan: &[Op], fs: &dyn Fs) -> Result<(), Error> {
    for (done, op) in plan.iter().enumerate() {
        hs_common::trace::log("cgroup", &op.to_string());
        if let Err(e) = run(op, fs) {
            undo(&plan[..done], fs);
            return Err(e);
        }
    }
    Ok(())
}

fn run(op: &Op, fs: &dyn Fs) -> Result<(), Error> {
    match op {
        Op::Mkdir(dir) => fs.mkdir(dir).map_err(|e| Error::io("creating", dir, e)),
        Op::CopyFromParent { dir, file } => {
            let parent = dir.parent().unwrap_or(dir).join(file);
            let value = fs
                .read(&parent)
                .map_err(|e| Error::io("reading", &parent, e))?;
            let path = dir.join(file);
            fs.write(&path, value.trim())
                .map_err(|e| Error::io("writing", &path, e))
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
                _ => Ok(()),
            }
        }
        Op::Write {
            path,
            value,
            optional,
        } => {
            if *optional && !fs.exists(path) {
                return Ok(());
            }
            fs.write(path, value)
                .map_err(|e| Error::io(&format!("writing {value:?} to"), path, e))
        }
        Op::Join { dir, pid, .. } => {
            let path = dir.join("cgroup.procs");
            fs.write(&path, &pid.to_string())
                .map_err(|e| Error::io("moving into", dir, e))
        }
    }
}

/// Best effort: the original failure is what the caller reports.
fn undo(done: &[Op], fs: &dyn Fs) {
    for op in done.iter().rev() {
        match op {
            Op::Mkdir(dir) => {
                hs_common::trace::log("undo", &format!("rmdir {}", dir.display()));
                let _ = fs.rmdir(dir);
            }
            Op::Join { pid, from, .. } => {
                let _ = fs.write(&from.join("cgroup.procs"), &pid.to_string());
            }
            _ => {}
        }
    }
}
