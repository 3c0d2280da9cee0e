//! A cgroup in the unified (v2) tree. Controllers must be enabled in every
//! ancestor's `cgroup.subtree_control` before a child has their files; the
//! core files (`cgroup.procs`, `cgroup.kill`, `cgroup.freeze`,
//! `cgroup.events`) exist in every non-root cgroup, so on a hybrid machine
//! the unified tree is used for kill, freeze and wait-until-empty even
//! though the limits live in v1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cgroup::{
    fill, keyed, limit_value, plan_cpuset_and_pids, Cgroup, Stats, LIMIT_CONTROLLERS,
};
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
        // On a hybrid machine v1 has every limit controller: this tree
        // only groups the processes (kill, freeze, events), so there is
        // nothing to look up or enable, only directories to make.
        if !LIMIT_CONTROLLERS.iter().any(|c| self.assigned(c)) {
            if !self.fs.exists(&self.target.dir) {
                for dir in chain_below(base, &self.target.dir) {
                    // The cgroup itself was just found missing.
                    if dir == self.target.dir || !self.fs.exists(&dir) {
                        plan.push(Op::Mkdir(dir));
                    }
                }
            }
            return self.plan_limits(limits, plan);
        }
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
        plan_cpuset_and_pids(
            &self.target.dir,
            limits,
            self.assigned("cpuset"),
            self.assigned("pids"),
            plan,
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeFs;
    use crate::group::Group;
    use crate::layout::{resolve_named, Hierarchy, Version};
    use crate::plan::execute;
    use std::path::Path;

    fn unified(root: &Path, own: &Path) -> Hierarchy {
        Hierarchy {
            key: "unified".into(),
            version: Version::V2,
            controllers: Vec::new(),
            mount_point: root.to_path_buf(),
            own: own.to_path_buf(),
        }
    }

    /// The cgroup `parent/name` on a pure v2 machine backed by `fake`.
    fn group(fake: &Arc<FakeFs>, parent: &str, name: &str) -> Group {
        let all = [unified(fake.root(), fake.root())];
        let dyn_fs: Arc<dyn Fs> = fake.clone();
        Group::new(resolve_named(&all, parent, name), &all, dyn_fs)
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap().trim().to_string()
    }

    fn limits() -> Limits {
        Limits {
            memory: Some(32 << 20),
            swap: Some(Swap::Total(64 << 20)),
            cpus: Some(0.5),
            cpu_weight: Some(200),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(Some(20)),
            ..Limits::default()
        }
    }

    #[test]
    fn create_enables_controllers_down_the_chain_and_writes_v2_limits() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        execute(&g.plan_create(&limits()).unwrap(), fake.as_ref()).unwrap();
        let hs = fake.root().join("hs");
        for dir in [fake.root(), hs.as_path()] {
            let enabled = read(&dir.join("cgroup.subtree_control"));
            for c in ["memory", "cpu", "cpuset", "pids"] {
                assert!(enabled.contains(c), "{c} not enabled in {dir:?}");
            }
        }
        let c = hs.join("c");
        assert_eq!(read(&c.join("memory.max")), "33554432");
        assert_eq!(read(&c.join("memory.swap.max")), "33554432");
        assert_eq!(read(&c.join("cpu.max")), "50000 100000");
        assert_eq!(read(&c.join("cpu.weight")), "200");
        assert_eq!(read(&c.join("cpuset.cpus")), "0");
        assert_eq!(read(&c.join("pids.max")), "20");
    }

    #[test]
    fn creating_an_existing_cgroup_only_applies_limits() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        execute(&g.plan_create(&Limits::default()).unwrap(), fake.as_ref()).unwrap();
        let again = g.plan_create(&limits()).unwrap();
        assert!(!again.iter().any(|op| matches!(op, Op::Mkdir(_))));
        execute(&again, fake.as_ref()).unwrap();
        assert_eq!(read(&fake.root().join("hs/c/pids.max")), "20");
    }

    #[test]
    fn a_value_the_kernel_refuses_undoes_the_whole_plan() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        // Past validation, but outside the fake's online CPUs (0-1).
        let bad = Limits {
            cpuset_cpus: Some("3".into()),
            ..limits()
        };
        let err = execute(&g.plan_create(&bad).unwrap(), fake.as_ref()).unwrap_err();
        assert!(err.to_string().contains("cpuset.cpus"), "{err}");
        assert!(!fake.root().join("hs").exists());
    }

    #[test]
    fn a_controller_the_base_lacks_is_refused_before_anything_is_created() {
        let fake = Arc::new(FakeFs::new());
        std::fs::write(fake.root().join("cgroup.controllers"), "memory").unwrap();
        let g = group(&fake, "/hs", "c");
        match g.plan_create(&limits()) {
            Err(Error::ControllerMissing { controller, .. }) => assert_eq!(controller, "cpu"),
            other => panic!("expected a missing controller, got {other:?}"),
        }
        assert!(!fake.root().join("hs").exists());
    }

    #[test]
    fn a_relative_parent_under_a_busy_cgroup_cannot_take_controllers() {
        let fake = Arc::new(FakeFs::new());
        fake.write(&fake.root().join("cgroup.subtree_control"), "+memory")
            .unwrap();
        let me = fake.root().join("me");
        fake.mkdir(&me).unwrap();
        fake.add_process(&me, 100);
        let all = [unified(fake.root(), &me)];
        let dyn_fs: Arc<dyn Fs> = fake.clone();
        let g = Group::new(resolve_named(&all, "t", "c"), &all, dyn_fs);
        let memory_only = Limits {
            memory: Some(32 << 20),
            ..Limits::default()
        };
        let err = execute(&g.plan_create(&memory_only).unwrap(), fake.as_ref()).unwrap_err();
        assert!(err.to_string().contains("device or resource busy"), "{err}");
        assert!(!me.join("t").exists());
    }

    #[test]
    fn join_then_rm_waits_for_empty_and_kill_empties_it() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        let mut plan = g.plan_create(&limits()).unwrap();
        g.plan_join(4242, &mut plan);
        execute(&plan, fake.as_ref()).unwrap();
        assert_eq!(g.procs().unwrap(), [4242]);
        let busy = g.remove(false, Duration::from_millis(20)).unwrap_err();
        assert!(matches!(busy, Error::NotEmpty(_)), "{busy}");
        g.remove(true, Duration::from_secs(1)).unwrap();
        assert!(!fake.root().join("hs/c").exists());
        assert!(!g.exists());
        g.remove(true, Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn rm_removes_child_cgroups_first() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        execute(&g.plan_create(&Limits::default()).unwrap(), fake.as_ref()).unwrap();
        fake.mkdir(&fake.root().join("hs/c/inner")).unwrap();
        g.remove(false, Duration::from_secs(1)).unwrap();
        assert!(!fake.root().join("hs/c").exists());
    }

    #[test]
    fn freeze_and_thaw_wait_for_cgroup_events() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        execute(&g.plan_create(&Limits::default()).unwrap(), fake.as_ref()).unwrap();
        let events = fake.root().join("hs/c/cgroup.events");
        let deadline = Instant::now() + Duration::from_secs(1);
        g.set_frozen(true, deadline).unwrap();
        assert!(fake.read(&events).unwrap().contains("frozen 1"));
        g.set_frozen(false, deadline).unwrap();
        assert!(fake.read(&events).unwrap().contains("frozen 0"));
    }

    #[test]
    fn stats_come_from_the_v2_files() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        execute(&g.plan_create(&limits()).unwrap(), fake.as_ref()).unwrap();
        let stats = g.stats().unwrap();
        assert_eq!(stats.memory.usage, Some(4096));
        assert_eq!(stats.memory.peak, Some(8192));
        assert_eq!(stats.memory.limit, Some(32 << 20));
        assert_eq!(stats.memory.oom_kills, Some(0));
        assert_eq!(stats.cpu.usage_ns, Some(5000));
        assert_eq!(stats.pids.max, Some(20));
        assert_eq!(stats.pids.current, Some(0));
    }

    #[test]
    fn set_changes_an_existing_cgroup_and_refuses_a_missing_one() {
        let fake = Arc::new(FakeFs::new());
        let g = group(&fake, "/hs", "c");
        assert!(matches!(g.plan_set(&limits()), Err(Error::NoSuchCgroup(_))));
        execute(&g.plan_create(&limits()).unwrap(), fake.as_ref()).unwrap();
        let more = Limits {
            pids_limit: Some(None),
            ..Limits::default()
        };
        execute(&g.plan_set(&more).unwrap(), fake.as_ref()).unwrap();
        assert_eq!(read(&fake.root().join("hs/c/pids.max")), "max");
    }

    #[test]
    fn with_every_limit_controller_in_v1_the_tree_only_gets_directories() {
        let fake = Arc::new(FakeFs::new());
        let v1_all = Hierarchy {
            key: "cpu,cpuset,memory,pids".into(),
            version: Version::V1,
            controllers: ["cpu", "cpuset", "memory", "pids"]
                .map(String::from)
                .to_vec(),
            mount_point: "/nonexistent/v1".into(),
            own: "/nonexistent/v1".into(),
        };
        let tree = unified(fake.root(), fake.root());
        let all = [v1_all, tree.clone()];
        let dyn_fs: Arc<dyn Fs> = fake.clone();
        let g = Group::new(
            resolve_named(std::slice::from_ref(&tree), "/hs", "c"),
            &all,
            dyn_fs,
        );
        let plan = g.plan_create(&limits()).unwrap();
        assert_eq!(
            plan,
            [
                Op::Mkdir(fake.root().join("hs")),
                Op::Mkdir(fake.root().join("hs/c"))
            ]
        );
        execute(&plan, fake.as_ref()).unwrap();
        assert!(g.plan_create(&Limits::default()).unwrap().is_empty());
    }

    #[test]
    fn on_hybrid_the_unified_tree_leaves_v1_controllers_alone() {
        let fake = Arc::new(FakeFs::new());
        let v1_memory = Hierarchy {
            key: "memory".into(),
            version: Version::V1,
            controllers: vec!["memory".into()],
            mount_point: "/nonexistent/memory".into(),
            own: "/nonexistent/memory".into(),
        };
        let tree = unified(fake.root(), fake.root());
        let all = [v1_memory, tree.clone()];
        let dyn_fs: Arc<dyn Fs> = fake.clone();
        let g = Group::new(
            resolve_named(std::slice::from_ref(&tree), "/hs", "c"),
            &all,
            dyn_fs,
        );
        let plan = g
            .plan_create(&Limits {
                memory: Some(32 << 20),
                pids_limit: Some(Some(5)),
                ..Limits::default()
            })
            .unwrap();
        let text: Vec<String> = plan.iter().map(|op| op.to_string()).collect();
        assert!(!text.iter().any(|t| t.contains("memory")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("pids.max")), "{text:?}");
    }
}
