//! `hs cleanup ID` (hidden): the monitor's on-exit step.

use crate::chain::Tools;
use crate::cli::ContainerArg;
use crate::commands::store;
use crate::error::{HsError, Outcome};
use crate::{launch, lifecycle};

/// The monitor's on-exit step: record the exit, remove the cgroups, and
/// the whole container when it was run with `--rm`.
pub fn cleanup(args: ContainerArg) -> Outcome {
    let store = store()?;
    let id = match store.resolve(&args.container) {
        Ok(id) => id,
        // Removed already (`rm -f` won the race): nothing left to do.
        Err(hs_state::Error::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(HsError::State(e.to_string()).into()),
    };
    let layout = launch::layout(&store, &id);
    let exit = hs_pty::exit_file::ExitFile::read(&layout.exit_file()).ok();
    if !lifecycle::record_exit(&store, &id, exit.as_ref())? {
        return Ok(0);
    }
    let record = match store.get(&id) {
        Ok(record) => record,
        Err(hs_state::Error::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(HsError::State(e.to_string()).into()),
    };
    let tools = Tools::find()?;
    lifecycle::remove_cgroups(&record, &tools);
    if record.config.auto_remove && !lifecycle::removal_claimed(&record.dir) {
        lifecycle::remove(&store, &record, false, &tools)?;
    }
    Ok(0)
}
