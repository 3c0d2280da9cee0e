//! `hs cleanup [--cgroup-parent P] ID` (hidden): the monitor's on-exit step.

use crate::chain::Tools;
use crate::cli::CleanupArgs;
use crate::commands::store;
use crate::error::Outcome;
use crate::{launch, lifecycle};

/// Records the exit, removes the cgroups, and removes the whole container
/// when it was run with `--rm` (unless a foreground client claimed that).
/// The record may be gone already (`rm -f`, or a foreground `run --rm`
/// that read the exit file first): the cgroups still go, by parent and name.
pub fn cleanup(args: CleanupArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    let id = store
        .resolve(&args.container)
        .unwrap_or_else(|_| args.container.clone());
    let layout = launch::layout(&store, &id);
    let exit = hs_pty::exit_file::ExitFile::read(&layout.exit_file()).ok();
    let record = if lifecycle::record_exit(&store, &id, exit.as_ref())? {
        store.get(&id).ok()
    } else {
        None
    };
    match &record {
        Some(record) => lifecycle::remove_cgroups(record, &tools),
        None => {
            if let Some(parent) = &args.cgroup_parent {
                lifecycle::remove_named_cgroups(parent, &id, &tools);
            }
        }
    }
    if let Some(record) = record {
        if record.config.auto_remove && !lifecycle::removal_claimed(&record.dir) {
            lifecycle::remove(&store, &record, false, &tools)?;
        }
    }
    Ok(0)
}
