//! `hs`: docker-like commands for containers that are copy-on-write copies
//! of the host or images. See README.md.

// The test harness brings its own main, and then nothing calls ours.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

/// A C `main` rather than std's: std's runtime start-up is skipped (see
/// `hs_common::run_bare_main`), as `hs exec` and `hs run` pay it before
/// every chain.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    hs_common::run_bare_main("hs", || {
        let cli: hs::cli::Cli = hs_common::cli::parse("hs")?;
        hs::commands::dispatch(cli)
    })
}
