//! clap's own errors exit 2 with several lines; every hs tool fails with
//! one `TOOL: error:` line and 125 instead. Help and version print as usual.

use crate::Failure;

/// Parses the command line into `C`, turning a usage error into a
/// [`Failure`] with clap's message (its first paragraph, on one line).
pub fn parse<C: clap::Parser>(tool: &str) -> Result<C, Failure> {
    C::try_parse_from(crate::args::args_os()).map_err(|err| from_clap(tool, err))
}

/// The [`Failure`] for a clap error; exits 0 for `--help` / `--version`.
pub fn from_clap(tool: &str, err: clap::Error) -> Failure {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            std::process::exit(0)
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            Failure::tool(format!("a subcommand is required (see {tool} --help)"))
        }
        _ => {
            let text = err.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            Failure::tool(format!(
                "{} (see {tool} --help)",
                message.join(" ").trim_start_matches("error: ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[arg(long)]
        count: u32,
    }

    #[test]
    fn usage_error_is_one_line_tool_failure() {
        let err = <Cli as clap::Parser>::try_parse_from(["t", "--count", "x"]).unwrap_err();
        let failure = from_clap("t", err);
        assert_eq!(failure.code, crate::EXIT_TOOL);
        assert!(!failure.message.contains('\n'), "{}", failure.message);
        assert!(failure.message.contains("--count"), "{}", failure.message);
    }
}
