use clap::Parser;

/// The container monitor: PTY or pipes, attach socket, log, exit file; the attach client
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs-pty", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs-pty", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
