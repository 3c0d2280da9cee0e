//! `hs`: docker-like commands for containers that are copy-on-write copies
//! of the host or images. See README.md.

fn main() {
    hs_common::run_main("hs", || {
        let cli: hs::cli::Cli = hs_common::cli::parse("hs")?;
        hs::commands::dispatch(cli)
    })
}
