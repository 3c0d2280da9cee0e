use clap::Parser;

/// Create a cgroup, set limits, move into it and chain; stats, kill, freeze, rm
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs-cgroup", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs-cgroup", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
