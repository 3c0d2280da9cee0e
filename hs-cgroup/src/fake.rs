//! A fake cgroup2 filesystem in a temp dir for unit tests, enforcing the
//! kernel's rules rather than accepting any write: a controller's files
//! exist only when the parent's `cgroup.subtree_control` enables it, only
//! controllers in `cgroup.controllers` can be enabled, the no-internal-
//! process rule holds both ways, values are validated, read-only files
//! refuse writes, and a cgroup with processes or children cannot be removed.

use std::io::{self, Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs::Fs;
use crate::limits::parse_list;

pub const CONTROLLERS: &str = "cpu cpuset memory pids";

pub struct FakeFs {
    dir: tempfile::TempDir,
}

fn errno(code: i32) -> Error {
    Error::from_raw_os_error(code)
}

impl FakeFs {
    /// A fresh root cgroup with every controller available.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (file, text) in [
            ("cgroup.controllers", CONTROLLERS),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
            ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
        ] {
            std::fs::write(root.join(file), text).unwrap();
        }
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn is_root(&self, dir: &Path) -> bool {
        dir == self.root()
    }

    fn is_cgroup(&self, dir: &Path) -> bool {
        dir.starts_with(self.root()) && dir.join("cgroup.procs").is_file()
    }

    fn words(&self, path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    fn pids(&self, dir: &Path) -> Vec<String> {
        self.words(&dir.join("cgroup.procs"))
    }

    fn children(&self, dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn populated(&self, dir: &Path) -> bool {
        !self.pids(dir).is_empty() || self.children(dir).iter().any(|c| self.populated(c))
    }

    fn frozen(&self, dir: &Path) -> bool {
        dir.ancestors()
            .take_while(|a| a.starts_with(self.root()))
            .any(|a| {
                std::fs::read_to_string(a.join("cgroup.freeze")).is_ok_and(|t| t.trim() == "1")
            })
    }

    /// Puts a process in `dir` directly, as if it had been forked there.
    pub fn add_process(&self, dir: &Path, pid: i32) {
        self.write(&dir.join("cgroup.procs"), &pid.to_string())
            .unwrap();
    }

    /// The files one controller adds to a cgroup.
    fn controller_files(controller: &str) -> &'static [(&'static str, &'static str)] {
        match controller {
            "memory" => &[
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("memory.current", "4096"),
                ("memory.peak", "8192"),
                ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
            ],
            "cpu" => &[("cpu.max", "max 100000"), ("cpu.weight", "100")],
            "cpuset" => &[("cpuset.cpus", ""), ("cpuset.mems", "")],
            "pids" => &[("pids.max", "max"), ("pids.current", "0")],
            _ => &[],
        }
    }

    fn add_controller_files(dir: &Path, controller: &str) {
        for (file, text) in Self::controller_files(controller) {
            let path = dir.join(file);
            if !path.exists() {
                std::fs::write(path, text).unwrap();
            }
        }
    }

    fn write_subtree_control(&self, dir: &Path, value: &str) -> io::Result<()> {
        if !self.is_root(dir) && !self.pids(dir).is_empty() {
            // No internal processes: a cgroup with processes cannot hand
            // controllers down.
            return Err(errno(libc::EBUSY));
        }
        let available = self.words(&dir.join("cgroup.controllers"));
        let mut enabled = self.words(&dir.join("cgroup.subtree_control"));
        for token in value.split_whitespace() {
            let (add, name) = match token.split_at(1) {
                ("+", name) => (true, name),
                ("-", name) => (false, name),
                _ => return Err(errno(libc::EINVAL)),
            };
            if !available.iter().any(|a| a == name) {
                return Err(errno(libc::ENOENT));
            }
            enabled.retain(|e| e != name);
            if add {
                enabled.push(name.to_string());
            }
        }
        std::fs::write(dir.join("cgroup.subtree_control"), enabled.join(" "))?;
        for child in self.children(dir) {
            std::fs::write(child.join("cgroup.controllers"), enabled.join(" "))?;
            for controller in &enabled {
                Self::add_controller_files(&child, controller);
            }
        }
        Ok(())
    }

    fn write_procs(&self, dir: &Path, value: &str) -> io::Result<()> {
        let pid: i32 = value.trim().parse().map_err(|_| errno(libc::EINVAL))?;
        if !self.is_root(dir) && !self.words(&dir.join("cgroup.subtree_control")).is_empty() {
            return Err(errno(libc::EBUSY));
        }
        self.remove_pid(self.root(), &pid.to_string());
        let mut pids = self.pids(dir);
        pids.push(pid.to_string());
        std::fs::write(dir.join("cgroup.procs"), pids.join("\n") + "\n")
    }

    fn remove_pid(&self, dir: &Path, pid: &str) {
        let mut pids = self.pids(dir);
        if pids.iter().any(|p| p == pid) {
            pids.retain(|p| p != pid);
            let text = pids.iter().map(|p| format!("{p}\n")).collect::<String>();
            std::fs::write(dir.join("cgroup.procs"), text).unwrap();
        }
        for child in self.children(dir) {
            self.remove_pid(&child, pid);
        }
    }

    fn kill_subtree(&self, dir: &Path) {
        std::fs::write(dir.join("cgroup.procs"), "").unwrap();
        for child in self.children(dir) {
            self.kill_subtree(&child);
        }
    }
}

fn check_max_or_number(value: &str) -> io::Result<()> {
    let v = value.trim();
    if v == "max" || v.parse::<u64>().is_ok() {
        Ok(())
    } else {
        Err(errno(libc::EINVAL))
    }
}

fn check_range(value: &str, min: u64, max: u64) -> io::Result<()> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(errno(libc::EINVAL)),
    }
}

fn check_cpu_max(value: &str) -> io::Result<()> {
    let mut parts = value.split_whitespace();
    let quota = parts.next().ok_or_else(|| errno(libc::EINVAL))?;
    if quota != "max" {
        check_range(quota, 1000, u64::MAX)?;
    }
    if let Some(period) = parts.next() {
        check_range(period, 1000, 1_000_000)?;
    }
    if parts.next().is_some() {
        return Err(errno(libc::EINVAL));
    }
    Ok(())
}

fn check_cpuset(value: &str, online: &str) -> io::Result<()> {
    let online = parse_list(online).unwrap();
    let set = parse_list(value.trim()).map_err(|_| errno(libc::EINVAL))?;
    if set.iter().all(|n| online.contains(n)) {
        Ok(())
    } else {
        Err(errno(libc::EINVAL))
    }
}

impl Fs for FakeFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let dir = path.parent().unwrap_or(path);
        if path.file_name().is_some_and(|n| n == "cgroup.events") && path.is_file() {
            return Ok(format!(
                "populated {}\nfrozen {}\n",
                u8::from(self.populated(dir)),
                u8::from(self.frozen(dir))
            ));
        }
        std::fs::read_to_string(path)
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        if !path.is_file() {
            return Err(errno(libc::ENOENT));
        }
        let dir = path.parent().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            "cgroup.subtree_control" => return self.write_subtree_control(dir, value),
            "cgroup.procs" => return self.write_procs(dir, value),
            "cgroup.kill" => {
                if value.trim() != "1" {
                    return Err(errno(libc::EINVAL));
                }
                self.kill_subtree(dir);
                return Ok(());
            }
            "cgroup.freeze" => {
                if !matches!(value.trim(), "0" | "1") {
                    return Err(errno(libc::EINVAL));
                }
            }
            "memory.max" | "memory.swap.max" | "pids.max" => check_max_or_number(value)?,
            "cpu.weight" => check_range(value, 1, 10_000)?,
            "cpu.max" => check_cpu_max(value)?,
            "cpuset.cpus" => check_cpuset(value, "0-1")?,
            "cpuset.mems" => check_cpuset(value, "0")?,
            _ => return Err(errno(libc::EACCES)),
        }
        std::fs::write(path, value.trim())
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        let parent = path.parent().ok_or_else(|| errno(libc::ENOENT))?;
        if !self.is_cgroup(parent) {
            return Err(errno(libc::ENOENT));
        }
        std::fs::create_dir(path)?;
        let enabled = self.words(&parent.join("cgroup.subtree_control"));
        for (file, text) in [
            ("cgroup.procs", ""),
            ("cgroup.controllers", enabled.join(" ").as_str()),
            ("cgroup.subtree_control", ""),
            ("cgroup.events", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.kill", ""),
            ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"),
        ] {
            std::fs::write(path.join(file), text)?;
        }
        for controller in &enabled {
            Self::add_controller_files(path, controller);
        }
        Ok(())
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        if !path.exists() {
            return Err(errno(libc::ENOENT));
        }
        if self.is_root(path) || !self.is_cgroup(path) {
            return Err(errno(libc::EPERM));
        }
        if !self.children(path).is_empty() || self.populated(path) {
            return Err(errno(libc::EBUSY));
        }
        std::fs::remove_dir_all(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn subdirs(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        if !dir.exists() {
            return Err(Error::from(ErrorKind::NotFound));
        }
        Ok(self.children(dir))
    }

    fn wait_event(&self, _path: &Path, _timeout: Duration) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_files_appear_only_when_the_parent_enables_them() {
        let fs = FakeFs::new();
        let a = fs.root().join("a");
        fs.mkdir(&a).unwrap();
        assert!(!a.join("memory.max").exists());
        assert_eq!(
            fs.write(&a.join("memory.max"), "100").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        fs.write(&fs.root().join("cgroup.subtree_control"), "+memory")
            .unwrap();
        assert!(a.join("memory.max").exists());
        let b = fs.root().join("b");
        fs.mkdir(&b).unwrap();
        assert!(b.join("memory.max").exists());
        assert!(!b.join("pids.max").exists());
    }

    #[test]
    fn only_available_controllers_can_be_enabled() {
        let fs = FakeFs::new();
        let a = fs.root().join("a");
        fs.mkdir(&a).unwrap();
        assert!(fs
            .write(&a.join("cgroup.subtree_control"), "+memory")
            .is_err());
        assert!(fs
            .write(&fs.root().join("cgroup.subtree_control"), "+nonsense")
            .is_err());
    }

    #[test]
    fn no_internal_processes_either_way() {
        let fs = FakeFs::new();
        fs.write(&fs.root().join("cgroup.subtree_control"), "+pids")
            .unwrap();
        let a = fs.root().join("a");
        fs.mkdir(&a).unwrap();
        fs.add_process(&a, 42);
        let busy = fs.write(&a.join("cgroup.subtree_control"), "+pids");
        assert_eq!(busy.unwrap_err().raw_os_error(), Some(libc::EBUSY));
        let b = fs.root().join("b");
        fs.mkdir(&b).unwrap();
        fs.write(&b.join("cgroup.subtree_control"), "+pids")
            .unwrap();
        let join = fs.write(&b.join("cgroup.procs"), "43");
        assert_eq!(join.unwrap_err().raw_os_error(), Some(libc::EBUSY));
    }

    #[test]
    fn values_are_validated_and_read_only_files_refuse_writes() {
        let fs = FakeFs::new();
        fs.write(
            &fs.root().join("cgroup.subtree_control"),
            "+memory +cpu +cpuset +pids",
        )
        .unwrap();
        let a = fs.root().join("a");
        fs.mkdir(&a).unwrap();
        for (file, bad) in [
            ("memory.max", "12Q"),
            ("pids.max", "-3"),
            ("cpu.weight", "0"),
            ("cpu.max", "10 100000"),
            ("cpuset.cpus", "5"),
            ("cgroup.freeze", "2"),
            ("memory.current", "1"),
        ] {
            assert!(
                fs.write(&a.join(file), bad).is_err(),
                "{file}={bad} accepted"
            );
        }
        fs.write(&a.join("cpu.max"), "20000 100000").unwrap();
        assert_eq!(fs.read(&a.join("cpu.max")).unwrap(), "20000 100000");
    }

    #[test]
    fn a_cgroup_with_processes_or_children_cannot_be_removed() {
        let fs = FakeFs::new();
        let a = fs.root().join("a");
        fs.mkdir(&a).unwrap();
        fs.mkdir(&a.join("b")).unwrap();
        assert!(fs.rmdir(&a).is_err());
        fs.add_process(&a.join("b"), 7);
        assert!(fs
            .read(&a.join("cgroup.events"))
            .unwrap()
            .contains("populated 1"));
        assert!(fs.rmdir(&a.join("b")).is_err());
        fs.write(&a.join("cgroup.kill"), "1").unwrap();
        fs.rmdir(&a.join("b")).unwrap();
        fs.rmdir(&a).unwrap();
    }
}
