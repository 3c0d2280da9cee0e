use clap::Parser;

/// Container records under $HS_ROOT: create, get, set, ls, rm, resolve
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs-state", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs-state", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
