//! `moat record`: run a program and write the policy it needs; `--merge` unites recordings.

use std::ffi::OsString;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use moat::io::Output;
use moat::policy::{Action, Policy};
use moat::record::{Options, Profile, Progress, RecordError, record};

/// Run a program (all threads, forks and execs followed) and write the allow-list policy it
/// needed, arguments generalised into conditions. The program's stdin, stdout, stderr and exit
/// status pass through.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  moat record -o app.moat -- ./app --serve\n  moat record --base container -o extra.moat -- ./app\n  moat record --merge a.moat b.moat -o all.moat\n  moat run --policy app.moat -- ./app --serve"
)]
pub(crate) struct Args {
    /// Write the policy to FILE (required when recording: the program owns stdout; with
    /// --merge, standard output is the default).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Moat)]
    format: Format,
    /// Write `use PROFILE` and only what PROFILE (a built-in name or a policy file) would have
    /// refused the program.
    #[arg(long, value_name = "PROFILE")]
    base: Option<String>,
    /// Also write call counts as `name count` lines (most frequent first), for
    /// `moat compile --weights`.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// The action for calls never seen while recording (`kill`, `deny`, `errno EPERM`, ...).
    #[arg(long = "default", value_name = "ACTION", default_value = "kill")]
    default_action: String,
    /// Merge policies written by `moat record` instead of recording: a call any of them
    /// allows is allowed, counts add up.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["command", "base", "weights"])]
    merge: Vec<PathBuf>,
    /// The command to record and its arguments (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// moat's policy language.
    Moat,
    /// A Docker/moby seccomp profile (JSON), converted by moat-export.
    Docker,
    /// A security-profiles-operator `SeccompProfile` (YAML), converted by moat-export.
    Spo,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.merge.is_empty() {
        return merge(&args);
    }
    if args.command.is_empty() {
        bail!("nothing to record: give a command after `--` (moat record -o FILE -- CMD ARG...)");
    }
    let Some(output) = args.output.as_deref() else {
        bail!("moat record needs -o FILE: the recorded program writes to standard output");
    };
    if output.as_os_str() == "-" {
        bail!("moat record needs -o FILE, not -: the recorded program writes to standard output");
    }
    // Both outputs are checked before the program runs: a recording is not lost to a typo.
    let out = Output::create(output)?;
    let weights_out = args.weights.as_deref().map(Output::create).transpose()?;
    let default = parse_action(&args.default_action)?;
    let base = match &args.base {
        None => None,
        Some(spec) => {
            let loaded = super::input(spec, None)?.into_policy("record --base")?;
            // The recording starts with `use BASE`, which reads moat text only.
            if loaded.format != moat_export::InputFormat::Moat {
                bail!(
                    "--base {spec}: the recorded policy says `use BASE`, which reads moat text; convert it first: moat convert --to moat -o base.moat {spec}"
                );
            }
            Some(loaded.policy)
        }
    };
    let base_text = args
        .base
        .as_deref()
        .map(|spec| use_target(spec, base.as_ref()));

    let tty = std::io::stderr().is_terminal();
    let tick = tty.then_some(Duration::from_millis(200));
    let mut shown = false;
    let outcome = record(&args.command, base.as_ref(), tick, |p: Progress| {
        shown = true;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[Kmoat record: {} distinct syscalls, {} calls",
            p.distinct, p.total
        );
        let _ = err.flush();
    });
    if shown {
        eprint!("\r\x1b[K");
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e @ (RecordError::NotFound(_) | RecordError::Exec { .. })) => {
            eprintln!("moat: {e}");
            return Ok(ExitCode::from(127));
        }
        Err(e) => return Err(e.into()),
    };

    let command = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let opts = Options {
        command: Some(command),
        base: base_text,
        base_arches: base.as_ref().map(|b| b.arches().to_vec()),
        default: if args.base.is_some() && args.default_action == "kill" {
            None
        } else {
            Some(default)
        },
    };
    let rec = outcome.beyond.as_ref().unwrap_or(&outcome.recording);
    let profile = Profile::from_recording(rec, &opts);
    write_policy(&profile.to_text(), out, args.format)?;
    if let Some(w) = weights_out {
        w.write(outcome.recording.weights().as_bytes())?;
    }
    if tty {
        eprintln!(
            "moat record: {} calls of {} distinct syscalls; wrote {}",
            outcome.recording.total(),
            outcome.recording.distinct(),
            output.display()
        );
    }
    let code = outcome.exit.shell_status();
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}

fn merge(args: &Args) -> anyhow::Result<ExitCode> {
    let out = match args.output.as_deref() {
        Some(p) => Output::from_arg(p)?,
        None => Output::stdout(),
    };
    let mut merged: Option<Profile> = None;
    for path in &args.merge {
        let policy = super::policy(&moat::input::file_spec(path), "record --merge")?;
        let profile = Profile::from_policy(&policy)?;
        match &mut merged {
            None => merged = Some(profile),
            Some(m) => m.merge(&profile, &path.display().to_string())?,
        }
    }
    let Some(mut merged) = merged else {
        bail!("--merge needs at least one policy");
    };
    let names: Vec<String> = args.merge.iter().map(|p| p.display().to_string()).collect();
    merged.command = Some(format!("merge of {}", names.join(", ")));
    write_policy(&merged.to_text(), out, args.format)?;
    Ok(ExitCode::SUCCESS)
}

/// Checks the policy parses (so the output is valid input for every other command), converts
/// it to `format`, then writes it to `out`. What a format cannot express is reported on
/// standard error, one line each.
fn write_policy(text: &str, out: Output, format: Format) -> anyhow::Result<()> {
    let path = (out.path() != Path::new("-")).then(|| out.path().to_path_buf());
    let origin = path
        .as_deref()
        .map_or_else(|| "<stdout>".to_string(), |p| p.display().to_string());
    let policy = Policy::parse(text, &origin)
        .map_err(|e| anyhow::anyhow!("internal error: the recorded policy does not parse: {e}"))?;
    // Still written (it is the record of what ran), but say so if it cannot be enforced.
    if let Err(e) = moat::compile::compile(&policy, &moat::compile::Options::default()) {
        eprintln!("moat: warning: {origin}: the policy does not compile: {e}");
    }
    let target = match format {
        Format::Moat => None,
        Format::Docker => Some(moat_export::Format::Docker),
        Format::Spo => Some(moat_export::Format::Spo),
    };
    let bytes = match target {
        None => text.as_bytes().to_vec(),
        Some(target) => {
            let loaded = moat_export::load_bytes(
                text.as_bytes(),
                &origin,
                &moat_export::Options::default(),
            )?;
            let name = path.as_deref().and_then(Path::file_stem).map_or_else(
                || "recorded".to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            let exported =
                moat_export::export(&loaded, target, &moat::policy::Context::default(), &name)?;
            for loss in &exported.losses {
                eprintln!("moat: {}: {}", target.name(), loss.0);
            }
            exported.data
        }
    };
    out.write(&bytes)?;
    Ok(())
}

/// The action in `--default`, read with the policy language's own parser.
fn parse_action(text: &str) -> anyhow::Result<Action> {
    let policy = Policy::parse(&format!("default {text}\n"), "--default")
        .map_err(|e| anyhow::anyhow!("--default {text}: {}", e.kind))?;
    Ok(policy.default_action().action)
}

/// How the output names the base: a built-in by name, a file by its absolute path.
fn use_target(spec: &str, base: Option<&Policy>) -> String {
    let builtin = base.is_some_and(|b| {
        moat::policy::builtins()
            .iter()
            .any(|x| x.name == b.origin())
    });
    if builtin {
        return spec.to_string();
    }
    let abs = std::fs::canonicalize(spec).unwrap_or_else(|_| PathBuf::from(spec));
    format!("\"{}\"", abs.display())
}
