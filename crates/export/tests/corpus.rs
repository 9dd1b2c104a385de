//! Every profile of the shared corpus (`../shared/corpus/profiles/`), imported by moat and
//! compiled by moat, against the filter runc + libseccomp 2.5.4 build from the same file
//! (moat-oracle's `docker_profile` and `compile_runc`), both run in moat-bpf's emulator on every
//! syscall number of x86_64, x32 and x86 with boundary and junk-high-word arguments, for Docker's
//! default capabilities on kernel 6.1 and for Docker's default plus CAP_SYS_ADMIN on kernel 4.14.
//! An SPO file is read one `SeccompProfile` at a time (`FILE#name`); its `spec` is the
//! Docker-shaped profile runc receives.
//!
//! Every difference falls into a named class, counted per file ([`Class`]); any other difference
//! fails the test with the call, both return values and the file. A file both refuse is said so
//! with both reasons; a file only one side refuses fails.
//!
//! The round trip: import → export (docker, oci, spo) → import is `moat_analyze::diff`-equal to
//! the first import for both contexts, or the export printed a loss line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use moat_analyze::{Filters, Subject, diff};
use moat_bpf::Program;
use moat_export::{Format, Loaded, Options, export, load, load_bytes};
use moat_policy::{CapSet, Cond, Context, Lowered};
use moat_syscalls::{Arch, KernelVersion, Width, signature};

/// The host the corpus is read for: runc on x86-64, moby's `archMap` entry for it.
const HOST: Arch = Arch::X86_64;
const CAP_SYS_ADMIN: u8 = 21;
const ENOSYS: u16 = 38;

/// A named class of difference between moat and runc + libseccomp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// libseccomp 2.5.4's syscall table is older: it cannot resolve the number under the name
    /// moat's table gives it on that ABI, so runc's filter has no rule for it (runc skips names
    /// libseccomp cannot resolve, `Compiled::skipped`/`unresolved`), while moat applies the
    /// profile's rule.
    Table,
    /// moat compares a parameter of 32 bits or fewer (`moat_syscalls::signature`) on its low 32
    /// bits, as the kernel reads it; libseccomp compares all 64 bits on a 64-bit ABI. Only on
    /// inputs with junk in the high word of such a parameter; with it cleared they agree.
    Narrow,
    /// runc's `-ENOSYS` stub (`patchbpf`): numbers above the profile's largest syscall on an ABI
    /// get `ENOSYS` from runc when the default action is not allow, log or trace; moat gives
    /// them libseccomp's own verdict, the default action (`unknown` in the imported text).
    Stub,
    /// Numbers from 0x8000_0000 up on `AUDIT_ARCH_X86_64` that no ABI has: the kernel answers
    /// them `ENOSYS` without running anything (`do_syscall_64`: neither `do_syscall_x64` nor
    /// `do_syscall_x32` takes them; −1 is left alone for tracers). The filters split them
    /// differently: libseccomp's x86_64 section treats every number from 0x4000_0000 up as
    /// x32's (`JGE X32_SYSCALL_BIT` in `_gen_bpf_arch`, gen_bpf.c: the bad-architecture action
    /// when x32 is not in the filter, −1 excepted), runc's stub compares them with its limits
    /// (`ENOSYS`), and moat tells x32 from x86_64 by bit 30 as the kernel does, so 0x8000_0000
    /// and 0xbfff_ffff get x86_64's action for unknown numbers and −1 gets x32's (the
    /// bad-architecture action when x32 is not accepted).
    NoSuchNumber,
    /// Only for an export with a loss line: runc enforces something no looser than moat's
    /// verdict (the export refuses more, never less, and says so).
    Loss,
}

impl Class {
    const ALL: [Class; 4] = [
        Class::Table,
        Class::Narrow,
        Class::Stub,
        Class::NoSuchNumber,
    ];

    fn name(self) -> &'static str {
        match self {
            Class::Table => "libseccomp-table",
            Class::Narrow => "narrow-param",
            Class::Stub => "runc-enosys-stub",
            Class::NoSuchNumber => "no-such-number",
            Class::Loss => "export-loss",
        }
    }
}

/// One profile: a file, or one SeccompProfile of an SPO file.
struct Case {
    /// `NAME` or `NAME#profile`.
    label: String,
    /// What moat reads (`load` spec).
    spec: String,
    /// The Docker-shaped JSON runc gets.
    json: String,
}

fn corpus() -> Vec<Case> {
    let dir = moat_testkit::shared("corpus/profiles").expect("the corpus");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = moat_testkit::shared(&format!("corpus/profiles/{name}")).unwrap();
        let spec = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs: Vec<serde_json::Value> = if name.ends_with(".yaml") {
            moat_export::spo::documents(&text, &spec).unwrap()
        } else {
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) if v.get("kind").and_then(|k| k.as_str()) == Some("SeccompProfile") => {
                    vec![v]
                }
                _ => Vec::new(),
            }
        };
        if docs.is_empty() {
            out.push(Case {
                label: name,
                spec,
                json: text,
            });
            continue;
        }
        for d in &docs {
            assert_eq!(d["kind"], "SeccompProfile", "{name}");
            let profile = d["metadata"]["name"].as_str().unwrap();
            out.push(Case {
                label: format!("{name}#{profile}"),
                spec: format!("{spec}#{profile}"),
                json: serde_json::to_string(&d["spec"]).unwrap(),
            });
        }
    }
    assert!(out.len() >= 26, "{} profiles", out.len());
    out
}

/// A capability set and kernel: the oracle's spelling and moat's.
struct Setting {
    label: &'static str,
    caps: Vec<&'static str>,
    kernel: (u32, u32),
}

impl Setting {
    fn all() -> Vec<Setting> {
        let mut admin: Vec<&'static str> = moat_oracle::DOCKER_DEFAULT_CAPS.to_vec();
        admin.push("CAP_SYS_ADMIN");
        vec![
            Setting {
                label: "docker-caps/6.1",
                caps: moat_oracle::DOCKER_DEFAULT_CAPS.to_vec(),
                kernel: (6, 1),
            },
            Setting {
                label: "docker+sys_admin/4.14",
                caps: admin,
                kernel: (4, 14),
            },
            Setting {
                label: "no-caps/5.4",
                caps: Vec::new(),
                kernel: (5, 4),
            },
        ]
    }

    fn ctx(&self) -> Context {
        let mut caps = if self.caps.is_empty() {
            CapSet::EMPTY
        } else {
            CapSet::docker_default()
        };
        if self.caps.contains(&"CAP_SYS_ADMIN") {
            caps.insert(CAP_SYS_ADMIN);
        }
        Context {
            caps: Some(caps),
            kernel: Some(KernelVersion::new(
                u16::try_from(self.kernel.0).unwrap(),
                u16::try_from(self.kernel.1).unwrap(),
            )),
        }
    }
}

fn oracle_arch(a: Arch) -> moat_oracle::Arch {
    a.name().parse().unwrap()
}

/// Argument constants both sides compare with: the oracle's rules and moat's lowering.
fn constants(f: &moat_oracle::Filter, lowered: &Lowered) -> (BTreeSet<u64>, BTreeSet<u8>) {
    fn walk(c: &Cond, out: &mut BTreeSet<u64>, idx: &mut BTreeSet<u8>) {
        match c {
            Cond::Cmp(x) => {
                out.insert(x.value);
                out.insert(x.value & x.mask);
                idx.insert(x.arg);
            }
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| walk(c, out, idx)),
            Cond::Not(x) => walk(x, out, idx),
            Cond::True | Cond::False => {}
        }
    }
    let mut out = BTreeSet::new();
    let mut idx = BTreeSet::new();
    for r in &f.rules {
        for a in &r.args {
            idx.insert(a.index);
            out.insert(a.value);
            if let moat_oracle::Op::MaskedEq { mask } = a.op {
                out.insert(mask);
                out.insert(a.value & mask);
            }
        }
    }
    for abi in &lowered.abis {
        for rules in abi.syscalls.values() {
            for r in rules {
                walk(&r.cond, &mut out, &mut idx);
            }
        }
    }
    (out, idx)
}

/// Boundary values around every constant (within 32 bits), and junk-high-word variants of them.
fn values(constants: &BTreeSet<u64>) -> Vec<u64> {
    let mut v = BTreeSet::from([0u64, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, u64::MAX]);
    for &c in constants {
        for w in [c, c.wrapping_sub(1), c.wrapping_add(1)] {
            let lo = w & 0xffff_ffff;
            v.extend([
                w,
                lo,
                lo | 0x1_0000_0000,
                lo | 0xffff_ffff_0000_0000,
                lo << 32,
            ]);
        }
    }
    v.into_iter().collect()
}

/// Argument vectors: all zero, then each compared argument over `values` with the others 0, then
/// every compared argument at once at each value.
fn arg_vectors(values: &[u64], indexes: &BTreeSet<u8>, low32: bool) -> Vec<[u64; 6]> {
    let mut out = BTreeSet::from([[0u64; 6]]);
    for &i in indexes {
        for &v in values {
            let mut a = [0u64; 6];
            a[usize::from(i)] = if low32 { v & 0xffff_ffff } else { v };
            out.insert(a);
        }
    }
    for &v in values {
        let mut a = [0u64; 6];
        for &i in indexes {
            a[usize::from(i)] = if low32 { v & 0xffff_ffff } else { v };
        }
        out.insert(a);
    }
    out.into_iter().collect()
}

/// Argument vectors that satisfy each of the oracle's rules with several conditions (the
/// one-argument-at-a-time vectors never meet an `and`), and each such vector with one argument
/// moved off by one or given a junk high word.
fn rule_vectors(f: &moat_oracle::Filter, low32: bool) -> Vec<[u64; 6]> {
    let mut out = BTreeSet::new();
    for r in f.rules.iter().filter(|r| r.args.len() > 1) {
        let mut a = [0u64; 6];
        for c in &r.args {
            a[usize::from(c.index)] = match c.op {
                moat_oracle::Op::MaskedEq { mask } => c.value & mask,
                _ => c.value,
            };
        }
        out.insert(a);
        for c in &r.args {
            let i = usize::from(c.index);
            for v in [
                a[i].wrapping_add(1),
                a[i].wrapping_sub(1),
                a[i] | 0x1_0000_0000,
            ] {
                let mut b = a;
                b[i] = v;
                out.insert(b);
            }
        }
    }
    out.into_iter()
        .map(|a| if low32 { a.map(|v| v & 0xffff_ffff) } else { a })
        .collect()
}

/// The three programs of one case and setting.
struct Programs {
    /// What runc installs: its stub, then libseccomp's program.
    runc: Filters,
    /// libseccomp's program alone.
    libseccomp: Filters,
    /// moat's.
    moat: Filters,
    /// The profile's default action as runc applies it.
    default: u32,
}

#[derive(Default)]
struct Tally {
    compared: usize,
    classes: BTreeMap<Class, usize>,
    unexplained: usize,
    failures: Vec<String>,
}

/// The numbers compared on `audit`: every number of its tables and beyond (x32 too on x86_64).
fn numbers(audit: u32) -> Vec<u32> {
    moat_analyze::filters::sample_numbers(audit)
}

fn classify(
    p: &Programs,
    audit: u32,
    nr: u32,
    args: &[u64; 6],
    runc: u32,
    lib: u32,
    moat: u32,
) -> Option<Class> {
    let arch = Arch::of(audit, nr)?;
    let name = arch.by_nr(nr).map(|s| s.name);
    let stub = runc != lib && runc == moat_policy::Action::Errno(ENOSYS).to_ret();
    if audit == Arch::X86_64.audit_arch() && nr >= 0x8000_0000 && name.is_none() {
        return Some(Class::NoSuchNumber);
    }
    if stub && moat == lib {
        return Some(Class::Stub);
    }
    if let Some(name) = name
        && moat_oracle::resolve(oracle_arch(arch), name) != Some(nr)
        && moat_oracle::name_of(oracle_arch(arch), nr).as_deref() != Some(name)
        && (stub || runc == p.default)
    {
        return Some(Class::Table);
    }
    // Junk in the high word of a parameter the kernel reads on 32 bits.
    if audit == Arch::X86_64.audit_arch()
        && let Some(params) = name.and_then(|n| signature(arch, n))
    {
        let mut cleared = *args;
        let mut junk = false;
        for prm in params.iter().filter(|p| p.width == Width::U32) {
            let a = &mut cleared[usize::from(prm.index)];
            if *a >> 32 != 0 {
                junk = true;
                *a &= 0xffff_ffff;
            }
        }
        if junk
            && p.moat.ret(audit, nr, &cleared) == moat
            && p.runc.ret(audit, nr, &cleared) == moat
        {
            return Some(Class::Narrow);
        }
    }
    None
}

fn compare(
    case: &Case,
    p: &Programs,
    f: &moat_oracle::Filter,
    consts: &BTreeSet<u64>,
    idx: &BTreeSet<u8>,
    lossy: bool,
) -> Tally {
    let mut t = Tally::default();
    let vals = values(consts);
    for audit in [Arch::X86_64.audit_arch(), Arch::X86.audit_arch()] {
        let low32 = audit == Arch::X86.audit_arch();
        let mut sampled = arg_vectors(&vals, idx, low32);
        sampled.extend(rule_vectors(f, low32));
        for nr in numbers(audit) {
            let reads = p.runc.reads_args(audit, nr) || p.moat.reads_args(audit, nr);
            let zero = [[0u64; 6]];
            let vectors: &[[u64; 6]] = if reads { &sampled } else { &zero };
            for args in vectors {
                let runc = p.runc.ret(audit, nr, args);
                let moat = p.moat.ret(audit, nr, args);
                t.compared += 1;
                if runc == moat {
                    continue;
                }
                let lib = p.libseccomp.ret(audit, nr, args);
                let class = classify(p, audit, nr, args, runc, lib, moat).or_else(|| {
                    (lossy
                        && moat_policy::Action::from_ret(runc)
                            .no_looser_than(moat_policy::Action::from_ret(moat)))
                    .then_some(Class::Loss)
                });
                match class {
                    Some(c) => *t.classes.entry(c).or_default() += 1,
                    None => {
                        t.unexplained += 1;
                        if t.failures.len() < 20 {
                            let arch = Arch::of(audit, nr).map_or("?", |a| a.name());
                            let name = Arch::of(audit, nr)
                                .and_then(|a| a.by_nr(nr))
                                .map_or("?", |s| s.name);
                            t.failures.push(format!(
                                "{}: {arch} {name} (nr {nr:#x}) args {args:x?}: runc {runc:#x} (libseccomp alone {lib:#x}), moat {moat:#x}",
                                case.label
                            ));
                        }
                    }
                }
            }
        }
    }
    t
}

fn moat_import(case: &Case) -> Result<Loaded, String> {
    let opts = Options {
        host: Some(HOST),
        ..Options::default()
    };
    load(&case.spec, &opts).map_err(|e| e.to_string())
}

/// runc's programs for the case, or why runc refuses the file.
fn runc_programs(
    case: &Case,
    s: &Setting,
) -> Result<(Filters, Filters, moat_oracle::Filter), String> {
    let f = moat_oracle::docker_profile(&case.json, oracle_arch(HOST), &s.caps, Some(s.kernel))
        .map_err(|e| format!("{e:#}"))?;
    filter_programs(case, f)
}

/// runc's program and libseccomp's alone for a filter runc built.
fn filter_programs(
    case: &Case,
    f: moat_oracle::Filter,
) -> Result<(Filters, Filters, moat_oracle::Filter), String> {
    let runc = moat_oracle::compile_runc(&f).map_err(|e| format!("{e:#}"))?;
    let lib = moat_oracle::compile(&f).map_err(|e| format!("{e:#}"))?;
    let prog = |b: &[u8]| Filters::new(vec![Program::from_bytes(b).unwrap()], &case.label);
    Ok((prog(&runc.bytes), prog(&lib.bytes), f))
}

#[test]
fn the_corpus_means_in_moat_what_runc_makes_of_it() {
    let settings = Setting::all();
    let mut report = String::new();
    let mut failures = Vec::new();
    let mut refused_both = 0usize;
    let mut total = 0usize;
    let mut class_totals: BTreeMap<Class, usize> = BTreeMap::new();
    writeln!(
        report,
        "{:<62} {:<22} {:>8} {:>17} {:>13} {:>17} {:>15} {:>11}",
        "file",
        "setting",
        "calls",
        Class::Table.name(),
        Class::Narrow.name(),
        Class::Stub.name(),
        Class::NoSuchNumber.name(),
        "unexplained"
    )
    .unwrap();
    for case in corpus() {
        let loaded = moat_import(&case);
        for s in &settings {
            let runc = runc_programs(&case, s);
            let (runc_p, lib_p, f, loaded) = match (runc, &loaded) {
                (Err(r), Err(m)) => {
                    writeln!(
                        report,
                        "{:<62} {:<22} refused by both: runc: {r}; moat: {m}",
                        case.label, s.label
                    )
                    .unwrap();
                    refused_both += 1;
                    continue;
                }
                (Err(r), Ok(_)) => {
                    failures.push(format!(
                        "{}: runc refuses ({r}), moat imports it",
                        case.label
                    ));
                    continue;
                }
                (Ok(_), Err(m)) => {
                    failures.push(format!("{}: moat refuses ({m}), runc loads it", case.label));
                    continue;
                }
                (Ok((a, b, f)), Ok(l)) => (a, b, f, l),
            };
            let ctx = s.ctx();
            let compiled = moat_compile::compile(
                &loaded.policy,
                &moat_compile::Options { ctx, weights: None },
            )
            .unwrap_or_else(|e| panic!("{}: moat cannot compile its import: {e}", case.label));
            let programs = Programs {
                runc: runc_p,
                libseccomp: lib_p,
                moat: Filters::new(vec![compiled.program], &case.label),
                default: f.default.to_ret(),
            };
            let (consts, idx) = constants(&f, &compiled.lowered);
            let t = compare(&case, &programs, &f, &consts, &idx, false);
            let n = |c| t.classes.get(&c).copied().unwrap_or(0);
            writeln!(
                report,
                "{:<62} {:<22} {:>8} {:>17} {:>13} {:>17} {:>15} {:>11}",
                case.label,
                s.label,
                t.compared,
                n(Class::Table),
                n(Class::Narrow),
                n(Class::Stub),
                n(Class::NoSuchNumber),
                t.unexplained
            )
            .unwrap();
            total += t.compared;
            for c in Class::ALL {
                *class_totals.entry(c).or_default() += n(c);
            }
            failures.extend(t.failures);
        }
    }
    writeln!(
        report,
        "total: {total} calls compared; {} files×settings refused by both; {}",
        refused_both,
        Class::ALL
            .iter()
            .map(|c| format!("{} {}", c.name(), class_totals.get(c).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    println!("{report}");
    assert!(
        failures.is_empty(),
        "{} unexplained differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 100_000, "{total}");
}

#[test]
fn the_corpus_round_trips_through_docker_oci_and_spo() {
    let settings = Setting::all();
    let mut failures = Vec::new();
    let mut checked = 0usize;
    let (mut equal, mut with_loss) = (0usize, 0usize);
    for case in corpus() {
        let Ok(first) = moat_import(&case) else {
            continue;
        };
        for format in [Format::Docker, Format::Oci, Format::Spo] {
            // OCI and SPO have no capability or kernel guards: the export resolves them for
            // the setting, so each setting gets its own export.
            for s in &settings {
                let ctx = s.ctx();
                let out = export(&first, format, &ctx, "corpus")
                    .unwrap_or_else(|e| panic!("{}: export {format:?}: {e}", case.label));
                for l in &out.losses {
                    println!("{} → {format:?} ({}): loss: {}", case.label, s.label, l.0);
                }
                let origin = format!("{}.{format:?}", case.label);
                let second = load_bytes(&out.data, &origin, &Options::default())
                    .unwrap_or_else(|e| panic!("{}: re-import of {format:?}: {e}", case.label));
                let a = Subject::policy(first.policy.clone(), &ctx).unwrap();
                let b = Subject::policy(second.policy.clone(), &ctx).unwrap();
                let d = diff(&a, &b).unwrap();
                checked += 1;
                let same = d.differences.is_empty() && d.only.is_empty();
                if same {
                    equal += 1;
                } else if !out.losses.is_empty() {
                    with_loss += 1;
                } else {
                    failures.push(format!(
                        "{} → {format:?} → import differs for {} without a loss line: {} differences, first {:?}, ABIs on one side only {:?}",
                        case.label,
                        s.label,
                        d.differences.len(),
                        d.differences.first(),
                        d.only
                    ));
                }
            }
        }
    }
    println!(
        "round trips: {checked} (file, format, setting) triples; {equal} diff-equal, {with_loss} different with a loss line"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 100, "{checked}");
}

/// `repro-x86-dropped.json`: without CAP_AUDIT_WRITE, x86 cannot express the conditional
/// `socket` rules (libseccomp applies them to `socketcall` without conditions), so the Docker
/// export leaves x86 out for every container; that is a loss line even when the export's own
/// context holds the capability.
#[test]
fn an_abi_left_out_in_another_capability_context_is_a_loss_line() {
    let case = corpus()
        .into_iter()
        .find(|c| c.label == "repro-x86-dropped.json")
        .unwrap();
    let l = moat_import(&case).unwrap();
    let ctx = Setting::all()[0].ctx();
    let out = export(&l, Format::Docker, &ctx, "repro").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.data).unwrap();
    assert_eq!(
        json["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64"])
    );
    assert!(
        out.losses.iter().any(|l| l
            .0
            .starts_with("x86: libseccomp applies the rules on socket to socketcall(1)")),
        "{:?}",
        out.losses
    );
}

/// The `docker` and `oci` exports of every imported corpus profile, loaded the way runc loads them
/// (through moby's rules for `docker`), give runc + libseccomp's verdicts equal to moat's
/// compiled first import, except in the named classes; where an export printed a loss line,
/// runc may also be stricter than moat (`export-loss`), never looser. `narrow-param` cannot
/// occur: the export compares 32-bit parameters with a `0xffffffff` mask.
#[test]
fn exported_json_under_runc_means_what_moat_compiles() {
    let mut failures = Vec::new();
    let mut total = 0usize;
    let mut lossy = 0usize;
    let mut classes: BTreeMap<Class, usize> = BTreeMap::new();
    for case in corpus() {
        let Ok(first) = moat_import(&case) else {
            continue;
        };
        for s in &Setting::all() {
            let ctx = s.ctx();
            let compiled =
                moat_compile::compile(&first.policy, &moat_compile::Options { ctx, weights: None })
                    .unwrap();
            for format in [Format::Docker, Format::Oci] {
                let out = export(&first, format, &ctx, "corpus").unwrap();
                let lossy_export = !out.losses.is_empty();
                lossy += usize::from(lossy_export);
                let json = out.text();
                let f = match format {
                    Format::Docker => moat_oracle::docker_profile(
                        &json,
                        oracle_arch(HOST),
                        &s.caps,
                        Some(s.kernel),
                    ),
                    _ => moat_oracle::oci_profile(&json),
                }
                .unwrap_or_else(|e| panic!("{} → {format:?}: runc refuses it: {e:#}", case.label));
                let label = format!("{} → {format:?} ({})", case.label, s.label);
                let exported = Case {
                    label: label.clone(),
                    spec: String::new(),
                    json,
                };
                let (runc, lib, f) = filter_programs(&exported, f)
                    .unwrap_or_else(|e| panic!("{label}: libseccomp refuses it: {e}"));
                let programs = Programs {
                    runc,
                    libseccomp: lib,
                    moat: Filters::new(vec![compiled.program.clone()], &label),
                    default: f.default.to_ret(),
                };
                let (consts, idx) = constants(&f, &compiled.lowered);
                let t = compare(&exported, &programs, &f, &consts, &idx, lossy_export);
                total += t.compared;
                for (c, n) in &t.classes {
                    *classes.entry(*c).or_default() += n;
                }
                if t.classes.contains_key(&Class::Narrow) {
                    failures.push(format!("{label}: a 32-bit parameter compared on 64 bits"));
                }
                failures.extend(t.failures);
            }
        }
    }
    println!(
        "exports under runc: {total} calls compared; {lossy} exports with a loss line; {}",
        classes
            .iter()
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} unexplained differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 100_000, "{total}");
}
