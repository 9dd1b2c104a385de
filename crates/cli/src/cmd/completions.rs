//! `moat completions SHELL` and `moat man`: shell completion scripts and manual pages generated
//! from the same clap definitions that parse the command line, so they never disagree with it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

/// Print a shell completion script (bash, zsh, fish, elvish, powershell).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shell: e.g. `moat completions bash > /etc/bash_completion.d/moat`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Print moat(1) as roff, or write moat(1) and one page per subcommand into a directory.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write `moat.1` and `moat-SUBCOMMAND.1` for every subcommand into DIR instead of printing
    /// `moat.1`.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(args: Args, mut cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "moat", &mut out);
    moat::io::Output::stdout().write(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn man(args: ManArgs, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let cmd = cmd.version(env!("CARGO_PKG_VERSION"));
    let Some(dir) = args.dir else {
        moat::io::Output::stdout().write(&page(&cmd)?)?;
        return Ok(ExitCode::SUCCESS);
    };
    // Every output is checked before any page is written.
    let mut pages = vec![(PathBuf::from("moat.1"), page(&cmd)?)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("moat-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((PathBuf::from(format!("{name}.1")), page(&sub)?));
    }
    let outputs = pages
        .into_iter()
        .map(|(file, text)| {
            let path = dir.join(file);
            moat::io::Output::create(&path)
                .with_context(|| format!("{}", path.display()))
                .map(|o| (o, text))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (output, text) in outputs {
        output.write(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn page(cmd: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("render the manual page")?;
    Ok(ascii_roff(&String::from_utf8_lossy(&out)).into_bytes())
}

/// Writes every non-ASCII character as groff's `\[uXXXX]` escape: roff input is ASCII unless a
/// preprocessor (`preconv`) runs first, and not every `man` runs one (groff warns "invalid input
/// character" and drops the character).
fn ascii_roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_ascii_becomes_a_groff_escape() {
        assert_eq!(super::ascii_roff("a — b ⊆ c"), "a \\[u2014] b \\[u2286] c");
    }
}
