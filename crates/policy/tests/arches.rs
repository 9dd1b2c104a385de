//! `Policy::with_arches`: the same policy on other ABIs, without parsing it again.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use moat_policy::Policy;
use moat_policy::testing::policy;
use moat_syscalls::Arch;
use proptest::prelude::*;

/// What parsing the text with `arch ARCHES` appended gives: the definition `with_arches` keeps.
fn reparsed(p: &Policy, arches: &[Arch]) -> Result<Policy, moat_policy::ParseError> {
    let mut names: Vec<String> = Vec::new();
    for a in arches.iter().map(ToString::to_string) {
        if !names.contains(&a) {
            names.push(a);
        }
    }
    let mut source = p.source().to_string();
    if !source.is_empty() && !source.ends_with('\n') {
        source.push('\n');
    }
    Policy::parse(&(source + "arch " + &names.join(" ") + "\n"), p.origin())
}

fn same_meaning(a: &Policy, b: &Policy) {
    assert_eq!(a.arches(), b.arches());
    assert_eq!(a.rules(), b.rules());
    assert_eq!(a.default_action().action, b.default_action().action);
    assert_eq!(a.unknown_action().action, b.unknown_action().action);
    assert_eq!(a.badarch_action().action, b.badarch_action().action);
    assert_eq!(a.kernel(), b.kernel());
}

#[test]
fn with_arches_replaces_the_arch_statement_in_the_canonical_text() {
    let p = Policy::parse(
        "use container\narch x86_64  # native only\nallow bpf\n",
        "app.moat",
    )
    .unwrap();
    let q = p
        .with_arches(&[Arch::X86, Arch::X86_64, Arch::X86])
        .unwrap();
    assert_eq!(q.arches(), [Arch::X86, Arch::X86_64]);
    assert_eq!(q.to_string(), "use container\nallow bpf\narch x86 x86_64\n");
    assert_eq!(
        q.source(),
        "use container\narch x86_64  # native only\nallow bpf\narch x86 x86_64\n"
    );
    // The new statement's position is its line in the new source.
    let arch_item = q.items().last().unwrap();
    assert_eq!((arch_item.span.line, arch_item.span.col), (4, 1));
    // The canonical text and the new source parse to the same policy.
    assert_eq!(Policy::parse(&q.to_string(), "app.moat").unwrap(), q);
    same_meaning(&Policy::parse(q.source(), "app.moat").unwrap(), &q);
    // The original is unchanged.
    assert_eq!(p.arches(), [Arch::X86_64]);
}

#[test]
fn with_arches_overrides_an_arch_statement_from_a_used_file() {
    let dir = std::env::temp_dir().join(format!("moat-arches-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("base.moat"), "arch aarch64\ndefault allow\n").unwrap();
    let top = dir.join("top.moat");
    std::fs::write(&top, "use \"base.moat\"\ndeny ptrace\n").unwrap();
    let p = Policy::load(&top).unwrap();
    assert_eq!(p.arches(), [Arch::Aarch64]);
    let q = p.with_arches(&[Arch::X86_64]).unwrap();
    assert_eq!(q.arches(), [Arch::X86_64]);
    let again = Policy::parse(&q.to_string(), &top.display().to_string()).unwrap();
    assert_eq!(again.arches(), [Arch::X86_64]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_arches_checks_conditions_on_the_new_abis() {
    // x86's mmap is old_mmap, one pointer argument: arg3 does not exist there.
    let p = Policy::parse("arch x86_64\nallow mmap if arg3 == 0\n", "m.moat").unwrap();
    let err = p.with_arches(&[Arch::X86_64, Arch::X86]).unwrap_err();
    let want = reparsed(&p, &[Arch::X86_64, Arch::X86]).unwrap_err();
    assert_eq!(err.to_string(), want.to_string());
    assert!(err.to_string().starts_with("m.moat:2:"), "{err}");
    assert!(p.with_arches(&[Arch::Aarch64]).is_ok());
}

#[test]
fn with_arches_rejects_an_empty_set() {
    let p = Policy::parse("default allow\n", "e.moat").unwrap();
    let err = p.with_arches(&[]).unwrap_err();
    assert!(err.to_string().starts_with("e.moat:2:1:"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn with_arches_means_what_appending_an_arch_statement_means(
        text in policy(),
        arches in prop::collection::vec(prop::sample::select(&Arch::ALL[..]), 1..5),
    ) {
        let p = Policy::parse(&text, "random.moat").unwrap();
        match (p.with_arches(&arches), reparsed(&p, &arches)) {
            (Ok(q), Ok(r)) => {
                same_meaning(&q, &r);
                prop_assert_eq!(q.source(), r.source());
                prop_assert_eq!(Policy::parse(&q.to_string(), "random.moat").unwrap(), q);
            }
            (Err(e), Err(f)) => prop_assert_eq!(e.to_string(), f.to_string()),
            (q, r) => prop_assert!(false, "with_arches {:?} but parsing {:?}\n{}", q.err(), r.err(), text),
        }
    }
}
