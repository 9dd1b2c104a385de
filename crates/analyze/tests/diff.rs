//! `diff` and `subset` against the reference evaluator: every difference reported is real, every
//! real difference is reported, on every syscall number of every ABI and on boundary values of
//! every condition's constants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_analyze::filters::{sample_arches, sample_args, sample_numbers, sample_values};
use moat_analyze::{Subject, Subset, agree, diff, subset};
use moat_policy::Action;
use moat_policy::{Context, Policy};
use moat_syscalls::Arch;

fn policy(src: &str) -> Policy {
    if !src.contains(' ') {
        return Policy::builtin(src).unwrap().unwrap();
    }
    Policy::parse(src, "crafted.moat").unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn subject(p: &Policy) -> Subject {
    Subject::policy(p.clone(), &Context::default()).unwrap()
}

/// Every sampled call: numbers of every ABI (and beyond), arguments over boundary values of
/// both policies' constants where a verdict reads arguments.
fn samples(a: &Subject, b: &Subject, f: &mut dyn FnMut(u32, u32, [u64; 6])) {
    let mut consts = a.constants();
    consts.extend(b.constants());
    let args = sample_args(&sample_values(&consts));
    for audit in sample_arches() {
        for nr in sample_numbers(audit) {
            if a.reads_args(audit, nr) || b.reads_args(audit, nr) {
                for x in &args {
                    f(audit, nr, *x);
                }
            } else {
                f(audit, nr, [0; 6]);
            }
        }
    }
}

/// The diff of `a` and `b` lists exactly the sampled calls on which the evaluator's verdicts
/// differ.
fn check_diff(a_src: &str, b_src: &str) -> usize {
    let (pa, pb) = (policy(a_src), policy(b_src));
    let (a, b) = (subject(&pa), subject(&pb));
    let d = diff(&a, &b).unwrap();
    assert!(d.exact);
    let ctx = Context::default();
    // Each difference's example really differs as stated.
    for x in &d.differences {
        if let (Some(arch), Some(nr)) = (x.arch, x.nr) {
            let va = pa.evaluate(&ctx, arch.audit_arch(), nr, x.example).action;
            let vb = pb.evaluate(&ctx, arch.audit_arch(), nr, x.example).action;
            assert_eq!((va, vb), (x.a, x.b), "{x:?}");
            assert!(x.contains(&x.example));
        }
    }
    let mut index: std::collections::HashMap<
        (Option<Arch>, Option<u32>),
        Vec<&moat_analyze::Difference>,
    > = std::collections::HashMap::new();
    for x in &d.differences {
        index.entry((x.arch, x.nr)).or_default().push(x);
    }
    let mut checked = 0;
    samples(&a, &b, &mut |audit, nr, args| {
        checked += 1;
        let va = pa.evaluate(&ctx, audit, nr, args).action;
        let vb = pb.evaluate(&ctx, audit, nr, args).action;
        let arch = Arch::of(audit, nr);
        // The entry covering this call: its ABI (None when neither accepts it) and its number
        // (None when neither table lists it).
        let in_a = |ar: Arch| pa.arches().contains(&ar);
        let in_b = |ar: Arch| pb.arches().contains(&ar);
        let key_arch = arch.filter(|&ar| in_a(ar) || in_b(ar));
        let known = |l: &moat_policy::Lowered, ar: Arch| {
            l.abis
                .iter()
                .any(|x| x.arch == ar && x.syscalls.contains_key(&nr))
        };
        let (la, lb) = match (&a, &b) {
            (Subject::Policy { lowered: la, .. }, Subject::Policy { lowered: lb, .. }) => (la, lb),
            _ => unreachable!(),
        };
        let key_nr = key_arch.and_then(|ar| (known(la, ar) || known(lb, ar)).then_some(nr));
        let matching: Vec<_> = index
            .get(&(key_arch, key_nr))
            .into_iter()
            .flatten()
            .filter(|x| x.contains(&args))
            .collect();
        if va == vb {
            assert!(
                matching.is_empty(),
                "{a_src} vs {b_src}: reported {matching:?} for {audit:#x} {nr} {args:x?} where both give {va}"
            );
        } else {
            assert_eq!(
                matching.len(),
                1,
                "{a_src} vs {b_src}: {audit:#x} {nr} {args:x?}: A {va}, B {vb}, reported {matching:?}"
            );
            assert_eq!((matching[0].a, matching[0].b), (va, vb));
        }
    });
    checked
}

#[test]
fn container_versus_strict_is_exact() {
    let n = check_diff("container", "strict");
    assert!(n > 1000);
}

/// The acceptance check: every difference between Docker's default profile and
/// `container`, and nothing else, on every number of every ABI and boundary arguments.
#[test]
fn docker_versus_container_is_exact() {
    if Policy::builtin("docker").is_none() {
        return;
    }
    let n = check_diff("docker", "container");
    assert!(n > 5000, "{n}");
    let n = check_diff("container", "docker");
    assert!(n > 5000, "{n}");
}

#[test]
fn builtins_pairwise_are_exact() {
    let names: Vec<&str> = moat_policy::builtins().iter().map(|b| b.name).collect();
    for a in &names {
        for b in &names {
            if a != b {
                check_diff(a, b);
            }
        }
    }
}

#[test]
fn equal_policies_have_no_difference() {
    let a = subject(&policy("container"));
    let d = diff(&a, &a).unwrap();
    assert!(d.is_equal(), "{:?}", d.differences);
    let b = subject(&policy("use container\nallow bpf\ndeny bpf"));
    assert!(diff(&a, &b).unwrap().is_equal());
}

#[test]
fn clone_difference_is_written_as_a_condition() {
    let a = subject(&policy(
        "default allow\ndeny clone if flags & CLONE_NEWUSER",
    ));
    let b = subject(&policy("default allow"));
    let d = diff(&a, &b).unwrap();
    assert_eq!(d.differences.len(), 1, "{:?}", d.differences);
    let x = &d.differences[0];
    assert_eq!(x.syscall, Some("clone"));
    assert_eq!(x.when.as_deref(), Some("flags & CLONE_NEWUSER"));
    assert_eq!(x.a, moat_policy::Action::DENY);
    assert_eq!(x.b, moat_policy::Action::Allow);
}

/// (A, B, A ⊆ B, B ⊆ A)
const PAIRS: &[(&str, &str, bool, bool)] = &[
    ("default allow", "default allow", true, true),
    ("default kill\nallow read", "default allow", true, false),
    // Partial overlaps of flag masks.
    (
        "default allow\ndeny clone if flags & CLONE_NEWUSER",
        "default allow\ndeny clone if flags & CLONE_NEW_ANY",
        false,
        true,
    ),
    (
        "default allow\ndeny clone if flags & 0x7e020000 != 0",
        "default allow\ndeny clone if flags & CLONE_NEW_ANY",
        false,
        true,
    ),
    (
        "default allow\ndeny clone if flags & CLONE_NEWUSER and flags & CLONE_NEWNET",
        "default allow\ndeny clone if flags & CLONE_NEWUSER",
        false,
        true,
    ),
    (
        "default allow\ndeny clone if arg0 & 0x10000000",
        "default allow\ndeny clone if flags & CLONE_NEWUSER",
        true,
        true,
    ),
    // Masked equality against plain equality.
    (
        "default allow\ndeny ioctl if request & 0xff00 == 0x5400",
        "default allow\ndeny ioctl if request == TIOCSTI",
        true,
        false,
    ),
    // A 32-bit parameter against a 64-bit argument: the high word matters only to the latter.
    (
        "default allow\ndeny clone if flags == 5",
        "default allow\ndeny clone if flags & 0xffffffff == 5",
        false,
        true,
    ),
    (
        "default allow\ndeny clone if flags & 0xffffffff00000000",
        "default allow",
        true,
        false,
    ),
    (
        "default allow\ndeny ioctl if request == TIOCSTI",
        "default allow\ndeny ioctl if request & 0xffffffff == TIOCSTI",
        true,
        true,
    ),
    (
        "default allow\ndeny ioctl if request > 0x5400",
        "default allow\ndeny ioctl if request & 0xffff > 0x5400",
        true,
        false,
    ),
    (
        "default allow\ndeny ioctl if request == 0x5412",
        "default allow\ndeny ioctl if arg1 & 0xffffffff == 0x5412",
        true,
        true,
    ),
    // Ranges.
    (
        "default allow\ndeny mmap if prot > 4",
        "default allow\ndeny mmap if prot >= 4",
        false,
        true,
    ),
    (
        "default allow\ndeny read if arg0 < 10",
        "default allow\ndeny read if arg0 > 5",
        false,
        false,
    ),
    (
        "default allow\ndeny mmap if addr >= 0x100000000",
        "default allow\ndeny mmap if addr > 0xffffffff",
        true,
        true,
    ),
    (
        "default kill\nallow ioctl if request == 0x5401",
        "default kill\nallow ioctl if request < 0x5500",
        true,
        false,
    ),
    (
        "default kill\nallow ioctl if request <= 0x5401",
        "default kill\nallow ioctl if request < 0x5402",
        true,
        true,
    ),
    (
        "default kill\nallow read if arg2 < 10 and arg2 > 20",
        "default kill",
        true,
        true,
    ),
    // Sets and `unless`.
    (
        "default allow\ndeny socket if domain not in {AF_INET, AF_INET6, AF_UNIX}",
        "default allow\ndeny socket if domain in {AF_VSOCK, AF_ALG}",
        true,
        false,
    ),
    (
        "default allow\ndeny personality unless persona in {0, 8}",
        "default allow\ndeny personality if persona == 0x400000",
        true,
        false,
    ),
    // Several arguments.
    (
        "default allow\ndeny mmap if prot & PROT_EXEC and flags & MAP_ANONYMOUS",
        "default allow\ndeny mmap if prot & PROT_EXEC",
        false,
        true,
    ),
    (
        "default allow\ndeny mmap if prot & PROT_EXEC or flags & MAP_ANONYMOUS",
        "default allow\ndeny mmap if prot & PROT_EXEC",
        true,
        false,
    ),
    // ABI sets, badarch, unknown.
    (
        "arch x86_64\ndefault allow",
        "arch x86_64 x86\ndefault allow",
        true,
        false,
    ),
    (
        "arch x86_64 x32\ndefault allow",
        "arch x86_64\ndefault allow",
        false,
        true,
    ),
    (
        "arch x86_64\nbadarch errno EPERM\ndefault allow",
        "arch x86_64\ndefault allow",
        true,
        true,
    ),
    ("default allow\nunknown allow", "default allow", false, true),
    ("kernel 5.4\ndefault allow", "default allow", true, false),
    (
        "arch x86\ndefault allow\ndeny socket",
        "arch x86\ndefault allow",
        true,
        false,
    ),
    // Actions of equal and different strength, for a hostile author (`Action::no_looser_than`):
    // every refusal is as strict as any other; trace, notify and log count as allow.
    ("default errno EPERM", "default errno ENOSYS", true, true),
    ("default trace 1", "default errno EPERM", false, true),
    ("default notify", "default errno EPERM", false, true),
    ("default log", "default allow", true, true),
    ("default trap", "default kill-thread", true, true),
    ("default kill", "default kill-thread", true, true),
    (
        "default allow\nkill bpf",
        "default allow\ndeny bpf",
        true,
        true,
    ),
    ("default allow\nkill bpf", "default allow", true, false),
    // Overrides, groups.
    (
        "default allow\ndeny bpf\nallow bpf",
        "default allow",
        true,
        true,
    ),
    (
        "default allow\ndeny @mount",
        "default allow\ndeny mount umount2",
        true,
        false,
    ),
    ("container", "arch x86_64 x86\ndefault allow", true, false),
    ("strict", "container", true, false),
    // Regression (issue 13): `errno 0` is looser than `allow`, not stricter: a pod annotation
    // `errno 0 setuid capset` made a uid-1000 container root.
    (
        "use container\nerrno 0 setuid capset",
        "container",
        false,
        false,
    ),
    (
        "default allow\nerrno 0 setuid",
        "default allow\nerrno 0 setuid",
        true,
        true,
    ),
    (
        "default allow\ndeny setuid",
        "default allow\nerrno 0 setuid",
        true,
        false,
    ),
    // Regression (issue 13): `notify` and `trace` hand the call to a listener or tracer the
    // container may own: they count as `allow`.
    ("use container\nnotify unshare", "container", false, true),
    ("use container\ntrace 1 bpf", "container", false, true),
    (
        "default allow\nnotify bpf\nlog mkdir",
        "default allow",
        true,
        true,
    ),
    // Regression: the counterexample needs two arguments at once (prot and len).
    (
        "default allow\ndeny @mount",
        "default allow\ndeny mprotect if prot & PROT_EXEC and len > 0x1000",
        false,
        false,
    ),
];

fn check_subset(a_src: &str, b_src: &str, expected: bool) {
    check_subset_with(a_src, b_src, Some(expected));
}

/// `expected`: whether A ⊆ B, or `None` when only a counterexample is known not to exist among
/// sampled calls (sampling finds violations, it cannot prove their absence): then a proof must
/// agree with every sample, and a counterexample must be a real call on which A is more
/// permissive.
fn check_subset_with(a_src: &str, b_src: &str, expected: Option<bool>) {
    let (pa, pb) = (policy(a_src), policy(b_src));
    let (a, b) = (subject(&pa), subject(&pb));
    let ctx = Context::default();
    match subset(&a, &b).unwrap() {
        Subset::Holds { exact, .. } => {
            assert!(exact);
            assert!(
                expected != Some(false),
                "{a_src:?} ⊆ {b_src:?} claimed, expected a counterexample"
            );
            // No sampled call contradicts the proof.
            samples(&a, &b, &mut |audit, nr, args| {
                let va = pa.evaluate(&ctx, audit, nr, args).action;
                let vb = pb.evaluate(&ctx, audit, nr, args).action;
                assert!(
                    va.no_looser_than(vb),
                    "{a_src:?} ⊆ {b_src:?} claimed but {audit:#x} {nr} {args:x?}: {va} vs {vb}"
                );
            });
        }
        Subset::Counterexample(c) => {
            assert!(
                expected != Some(true),
                "{a_src:?} ⊆ {b_src:?} expected, got counterexample {c}"
            );
            // The counterexample is real.
            let va = pa.evaluate(&ctx, c.audit_arch, c.nr, c.args).action;
            let vb = pb.evaluate(&ctx, c.audit_arch, c.nr, c.args).action;
            assert_eq!((va, vb), (c.a, c.b), "{c}");
            assert!(!va.no_looser_than(vb), "{c}");
        }
    }
}

#[test]
fn subset_table() {
    assert!(PAIRS.len() >= 30);
    for &(a, b, ab, ba) in PAIRS {
        check_subset(a, b, ab);
        check_subset(b, a, ba);
    }
}

#[test]
fn crafted_pairs_diff_exactly() {
    for &(a, b, _, _) in PAIRS {
        check_diff(a, b);
    }
}

mod random {
    use super::*;
    use proptest::prelude::*;

    const RULES: &[&str] = &[
        "deny clone if flags & CLONE_NEWUSER",
        "allow clone if flags & 0x10000000 == 0",
        "kill clone if flags > 0x7fffffff",
        "deny ioctl if request == TIOCSTI",
        "errno ENOSYS ioctl if request & 0xff00 == 0x5400",
        "allow ioctl if request < 0x5410",
        "deny mprotect if prot & PROT_EXEC and len > 0x1000",
        "log mprotect if addr >= 0x80000000",
        "deny personality unless persona in {0, 8}",
        "trap socket if domain not in {AF_INET, AF_INET6}",
        "deny socket if domain == AF_VSOCK or type & 0x80000",
        "deny kcmp",
        "allow bpf",
        "deny read if arg0 > 2",
        "kill-thread write if arg2 == 0",
        "deny @mount",
        "allow mount if arg3 & 1",
    ];
    const HEADS: &[&str] = &[
        "default allow",
        "default kill",
        "default errno EPERM\nunknown allow",
        "default allow\narch x86_64 x86",
        "default log\nbadarch errno EPERM",
    ];

    fn arb_policy() -> impl Strategy<Value = String> {
        (
            0..HEADS.len(),
            proptest::collection::vec(0..RULES.len(), 0..5),
        )
            .prop_map(|(h, rs)| {
                let mut s = HEADS[h].to_string();
                for r in rs {
                    s.push('\n');
                    s.push_str(RULES[r]);
                }
                s
            })
    }

    #[test]
    fn every_template_parses() {
        for r in RULES {
            policy(&format!("default allow\narch x86_64 x86\n{r}"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Random policies built from overlapping conditions: the diff lists exactly the calls
        /// on which the evaluator's verdicts differ, and the subset verdict is right.
        #[test]
        fn random_pairs_are_exact(a in arb_policy(), b in arb_policy()) {
            check_diff(&a, &b);
            let (pa, pb) = (policy(&a), policy(&b));
            let sampled_violation = {
                let (sa, sb) = (subject(&pa), subject(&pb));
                let mut holds = true;
                let ctx = Context::default();
                samples(&sa, &sb, &mut |audit, nr, args| {
                    let va = pa.evaluate(&ctx, audit, nr, args).action;
                    let vb = pb.evaluate(&ctx, audit, nr, args).action;
                    holds &= va.no_looser_than(vb);
                });
                !holds
            };
            // A sampled violation means A ⊄ B; no sampled violation decides nothing, because
            // boundary samples per argument can miss a combination of conditions on two
            // arguments (regression: `deny mprotect if prot & PROT_EXEC and len > 0x1000`).
            check_subset_with(&a, &b, sampled_violation.then_some(false));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// A node policy extended by a pod's rules (the shape of every annotation, and the one
        /// where the pruned proof skips the default once a node rule holds): the subset verdict
        /// agrees with the evaluator.
        #[test]
        fn extended_policies_subset_is_exact(node in arb_policy(), pod in arb_policy()) {
            let head = ["default", "unknown", "arch", "badarch"];
            let rules: Vec<&str> = pod
                .lines()
                .filter(|l| !head.iter().any(|h| l.starts_with(h)))
                .collect();
            let extended = format!("{node}\n{}", rules.join("\n"));
            let (pe, pn) = (policy(&extended), policy(&node));
            let (se, sn) = (subject(&pe), subject(&pn));
            let ctx = Context::default();
            let mut holds = true;
            samples(&se, &sn, &mut |audit, nr, args| {
                let ve = pe.evaluate(&ctx, audit, nr, args).action;
                let vn = pn.evaluate(&ctx, audit, nr, args).action;
                holds &= ve.no_looser_than(vn);
            });
            check_subset_with(&extended, &node, (!holds).then_some(false));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// A policy against the compiled program of another, both ways: the subset answer is
        /// exact (decided on the program's paths, not sampled) and the same as between the two
        /// policies; a counterexample is a real call on the program.
        #[test]
        fn subset_against_a_compiled_program_is_exact(a in arb_policy(), b in arb_policy()) {
            let (pa, pb) = (policy(&a), policy(&b));
            let ctx = Context::default();
            let prog = moat_analyze::compile(&pb, &ctx).unwrap();
            let (sa, sb) = (subject(&pa), subject(&pb));
            let raw = Subject::Filters(moat_analyze::Filters::new(vec![prog], "b.bpf"));
            let holds = |s: &Subset| matches!(s, Subset::Holds { .. });
            for (x, y, xp, yp) in [(&sa, &raw, &sa, &sb), (&raw, &sa, &sb, &sa)] {
                let on_program = subset(x, y).unwrap();
                let on_policies = subset(xp, yp).unwrap();
                prop_assert_eq!(holds(&on_program), holds(&on_policies), "{:?} vs {:?}\nA:\n{}\nB:\n{}", on_program, on_policies, a, b);
                match on_program {
                    Subset::Holds { exact, .. } => prop_assert!(exact),
                    Subset::Counterexample(c) => {
                        let (va, vb) = (x.action(c.audit_arch, c.nr, &c.args), y.action(c.audit_arch, c.nr, &c.args));
                        prop_assert_eq!((va, vb), (c.a, c.b));
                        prop_assert!(!va.no_looser_than(vb));
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        /// Three random policies: every disagreement `agree` reports on "C is exactly
        /// A ∩ B" is real, and when it reports none the evaluator finds none either.
        #[test]
        fn random_triples_agree_exactly(a in arb_policy(), b in arb_policy(), c in arb_policy()) {
            check_agree_meet(&a, &b, &c);
        }
    }
}

/// Checks `agree` on three policies with the relation "C is exactly A ∩ B" against the
/// evaluator: a disagreement it reports is a real call where the relation breaks, and when it
/// reports none, no sampled call breaks it.
fn check_agree_meet(a: &str, b: &str, c: &str) {
    let (pa, pb, pc) = (policy(a), policy(b), policy(c));
    let (sa, sb, sc) = (subject(&pa), subject(&pb), subject(&pc));
    let ctx = Context::default();
    let meet_holds = |audit: u32, nr: u32, args: [u64; 6]| {
        let va = pa.evaluate(&ctx, audit, nr, args).action;
        let vb = pb.evaluate(&ctx, audit, nr, args).action;
        let vc = pc.evaluate(&ctx, audit, nr, args).action;
        vc == Action::meet(va, vb)
    };
    match agree(&[&sa, &sb, &sc], |v| v[2] == Action::meet(v[0], v[1])).unwrap() {
        Err(d) => assert!(
            !meet_holds(d.audit_arch, d.nr, d.args),
            "reported {d:?}, but the evaluator agrees\nA:\n{a}\nB:\n{b}\nC:\n{c}"
        ),
        Ok(_) => {
            let mut consts = sa.constants();
            consts.extend(sc.constants());
            let ab_c = subject(&policy(&format!("{a}\n{b}\n{c}")));
            let args = sample_args(&sample_values(&consts));
            let args_b = sample_args(&sample_values(&sb.constants()));
            for audit in sample_arches() {
                for nr in sample_numbers(audit) {
                    let list = if ab_c.reads_args(audit, nr) {
                        args.iter().chain(&args_b).copied().collect()
                    } else {
                        vec![[0; 6]]
                    };
                    for x in list {
                        assert!(
                            meet_holds(audit, nr, x),
                            "agree held, but {audit:#x} {nr} {x:?} breaks it\nA:\n{a}\nB:\n{b}\nC:\n{c}"
                        );
                    }
                }
            }
        }
    }
}

/// `agree` relates three policies exactly: the intersection written by hand holds; one that
/// is too tight (denies a call both allow, which two subset proofs cannot see) and one that
/// is too loose (one rule dropped) are caught with a call in the region that breaks it.
#[test]
fn agree_decides_an_exact_intersection() {
    let a = "default allow\ndeny socket if domain == AF_INET6\nerrno 0 setuid";
    let b = "default allow\ndeny mkdir\ndeny socket if domain == AF_VSOCK";
    let exact = "default allow\ndeny socket if domain == AF_INET6\ndeny setuid\ndeny mkdir\ndeny socket if domain == AF_VSOCK";
    let too_tight = "default allow\ndeny socket if domain in {AF_INET6, AF_INET}\ndeny setuid\ndeny mkdir\ndeny socket if domain == AF_VSOCK";
    let too_loose = "default allow\ndeny socket if domain == AF_INET6\ndeny setuid\ndeny mkdir";
    check_agree_meet(a, b, exact);
    let (sa, sb) = (subject(&policy(a)), subject(&policy(b)));
    let rel = |v: &[Action]| v[2] == Action::meet(v[0], v[1]);
    assert!(
        agree(&[&sa, &sb, &subject(&policy(exact))], rel)
            .unwrap()
            .is_ok()
    );
    let tight = agree(&[&sa, &sb, &subject(&policy(too_tight))], rel)
        .unwrap()
        .unwrap_err();
    assert_eq!(tight.syscall, Some("socket"));
    assert_eq!(tight.args[0], 2, "{tight:?}");
    assert_eq!(tight.verdicts[2], Action::DENY);
    // Both subset proofs hold for the too-tight one: only the exact relation sees it.
    let tight_s = subject(&policy(too_tight));
    assert!(matches!(
        subset(&tight_s, &sa).unwrap(),
        Subset::Holds { .. }
    ));
    assert!(matches!(
        subset(&tight_s, &sb).unwrap(),
        Subset::Holds { .. }
    ));
    let loose = agree(&[&sa, &sb, &subject(&policy(too_loose))], rel)
        .unwrap()
        .unwrap_err();
    assert_eq!((loose.syscall, loose.args[0]), (Some("socket"), 40));
    check_agree_meet(a, b, too_tight);
    check_agree_meet(a, b, too_loose);
}

#[test]
fn agree_refuses_raw_bpf() {
    let p = subject(&policy("default allow"));
    let f = Subject::filters(Vec::new(), "raw.bpf");
    let e = agree(&[&p, &f], |_| true).unwrap_err().to_string();
    assert!(e.contains("raw.bpf"), "{e}");
}

/// Regression for the cubic describe step: a 1,000-value `in {…}` set is compared exactly, the
/// difference reads `arg0 == v` per value (not the `!=` of every value before it), and the
/// region holds exactly the set's values (each value in, each neighbour between them out).
#[test]
fn large_in_sets_are_compared_exactly() {
    let values: Vec<u64> = (0..1000u64).map(|i| i * 3).collect();
    let list = values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let a = subject(&policy("default allow\n"));
    let b = subject(&policy(&format!(
        "default allow\ndeny read if arg0 in {{{list}}}\n"
    )));
    let d = diff(&a, &b).unwrap();
    let native: Vec<_> = d
        .differences
        .iter()
        .filter(|x| x.arch == Some(Arch::X86_64) && x.syscall == Some("read"))
        .collect();
    assert_eq!(native.len(), 1, "{:?}", d.differences);
    let r = native[0];
    assert!(r.region.iter().all(|cube| cube.len() == 1), "{:?}", r.when);
    for &v in &values {
        assert!(r.contains(&[v, 0, 0, 0, 0, 0]), "{v} missing");
        assert!(!r.contains(&[v + 1, 0, 0, 0, 0, 0]), "{} included", v + 1);
    }
    let sub = subset(&b, &a).unwrap();
    assert!(matches!(sub, Subset::Holds { exact: true, .. }), "{sub:?}");
}

/// Regression for the cubic split on long rule lists: 1,000 disjoint ranges and 1,000
/// two-argument conjunctions on one syscall are compared exactly, and every region is described
/// by the literals that matter (at most two per range, not the refutation of every rule before
/// it), so each region's description stays short.
#[test]
fn long_rule_lists_keep_regions_short() {
    let ranges: Vec<String> = (0..1000u64)
        .map(|i| {
            let a = 0x4000_0000 + i * 3;
            format!("kill ioctl if request >= {a} and request < {}", a + 2)
        })
        .collect();
    let pairs: Vec<String> = (0..1000u64)
        .map(|i| format!("deny fcntl if fd == {i} and cmd > {}", 0x8000 + i))
        .collect();
    let a = subject(&policy(&format!(
        "default allow\narch x86_64\n{}\n{}",
        ranges.join("\n"),
        pairs.join("\n")
    )));
    let b = subject(&policy("default allow\narch x86_64"));
    let d = diff(&a, &b).unwrap();
    let on = |name: &str| -> Vec<_> {
        d.differences
            .iter()
            .filter(|x| x.syscall == Some(name))
            .collect()
    };
    let ioctl = on("ioctl");
    assert_eq!(ioctl.len(), 1, "{ioctl:?}");
    assert_eq!(ioctl[0].region.len(), 1000, "one cube per range");
    assert!(
        ioctl[0].region.iter().all(|c| c.len() <= 2),
        "{:?}",
        ioctl[0].when
    );
    for i in [0u64, 1, 500, 999] {
        let a = 0x4000_0000 + i * 3;
        let at = |r: u64| [0, r, 0, 0, 0, 0];
        assert!(ioctl[0].contains(&at(a)) && ioctl[0].contains(&at(a + 1)));
        assert!(!ioctl[0].contains(&at(a + 2)) && !ioctl[0].contains(&at(a - 1)));
    }
    let fcntl = on("fcntl");
    assert_eq!(fcntl.len(), 1, "{fcntl:?}");
    assert_eq!(fcntl[0].region.len(), 1000, "one cube per fd");
    assert!(
        fcntl[0].region.iter().all(|c| c.len() <= 2),
        "{:?}",
        fcntl[0].when
    );
    assert!(fcntl[0].contains(&[7, 0x8008, 0, 0, 0, 0]));
    assert!(!fcntl[0].contains(&[7, 0x8007, 0, 0, 0, 0]));
    assert!(!fcntl[0].contains(&[1000, 0x9000, 0, 0, 0, 0]));
    assert!(matches!(
        subset(&a, &b).unwrap(),
        Subset::Holds { exact: true, .. }
    ));
}

/// Regression for the mixed 1,000-rule annotation that gave up at the region limit: rules of
/// five shapes, among them 200 different masks, on one syscall after `container`. Where the
/// node allows, no pod rule can be looser, so the proof does not split the pod's conditions
/// there. The pruning must not hide a real loosening: the same annotation with one rule that
/// allows `TIOCSTI` again (which `container` denies) yields that call as the counterexample.
#[test]
fn mixed_long_annotations_prove_and_still_find_the_loosening() {
    let rule = |i: u64| match i % 5 {
        0 => format!("deny ioctl if request == {}", 0x5400 + i),
        1 => format!(
            "errno EPERM ioctl if request & {:#x} == {:#x}",
            0xff00 ^ ((i << 4) & 0xffff),
            (i * 16) & 0xff00
        ),
        2 => format!("deny ioctl if fd == {i} and request > {}", 0x8000 + i),
        3 => format!("deny ioctl if request in {{{i}, {}, {}}}", i + 7, i + 1000),
        _ => {
            let a = 0x4000_0000 + i * 3;
            format!("kill ioctl if request >= {a} and request < {}", a + 2)
        }
    };
    let rules: Vec<String> = (0..1000).map(rule).collect();
    let container = Policy::builtin("container").unwrap().unwrap();
    let node = subject(&container);
    let pod = |extra: &str| {
        let p = Policy::compose(&[
            moat_policy::Source::Builtin("container".into()),
            moat_policy::Source::Annotation {
                key: "moat.dev/policy".into(),
                text: format!("{}\n{extra}", rules.join("\n")),
            },
        ])
        .unwrap();
        subject(&p)
    };
    let sub = subset(&pod(""), &node).unwrap();
    assert!(matches!(sub, Subset::Holds { exact: true, .. }), "{sub:?}");
    // TIOCSTI is 0x5412; the mask leaves it matched by a rule allowing a whole range.
    match subset(&pod("allow ioctl if request & 0xfff0 == 0x5410"), &node).unwrap() {
        Subset::Counterexample(c) => {
            assert_eq!(c.syscall, Some("ioctl"), "{c}");
            assert_eq!(c.args[1] & 0xffff_ffff, 0x5412, "{c}");
            assert_eq!((c.a, c.b), (Action::Allow, Action::DENY), "{c}");
        }
        other => panic!("loosening not found: {other:?}"),
    }
}
