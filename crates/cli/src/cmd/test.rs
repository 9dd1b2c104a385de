//! `moat test POLICY TESTFILE...`: policy unit tests.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use moat::analyze::Subject;
use moat::analyze::test::{check_in, parse};

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
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
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
        files.push((path, parse(&text, path)?));
    }
    let mut out = std::io::stdout().lock();
    let (mut total, mut failed) = (0, 0);
    for (path, expectations) in &files {
        for e in expectations {
            total += 1;
            let mut failures = Vec::new();
            for s in std::iter::once(&subject).chain(compiled.as_ref()) {
                let f = check_in(s, e, &ctx, pool.as_deref())
                    .map_err(|err| anyhow::anyhow!("{path}:{err}"))?;
                failures.extend(f.into_iter().map(|f| (s.origin().to_string(), f)));
            }
            if !failures.is_empty() {
                failed += 1;
                writeln!(out, "{path}:{}: FAIL `{}`", e.line, e.text)?;
                for (who, f) in failures {
                    writeln!(out, "  {who}: {f}")?;
                }
            }
        }
    }
    writeln!(
        out,
        "{}: {total} expectations, {} passed, {failed} failed",
        subject.origin(),
        total - failed
    )?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
