//! Running the other hs tools as children, for the steps where hs needs
//! their answer (cgroup stats, kill, rm; overlay diff) rather than
//! exec'ing into them.

use std::process::{Command, Stdio};

use crate::error::{HsError, Result};

/// Runs `argv` with stdin closed and returns its stdout; a non-zero exit
/// is an error carrying the tool's own stderr line.
pub fn output(argv: &[String]) -> Result<Vec<u8>> {
    let Some((program, args)) = argv.split_first() else {
        return Err(HsError::Other("no program to run".into()));
    };
    hs_common::trace::log("run", &argv.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HsError::Tool {
            tool: program.clone(),
            why: crate::spec::lower_io(&e),
        })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().unwrap_or("").trim();
    let tool = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.clone());
    // The tool's own line already says `TOOL: error: …`.
    let why = line
        .strip_prefix(&format!("{tool}: error: "))
        .unwrap_or(line)
        .to_string();
    Err(HsError::Tool {
        tool,
        why: if why.is_empty() {
            format!("exit status {}", out.status)
        } else {
            why
        },
    })
}

/// `--path DIR` for every recorded cgroup directory.
pub fn path_flags<'a>(dirs: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    dirs.into_iter()
        .flat_map(|dir| ["--path".to_string(), dir.clone()])
        .collect()
}
