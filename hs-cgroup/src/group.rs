//! A container's cgroup: one [`Cgroup`] per hierarchy, and the operations
//! that span them (create and join, kill, freeze, wait until empty, rm).
//! Kill and freeze prefer the v2 tree (`cgroup.kill`, `cgroup.freeze`),
//! which exists on hybrid machines too; pure v1 freezes with the freezer,
//! signals every pid, thaws, and repeats until nothing is left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroup::{Cgroup, Stats, LIMIT_CONTROLLERS};
use crate::fs::Fs;
use crate::layout::{Hierarchy, Target, Version};
use crate::limits::Limits;
use crate::plan::Op;
use crate::v1::V1;
use crate::v2::V2;
use crate::Error;

pub struct Group {
    /// In hierarchy order: v1 controllers first, the unified tree last.
    members: Vec<Box<dyn Cgroup>>,
    fs: Arc<dyn Fs>,
    /// The limit controllers the machine has in v1 hierarchies (each
    /// limit of those goes to its v1 directory, not the unified tree).
    in_v1: Vec<&'static str>,
}

/// The v1 controllers only limits use: a hierarchy with nothing else is
/// left out of a new cgroup that has no such limit (see
/// [`Group::without_unused`]). The others serve without a limit too:
/// memory, cpuacct and pids for stats, freezer for kill and freeze.
const LIMIT_ONLY: &[&str] = &["cpu", "cpuset"];

/// The limit controllers `limits` needs.
fn needed(limits: &Limits) -> Vec<&'static str> {
    let mut needed = Vec::new();
    if limits.memory.is_some() {
        needed.push("memory");
    }
    if limits.cpu_quota_us().is_some() || limits.shares().is_some() {
        needed.push("cpu");
    }
    if limits.cpuset_cpus.is_some() || limits.cpuset_mems.is_some() {
        needed.push("cpuset");
    }
    if limits.pids_limit.is_some() {
        needed.push("pids");
    }
    needed
}

impl Group {
    /// The cgroup at `targets`; `all` is every hierarchy of the machine,
    /// to know which controllers the unified tree is responsible for.
    pub fn new(targets: Vec<Target>, all: &[Hierarchy], fs: Arc<dyn Fs>) -> Self {
        let in_v1: Vec<&'static str> = LIMIT_CONTROLLERS
            .iter()
            .copied()
            .filter(|c| all.iter().any(|h| h.version == Version::V1 && h.has(c)))
            .collect();
        let assigned: Vec<String> = LIMIT_CONTROLLERS
            .iter()
            .filter(|c| !in_v1.contains(c))
            .map(|c| c.to_string())
            .collect();
        let members = targets
            .into_iter()
            .map(|t| -> Box<dyn Cgroup> {
                match t.hierarchy.version {
                    Version::V1 => Box::new(V1::new(t, fs.clone())),
                    Version::V2 => Box::new(V2::new(t, fs.clone(), assigned.clone())),
                }
            })
            .collect();
        Self { members, fs, in_v1 }
    }

    /// The group without the v1 hierarchies a new cgroup does not need:
    /// those with only [`LIMIT_ONLY`] controllers, none of which `limits`
    /// uses, where this cgroup has no directory yet. A v1 cpuset is the
    /// dearest to create (its cpus and mems are copied from the parent)
    /// and cpu and cpuset report nothing `stats` shows; the processes
    /// stay in the caller's cgroup there, unconstrained, as they would be
    /// in a new one without a limit.
    pub fn without_unused(mut self, limits: &Limits) -> Self {
        let needed = needed(limits);
        self.members.retain(|member| {
            let hierarchy = &member.target().hierarchy;
            let limit_only = hierarchy.version == Version::V1
                && hierarchy
                    .controllers
                    .iter()
                    .all(|c| LIMIT_ONLY.contains(&c.as_str()));
            !limit_only
                || hierarchy
                    .controllers
                    .iter()
                    .any(|c| needed.contains(&c.as_str()))
                || self.fs.exists(member.dir())
        });
        self
    }

    /// The absolute directory per hierarchy key, as reported on --info-fd.
    pub fn paths(&self) -> BTreeMap<String, String> {
        self.members
            .iter()
            .map(|m| {
                (
                    m.target().hierarchy.key.clone(),
                    m.dir().to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// True when the cgroup exists in at least one hierarchy.
    pub fn exists(&self) -> bool {
        self.members.iter().any(|m| self.fs.exists(m.dir()))
    }

    fn require(&self) -> Result<(), Error> {
        if self.exists() {
            Ok(())
        } else {
            Err(Error::NoSuchCgroup(
                self.members
                    .first()
                    .map(|m| m.dir().to_path_buf())
                    .unwrap_or_default(),
            ))
        }
    }

    /// Create (what is missing) and apply `limits`.
    pub fn plan_create(&self, limits: &Limits) -> Result<Vec<Op>, Error> {
        // A limit home that is missing is made below, unless the cgroup
        // already exists (then its processes are not in it).
        if self.check_limit_homes(limits).is_err() && self.exists() {
            self.check_limit_homes(limits)?;
        }
        let mut plan = Vec::new();
        for member in &self.members {
            member.plan_create(limits, &mut plan)?;
        }
        Ok(plan)
    }

    /// Apply `limits` to the existing cgroup.
    pub fn plan_set(&self, limits: &Limits) -> Result<Vec<Op>, Error> {
        self.require()?;
        self.check_limit_homes(limits)?;
        let mut plan = Vec::new();
        for member in &self.members {
            member.plan_limits(limits, &mut plan)?;
        }
        Ok(plan)
    }

    /// For an existing cgroup: a limit whose v1 hierarchy has no directory
    /// of it (left out at creation, see [`Group::without_unused`]) is
    /// refused before any write, as its processes would have to be moved
    /// into a new one there.
    fn check_limit_homes(&self, limits: &Limits) -> Result<(), Error> {
        for controller in needed(limits) {
            let home = self.members.iter().find(|m| {
                m.target().hierarchy.version == Version::V1 && m.target().hierarchy.has(controller)
            });
            let missing = match home {
                Some(member) => !self.fs.exists(member.dir()),
                None => self.in_v1.contains(&controller),
            };
            if missing {
                return Err(Error::NotCreatedWith(controller.to_string()));
            }
        }
        Ok(())
    }

    /// Move `pid` (which sits in the caller's own cgroups) in everywhere.
    /// When `pid` is this single-threaded process, v1 hierarchies get the
    /// cheap thread move ([`Op::JoinSelf`]).
    pub fn plan_join(&self, pid: i32, plan: &mut Vec<Op>) {
        let moves_itself = pid == std::process::id() as i32 && single_threaded();
        self.plan_join_as(pid, moves_itself, plan)
    }

    fn plan_join_as(&self, pid: i32, moves_itself: bool, plan: &mut Vec<Op>) {
        for member in &self.members {
            let target = member.target();
            let from = Some(target.hierarchy.own.clone());
            plan.push(join_op(
                &target.dir,
                target.hierarchy.version,
                pid,
                moves_itself,
                from,
            ));
        }
    }

    /// Every pid in the cgroup (any hierarchy, children included), sorted.
    pub fn procs(&self) -> Result<Vec<i32>, Error> {
        self.require()?;
        let mut pids = Vec::new();
        for member in &self.members {
            pids.extend(member.procs()?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    pub fn stats(&self) -> Result<Stats, Error> {
        self.require()?;
        let mut stats = Stats::default();
        for member in &self.members {
            member.add_stats(&mut stats);
        }
        Ok(stats)
    }

    /// The member that freezes: the v2 tree when it can, else the v1 freezer.
    fn freezer(&self) -> Option<&dyn Cgroup> {
        let can = |version| {
            self.members
                .iter()
                .find(|m| m.target().hierarchy.version == version && m.can_freeze())
        };
        can(Version::V2)
            .or_else(|| can(Version::V1))
            .map(|m| m.as_ref())
    }

    pub fn set_frozen(&self, frozen: bool, deadline: Instant) -> Result<(), Error> {
        self.require()?;
        match self.freezer() {
            Some(member) => member.set_frozen(frozen, deadline),
            None => Err(Error::NoFreezer),
        }
    }

    /// Sends `signal` to every process, including ones forked while this
    /// runs: SIGKILL through `cgroup.kill` where there is one; otherwise
    /// freeze, signal every pid, thaw, and for SIGKILL repeat until empty.
    pub fn kill(&self, signal: Signal, deadline: Instant) -> Result<(), Error> {
        self.require()?;
        if signal == Signal::SIGKILL {
            for member in self.members.iter().rev() {
                if member.kill_all()? {
                    trace("cgroup.kill", member.dir());
                    return Ok(());
                }
            }
        }
        let freezer = self.freezer();
        loop {
            let pids = match freezer {
                Some(f) => {
                    trace("freeze", f.dir());
                    let frozen = f.set_frozen(true, deadline);
                    let signalled = frozen.and_then(|()| self.signal_all(signal));
                    // Thaw whatever happened: a cgroup left frozen (or stuck
                    // freezing) would hang the container. Thawing gets its
                    // own grace even when freezing used up the deadline.
                    let grace = deadline.max(Instant::now() + Duration::from_secs(1));
                    let thawed = f.set_frozen(false, grace);
                    let pids = signalled?;
                    thawed?;
                    pids
                }
                None => self.signal_all(signal)?,
            };
            if signal != Signal::SIGKILL || pids.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_empty());
            }
            self.wait_change(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to every pid in the cgroup now; returns them.
    fn signal_all(&self, signal: Signal) -> Result<Vec<i32>, Error> {
        let pids = self.procs()?;
        hs_common::trace::log(
            "kill",
            &format!("{signal} to {} pids: {pids:?}", pids.len()),
        );
        for &pid in &pids {
            // A pid that exited meanwhile is no error.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
        }
        Ok(pids)
    }

    fn wait_change(&self, timeout: Duration) {
        let waiter = self
            .members
            .iter()
            .find(|m| m.target().hierarchy.version == Version::V2)
            .or_else(|| self.members.first());
        match waiter {
            Some(member) => member.wait_change(timeout),
            None => std::thread::sleep(timeout),
        }
    }

    fn populated(&self) -> Result<bool, Error> {
        for member in &self.members {
            if member.populated()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Waits until no process is left in any hierarchy: on `cgroup.events`
    /// where there is one, else by polling `cgroup.procs`.
    pub fn wait_empty(&self, deadline: Instant) -> Result<(), Error> {
        loop {
            if !self.populated()? {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.not_empty());
            }
            self.wait_change((deadline - now).min(Duration::from_millis(100)));
        }
    }

    fn not_empty(&self) -> Error {
        Error::NotEmpty(
            self.members
                .first()
                .map(|m| m.dir().to_path_buf())
                .unwrap_or_default(),
        )
    }

    /// Removes the cgroup from every hierarchy, killing its processes first
    /// when asked; waits until it is empty. Missing is success.
    pub fn remove(&self, kill: bool, timeout: Duration) -> Result<(), Error> {
        if !self.exists() {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        // Killing without cgroup.kill freezes the cgroup, and the first
        // freeze on the machine (and the thaw) flips a kernel static key:
        // code patched live, with an IPI to every CPU. A container's cgroup
        // is usually empty by the time it is removed: nothing to kill.
        if kill && self.populated()? {
            self.kill(Signal::SIGKILL, deadline)?;
        }
        self.wait_empty(deadline)?;
        for member in &self.members {
            trace("rmdir", member.dir());
            member.remove(deadline)?;
        }
        Ok(())
    }
}

/// The joins of `exec --path DIR…` without limits, `hs exec`'s step: each
/// directory's version comes from a statfs on it, so neither
/// /proc/self/mountinfo nor /proc/self/cgroup is read. Nothing is undone
/// when a join fails: the caller exits, out of every cgroup.
pub fn plan_join_paths(paths: &[std::path::PathBuf], pid: i32) -> Result<Vec<Op>, Error> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    let moves_itself = pid == std::process::id() as i32 && single_threaded();
    paths
        .iter()
        .map(|dir| {
            if !crate::layout::is_plain_absolute(dir) {
                return Err(Error::NotACgroup(dir.clone()));
            }
            let version = match statfs(dir).map(|s| s.filesystem_type()) {
                Ok(kind) if kind == CGROUP_SUPER_MAGIC => Version::V1,
                Ok(kind) if kind == CGROUP2_SUPER_MAGIC => Version::V2,
                Ok(_) => return Err(Error::NotACgroup(dir.clone())),
                Err(nix::errno::Errno::ENOENT) => return Err(Error::NoSuchCgroup(dir.clone())),
                Err(errno) => return Err(Error::io("looking at", dir, errno.into())),
            };
            Ok(join_op(dir, version, pid, moves_itself, None))
        })
        .collect()
}

/// The move of `pid` into `dir`: the thread move where it is the whole
/// process (v1 only, see [`Op::JoinSelf`]), else cgroup.procs.
fn join_op(
    dir: &std::path::Path,
    version: Version,
    pid: i32,
    moves_itself: bool,
    from: Option<std::path::PathBuf>,
) -> Op {
    let dir = dir.to_path_buf();
    if moves_itself && version == Version::V1 {
        Op::JoinSelf { dir, from }
    } else {
        Op::Join { dir, pid, from }
    }
}

fn trace(step: &str, dir: &std::path::Path) {
    hs_common::trace::log(step, &dir.display().to_string());
}

/// True when this process has one thread (so moving the thread moves the
/// process). One stat: procfs gives `/proc/self/task` a link count of 2
/// plus the number of threads, where /proc/self/status would cost an open
/// and a read of a long, regenerated text.
fn single_threaded() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/task").is_ok_and(|meta| meta.nlink() == 3)
}

#[cfg(test)]
mod join_tests {
    use super::*;
    use crate::fs::HostFs;
    use crate::layout::resolve_named;
    use std::path::Path;

    fn hierarchy(root: &Path, key: &str, version: Version) -> Hierarchy {
        Hierarchy {
            key: key.into(),
            version,
            controllers: Vec::new(),
            mount_point: root.join(key),
            own: root.join(key),
        }
    }

    fn join_plan(pid: i32, moves_itself: Option<bool>) -> Vec<Op> {
        let tmp = tempfile::tempdir().unwrap();
        let all = [
            hierarchy(tmp.path(), "pids", Version::V1),
            hierarchy(tmp.path(), "unified", Version::V2),
        ];
        let group = Group::new(resolve_named(&all, "p", "c"), &all, Arc::new(HostFs));
        let mut plan = Vec::new();
        match moves_itself {
            Some(moves_itself) => group.plan_join_as(pid, moves_itself, &mut plan),
            None => group.plan_join(pid, &mut plan),
        }
        plan
    }

    #[test]
    fn moving_itself_takes_the_thread_move_in_v1_and_cgroup_procs_in_v2() {
        let plan = join_plan(std::process::id() as i32, Some(true));
        assert!(matches!(plan[0], Op::JoinSelf { .. }), "{plan:?}");
        assert!(matches!(plan[1], Op::Join { .. }), "{plan:?}");
    }

    #[test]
    fn a_multithreaded_caller_moves_its_whole_process() {
        // The test harness runs threads: a thread move would leave them out.
        let me = std::process::id() as i32;
        let plan = join_plan(me, None);
        assert!(
            plan.iter().all(|op| matches!(op, Op::Join { .. })),
            "{plan:?}"
        );
    }

    #[test]
    fn a_forked_child_counts_as_single_threaded() {
        // SAFETY: the child only stats a file and exits, both
        // async-signal-safe enough for a child of a threaded process
        // (std's metadata formats a short path on the stack).
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe { libc::_exit(i32::from(single_threaded())) },
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 1));
            }
        }
    }

    #[test]
    fn another_process_is_moved_whole_everywhere() {
        let plan = join_plan(1, None);
        assert!(
            plan.iter().all(|op| matches!(op, Op::Join { pid: 1, .. })),
            "{plan:?}"
        );
    }
}

#[cfg(test)]
mod unused_tests {
    use super::*;
    use crate::fs::HostFs;
    use crate::layout::resolve_named;
    use std::path::Path;

    /// v1 hierarchies "mounted" at plain directories below `root`.
    fn v1(root: &Path, keys: &[&str]) -> Vec<Hierarchy> {
        keys.iter()
            .map(|key| Hierarchy {
                key: key.to_string(),
                version: Version::V1,
                controllers: key.split(',').map(String::from).collect(),
                mount_point: root.join(key),
                own: root.join(key),
            })
            .collect()
    }

    fn group(root: &Path) -> Group {
        let all = v1(root, &["cpu", "cpuset", "cpuacct", "memory", "pids"]);
        for h in &all {
            std::fs::create_dir_all(&h.mount_point).unwrap();
        }
        Group::new(resolve_named(&all, "/hs", "c"), &all, Arc::new(HostFs))
    }

    fn keys(group: &Group) -> Vec<String> {
        group.paths().into_keys().collect()
    }

    #[test]
    fn a_new_cgroup_without_cpu_limits_leaves_out_cpu_and_cpuset() {
        let tmp = tempfile::tempdir().unwrap();
        let g = group(tmp.path()).without_unused(&Limits::default());
        assert_eq!(keys(&g), ["cpuacct", "memory", "pids"]);
    }

    #[test]
    fn a_cpu_or_cpuset_limit_keeps_its_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let limits = Limits {
            cpus: Some(0.5),
            cpuset_cpus: Some("0".into()),
            ..Limits::default()
        };
        let g = group(tmp.path()).without_unused(&limits);
        assert_eq!(keys(&g), ["cpu", "cpuacct", "cpuset", "memory", "pids"]);
    }

    #[test]
    fn an_existing_cpu_directory_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("cpu/hs/c")).unwrap();
        let g = group(tmp.path()).without_unused(&Limits::default());
        assert_eq!(keys(&g), ["cpu", "cpuacct", "memory", "pids"]);
    }

    #[test]
    fn a_limit_for_a_hierarchy_left_out_is_refused_on_the_existing_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let g = group(tmp.path());
        for key in ["cpuacct", "memory", "pids"] {
            std::fs::create_dir_all(tmp.path().join(key).join("hs/c")).unwrap();
        }
        let cpus = Limits {
            cpus: Some(1.0),
            ..Limits::default()
        };
        for result in [g.plan_set(&cpus), g.plan_create(&cpus)] {
            match result {
                Err(Error::NotCreatedWith(controller)) => assert_eq!(controller, "cpu"),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let pids = Limits {
            pids_limit: Some(Some(5)),
            ..Limits::default()
        };
        assert_eq!(g.plan_set(&pids).unwrap().len(), 1);
    }
}

/// The controller-free v2 paths (create, join, procs, freeze, events,
/// kill, rm) against this machine's real unified tree, below the test's
/// own cgroup there.
#[cfg(test)]
mod real_unified_tests {
    use super::*;
    use crate::fs::HostFs;
    use crate::layout::{hierarchies, resolve_named};
    use crate::plan::execute;
    use std::process::{Child, Command};

    /// A cgroup `unique/c` in the unified tree with one `sleep` in it;
    /// dropping it kills the sleep and removes both directories.
    struct Fixture {
        group: Group,
        parent_dir: PathBuf,
        child: Child,
    }

    use std::path::PathBuf;

    impl Fixture {
        fn new(tag: &str) -> Option<Self> {
            if !nix::unistd::geteuid().is_root() {
                assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "needs root");
                eprintln!("skipped: needs root");
                return None;
            }
            let all = hierarchies().ok()?;
            let tree: Vec<Hierarchy> = all
                .iter()
                .filter(|h| h.version == Version::V2)
                .cloned()
                .collect();
            if tree.is_empty() {
                eprintln!("skipped: no unified cgroup tree");
                return None;
            }
            let parent = format!("hs-cgroup-unit-{tag}-{}", std::process::id());
            let targets = resolve_named(&tree, &parent, "c");
            let parent_dir = tree[0].own.join(&parent);
            let group = Group::new(targets, &all, Arc::new(HostFs));
            let child = Command::new("sleep").arg("1000").spawn().unwrap();
            let mut plan = group.plan_create(&Limits::default()).unwrap();
            group.plan_join(child.id() as i32, &mut plan);
            let mut fixture = Self {
                group,
                parent_dir,
                child,
            };
            if let Err(e) = execute(&plan, &HostFs) {
                fixture.cleanup();
                panic!("creating the test cgroup: {e}");
            }
            Some(fixture)
        }

        fn cleanup(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = self.group.remove(true, Duration::from_secs(5));
            let _ = std::fs::remove_dir(&self.parent_dir);
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            self.cleanup();
        }
    }

    #[test]
    fn a_joined_process_is_listed_and_populates_the_cgroup() {
        let Some(f) = Fixture::new("procs") else {
            return;
        };
        assert_eq!(f.group.procs().unwrap(), [f.child.id() as i32]);
        assert!(f.group.populated().unwrap());
    }

    #[test]
    fn freeze_and_thaw_show_in_cgroup_events() {
        let Some(f) = Fixture::new("freeze") else {
            return;
        };
        let events = f.group.members[0].dir().join("cgroup.events");
        let deadline = Instant::now() + Duration::from_secs(5);
        f.group.set_frozen(true, deadline).unwrap();
        assert!(std::fs::read_to_string(&events)
            .unwrap()
            .contains("frozen 1"));
        f.group.set_frozen(false, deadline).unwrap();
        assert!(std::fs::read_to_string(&events)
            .unwrap()
            .contains("frozen 0"));
    }

    #[test]
    fn kill_uses_cgroup_kill_and_the_process_dies_of_sigkill() {
        use std::os::unix::process::ExitStatusExt;
        let Some(mut f) = Fixture::new("kill") else {
            return;
        };
        f.group
            .kill(Signal::SIGKILL, Instant::now() + Duration::from_secs(5))
            .unwrap();
        let status = f.child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn a_term_signal_reaches_every_process_through_freeze_and_thaw() {
        use std::os::unix::process::ExitStatusExt;
        let Some(mut f) = Fixture::new("term") else {
            return;
        };
        f.group
            .kill(Signal::SIGTERM, Instant::now() + Duration::from_secs(5))
            .unwrap();
        let status = f.child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        let events = f.group.members[0].dir().join("cgroup.events");
        assert!(std::fs::read_to_string(events)
            .unwrap()
            .contains("frozen 0"));
    }

    #[test]
    fn wait_empty_returns_once_the_last_process_is_gone() {
        let Some(mut f) = Fixture::new("wait") else {
            return;
        };
        f.child.kill().unwrap();
        f.child.wait().unwrap();
        f.group
            .wait_empty(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(!f.group.populated().unwrap());
    }

    #[test]
    fn rm_with_kill_leaves_no_directory() {
        let Some(mut f) = Fixture::new("rm") else {
            return;
        };
        let dir = f.group.members[0].dir().to_path_buf();
        f.group.remove(true, Duration::from_secs(5)).unwrap();
        assert!(!dir.exists());
        let _ = f.child.wait();
        f.group.remove(true, Duration::from_secs(5)).unwrap();
    }
}
