//! `hs cleanup [--cgroup-parent P] ID` (hidden): the monitor's on-exit step.

use crate::chain::Tools;
use crate::cli::CleanupArgs;
use crate::commands::store;
use crate::error::{HsError, Outcome};
use crate::{launch, lifecycle};

/// Records the exit, removes the cgroups, and removes the whole container
/// when it was run with `--rm`. A foreground `run --rm` client unlists the
/// record itself once it has the exit code (so that the name is free when
/// it returns) and leaves the deletion to this: it is waited for, then
/// what it unlisted is purged. The record may be gone already (`rm -f`, or
/// that client): the cgroups still go, by parent and name.
pub fn cleanup(args: CleanupArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    let id = store
        .resolve(&args.container)
        .unwrap_or_else(|_| args.container.clone());
    let layout = launch::layout(&store, &id);
    let record_end = || {
        let exit = hs_pty::exit_file::ExitFile::read(&layout.exit_file()).ok();
        lifecycle::record_exit(&store, &id, exit.as_ref())
    };
    let record = store.get(&id).ok();
    // A `--rm` container is deleted below, or by its foreground client:
    // recording how it ended would be a write nobody reads.
    let record = match record {
        Some(record) if !record.config.auto_remove => {
            record_end()?;
            store.get(&id).ok()
        }
        other => other,
    };
    match &record {
        Some(record) => lifecycle::remove_cgroups(record, &tools),
        None => {
            if let Some(parent) = &args.cgroup_parent {
                lifecycle::remove_named_cgroups(parent, &id, &tools);
            }
        }
    }
    lifecycle::wait_for_client(&layout.dir);
    if let Some(record) = record.and_then(|r| store.get(&r.id).ok()) {
        if record.config.auto_remove {
            // The monitor started this cleanup at idle priority (the chain
            // asks for it with --on-exit-idle for `--rm`): removing the
            // record takes the store's lock, which nobody should wait for
            // behind a starved process.
            hs_common::priority::set_idle(false);
            if let Err(e) = lifecycle::remove(&store, &record, false, &tools) {
                // It stays (something is mounted below it): say how it ended.
                record_end()?;
                return Err(e.into());
            }
        }
    }
    store
        .purge(&id)
        .map_err(|e| HsError::State(e.to_string()))?;
    Ok(0)
}
