//! Executes every example of `docs/policy-language.md`.
//!
//! - ```` ```moat ```` blocks must parse; their `# expect ABI NAME(ARGS) = VERDICT [by WHO]` lines
//!   are evaluated with the reference evaluator (and with the lowering), `# context cap ...`
//!   lines set the capabilities for the expectations after them.
//! - ```` ```moat-error ```` blocks must fail with the `# error LINE:COL: MESSAGE` they state.
//! - Every other fenced block must be `ebnf` (the grammar) or `console` (run by the CLI tests).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

use moat_policy::{Action, CapSet, Context, Decider, Policy};
use moat_syscalls::Arch;

const SPEC: &str = include_str!("../../../docs/policy-language.md");

struct Block {
    info: String,
    start_line: usize,
    text: String,
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for (i, line) in SPEC.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => {
                    cur = Some(Block {
                        info: rest.trim().to_string(),
                        start_line: i + 2,
                        text: String::new(),
                    })
                }
            }
        } else if let Some(b) = cur.as_mut() {
            b.text.push_str(line);
            b.text.push('\n');
        }
    }
    assert!(cur.is_none(), "unterminated fence in the spec");
    out
}

fn value(text: &str) -> u64 {
    text.split('|')
        .map(|t| {
            let t = t.trim();
            if let Some(neg) = t.strip_prefix('-') {
                return (-(number(neg) as i128)) as i64 as u64;
            }
            moat_syscalls::constant(t).unwrap_or_else(|| number(t))
        })
        .fold(0, |a, b| a | b)
}

fn number(t: &str) -> u64 {
    let t = t.replace('_', "");
    match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad number {t}")),
        None => t
            .parse()
            .unwrap_or_else(|_| panic!("bad number or unknown constant {t}")),
    }
}

/// `x86_64 unshare(0x10000000)` -> (audit arch, nr, args).
fn call(text: &str) -> (Arch, u32, [u64; 6]) {
    let (abi, rest) = text.trim().split_once(' ').expect("ABI NAME(ARGS)");
    let arch: Arch = abi.parse().expect("abi");
    let (name, args) = rest.trim().split_once('(').expect("NAME(");
    let args = args.trim().strip_suffix(')').expect(")");
    let nr = match name.parse::<u32>() {
        Ok(n) => n + arch.nr_bias(),
        Err(_) => {
            arch.by_name(name)
                .unwrap_or_else(|| panic!("{name} not on {arch}"))
                .nr
        }
    };
    let mut a = [0u64; 6];
    for (i, v) in args.split(',').filter(|s| !s.trim().is_empty()).enumerate() {
        a[i] = value(v);
    }
    (arch, nr, a)
}

fn action(text: &str) -> Action {
    let p = Policy::parse(&format!("default {text}\n"), "action").unwrap_or_else(|e| panic!("{e}"));
    p.default_action().action
}

#[test]
fn every_spec_example_runs() {
    let blocks = blocks();
    let mut expects = 0;
    let mut errors = 0;
    let mut policies = 0;
    for b in &blocks {
        match b.info.as_str() {
            "moat" => {
                let origin = format!("spec:{}", b.start_line);
                let policy = Policy::parse(&b.text, &origin)
                    .unwrap_or_else(|e| panic!("spec block at line {}: {e}", b.start_line));
                policies += 1;
                // The printed form parses back to the same policy.
                let printed = policy.to_string();
                assert_eq!(
                    Policy::parse(&printed, &origin).unwrap(),
                    policy,
                    "{printed}"
                );
                let mut ctx = Context::default();
                for line in b.text.lines() {
                    if let Some(caps) = line.strip_prefix("# context cap ") {
                        ctx.caps = Some(
                            caps.split_whitespace()
                                .map(|c| moat_syscalls::capability(c).expect("capability"))
                                .collect::<CapSet>(),
                        );
                        continue;
                    }
                    let Some(exp) = line.strip_prefix("# expect ") else {
                        continue;
                    };
                    let (call_text, verdict) = exp.split_once(" = ").expect("= VERDICT");
                    let (act, by) = match verdict.split_once(" by ") {
                        Some((a, b)) => (a, Some(b)),
                        None => (verdict, None),
                    };
                    let (arch, nr, args) = call(call_text);
                    let got = policy.evaluate(&ctx, arch.audit_arch(), nr, args);
                    assert_eq!(
                        got.action,
                        action(act),
                        "spec line: {line} (block at {}): {got:?}",
                        b.start_line
                    );
                    if let Some(by) = by {
                        let who = match got.decided_by {
                            Decider::Default => "default".to_string(),
                            Decider::Unknown => "unknown".to_string(),
                            Decider::BadArch => "badarch".to_string(),
                            Decider::Rule { index, span } => {
                                let rule = &policy.rules()[index];
                                if *rule.location.origin == *origin {
                                    format!("line {}", span.line)
                                } else {
                                    format!("{}:{}", rule.location.origin, span.line)
                                }
                            }
                        };
                        assert_eq!(who, by, "spec line: {line} (block at {})", b.start_line);
                    }
                    // The lowering agrees.
                    let lowered = policy.lower(&ctx).unwrap();
                    assert_eq!(
                        lowered.action(arch.audit_arch(), nr, &args),
                        got.action,
                        "lowered: {line}"
                    );
                    expects += 1;
                }
            }
            "moat-error" => {
                let want = b
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix("# error "))
                    .expect("# error line");
                let (pos, msg) = want.split_once(": ").expect("LINE:COL: MESSAGE");
                let err = Policy::parse(&b.text, "spec.moat").expect_err("must fail");
                let shown = err.to_string();
                assert!(
                    shown.starts_with(&format!("spec.moat:{pos}: ")),
                    "{shown} vs {want}"
                );
                assert!(shown.contains(msg), "{shown} vs {want}");
                assert!(!shown.contains('\n'));
                errors += 1;
            }
            "ebnf" | "console" => {}
            other => panic!(
                "spec block at line {} has an untested kind {other:?}",
                b.start_line
            ),
        }
    }
    eprintln!("spec: {policies} policies, {expects} expectations, {errors} errors");
    assert!(
        policies >= 10 && expects >= 50 && errors >= 5,
        "{policies} {expects} {errors}"
    );
}
