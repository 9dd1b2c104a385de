//! libseccomp's program for Docker's default profile (x86_64 with x86 and x32, Docker's default
//! capabilities): it disassembles with syscall names, reassembles to the same bytes, and the
//! emulator gives the verdicts the profile prescribes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_bpf::consts::{SECCOMP_RET_ALLOW, ret_errno};
use moat_bpf::{Program, SeccompData, asm, cache, disasm, emu};
use moat_syscalls::Arch;

/// libseccomp's program for the profile as runc 1.2+ builds it (binary tree above 32 syscalls).
fn docker_program() -> Program {
    docker_program_with(None)
}

fn docker_program_with(layout: Option<moat_oracle::Layout>) -> Program {
    let mut filter = moat_oracle::docker_default(moat_oracle::Arch::X86_64).unwrap();
    if let Some(l) = layout {
        filter.optimize = l;
    }
    let compiled = moat_oracle::compile(&filter).unwrap();
    Program::from_bytes(&compiled.bytes).unwrap()
}

fn call(arch: Arch, name: &str, args: [u64; 6]) -> SeccompData {
    let nr = arch
        .by_name(name)
        .unwrap_or_else(|| panic!("{name} on {arch}"))
        .nr;
    SeccompData::new(arch.audit_arch(), nr, args)
}

#[test]
fn docker_default_disassembles_with_names_and_round_trips() {
    let p = docker_program();
    let text = disasm::disasm(&p, Some(Arch::X86_64));
    for want in [
        "A = arch",
        "ARCH_X86_64",
        "ARCH_I386",
        "A = sys_number",
        "if (A == read)",
        "if (A != personality)",
        "if (A == x86.socketcall)",
        "x32.personality",
        "A = args[0]",
        "return ALLOW",
        "return ERRNO(1)",
        "return ERRNO(38)",
    ] {
        assert!(
            text.contains(want),
            "`{want}` missing from the disassembly:\n{text}"
        );
    }
    let back = asm::assemble(&text).unwrap();
    assert_eq!(back.to_bytes(), p.to_bytes());
    // The pseudo-code alone says the same.
    let pseudo: String = text
        .lines()
        .skip(2)
        .map(|l| {
            let (num, rest) = l.trim_start().split_once(": ").unwrap();
            format!("{num}: {}\n", rest.split_once("  ").unwrap().1)
        })
        .collect();
    let back = asm::assemble_with(&pseudo, Some(Arch::X86_64)).unwrap();
    assert_eq!(back.to_bytes(), p.to_bytes());
}

#[test]
fn docker_default_verdicts_and_instruction_counts() {
    // runc 1.2+ (binary tree) and runc 1.1 (libseccomp's default linear layout).
    for (layout, p) in [
        ("binary tree", docker_program()),
        (
            "linear",
            docker_program_with(Some(moat_oracle::Layout::Default)),
        ),
    ] {
        verdicts(layout, &p);
    }
}

fn verdicts(layout: &str, p: &Program) {
    let zero = [0u64; 6];
    let table: &[(&str, SeccompData, u32)] = &[
        (
            "x86_64 read",
            call(Arch::X86_64, "read", zero),
            SECCOMP_RET_ALLOW,
        ),
        ("x86_64 bpf", call(Arch::X86_64, "bpf", zero), ret_errno(1)),
        (
            "x86_64 clone3",
            call(Arch::X86_64, "clone3", zero),
            ret_errno(38),
        ),
        (
            "x86_64 personality(0xffffffff)",
            call(Arch::X86_64, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW,
        ),
        (
            "x86_64 personality(0x400000)",
            call(Arch::X86_64, "personality", [0x40_0000, 0, 0, 0, 0, 0]),
            ret_errno(1),
        ),
        (
            "x86 socketcall",
            call(Arch::X86, "socketcall", [1, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW,
        ),
        ("x32 read", call(Arch::X32, "read", zero), SECCOMP_RET_ALLOW),
    ];
    println!(
        "Docker default profile, libseccomp {:?}, {layout} layout, {} instructions",
        moat_oracle::version(),
        p.len()
    );
    println!("| call | verdict | executed | cached (5.11+) |");
    println!("|---|---|---|---|");
    for (what, data, want) in table {
        let out = emu::run(p, data);
        println!(
            "| {what} | {} | {} | {} |",
            disasm::action_name(out.ret),
            out.executed,
            cache::is_constant_allow(p, data.arch, data.nr)
        );
        assert_eq!(
            disasm::action_name(out.ret),
            disasm::action_name(*want),
            "{what}: executed {} instructions",
            out.executed
        );
    }
}
