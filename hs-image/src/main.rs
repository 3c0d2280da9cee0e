use clap::Parser;

/// Image store: import, load, pull, ls, rm, commit, export, lowerdirs
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs-image", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs-image", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
