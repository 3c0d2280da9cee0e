//! `hs`: docker-like commands for containers that are copy-on-write copies
//! of the host or images. See README.md.

// A C main on glibc (see `main` below); the test harness brings its own.
#![cfg_attr(all(not(test), target_env = "gnu"), no_main)]
#![cfg_attr(test, allow(dead_code))]

/// A C `main` rather than std's: std's runtime start-up is skipped (see
/// `hs_common::run_bare_main`), as every chain pays it in each tool.
/// glibc hands argv to std before `main`; musl does not, so there the
/// tool keeps std's start-up.
#[cfg(all(not(test), target_env = "gnu"))]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    hs_common::run_bare_main("hs", run_cli)
}

#[cfg(not(target_env = "gnu"))]
fn main() {
    hs_common::run_main("hs", run_cli)
}

fn run_cli() -> Result<i32, hs_common::Failure> {
    let cli: hs::cli::Cli = hs_common::cli::parse("hs")?;
    hs::commands::dispatch(cli)
}
