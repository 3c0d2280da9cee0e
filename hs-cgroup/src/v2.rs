//! A cgroup in the unified (v2) tree. Controllers must be enabled in every
//! ancestor's `cgroup.subtree_control` before a child has their files; the
//! core files (`cgroup.procs`, `cgroup.kill`, `cgroup.freeze`,
//! `cgroup.events`) exist in every non-root cgroup, so on a hybrid machine
//! the unified tree is used for kill, freeze and wait-until-empty even
//! though the limits live in v1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cgroup::{fill, keyed, limit_value, Cgroup, Stats, LIMIT_CONTROLLERS};
use crate::fs::Fs;
use crate::layout::{chain_below, Target};
use crate::limits::{Limits, Swap, CPU_PERIOD_US};
use crate::plan::Op;
use crate::tree;
use crate::Error;

pub struct V2 {
    target: Target,
    fs: Arc<dyn Fs>,
    /// The limit controllers this tree is responsible for: on hybrid only
    /// those no v1 hierarchy has.
    assigned: Vec<String>,
}

impl V2 {
    pub fn new(target: Target, fs: Arc<dyn Fs>, assigned: Vec<String>) -> Self {
        Self {
            target,
            fs,
            assigned,
        }
    }

    fn assigned(&self, controller: &str) -> bool {
        self.assigned.iter().any(|c| c == controller)
    }

    fn read(&self, file: &str) -> Option<String> {
        self.fs.read(&self.target.dir.join(file)).ok()
    }

    fn number(&self, file: &str) -> Option<u64> {
        self.read(file)?.trim().parse().ok()
    }

    fn write(&self, plan: &mut Vec<Op>, file: &str, value: String, optional: bool) {
        plan.push(Op::Write {
            path: self.target.dir.join(file),
            value,
            optional,
        });
    }

    /// The assigned controllers `limits` needs.
    fn needed(&self, limits: &Limits) -> Vec<&'static str> {
        let mut needed = Vec::new();
        if limits.memory.is_some() {
            needed.push("memory");
        }
        if limits.cpus.is_some() || limits.shares().is_some() {
            needed.push("cpu");
        }
        if limits.cpuset_cpus.is_some() || limits.cpuset_mems.is_some() {
            needed.push("cpuset");
        }
        if limits.pids_limit.is_some() {
            needed.push("pids");
        }
        needed.retain(|c| self.assigned(c));
        needed
    }

    fn words(&self, dir: &std::path::Path, file: &str) -> Vec<String> {
        self.fs
            .read(&dir.join(file))
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn event(&self, key: &str) -> Option<u64> {
        keyed(&self.read("cgroup.events")?, key)
    }
}

impl Cgroup for V2 {
    fn target(&self) -> &Target {
        &self.target
    }

    fn plan_create(&self, limits: &Limits, plan: &mut Vec<Op>) -> Result<(), Error> {
        let base = &self.target.base;
        let needed = self.needed(limits);
        let available = self.words(base, "cgroup.controllers");
        if let Some(missing) = needed.iter().find(|c| !available.iter().any(|a| a == *c)) {
            return Err(Error::ControllerMissing {
                controller: missing.to_string(),
                dir: base.clone(),
            });
        }
        // Enable in the base and every ancestor of the new cgroup, so the
        // new cgroup has the controller files; stats want the rest too.
        let wanted: Vec<&str> = LIMIT_CONTROLLERS
            .iter()
            .copied()
            .filter(|c| self.assigned(c) && available.iter().any(|a| a == c))
            .collect();
        let below = chain_below(base, &self.target.dir);
        let ancestors = std::iter::once(base.clone()).chain(below.iter().cloned());
        for dir in ancestors {
            let is_target = dir == self.target.dir;
            let exists = self.fs.exists(&dir);
            if !exists {
                plan.push(Op::Mkdir(dir.clone()));
            }
            if is_target {
                break;
            }
            let enabled = if exists {
                self.words(&dir, "cgroup.subtree_control")
            } else {
                Vec::new()
            };
            for controller in &wanted {
                if !enabled.iter().any(|e| e == controller) {
                    plan.push(Op::Enable {
                        dir: dir.clone(),
                        controller: controller.to_string(),
                        required: needed.contains(controller),
                    });
                }
            }
        }
        self.plan_limits(limits, plan)
    }

    fn plan_limits(&self, limits: &Limits, plan: &mut Vec<Op>) -> Result<(), Error> {
        if self.assigned("memory") {
            if let Some(memory) = limits.memory {
                self.write(plan, "memory.max", memory.to_string(), false);
                // v2 limits swap alone, docker's flag is memory plus swap.
                let swap = match limits.swap {
                    Some(Swap::Total(total)) => Some(total.saturating_sub(memory).to_string()),
                    Some(Swap::Unlimited) => Some("max".to_string()),
                    None => None,
                };
                if let Some(swap) = swap {
                    self.write(plan, "memory.swap.max", swap, true);
                }
            }
        }
        if self.assigned("cpu") {
            if let Some(quota) = limits.cpu_quota_us() {
                self.write(plan, "cpu.max", format!("{quota} {CPU_PERIOD_US}"), false);
            }
            if let Some(weight) = limits.weight() {
                self.write(plan, "cpu.weight", weight.to_string(), false);
            }
        }
        if self.assigned("cpuset") {
            if let Some(cpus) = &limits.cpuset_cpus {
                self.write(plan, "cpuset.cpus", cpus.clone(), false);
            }
            if let Some(mems) = &limits.cpuset_mems {
                self.write(plan, "cpuset.mems", mems.clone(), false);
            }
        }
        if self.assigned("pids") {
            if let Some(max) = limits.pids_limit {
                let value = max.map_or("max".to_string(), |n| n.to_string());
                self.write(plan, "pids.max", value, false);
            }
        }
        Ok(())
    }

    fn procs(&self) -> Result<Vec<i32>, Error> {
        tree::procs_below(self.fs.as_ref(), &self.target.dir)
    }

    fn add_stats(&self, stats: &mut Stats) {
        let m = &mut stats.memory;
        fill(&mut m.usage, self.number("memory.current"));
        fill(&mut m.peak, self.number("memory.peak"));
        if m.limit.is_none() {
            m.limit = self.read("memory.max").and_then(|t| limit_value(&t));
        }
        let events = self.read("memory.events");
        fill(&mut m.oom_kills, events.and_then(|t| keyed(&t, "oom_kill")));
        // cpu.stat's usage lines exist even without the cpu controller.
        if let Some(text) = self.read("cpu.stat") {
            let c = &mut stats.cpu;
            let ns = |key| keyed(&text, key).map(|us| us * 1000);
            fill(&mut c.usage_ns, ns("usage_usec"));
            fill(&mut c.user_ns, ns("user_usec"));
            fill(&mut c.system_ns, ns("system_usec"));
            fill(&mut c.nr_periods, keyed(&text, "nr_periods"));
            fill(&mut c.nr_throttled, keyed(&text, "nr_throttled"));
            fill(&mut c.throttled_ns, ns("throttled_usec"));
        }
        fill(&mut stats.pids.current, self.number("pids.current"));
        if stats.pids.max.is_none() {
            stats.pids.max = self.read("pids.max").and_then(|t| limit_value(&t));
        }
    }

    fn kill_all(&self) -> Result<bool, Error> {
        let path = self.target.dir.join("cgroup.kill");
        if !self.fs.exists(&path) {
            return Ok(false);
        }
        self.fs
            .write(&path, "1")
            .map_err(|e| Error::io("writing 1 to", &path, e))?;
        Ok(true)
    }

    fn can_freeze(&self) -> bool {
        self.fs.exists(&self.target.dir.join("cgroup.freeze"))
    }

    fn set_frozen(&self, frozen: bool, deadline: Instant) -> Result<(), Error> {
        let path = self.target.dir.join("cgroup.freeze");
        let want = u64::from(frozen);
        self.fs
            .write(&path, &want.to_string())
            .map_err(|e| Error::io("writing", &path, e))?;
        let events = self.target.dir.join("cgroup.events");
        loop {
            if self.event("frozen") == Some(want) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::FreezeTimeout(self.target.dir.clone()));
            }
            self.fs
                .wait_event(&events, (deadline - now).min(Duration::from_millis(50)));
        }
    }

    fn populated(&self) -> Result<bool, Error> {
        match self.event("populated") {
            Some(n) => Ok(n != 0),
            None => Ok(!self.procs()?.is_empty()),
        }
    }

    fn wait_change(&self, timeout: Duration) {
        self.fs
            .wait_event(&self.target.dir.join("cgroup.events"), timeout);
    }

    fn remove(&self, deadline: Instant) -> Result<(), Error> {
        tree::remove(self.fs.as_ref(), &self.target.dir, deadline)
    }
}
