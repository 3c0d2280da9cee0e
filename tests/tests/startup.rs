//! How the chain's tools start: each step of every container is a fresh
//! process, so what a tool does before its own work is paid per step.

use std::process::Command;

use hs_tests::bin;

/// The files `tool ARGS` opens, as strace saw them.
fn opened(tool: &str, args: &[&str]) -> Vec<String> {
    let trace = tempfile::NamedTempFile::new().expect("temp file for the trace");
    let out = Command::new("strace")
        .args(["-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(trace.path())
        .arg(bin(tool))
        .args(args)
        .output()
        .expect("strace must be installed (.ci/run installs it)");
    assert!(out.status.success(), "{tool} {args:?}: {out:?}");
    std::fs::read_to_string(trace.path())
        .expect("reading the trace")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn chain_tools_skip_std_start_up_and_never_read_their_memory_map() {
    // std's start-up reads /proc/self/maps to find the main thread's stack
    // guard (hs_common::run_bare_main): a seq_file regenerated per read.
    for tool in ["hs", "hs-pty", "hs-cgroup", "hs-unshare", "hs-overlay"] {
        let opens = opened(tool, &["--version"]);
        assert!(
            !opens.iter().any(|l| l.contains("/proc/self/maps")),
            "{tool}: {opens:?}"
        );
    }
}
