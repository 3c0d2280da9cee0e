//! `hs`: docker-like commands for containers that are copy-on-write copies
//! of the host or images. See README.md.
use clap::Parser;

fn main() {
    let cli = hs::cli::Cli::parse();
    hs_common::run_main("hs", || hs::commands::dispatch(cli))
}
