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
}

impl Group {
    /// The cgroup at `targets`; `all` is every hierarchy of the machine,
    /// to know which controllers the unified tree is responsible for.
    pub fn new(targets: Vec<Target>, all: &[Hierarchy], fs: Arc<dyn Fs>) -> Self {
        let in_v1 = |c: &str| all.iter().any(|h| h.version == Version::V1 && h.has(c));
        let assigned: Vec<String> = LIMIT_CONTROLLERS
            .iter()
            .filter(|c| !in_v1(c))
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
        Self { members, fs }
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
        let mut plan = Vec::new();
        for member in &self.members {
            member.plan_create(limits, &mut plan)?;
        }
        Ok(plan)
    }

    /// Apply `limits` to the existing cgroup.
    pub fn plan_set(&self, limits: &Limits) -> Result<Vec<Op>, Error> {
        self.require()?;
        let mut plan = Vec::new();
        for member in &self.members {
            member.plan_limits(limits, &mut plan)?;
        }
        Ok(plan)
    }

    /// Move `pid` (which sits in the caller's own cgroups) in everywhere.
    pub fn plan_join(&self, pid: i32, plan: &mut Vec<Op>) {
        for member in &self.members {
            plan.push(Op::Join {
                dir: member.dir().to_path_buf(),
                pid,
                from: member.target().hierarchy.own.clone(),
            });
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
                    return Ok(());
                }
            }
        }
        let freezer = self.freezer();
        loop {
            if let Some(f) = freezer {
                f.set_frozen(true, deadline)?;
            }
            let pids = self.procs()?;
            for &pid in &pids {
                // A pid that exited meanwhile is no error.
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
            }
            if let Some(f) = freezer {
                f.set_frozen(false, deadline)?;
            }
            if signal != Signal::SIGKILL || pids.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_empty());
            }
            self.wait_change(Duration::from_millis(10));
        }
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
        if kill {
            self.kill(Signal::SIGKILL, deadline)?;
        }
        self.wait_empty(deadline)?;
        for member in &self.members {
            member.remove(deadline)?;
        }
        Ok(())
    }
}
