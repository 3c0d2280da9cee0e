use clap::Parser;

/// Mount an overlay (image or host mirror) and chain; diff an upper dir
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs-overlay", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs-overlay", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
