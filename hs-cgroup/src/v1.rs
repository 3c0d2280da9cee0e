//! A cgroup in one v1 (legacy) hierarchy: its controllers are those of the
//! mount, limits go to the v1 file names, freezing uses the freezer
//! controller and there is no `cgroup.kill` or `cgroup.events`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cgroup::{fill, keyed, limit_value, plan_cpuset_and_pids, Cgroup, Stats};
use crate::fs::Fs;
use crate::layout::{chain_below, Target};
use crate::limits::{Limits, Swap, CPU_PERIOD_US};
use crate::plan::Op;
use crate::tree;
use crate::Error;

pub struct V1 {
    target: Target,
    fs: Arc<dyn Fs>,
}

impl V1 {
    pub fn new(target: Target, fs: Arc<dyn Fs>) -> Self {
        Self { target, fs }
    }

    fn has(&self, controller: &str) -> bool {
        self.target.hierarchy.has(controller)
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

    fn plan_memory(&self, limits: &Limits, plan: &mut Vec<Op>) {
        let Some(memory) = limits.memory else { return };
        let swap = match limits.swap {
            Some(Swap::Total(total)) => Some(total as i64),
            Some(Swap::Unlimited) => Some(-1),
            None => None,
        };
        let set_memory = Op::Write {
            path: self.target.dir.join("memory.limit_in_bytes"),
            value: memory.to_string(),
            optional: false,
        };
        let Some(swap) = swap else {
            plan.push(set_memory);
            return;
        };
        let set_swap = Op::Write {
            path: self.target.dir.join("memory.memsw.limit_in_bytes"),
            value: swap.to_string(),
            optional: true,
        };
        // The kernel keeps memsw >= memory at every step (runc's order):
        // raise memsw first when the current memory limit is below it.
        let current = self.number("memory.limit_in_bytes").unwrap_or(u64::MAX);
        if swap < 0 || current < swap as u64 {
            plan.extend([set_swap, set_memory]);
        } else {
            plan.extend([set_memory, set_swap]);
        }
    }
}

impl Cgroup for V1 {
    fn target(&self) -> &Target {
        &self.target
    }

    fn plan_create(&self, limits: &Limits, plan: &mut Vec<Op>) -> Result<(), Error> {
        // The cgroup itself first: when it exists (a join, or a second
        // container under the same name) nothing above it is missing.
        let chain = if self.fs.exists(&self.target.dir) {
            Vec::new()
        } else {
            chain_below(&self.target.base, &self.target.dir)
        };
        for dir in chain {
            // The cgroup itself was just found missing.
            if dir != self.target.dir && self.fs.exists(&dir) {
                continue;
            }
            plan.push(Op::Mkdir(dir.clone()));
            if self.has("cpuset") {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    plan.push(Op::CopyFromParent {
                        dir: dir.clone(),
                        file,
                    });
                }
            }
        }
        self.plan_limits(limits, plan)
    }

    fn plan_limits(&self, limits: &Limits, plan: &mut Vec<Op>) -> Result<(), Error> {
        if self.has("memory") {
            self.plan_memory(limits, plan);
        }
        if self.has("cpu") {
            if let Some(quota) = limits.cpu_quota_us() {
                self.write(plan, "cpu.cfs_period_us", CPU_PERIOD_US.to_string(), false);
                self.write(plan, "cpu.cfs_quota_us", quota.to_string(), false);
            }
            if let Some(shares) = limits.shares() {
                self.write(plan, "cpu.shares", shares.to_string(), false);
            }
        }
        plan_cpuset_and_pids(
            &self.target.dir,
            limits,
            self.has("cpuset"),
            self.has("pids"),
            plan,
        );
        Ok(())
    }

    fn procs(&self) -> Result<Vec<i32>, Error> {
        tree::procs_below(self.fs.as_ref(), &self.target.dir)
    }

    fn add_stats(&self, stats: &mut Stats) {
        if self.has("memory") {
            let m = &mut stats.memory;
            fill(&mut m.usage, self.number("memory.usage_in_bytes"));
            fill(&mut m.peak, self.number("memory.max_usage_in_bytes"));
            if m.limit.is_none() {
                m.limit = self
                    .read("memory.limit_in_bytes")
                    .and_then(|t| limit_value(&t));
            }
            let oom = self.read("memory.oom_control");
            fill(&mut m.oom_kills, oom.and_then(|t| keyed(&t, "oom_kill")));
        }
        if self.has("cpuacct") {
            fill(&mut stats.cpu.usage_ns, self.number("cpuacct.usage"));
            if let Some(text) = self.read("cpuacct.stat") {
                let tick_ns = 1_000_000_000 / clock_ticks_per_second();
                let ns = |key| keyed(&text, key).map(|t| t * tick_ns);
                fill(&mut stats.cpu.user_ns, ns("user"));
                fill(&mut stats.cpu.system_ns, ns("system"));
            }
        }
        if self.has("cpu") {
            if let Some(text) = self.read("cpu.stat") {
                let c = &mut stats.cpu;
                fill(&mut c.nr_periods, keyed(&text, "nr_periods"));
                fill(&mut c.nr_throttled, keyed(&text, "nr_throttled"));
                fill(&mut c.throttled_ns, keyed(&text, "throttled_time"));
            }
        }
        if self.has("pids") {
            fill(&mut stats.pids.current, self.number("pids.current"));
            if stats.pids.max.is_none() {
                stats.pids.max = self.read("pids.max").and_then(|t| limit_value(&t));
            }
        }
    }

    fn kill_all(&self) -> Result<bool, Error> {
        Ok(false)
    }

    fn can_freeze(&self) -> bool {
        self.has("freezer")
    }

    fn set_frozen(&self, frozen: bool, deadline: Instant) -> Result<(), Error> {
        let path = self.target.dir.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        let write = |state: &str| {
            self.fs
                .write(&path, state)
                .map_err(|e| Error::io("writing", &path, e))
        };
        // FREEZING until every task has stopped; there is no event to wait
        // on. A task forked at the wrong moment can keep the cgroup
        // FREEZING for good (seen with a fork loop: stuck past 10 s), so,
        // as runc does, each poll asks again and every 50th thaws a
        // moment first, which gets such a cgroup frozen.
        for attempt in 1.. {
            if frozen && attempt % 50 == 0 {
                write("THAWED")?;
                std::thread::sleep(Duration::from_millis(10));
            }
            if frozen || attempt == 1 {
                write(want)?;
            }
            let now = self
                .fs
                .read(&path)
                .map_err(|e| Error::io("reading", &path, e))?;
            if now.trim() == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(Error::FreezeTimeout(self.target.dir.clone()))
    }

    fn populated(&self) -> Result<bool, Error> {
        Ok(!self.procs()?.is_empty())
    }

    fn wait_change(&self, timeout: Duration) {
        std::thread::sleep(timeout.min(Duration::from_millis(5)));
    }

    fn remove(&self, deadline: Instant) -> Result<(), Error> {
        tree::remove(self.fs.as_ref(), &self.target.dir, deadline)
    }
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::HostFs;
    use crate::layout::{resolve_named, Hierarchy, Version};
    use std::path::Path;

    /// A v1 hierarchy "mounted" at a temp dir (plain directories: the plan
    /// only looks at what exists).
    fn v1(root: &Path, controllers: &[&str]) -> V1 {
        v1_on(root, controllers, Arc::new(HostFs))
    }

    fn v1_on(root: &Path, controllers: &[&str], fs: Arc<dyn Fs>) -> V1 {
        let h = Hierarchy {
            key: controllers.join(","),
            version: Version::V1,
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            mount_point: root.to_path_buf(),
            own: root.to_path_buf(),
        };
        let target = resolve_named(&[h], "/hs", "c").remove(0);
        V1::new(target, fs)
    }

    fn plan(cgroup: &V1, limits: &Limits) -> Vec<String> {
        let mut plan = Vec::new();
        cgroup.plan_create(limits, &mut plan).unwrap();
        let root = cgroup.target().base.display().to_string();
        plan.iter()
            .map(|op| op.to_string().replace(&root, "R"))
            .collect()
    }

    #[test]
    fn a_new_cpuset_chain_copies_cpus_and_mems_before_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let limits = Limits {
            cpuset_cpus: Some("0".into()),
            ..Limits::default()
        };
        assert_eq!(
            plan(&v1(tmp.path(), &["cpuset"]), &limits),
            [
                "mkdir R/hs",
                "copy cpuset.cpus from the parent into R/hs",
                "copy cpuset.mems from the parent into R/hs",
                "mkdir R/hs/c",
                "copy cpuset.cpus from the parent into R/hs/c",
                "copy cpuset.mems from the parent into R/hs/c",
                "write \"0\" to R/hs/c/cpuset.cpus",
            ]
        );
    }

    #[test]
    fn an_existing_parent_is_not_created_again() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("hs")).unwrap();
        let limits = Limits {
            pids_limit: Some(Some(20)),
            ..Limits::default()
        };
        assert_eq!(
            plan(&v1(tmp.path(), &["pids"]), &limits),
            ["mkdir R/hs/c", "write \"20\" to R/hs/c/pids.max"]
        );
    }

    #[test]
    fn an_existing_cgroup_gets_only_its_limits() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("hs/c")).unwrap();
        let limits = Limits {
            pids_limit: Some(Some(20)),
            ..Limits::default()
        };
        assert_eq!(
            plan(&v1(tmp.path(), &["cpuset", "pids"]), &limits),
            ["write \"20\" to R/hs/c/pids.max"]
        );
    }

    #[test]
    fn memory_goes_before_memsw_on_a_new_cgroup_and_after_when_raising() {
        let tmp = tempfile::tempdir().unwrap();
        let limits = Limits {
            memory: Some(32 << 20),
            swap: Some(Swap::Total(64 << 20)),
            ..Limits::default()
        };
        let cgroup = v1(tmp.path(), &["memory"]);
        let fresh = plan(&cgroup, &limits);
        assert!(fresh[2].contains("memory.limit_in_bytes"), "{fresh:?}");
        assert!(
            fresh[3].contains("memory.memsw.limit_in_bytes"),
            "{fresh:?}"
        );
        // An existing 16M limit: memsw must grow first.
        std::fs::create_dir_all(tmp.path().join("hs/c")).unwrap();
        std::fs::write(tmp.path().join("hs/c/memory.limit_in_bytes"), "16777216\n").unwrap();
        let raise = plan(&cgroup, &limits);
        assert!(
            raise[0].contains("memory.memsw.limit_in_bytes"),
            "{raise:?}"
        );
        assert!(raise[1].contains("memory.limit_in_bytes"), "{raise:?}");
    }

    #[test]
    fn cpus_and_weight_become_quota_period_and_shares() {
        let tmp = tempfile::tempdir().unwrap();
        let limits = Limits {
            cpus: Some(0.5),
            cpu_weight: Some(100),
            ..Limits::default()
        };
        let ops = plan(&v1(tmp.path(), &["cpu", "cpuacct"]), &limits);
        assert_eq!(
            &ops[2..],
            [
                "write \"100000\" to R/hs/c/cpu.cfs_period_us",
                "write \"50000\" to R/hs/c/cpu.cfs_quota_us",
                "write \"2597\" to R/hs/c/cpu.shares",
            ]
        );
    }

    #[test]
    fn a_hierarchy_ignores_limits_of_controllers_it_does_not_have() {
        let tmp = tempfile::tempdir().unwrap();
        let limits = Limits {
            memory: Some(32 << 20),
            pids_limit: Some(Some(5)),
            ..Limits::default()
        };
        assert_eq!(
            plan(&v1(tmp.path(), &["freezer"]), &limits),
            ["mkdir R/hs", "mkdir R/hs/c"]
        );
    }

    /// A freezer whose cgroup stays FREEZING until it has been thawed
    /// once after the first freeze, as a fork loop can leave it.
    #[derive(Default)]
    struct StuckFreezer {
        writes: std::sync::Mutex<Vec<String>>,
    }

    impl Fs for StuckFreezer {
        fn read(&self, _: &Path) -> std::io::Result<String> {
            let writes = self.writes.lock().unwrap();
            let thawed_after_freezing = writes
                .iter()
                .skip_while(|w| *w != "FROZEN")
                .any(|w| w == "THAWED");
            Ok(match writes.last().map(String::as_str) {
                Some("FROZEN") if thawed_after_freezing => "FROZEN",
                Some("FROZEN") => "FREEZING",
                _ => "THAWED",
            }
            .into())
        }
        fn write(&self, _: &Path, value: &str) -> std::io::Result<()> {
            self.writes.lock().unwrap().push(value.to_string());
            Ok(())
        }
        fn mkdir(&self, _: &Path) -> std::io::Result<()> {
            unimplemented!()
        }
        fn rmdir(&self, _: &Path) -> std::io::Result<()> {
            unimplemented!()
        }
        fn exists(&self, _: &Path) -> bool {
            true
        }
        fn subdirs(&self, _: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
            unimplemented!()
        }
        fn wait_event(&self, _: &Path, _: Duration) {}
    }

    #[test]
    fn a_cgroup_stuck_freezing_is_thawed_once_and_then_freezes() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = Arc::new(StuckFreezer::default());
        let cgroup = v1_on(tmp.path(), &["freezer"], fs.clone());
        let deadline = Instant::now() + Duration::from_secs(10);
        cgroup.set_frozen(true, deadline).unwrap();
        let writes = fs.writes.lock().unwrap();
        assert_eq!(writes.last().map(String::as_str), Some("FROZEN"));
        assert!(writes.iter().any(|w| w == "THAWED"), "{writes:?}");
    }
}
