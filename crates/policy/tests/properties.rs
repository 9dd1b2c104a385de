//! Property tests: the canonical printer round-trips, the parser never panics, and the lowering
//! interpreted by a tiny interpreter equals the reference evaluator.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

use moat_policy::testing::policy;
use moat_policy::{CapSet, Context, Policy};
use moat_syscalls::{Arch, KernelVersion};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn print_then_parse_is_identity(text in policy()) {
        let p = Policy::parse(&text, "random.moat").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let printed = p.to_string();
        let q = Policy::parse(&printed, "random.moat").map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
        prop_assert_eq!(&p, &q, "{}", printed);
        prop_assert_eq!(printed.clone(), q.to_string());
    }

    #[test]
    fn one_line_print_then_parse_is_identity(text in policy()) {
        let p = Policy::parse(&text, "random.moat").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let line = p.one_line();
        prop_assert!(!line.contains('\n'), "{}", line);
        let q = Policy::parse(&line, "random.moat").map_err(|e| TestCaseError::fail(format!("{e}\n{line}")))?;
        // The canonical text without reasons: the one-line form carries none.
        let bare: String = p.items().iter().map(|i| format!("{}\n", p.statement_text(i))).collect();
        prop_assert_eq!(q.to_string(), bare, "{}", line);
        prop_assert_eq!(q.one_line(), line);
        prop_assert_eq!(q.rules().len(), p.rules().len());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        match Policy::parse_bytes(&bytes, "bytes.moat") {
            Ok(_) => {}
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.starts_with("bytes.moat:"));
                prop_assert!(!shown.contains('\n'));
            }
        }
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(SOUP), 0..40)) {
        let text = tokens.join(" ");
        if let Err(e) = Policy::parse(&text, "soup.moat") {
            let shown = e.to_string();
            prop_assert!(shown.starts_with("soup.moat:"), "{}", shown);
            prop_assert!(!shown.contains('\n'));
        }
    }
}

const SOUP: &[&str] = &[
    "default",
    "unknown",
    "badarch",
    "kernel",
    "arch",
    "use",
    "allow",
    "deny",
    "errno",
    "kill",
    "kill-thread",
    "trap",
    "log",
    "trace",
    "notify",
    "if",
    "unless",
    "when",
    "and",
    "or",
    "not",
    "in",
    "cap",
    "socket",
    "clone",
    "openat",
    "@mount",
    "@nosuch",
    "domain",
    "flags",
    "arg0",
    "arg5",
    "arg6",
    "persona",
    "AF_INET",
    "CLONE_NEW_ANY",
    "EPERM",
    "ENOSYS",
    "x86",
    "x86_64",
    "native",
    "compat",
    "5.10",
    "1.2.3.4",
    "0",
    "-1",
    "0x1_0000_0000",
    "99999999999999999999999",
    "0xffffffffffffffff",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&",
    "|",
    "{",
    "}",
    "(",
    ")",
    ",",
    "-",
    "=",
    "!",
    "&&",
    "\"x.moat\"",
    "\"",
    "#",
    "# reason",
    "\n",
    "\n",
    "\n",
    "container",
    "strict",
    "@",
    "é",
    "\u{0}",
    "\t",
];

/// Arguments worth trying: every constant in the policy, its neighbours, and junk high words.
fn interesting(p: &Policy) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        3,
        8,
        0x20000,
        0xffff_ffff,
        u64::MAX,
        0x1_0000_0000,
        0x5412,
        0x1_0000_5412,
        40,
        38,
    ];
    let text = p.to_string();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let n = moat_syscalls::constant(word).or_else(|| {
            word.strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .or_else(|| word.parse().ok())
        });
        if let Some(n) = n {
            v.extend([
                n,
                n.wrapping_add(1),
                n.wrapping_sub(1),
                n | 0xdead_0000_0000_0000,
                n & 0xffff_ffff,
            ]);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn contexts() -> Vec<Context> {
    vec![
        Context::default(),
        Context {
            caps: Some(CapSet::docker_default()),
            kernel: Some(KernelVersion { major: 4, minor: 4 }),
        },
        Context {
            caps: Some(CapSet(u64::MAX)),
            kernel: Some(KernelVersion {
                major: 6,
                minor: 18,
            }),
        },
    ]
}

proptest! {
    #![proptest_config(config(150))]

    #[test]
    fn lowering_equals_evaluation(text in policy(), seed in any::<u64>()) {
        let p = Policy::parse(&text, "random.moat").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let values = interesting(&p);
        let mut rng = seed;
        let mut next = move || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            rng >> 11
        };
        for ctx in contexts() {
            let lowered = p.lower(&ctx).unwrap();
            for _ in 0..300 {
                let arch = Arch::ALL[(next() % 9) as usize];
                let table = arch.syscalls();
                let nr = match next() % 8 {
                    0 => (next() % 1100) as u32 + arch.nr_bias(),
                    1 => (next() as u32) | 0x4000_0000,
                    _ => table[(next() % table.len() as u64) as usize].nr,
                };
                let mut args = [0u64; 6];
                for a in &mut args {
                    *a = if next() % 4 == 0 { next() } else { values[(next() % values.len() as u64) as usize] };
                }
                let want = p.evaluate(&ctx, arch.audit_arch(), nr, args).action;
                let got = lowered.action(arch.audit_arch(), nr, &args);
                prop_assert_eq!(got, want, "{} nr {} args {:x?} ctx {:?}\n{}", arch, nr, args, ctx, text);
            }
        }
    }
}

#[test]
fn builtins_lower_like_they_evaluate() {
    for b in moat_policy::builtins() {
        let p = Policy::builtin(b.name).unwrap().unwrap();
        let values = interesting(&p);
        for ctx in contexts() {
            let lowered = p.lower(&ctx).unwrap();
            for arch in Arch::ALL {
                for nr in (0..1100).chain(arch.syscalls().iter().map(|s| s.nr)) {
                    // Calls without argument conditions need one argument vector, not all.
                    let conditional = lowered
                        .abis
                        .iter()
                        .find(|a| a.arch == arch)
                        .and_then(|a| a.syscalls.get(&nr))
                        .is_some_and(|rules| {
                            rules.iter().any(|r| r.cond != moat_policy::Cond::True)
                        });
                    let n = if conditional { values.len() } else { 2 };
                    for (i, &v) in values.iter().enumerate().take(n) {
                        let args = [v, values[(i + 1) % values.len()], v, v, 0, 0];
                        let want = p.evaluate(&ctx, arch.audit_arch(), nr, args).action;
                        assert_eq!(
                            lowered.action(arch.audit_arch(), nr, &args),
                            want,
                            "{} {arch} {nr} {args:x?}",
                            b.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [10usize, 100, 100_000] {
        for (open, close) in [("(", ")"), ("not (", ")"), ("not ", "")] {
            let text = format!(
                "deny socket if {}domain == 1{}\n",
                open.repeat(depth),
                close.repeat(depth)
            );
            let r = Policy::parse(&text, "deep.moat");
            if depth <= 10 {
                assert!(r.is_ok(), "{depth} {open}");
            } else {
                let e = r.unwrap_err().to_string();
                assert!(e.contains("nest more than 64 levels"), "{e}");
            }
        }
        let text = format!(
            "allow mount when {}cap SYS_ADMIN{}\n",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        assert_eq!(Policy::parse(&text, "deep.moat").is_ok(), depth <= 10);
    }
}
