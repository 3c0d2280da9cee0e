//! What a cgroup in one hierarchy can do, whichever version it is. A
//! container's cgroup is one of these per hierarchy (see `group.rs`); the
//! v1 and v2 implementations are in `v1.rs` and `v2.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::layout::Target;
use crate::limits::Limits;
use crate::plan::Op;
use crate::Error;

/// The controllers limits are applied through (cpuacct and freezer only
/// report or freeze).
pub const LIMIT_CONTROLLERS: &[&str] = &["memory", "cpu", "cpuset", "pids"];

pub trait Cgroup {
    fn target(&self) -> &Target;

    fn dir(&self) -> &Path {
        &self.target().dir
    }

    /// Appends the operations that create this cgroup (and its missing
    /// ancestors below the base) and apply `limits`.
    fn plan_create(&self, limits: &Limits, plan: &mut Vec<Op>) -> Result<(), Error>;

    /// Appends the writes that apply the part of `limits` this cgroup's
    /// controllers handle.
    fn plan_limits(&self, limits: &Limits, plan: &mut Vec<Op>) -> Result<(), Error>;

    /// Every pid in this cgroup and its descendants.
    fn procs(&self) -> Result<Vec<i32>, Error>;

    /// Fills in the stats this hierarchy knows and that are still unknown.
    fn add_stats(&self, stats: &mut Stats);

    /// SIGKILLs every process at once (v2's `cgroup.kill`); Ok(false) when
    /// this cgroup has no such file.
    fn kill_all(&self) -> Result<bool, Error>;

    /// Whether this cgroup can freeze (v2 `cgroup.freeze`, v1 freezer).
    fn can_freeze(&self) -> bool;

    /// Freezes or thaws and waits until the kernel says it is done.
    fn set_frozen(&self, frozen: bool, deadline: Instant) -> Result<(), Error>;

    /// Whether any process is in this cgroup or below.
    fn populated(&self) -> Result<bool, Error>;

    /// Blocks until the population may have changed, at most `timeout`.
    fn wait_change(&self, timeout: Duration);

    /// Removes this cgroup and its children; a missing one is success.
    /// A cgroup whose last process just exited may stay busy a moment:
    /// retried until `deadline`.
    fn remove(&self, deadline: Instant) -> Result<(), Error>;
}

/// `stats` output. Unknown values are null (a controller not mounted, a
/// limit not set).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct MemoryStats {
    /// Bytes in use now.
    pub usage: Option<u64>,
    /// The highest usage seen.
    pub peak: Option<u64>,
    /// null = unlimited.
    pub limit: Option<u64>,
    /// Processes the OOM killer killed in this cgroup.
    pub oom_kills: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct CpuStats {
    pub usage_ns: Option<u64>,
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_ns: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct PidsStats {
    pub current: Option<u64>,
    /// null = unlimited.
    pub max: Option<u64>,
}

/// Sets `slot` unless a hierarchy earlier in the list already did.
/// The cpuset and pids limits: their files are named and valued alike in
/// v1 and v2, for a cgroup at `dir` that has those controllers.
pub fn plan_cpuset_and_pids(
    dir: &Path,
    limits: &Limits,
    cpuset: bool,
    pids: bool,
    plan: &mut Vec<Op>,
) {
    let mut write = |file: &str, value: String| {
        plan.push(Op::Write {
            path: dir.join(file),
            value,
            optional: false,
        })
    };
    if cpuset {
        if let Some(cpus) = &limits.cpuset_cpus {
            write("cpuset.cpus", cpus.clone());
        }
        if let Some(mems) = &limits.cpuset_mems {
            write("cpuset.mems", mems.clone());
        }
    }
    if pids {
        if let Some(max) = limits.pids_limit {
            write("pids.max", max.map_or("max".to_string(), |n| n.to_string()));
        }
    }
}

pub fn fill(slot: &mut Option<u64>, value: Option<u64>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// The value of `key` in a flat-keyed file (`cpu.stat`, `memory.events`).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A number, or None for `max` and v1's "unlimited" (a value near 2^63).
pub fn limit_value(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    (n < 1 << 62).then_some(n)
}

/// Pids listed in a `cgroup.procs` text.
pub fn parse_pids(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_give_their_values() {
        let text = "nr_periods 10\nnr_throttled 3\nthrottled_time 900\n";
        assert_eq!(keyed(text, "nr_throttled"), Some(3));
        assert_eq!(keyed(text, "missing"), None);
    }

    #[test]
    fn unlimited_values_are_none() {
        assert_eq!(limit_value("max\n"), None);
        assert_eq!(limit_value("9223372036854771712\n"), None);
        assert_eq!(limit_value("33554432\n"), Some(33_554_432));
    }

    #[test]
    fn the_first_hierarchy_to_know_a_value_wins() {
        let mut slot = None;
        fill(&mut slot, Some(1));
        fill(&mut slot, Some(2));
        assert_eq!(slot, Some(1));
    }
}
