//! `hs`: docker-like commands for containers that are copy-on-write copies
//! of the host or images. See README.md.
use clap::Parser;
use hs_common::Failure;

fn main() {
    hs_common::run_main("hs", || {
        let cli = parse()?;
        hs::commands::dispatch(cli)
    })
}

/// clap's usage errors (exit 2, several lines) as every hs tool fails:
/// one line and 125.
fn parse() -> Result<hs::cli::Cli, Failure> {
    use clap::error::ErrorKind;
    hs::cli::Cli::try_parse().map_err(|err| match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            std::process::exit(if err.use_stderr() { 125 } else { 0 })
        }
        _ => {
            let text = err.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            Failure::tool(message.join(" ").trim_start_matches("error: "))
        }
    })
}
