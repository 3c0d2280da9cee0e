use clap::Parser;

/// Run commands in containers that are copy-on-write copies of the host or images
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
