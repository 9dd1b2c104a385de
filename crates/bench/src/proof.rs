//! The node's proof on large pod annotations: 1,000 rules of one shape on `ioctl`, read after
//! the `container` profile, proved ⊆ `container` by `moat_analyze::subset` (what `moat
//! oci-runtime` runs under `pod-policies = "subset"` before a container starts).

use std::time::Instant;

use moat_analyze::{Subject, Subset, diff, lint, subset};
use moat_policy::{Context, Policy, Source};

/// Writes the `i`th rule of a shape.
type Rule = fn(u64) -> String;

/// The rule shapes, each written 1,000 times with distinct constants.
const SHAPES: &[(&str, Rule)] = &[
    ("`request == C`", |i| {
        format!("deny ioctl if request == {}", 0x5400 + i)
    }),
    ("`request & M == V`, varying masks", |i| {
        format!(
            "errno EPERM ioctl if request & {:#x} == {:#x}",
            0xff00 ^ ((i << 4) & 0xffff),
            (i * 16) & 0xff00
        )
    }),
    ("`fd == C and request > D` (two arguments)", |i| {
        format!("deny ioctl if fd == {i} and request > {}", 0x8000 + i)
    }),
    ("`request in {a, b, c}`", |i| {
        format!("deny ioctl if request in {{{i}, {}, {}}}", i + 7, i + 1000)
    }),
    ("`request >= A and request < B` (disjoint ranges)", |i| {
        let a = 0x4000_0000 + i * 3;
        format!("kill ioctl if request >= {a} and request < {}", a + 2)
    }),
];

fn pod(rules: &str) -> anyhow::Result<Policy> {
    Policy::compose(&[
        Source::Builtin("container".into()),
        Source::Annotation {
            key: "moat.dev/policy".into(),
            text: rules.into(),
        },
    ])
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn prove(p: &Policy, node: &Subject, ctx: &Context) -> anyhow::Result<String> {
    let s = Subject::policy(p.clone(), ctx)?;
    Ok(match subset(&s, node) {
        Ok(Subset::Holds { exact: true, .. }) => "proved exactly".into(),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!(
            "refused: {}",
            anyhow::Error::from(e)
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ")
        ),
    })
}

/// Prints the section: per shape, the median wall time of the proof over `rounds` runs.
pub fn section(rounds: usize) -> anyhow::Result<()> {
    let ctx = Context::default();
    let container = Policy::builtin("container")
        .ok_or_else(|| anyhow::anyhow!("no container profile"))?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let node = Subject::policy(container, &ctx)?;
    println!("## The node's proof on 1,000-rule annotations\n");
    println!(
        "Each annotation is `container` plus 1,000 `ioctl` rules of one shape, proved ⊆ `container` (`pod-policies = \"subset\"`); median of {rounds} runs, single-threaded.\n"
    );
    println!("| rules | bytes | outcome | proof |");
    println!("| --- | ---: | --- | ---: |");
    let mut all = Vec::new();
    for &(name, rule) in SHAPES {
        let rules: Vec<String> = (0..1000).map(rule).collect();
        all.push(rules.clone());
        let text = rules.join("\n");
        let p = pod(&text)?;
        let mut times = Vec::new();
        let mut outcome = String::new();
        for _ in 0..rounds {
            let t = Instant::now();
            outcome = prove(&p, &node, &ctx)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "| {name} | {} | {outcome} | {:.0} ms |",
            text.len(),
            crate::median(times)
        );
    }
    // All five shapes interleaved on the same syscall, 1,000 rules in all: where `container`
    // allows, no pod rule can be looser and the proof does not split them there.
    let mixed: Vec<String> = (0..1000).map(|i| all[i % all.len()][i].clone()).collect();
    // An annotation written against the pruning: `allow` rules (which could loosen the node)
    // whose differently masked conditions sit on another argument than the node's own `ioctl`
    // rule and come first, and that exclude the node's denied requests only at their end, so
    // inside the region the node denies they are split rather than skipped.
    let hostile: Vec<String> = (0..1000u64)
        .map(|i| {
            format!(
                "allow ioctl if fd & {:#x} == {:#x} and request != TIOCSTI and request != TIOCLINUX",
                0xff00 ^ ((i << 4) & 0xffff),
                (i * 16) & 0xff00
            )
        })
        .collect();
    for (name, rules) in [
        ("the five shapes interleaved (200 each)", mixed),
        (
            "`allow ioctl if fd & M == V and request != TIOCSTI and request != TIOCLINUX`",
            hostile,
        ),
    ] {
        let text = rules.join("\n");
        let p = pod(&text)?;
        let t = Instant::now();
        let outcome = prove(&p, &node, &ctx)?;
        println!(
            "| {name} | {} | {outcome} | {:.0} ms (one run) |",
            text.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    println!();
    sets(&ctx)
}

/// Times `f` once, in milliseconds, with its outcome.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64() * 1e3)
}

/// `diff`, `diff --subset` and `lint` on `deny read if arg0 in {…}` sets of 10 to 10,000
/// values (one run each), against `default allow`.
fn sets(ctx: &Context) -> anyhow::Result<()> {
    println!("### `in {{…}}` sets\n");
    println!(
        "`default allow` and `deny read if arg0 in {{0, 3, 6, …}}` with N values; one run each.\n"
    );
    println!("| N | diff | subset (set ⊆ allow) | lint |");
    println!("| ---: | ---: | ---: | ---: |");
    let allow = Subject::policy(Policy::parse("default allow\n", "allow.moat")?, ctx)?;
    for n in [10u64, 100, 1_000, 10_000] {
        let values: Vec<String> = (0..n).map(|i| (i * 3).to_string()).collect();
        let text = format!(
            "default allow\ndeny read if arg0 in {{{}}}\n",
            values.join(",")
        );
        let set = Subject::policy(Policy::parse(&text, "set.moat")?, ctx)?;
        let (d, td) = timed(|| diff(&allow, &set));
        let (s, ts) = timed(|| subset(&set, &allow));
        let (l, tl) = timed(|| lint(&set, ctx));
        let ok = |r: bool| if r { "" } else { " (failed)" };
        println!(
            "| {n} | {td:.0} ms{} | {ts:.0} ms{} | {tl:.0} ms{} |",
            ok(d.is_ok()),
            ok(matches!(s, Ok(Subset::Holds { exact: true, .. }))),
            ok(l.is_ok())
        );
    }
    println!();
    Ok(())
}
