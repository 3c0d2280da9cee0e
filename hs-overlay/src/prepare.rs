//! Preparing several overlays at once. Creating an overlay's superblock
//! (`fsconfig(FSCONFIG_CMD_CREATE)`) is where the kernel spends its time:
//! it removes the work dir the previous mount left, then probes the upper
//! filesystem with test files (rename-whiteout, O_TMPFILE, xattrs). That is
//! CPU time and synchronous I/O on the upper filesystem, it takes no mount
//! namespace lock, and overlays do not wait on each other; so helper
//! threads create the superblocks (as detached mounts) while the calling
//! thread builds the skeleton, and the calling thread attaches each one in
//! plan order when it gets there.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::Scope;

use crate::error::{OverlayError, Result};
use crate::overlay::{self, OverlaySpec, Prepared};

/// The overlays of a plan, taken in order by whichever thread is free.
pub struct Preparer<'a> {
    overlays: Vec<(&'a OverlaySpec, &'a Path)>,
    state: Mutex<State>,
    ready: Condvar,
}

struct State {
    /// The first overlay nobody has taken yet.
    next: usize,
    /// Each overlay's result, until the caller takes it.
    results: Vec<Option<Result<Prepared>>>,
}

impl<'a> Preparer<'a> {
    pub fn new(overlays: Vec<(&'a OverlaySpec, &'a Path)>) -> Self {
        let results = overlays.iter().map(|_| None).collect();
        Self {
            overlays,
            state: Mutex::new(State { next: 0, results }),
            ready: Condvar::new(),
        }
    }

    /// Starts the helper threads on `scope`: one per CPU this process may
    /// run on beyond the calling thread, at most one per overlay beyond the
    /// first (the calling thread prepares too, whenever it would wait). One
    /// overlay (image mode) or one CPU: no thread at all, and for one
    /// overlay not even the affinity lookup.
    pub fn start<'scope>(&'scope self, scope: &'scope Scope<'scope, '_>) {
        if self.overlays.len() < 2 {
            return;
        }
        let helpers = usable_cpus().min(self.overlays.len()) - 1;
        for _ in 0..helpers {
            // A thread that cannot be made (a pids limit) only costs
            // parallelism: the calling thread prepares what is left.
            let _ = std::thread::Builder::new().spawn_scoped(scope, || self.help());
        }
    }

    /// A helper thread: prepares the next overlay nobody has taken, until
    /// none is left.
    fn help(&self) {
        let mut state = self.lock();
        while let Some(i) = take(&mut state, self.overlays.len()) {
            drop(state);
            let result = self.prepare(i);
            state = self.lock();
            state.results[i] = Some(result);
            self.ready.notify_all();
        }
    }

    /// The `i`-th overlay (in the order given to [`Preparer::new`]),
    /// prepared: by a helper, or here if nobody has taken it yet. While
    /// it is not ready, this thread prepares later overlays instead of
    /// waiting.
    pub fn get(&self, i: usize) -> Result<Prepared> {
        let mut state = self.lock();
        loop {
            match state.results.get_mut(i) {
                None => return Err(self.lost(i)),
                Some(slot) => {
                    if let Some(result) = slot.take() {
                        return result;
                    }
                }
            }
            if let Some(j) = take(&mut state, self.overlays.len()) {
                drop(state);
                let result = self.prepare(j);
                state = self.lock();
                state.results[j] = Some(result);
            } else {
                state = self
                    .ready
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }

    /// Makes the helpers stop taking overlays (the plan failed): what they
    /// are preparing is dropped, which a detached mount survives nowhere.
    pub fn stop(&self) {
        let mut state = self.lock();
        state.next = self.overlays.len();
    }

    fn prepare(&self, i: usize) -> Result<Prepared> {
        let (spec, target) = self.overlays[i];
        overlay::prepare(spec, target)
    }

    fn lost(&self, i: usize) -> OverlayError {
        OverlayError::Mount {
            target: self
                .overlays
                .get(i)
                .map_or_else(Default::default, |(_, target)| target.to_path_buf()),
            detail: "preparing the overlay failed unexpectedly".into(),
        }
    }

    /// The state, also after a thread panicked holding it (each result is
    /// written whole, so it is still consistent).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn take(state: &mut State, count: usize) -> Option<usize> {
    let i = state.next;
    if i < count {
        state.next += 1;
        Some(i)
    } else {
        None
    }
}

/// The CPUs this process may run on (its affinity mask), at least 1: one
/// syscall, where std's available_parallelism also reads cgroup files.
fn usable_cpus() -> usize {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .count()
            .max(1),
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Overlays whose lowers do not exist: as root each fails naming its
    /// own lower; without root fsopen is refused and each falls back to
    /// mount(2) (Classic), which attach would try.
    fn specs(count: usize) -> Vec<(OverlaySpec, PathBuf)> {
        (0..count)
            .map(|i| {
                let spec = OverlaySpec {
                    lowers: vec![PathBuf::from(format!("/nonexistent/hs-prepare/{i}"))],
                    upper: None,
                    work: None,
                    options: Vec::new(),
                };
                (spec, PathBuf::from(format!("/nonexistent/target/{i}")))
            })
            .collect()
    }

    fn assert_own_result(result: Result<Prepared>, i: usize) {
        match result {
            Ok(prepared) => assert!(matches!(prepared, Prepared::Classic)),
            Err(err) => assert!(
                err.to_string()
                    .contains(&format!("/nonexistent/hs-prepare/{i}")),
                "overlay {i} got {err}"
            ),
        }
    }

    #[test]
    fn each_overlay_gets_its_own_result_in_any_order_with_helpers() {
        let specs = specs(5);
        let preparer = Preparer::new(specs.iter().map(|(s, t)| (s, t.as_path())).collect());
        std::thread::scope(|scope| {
            preparer.start(scope);
            for i in [3, 0, 4, 1, 2] {
                assert_own_result(preparer.get(i), i);
            }
        });
    }

    #[test]
    fn without_helpers_the_caller_prepares_everything_itself() {
        let specs = specs(3);
        let preparer = Preparer::new(specs.iter().map(|(s, t)| (s, t.as_path())).collect());
        for i in 0..3 {
            assert_own_result(preparer.get(i), i);
        }
    }
}
