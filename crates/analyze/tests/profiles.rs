//! The built-in profiles' own unit tests (`crates/policy/profiles/NAME.tests`) pass against the
//! reference evaluator (exactly) and the compiled program (over boundary values).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_analyze::Subject;
use moat_analyze::test::{check, check_in, parse};
use moat_policy::{Context, Policy};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/profiles");

#[test]
fn builtin_profiles_pass_their_tests() {
    let ctx = Context::default();
    let mut ran = Vec::new();
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("tests") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let policy = Policy::builtin(&name)
            .unwrap_or_else(|| panic!("{}: no built-in profile {name}", path.display()))
            .unwrap();
        let pool = policy.arches().to_vec();
        let program = moat_analyze::compile(&policy, &ctx).unwrap();
        let subject = Subject::policy(policy, &ctx).unwrap();
        let compiled = Subject::filters(vec![program], &format!("{name} (compiled)"));
        let text = std::fs::read_to_string(&path).unwrap();
        let expectations = parse(&text, &path.display().to_string()).unwrap();
        assert!(expectations.len() >= 10, "{name}: too few expectations");
        for e in &expectations {
            let f = check(&subject, e, &ctx).unwrap();
            assert!(f.is_empty(), "{name}:{}: `{}`: {}", e.line, e.text, f[0]);
            let f = check_in(&compiled, e, &ctx, Some(&pool)).unwrap();
            assert!(
                f.is_empty(),
                "{name} compiled:{}: `{}`: {}",
                e.line,
                e.text,
                f[0]
            );
        }
        ran.push(name);
    }
    ran.sort();
    for must in ["container", "strict"] {
        assert!(
            ran.iter().any(|n| n == must),
            "no tests for {must}: {ran:?}"
        );
    }
}

#[test]
fn a_wrong_expectation_fails_with_the_deciding_line() {
    let ctx = Context::default();
    let s = Subject::policy(Policy::builtin("container").unwrap().unwrap(), &ctx).unwrap();
    let e = parse("x86_64 ioctl(*, *) = allow\n", "t.tests").unwrap();
    let f = check(&s, &e[0], &ctx).unwrap();
    assert_eq!(f.len(), 1);
    // The counterexample lies in the denied region, and the deciding line is the ioctl rule.
    assert!(
        [0x5412, 0x541c].contains(&(f[0].args[1] & 0xffff_ffff)),
        "{}",
        f[0]
    );
    let d = f[0].decided_by.as_deref().unwrap();
    assert!(
        d.starts_with("container:") && d.contains("deny ioctl if request in {TIOCSTI, TIOCLINUX}"),
        "{d}"
    );
    // `*` is exact: the one bad value among 2^64 is found without sampling it.
    let s = Subject::policy(
        Policy::parse(
            "default allow\ndeny mmap if addr == 0x123456789abcdef",
            "t.moat",
        )
        .unwrap(),
        &ctx,
    )
    .unwrap();
    let e = parse("x86_64 mmap(*) = allow\n", "t.tests").unwrap();
    let f = check(&s, &e[0], &ctx).unwrap();
    assert_eq!(f[0].args[0], 0x123456789abcdef);
}

#[test]
fn parse_errors_point_at_the_column() {
    let cases = [
        (
            "x86_64 openat(AT_FDCWD, *, O_RDONLY) = alow\n",
            1,
            40,
            "unknown action",
        ),
        ("x86_64 opnat(*) = allow\n", 1, 8, "did you mean"),
        ("pdp11 read(*) = allow\n", 1, 1, "pdp11"),
        (
            "# c\n  * read(*, NOPE) = allow\n",
            2,
            13,
            "unknown constant",
        ),
        ("* read(*) allow\n", 1, 11, "expected `= ACTION`"),
        ("* read(1,2,3,4,5,6,7) = allow\n", 1, 7, "at most 6"),
    ];
    for (text, line, col, what) in cases {
        let e = parse(text, "t.tests").unwrap_err();
        assert_eq!((e.line, e.col), (line, col), "{text:?}: {e}");
        assert!(e.to_string().contains(what), "{text:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("t.tests:{line}:{col}: ")),
            "{e}"
        );
    }
}
