//! `moat diff A B`: the semantic difference of two policies; `--subset` proves A ⊆ B or prints a
//! counterexample. Also home of the input reader the analysis commands share.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;

use moat::analyze::{Diff, Subject, Subset, describe};

use moat::policy::{Action, Context};
use moat::syscalls::Arch;
use serde_json::json;

/// Show the semantic difference of two policies per ABI and syscall, argument conditions
/// included; exit 0 when equal, 1 when different.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// First policy: built-in profile name, policy file, raw BPF file, or `pid:PID` (the
    /// filters a running process has installed).
    #[arg(value_name = "A")]
    a: String,
    /// Second policy, same forms as A.
    #[arg(value_name = "B")]
    b: String,
    /// Prove that A is never more permissive than B, or print a call where it is. `log`,
    /// `trace` and `notify` count as `allow` (the call runs, or something the confined process
    /// may control decides); `errno 0` is looser than `allow` (the call seems to succeed without
    /// running); refusing actions rank by the kernel's precedence.
    #[arg(long)]
    subset: bool,
    #[command(flatten)]
    guards: super::explain::Guards,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// What the analysis commands take: a policy in any format, or BPF programs (raw, a listing,
/// or `pid:PID`), as `moat::input` reads them.
pub(crate) fn subject(spec: &str, ctx: &Context) -> anyhow::Result<Subject> {
    Ok(match super::input(spec, None)? {
        moat::input::Input::Policy(loaded) => Subject::policy(loaded.policy, ctx)?,
        moat::input::Input::Programs {
            programs, origin, ..
        } => Subject::filters(programs, &origin),
    })
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.guards.context()?;
    let a = subject(&args.a, &ctx)?;
    let b = subject(&args.b, &ctx)?;
    let mut out = std::io::stdout().lock();
    if args.subset {
        let result = {
            let _progress = super::progress::Ticker::start("diff");
            moat::analyze::subset(&a, &b)?
        };
        let holds = matches!(result, Subset::Holds { .. });
        match args.format {
            Format::Json => {
                let v = match &result {
                    Subset::Holds { exact, compared } => json!({
                        "a": a.origin(), "b": b.origin(), "subset": true, "exact": exact, "compared": compared,
                    }),
                    Subset::Counterexample(c) => json!({
                        "a": a.origin(), "b": b.origin(), "subset": false,
                        "counterexample": {
                            "abi": c.arch.map(|x| x.name()),
                            "audit_arch": c.audit_arch,
                            "nr": c.nr,
                            "syscall": c.syscall,
                            "args": c.args,
                            "a": c.a.to_string(),
                            "b": c.b.to_string(),
                        },
                    }),
                };
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            }
            Format::Human => match &result {
                Subset::Holds {
                    exact: true,
                    compared,
                } => writeln!(
                    out,
                    "{} ⊆ {}: proved: {} is never more permissive ({compared} syscalls compared exactly on their conditions)",
                    a.origin(),
                    b.origin(),
                    a.origin()
                )?,
                Subset::Holds {
                    exact: false,
                    compared,
                } => writeln!(
                    out,
                    "{} ⊆ {}: no counterexample among the samples ({compared} numbers with boundary arguments); raw BPF cannot be reasoned about exactly",
                    a.origin(),
                    b.origin()
                )?,
                Subset::Counterexample(c) => writeln!(
                    out,
                    "{} ⊄ {}: counterexample: {c}: {} {}, {} {}",
                    a.origin(),
                    b.origin(),
                    a.origin(),
                    describe::verb(c.a),
                    b.origin(),
                    describe::verb(c.b)
                )?,
            },
        }
        return Ok(if holds {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let d = {
        let _progress = super::progress::Ticker::start("diff");
        moat::analyze::diff(&a, &b)?
    };
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&to_json(&d))?)?,
        Format::Human => out.write_all(human(&d).as_bytes())?,
    }
    Ok(if d.is_equal() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn label(arch: Option<Arch>, nr: Option<u32>, syscall: Option<&str>) -> String {
    match (arch, nr, syscall) {
        (None, _, _) => "other ABIs (badarch)".into(),
        (Some(_), None, _) => "numbers not in the syscall table (unknown)".into(),
        (Some(_), Some(_), Some(name)) => name.to_string(),
        // Sampled raw-BPF comparisons visit numbers no table knows one by one; one line for all.
        (Some(_), Some(_), None) => "numbers not in the syscall table (unknown)".into(),
    }
}

fn fmt_args(args: &[u64; 6]) -> String {
    let v: Vec<String> = args
        .iter()
        .map(|&x| {
            if x < 10 {
                x.to_string()
            } else {
                format!("{x:#x}")
            }
        })
        .collect();
    v.join(", ")
}

/// The human report: one line per syscall and pair of actions (ABIs sharing the same text
/// merged), ABIs only one side accepts summarised, then a summary line.
fn human(d: &Diff) -> String {
    let mut s = String::new();
    let (na, nb) = (&d.a, &d.b);
    // (label, a, b, when) -> ABIs
    let mut lines: BTreeMap<(String, String, String, String), Vec<Option<Arch>>> = BTreeMap::new();
    let only: Vec<Arch> = d.only.iter().map(|(a, _)| *a).collect();
    let mut permissive_a = 0;
    let mut permissive_b = 0;
    let mut syscalls = std::collections::BTreeSet::new();
    for x in &d.differences {
        // `allow` against `errno 0` is looser in both directions.
        if !x.a.no_looser_than(x.b) {
            permissive_a += 1;
        }
        if !x.b.no_looser_than(x.a) {
            permissive_b += 1;
        }
        syscalls.insert(label(x.arch, x.nr, x.syscall));
        if x.arch.is_some_and(|a| only.contains(&a)) {
            continue;
        }
        let when = match (&x.when, x.sampled) {
            (Some(w), _) => format!(" when {w}"),
            (None, true) => format!(" for some arguments, e.g. ({})", fmt_args(&x.example)),
            (None, false) => String::new(),
        };
        lines
            .entry((
                label(x.arch, x.nr, x.syscall),
                verb_of(x.a),
                verb_of(x.b),
                when,
            ))
            .or_default()
            .push(x.arch);
    }
    for ((what, va, vb, when), abis) in &mut lines {
        abis.sort_unstable();
        abis.dedup();
        let abis: Vec<String> = abis
            .iter()
            .map(|a| a.map_or_else(|| "*".to_string(), |a| a.to_string()))
            .collect();
        s.push_str(&format!(
            "{what} [{}]: {na} {va}, {nb} {vb}{when}\n",
            abis.join(", ")
        ));
    }
    for (arch, in_a) in &d.only {
        let (yes, no) = if *in_a { (na, nb) } else { (nb, na) };
        let n = d
            .differences
            .iter()
            .filter(|x| x.arch == Some(*arch))
            .count();
        s.push_str(&format!(
            "{arch}: only {yes} accepts this ABI; {no} stops every call with its badarch action ({n} syscalls or buckets differ)\n"
        ));
    }
    if !d.exact {
        s.push_str("note: raw BPF input: exact reasoning on conditions is impossible; compared every syscall number of every ABI (and beyond), with boundary values of every constant for calls whose verdict reads arguments\n");
    }
    if d.is_equal() {
        s.push_str(&format!(
            "no difference: {na} and {nb} are equivalent ({} syscalls compared{})\n",
            d.compared,
            if d.exact { " exactly" } else { " by sampling" }
        ));
    } else {
        s.push_str(&format!(
            "{} differences in {} syscalls: {na} is more permissive in {permissive_a}, {nb} in {permissive_b}\n",
            d.differences.len(),
            syscalls.len()
        ));
    }
    s
}

fn verb_of(a: Action) -> String {
    describe::verb(a)
}

fn to_json(d: &Diff) -> serde_json::Value {
    let diffs: Vec<serde_json::Value> = d
        .differences
        .iter()
        .map(|x| {
            json!({
                "abi": x.arch.map(|a| a.name()),
                "nr": x.nr,
                "syscall": x.syscall,
                "a": x.a.to_string(),
                "b": x.b.to_string(),
                "when": x.when,
                "sampled": x.sampled,
                "example": x.example,
            })
        })
        .collect();
    let only: Vec<serde_json::Value> = d
        .only
        .iter()
        .map(|(a, in_a)| json!({"abi": a.name(), "accepted_by": if *in_a { "a" } else { "b" }}))
        .collect();
    json!({
        "a": d.a,
        "b": d.b,
        "exact": d.exact,
        "equal": d.is_equal(),
        "compared": d.compared,
        "differences": diffs,
        "only_abis": only,
    })
}
