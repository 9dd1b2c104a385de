//! `moat test POLICY TESTFILE...`: policy unit tests.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use moat::analyze::Subject;
use moat::analyze::test::parse;

/// Check expectations such as `x86_64 openat(AT_FDCWD, *, O_RDONLY) = allow` against the
/// reference evaluator (exactly: `*` ranges over every value) and the compiled program (over
/// boundary values); exit 1 when one fails.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Built-in profile name, policy file, raw BPF file, or `pid:PID`.
    #[arg(value_name = "POLICY")]
    policy: String,
    /// Test files: one expectation a line, `#` comments.
    #[arg(value_name = "TESTFILE", required = true)]
    tests: Vec<String>,
    #[command(flatten)]
    guards: super::explain::Guards,
    /// Output format: `text` lists the failures and a summary line; `json` every expectation.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the results as JUnit XML to FILE, for CI systems' test reports.
    #[arg(long, value_name = "FILE")]
    junit: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The JUnit file is checked before the work starts, and written even when tests fail.
    let junit = args
        .junit
        .as_deref()
        .map(|p| moat::io::Output::from_arg(p).with_context(|| format!("--junit {}", p.display())))
        .transpose()?;
    let ctx = args.guards.context()?;
    let subject = super::diff::subject(&args.policy, &ctx)?;
    // A policy is also compiled, and the program must agree with every expectation too.
    let pool = match &subject {
        Subject::Policy { policy, .. } => Some(policy.arches().to_vec()),
        Subject::Filters(_) => None,
    };
    let compiled = match &subject {
        Subject::Policy { policy, .. } => Some(Subject::filters(
            vec![moat::analyze::compile(policy, &ctx)?],
            &format!("{} (compiled)", subject.origin()),
        )),
        Subject::Filters(_) => None,
    };
    let mut files = Vec::new();
    for path in &args.tests {
        let text = std::fs::read_to_string(path).with_context(|| format!("{path}: cannot read"))?;
        files.push((path.clone(), parse(&text, path)?));
    }
    let subjects: Vec<&Subject> = std::iter::once(&subject).chain(compiled.as_ref()).collect();
    let report = moat::analyze::test::run(&subjects, &files, &ctx, pool.as_deref())?;
    let failed = report.failed();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Text => {
            for o in report.outcomes.iter().filter(|o| !o.failures.is_empty()) {
                writeln!(
                    out,
                    "{}:{}: {} `{}`",
                    o.file,
                    o.expectation.line,
                    super::style::paint("FAIL", super::style::Role::Fail),
                    o.expectation.text
                )?;
                for (who, f) in &o.failures {
                    writeln!(out, "  {who}: {f}")?;
                }
            }
            writeln!(
                out,
                "{}: {} expectations, {} passed, {failed} failed",
                report.subject,
                report.outcomes.len(),
                report.outcomes.len() - failed
            )?;
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?,
    }
    out.flush()?;
    if let Some(junit) = junit {
        junit.write(report.junit().as_bytes())?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
