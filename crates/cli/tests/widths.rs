//! Every parameter of at most 32 bits of every syscall, on x86_64, x32 and i386, against the
//! kernel: a policy `errno E NAME if PARAM == V` (one rule per parameter, `errno 200 NAME` for
//! everything else of NAME) is compiled by `moat compile`, and a C helper installs it in a forked
//! child and calls NAME with PARAM = V and junk in the bits the kernel ignores (the high 32 bits
//! of a 64-bit register; bits 16..63 of a 16-bit `umode_t` or old uid, bits 16..31 of i386's
//! 16-bit `setuid` and `chown` uids and modes). The call must get E: the
//! filter compares what the kernel reads. A control call per syscall with no parameter at its V
//! must get 200. Under the filter no call runs: every number either gets an errno from the
//! filter under test or ERRNO 3333 from a safety filter installed below it.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use moat::policy::Policy;
use moat::syscalls::{Arch, Width, signature, twins};

/// The errno of every call no parameter rule matches.
const OTHER: u32 = 200;
/// Parameter `i`'s rule answers `FIRST + i`.
const FIRST: u32 = 101;
/// Junk the kernel ignores: the high word of a 32-bit parameter.
const JUNK_HIGH: u64 = 0xdead_beef_0000_0000;
/// Junk in bits 16..=63 of a 16-bit parameter.
const JUNK_16: u64 = 0xdead_beef_5a5a_0000;
/// A 64-bit parameter's value: never compared.
const WIDE: u64 = 0x4141_4141_4141_4141;

fn tmp() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moat-widths");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One call and the errno the filter must answer.
struct Case {
    syscall: &'static str,
    param: String,
    args: [u64; 6],
    want: u32,
}

/// The policy and the calls for one ABI; also how many rules use the parameter's name.
struct Plan {
    policy: String,
    cases: Vec<Case>,
    named: usize,
    positional: usize,
    syscalls: usize,
}

/// Whether a one-rule policy on `arch` accepts `cond` for `syscall`.
fn accepted(arch: Arch, syscall: &str, cond: &str) -> bool {
    let text = format!("arch {arch}\ndefault allow\nerrno 101 {syscall} if {cond}\n");
    Policy::parse(&text, "probe.moat").is_ok()
}

/// The syscalls of one filter: the kernel accepts at most 4096 instructions, and i386's rules
/// for all its parameters take more.
const BATCH: usize = 160;

fn plan(arch: Arch, syscalls: &[moat::syscalls::Syscall]) -> Plan {
    let mut rules = String::new();
    let mut catch_all = Vec::new();
    let mut cases = Vec::new();
    let (mut named, mut positional, mut covered) = (0, 0, 0);
    // Distinct values: low 16 bits 0x3000 + k (no socketcall or ipc sub-call number, 1..=24),
    // distinct in their low 16 bits too.
    let mut k: u64 = 0;
    for sc in syscalls {
        let Some(sig) = signature(arch, sc.name) else {
            continue;
        };
        let narrow: Vec<_> = sig.iter().filter(|p| p.width == Width::U32).collect();
        if narrow.is_empty() {
            continue;
        }
        // Values of the narrow parameters, by index.
        let mut value = [0u64; 6];
        for p in &narrow {
            k += 1;
            value[usize::from(p.index)] = if p.bits == 16 {
                0x3000 + k
            } else {
                0x1000_3000 + k * 0x1_0001
            };
        }
        let base: [u64; 6] = std::array::from_fn(|i| match sig.get(i) {
            Some(p) if p.width == Width::U64 => WIDE,
            _ => 0,
        });
        let mut tested = 0;
        for p in &narrow {
            let i = usize::from(p.index);
            // The name when every syscall the rule covers (its twins too) takes it, else argN.
            let by_name = format!("{} == {:#x}", p.name, value[i]);
            let by_index = format!("arg{i} == {:#x}", value[i]);
            let cond = if accepted(arch, sc.name, &by_name) {
                named += 1;
                by_name
            } else if accepted(arch, sc.name, &by_index) {
                assert!(
                    !twins(sc.name).is_empty() || arch.is_compat32(),
                    "{arch} {}: `{by_name}` refused",
                    sc.name
                );
                positional += 1;
                by_index
            } else {
                continue;
            };
            let errno = FIRST + u32::from(p.index);
            writeln!(rules, "errno {errno} {} if {cond}", sc.name).unwrap();
            let mut args = base;
            // i386 registers are 32-bit: only a 16-bit parameter has bits the kernel ignores.
            let junk = match (arch.is_compat32(), p.bits) {
                (true, 16) => JUNK_16 & 0xffff_ffff,
                (true, _) => 0,
                (false, 16) => JUNK_16,
                (false, _) => JUNK_HIGH,
            };
            args[i] = value[i] | junk;
            cases.push(Case {
                syscall: sc.name,
                param: p.name.to_string(),
                args,
                want: errno,
            });
            tested += 1;
        }
        assert!(
            tested > 0,
            "{arch} {}: no parameter could be tested",
            sc.name
        );
        covered += 1;
        catch_all.push(sc.name);
        // Control: no parameter at its value (the narrow ones 0, with junk above their width).
        let mut args = base;
        for p in &narrow {
            args[usize::from(p.index)] = match (arch.is_compat32(), p.bits) {
                (true, 16) => JUNK_16 & 0xffff_ffff,
                (true, _) => 0,
                (false, 16) => JUNK_16,
                (false, _) => JUNK_HIGH,
            };
        }
        cases.push(Case {
            syscall: sc.name,
            param: "(none)".into(),
            args,
            want: OTHER,
        });
    }
    let mut policy = format!("arch {arch}\ndefault allow\n");
    for chunk in catch_all.chunks(16) {
        writeln!(policy, "errno {OTHER} {}", chunk.join(" ")).unwrap();
    }
    policy.push_str(&rules);
    // The helper ends by calling getpid.
    policy.push_str("kill getpid\n");
    Plan {
        policy,
        cases,
        named,
        positional,
        syscalls: covered,
    }
}

fn build_helper(out: &Path, extra: &[&str]) -> Result<(), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/widths.c");
    let o = Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(out)
        .arg(&src)
        .args(extra)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn run(arch: Arch, helper: &Path) {
    let (mut syscalls, mut calls, mut named, mut positional) = (0, 0, 0, 0);
    for (batch, chunk) in arch.syscalls().chunks(BATCH).enumerate() {
        let plan = plan(arch, chunk);
        run_batch(arch, batch, &plan, helper);
        syscalls += plan.syscalls;
        calls += plan.cases.len();
        named += plan.named;
        positional += plan.positional;
    }
    eprintln!(
        "{arch}: {syscalls} syscalls, {calls} calls, {named} rules by name, {positional} by position"
    );
}

fn run_batch(arch: Arch, batch: usize, plan: &Plan, helper: &Path) {
    let dir = tmp();
    let policy = dir.join(format!("{arch}-{batch}.moat"));
    std::fs::write(&policy, &plan.policy).unwrap();
    let bpf = dir.join(format!("{arch}-{batch}.bpf"));
    let o = common::moat(&[
        "compile",
        policy.to_str().unwrap(),
        "-o",
        bpf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "moat compile: {}", common::stderr(&o));
    let mut lines = String::new();
    for c in &plan.cases {
        let nr = arch.by_name(c.syscall).unwrap().nr;
        write!(lines, "{nr:x}").unwrap();
        for a in c.args {
            write!(lines, " {a:x}").unwrap();
        }
        lines.push('\n');
    }
    let cases = dir.join(format!("{arch}-{batch}.cases"));
    std::fs::write(&cases, lines).unwrap();
    let out = Command::new(helper).arg(&bpf).arg(&cases).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helper: {text}{}",
        common::stderr(&out)
    );
    let mut it = text.lines();
    // SIGSYS (31): the filter killed the final getpid, after every call.
    assert_eq!(it.next(), Some("status 31"), "{text}");
    let done = it.next().unwrap_or_default();
    assert_eq!(done, format!("done {}", plan.cases.len()), "{arch}");
    let mut wrong = Vec::new();
    for (c, line) in plan.cases.iter().zip(it) {
        let got = line.strip_prefix("errno ").unwrap_or(line);
        if got != c.want.to_string() {
            wrong.push(format!(
                "{arch} {}({}) testing {}: errno {got}, want {}",
                c.syscall,
                c.args.map(|a| format!("{a:#x}")).join(", "),
                c.param,
                c.want
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong of {}:\n{}",
        wrong.len(),
        plan.cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_narrow_parameter_on_x86_64_is_compared_on_the_bits_the_kernel_reads() {
    let helper = tmp().join("widths64");
    build_helper(&helper, &[]).unwrap();
    run(Arch::X86_64, &helper);
}

/// x32 calls from the same 64-bit helper: the kernel's seccomp hook sees them (numbers with
/// `__X32_SYSCALL_BIT`, `AUDIT_ARCH_X86_64`) whether or not the kernel enables the x32 ABI.
#[test]
fn every_narrow_parameter_on_x32_is_compared_on_the_bits_the_kernel_reads() {
    let helper = tmp().join("widths64-x32");
    build_helper(&helper, &[]).unwrap();
    run(Arch::X32, &helper);
}

#[test]
fn every_parameter_on_i386_is_located_by_its_name() {
    let helper = tmp().join("widths32");
    // gcc-12-multilib has no /usr/include/asm: the x86 headers serve i386 too.
    if let Err(e) = build_helper(
        &helper,
        &["-m32", "-isystem", "/usr/include/x86_64-linux-gnu"],
    ) {
        let _ = moat_testkit::require(
            false,
            &format!("cannot build the i386 helper with -m32 (gcc-12-multilib missing?): {e}"),
        );
        return;
    }
    run(Arch::X86, &helper);
}

/// The plan itself covers what it claims: every syscall with a narrow parameter, most of them by
/// the parameter's name.
#[test]
fn plans_cover_every_syscall_with_a_narrow_parameter() {
    for arch in [Arch::X86_64, Arch::X32, Arch::X86] {
        let plans: Vec<Plan> = arch
            .syscalls()
            .chunks(BATCH)
            .map(|c| plan(arch, c))
            .collect();
        let with_narrow = arch
            .syscalls()
            .iter()
            .filter(|s| {
                signature(arch, s.name).is_some_and(|sig| sig.iter().any(|p| p.width == Width::U32))
            })
            .count();
        assert_eq!(
            plans.iter().map(|p| p.syscalls).sum::<usize>(),
            with_narrow,
            "{arch}"
        );
        let named: usize = plans.iter().map(|p| p.named).sum();
        let positional: usize = plans.iter().map(|p| p.positional).sum();
        assert!(named > positional, "{arch}");
        assert!(
            plans
                .iter()
                .any(|p| p.policy.contains("errno 101 write if fd == ")),
            "{arch}"
        );
    }
}
