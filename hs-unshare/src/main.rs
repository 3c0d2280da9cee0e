use clap::Parser;

/// New or joined namespaces, PID-1 init, rootfs setup and pivot_root, then chain
///
/// Not implemented yet: this tool only prints its help.
#[derive(Parser)]
#[command(name = "hs-unshare", version)]
struct Cli {}

fn main() {
    hs_common::run_main("hs-unshare", || {
        Cli::parse();
        Err(hs_common::Failure::tool("not implemented yet"))
    })
}
