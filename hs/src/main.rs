//! `hs`: docker-like commands for containers that are copy-on-write copies
//! of the host or images. See README.md.

// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

// std's runtime start-up is skipped, as every chain pays it in
// each tool: see hs_common::run_bare_main.
hs_common::tool_main!("hs", run_cli);

fn run_cli() -> Result<i32, hs_common::Failure> {
    let cli: hs::cli::Cli = hs_common::cli::parse("hs")?;
    hs::commands::dispatch(cli)
}
