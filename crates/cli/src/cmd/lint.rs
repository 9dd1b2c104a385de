//! `moat lint POLICY`: findings with stable codes, source spans and fixes.

use std::io::Write as _;
use std::process::ExitCode;

use moat::analyze::{Finding, Level};

use super::style::{Role, paint};
use serde_json::json;

/// Report dangerous allowances, equivalent-call gaps, missing essentials, shadowed rules and
/// other mistakes; exit 1 when a finding is at or above --deny.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Built-in profile name, policy file, raw BPF file, or `pid:PID`.
    #[arg(value_name = "POLICY")]
    policy: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Exit 1 when any finding is at or above this level: info, warning or error.
    #[arg(long, value_name = "LEVEL", default_value = "warning", value_parser = parse_level)]
    deny: Level,
    #[command(flatten)]
    guards: super::explain::Guards,
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.guards.context()?;
    let subject = super::diff::subject(&args.policy, &ctx)?;
    let findings = {
        let _progress = super::progress::Ticker::start("lint");
        moat::analyze::lint(&subject, &ctx)?
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Human => out.write_all(human(subject.origin(), &findings).as_bytes())?,
        Format::Json => {
            let v: Vec<serde_json::Value> = findings.iter().map(finding_json).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Sarif => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&sarif(subject.origin(), &findings))?
        )?,
    }
    Ok(if findings.iter().any(|f| f.level >= args.deny) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn abis(f: &Finding) -> String {
    if f.arches.is_empty() {
        String::new()
    } else {
        let v: Vec<&str> = f.arches.iter().map(|a| a.name()).collect();
        format!(" [{}]", v.join(", "))
    }
}

fn human(origin: &str, findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let at = match &f.location {
            Some(l) => format!("{}:{}:{}", l.origin, l.span.line, l.span.col),
            None => origin.to_string(),
        };
        let role = match f.level {
            Level::Error => Role::Error,
            Level::Warning => Role::Warning,
            Level::Info => Role::Info,
        };
        s.push_str(&format!(
            "{at}: {}: {}{}\n  fix: {}\n",
            paint(&format!("{}[{}]", f.level, f.code), role),
            f.message,
            abis(f),
            f.fix
        ));
    }
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    s.push_str(&format!(
        "{origin}: {} findings ({} errors, {} warnings, {} info)\n",
        findings.len(),
        count(Level::Error),
        count(Level::Warning),
        count(Level::Info)
    ));
    s
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "code": f.code,
        "level": f.level.to_string(),
        "message": f.message,
        "fix": f.fix,
        "file": f.location.as_ref().map(|l| l.origin.to_string()),
        "line": f.location.as_ref().map(|l| l.span.line),
        "column": f.location.as_ref().map(|l| l.span.col),
        "abis": f.arches.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "syscall": f.syscall,
    })
}

/// SARIF 2.1.0, one run, one rule per code.
fn sarif(origin: &str, findings: &[Finding]) -> serde_json::Value {
    let mut codes: Vec<&str> = findings.iter().map(|f| f.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| json!({"id": c, "name": c, "helpUri": "https://example.invalid/moat/docs/analysis.md"}))
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let level = match f.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Info => "note",
            };
            let (uri, line, col) = match &f.location {
                Some(l) => (l.origin.to_string(), l.span.line, l.span.col),
                None => (origin.to_string(), 1, 1),
            };
            json!({
                "ruleId": f.code,
                "level": level,
                "message": {"text": format!("{}{} (fix: {})", f.message, abis(f), f.fix)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": line, "startColumn": col},
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "moat", "informationUri": "https://example.invalid/moat", "rules": rules}},
            "results": results,
        }],
    })
}
