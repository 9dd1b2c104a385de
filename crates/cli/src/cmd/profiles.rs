//! `moat profiles`: the built-in profiles, one a line.

use std::io::Write as _;
use std::process::ExitCode;

use moat::policy::builtins;

/// List the built-in profiles (`moat explain NAME` shows one; `use NAME` in a policy splices it).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Text => {
            let width = builtins().iter().map(|b| b.name.len()).max().unwrap_or(0);
            for b in builtins() {
                writeln!(out, "{:width$}  {}", b.name, b.description())?;
            }
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = builtins()
                .iter()
                .map(|b| serde_json::json!({"name": b.name, "description": b.description()}))
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
