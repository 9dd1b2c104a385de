//! Helpers shared by the export tests: libseccomp's compilation of Docker's default profile
//! (moat-oracle) run in moat-bpf's emulator, and boundary argument values.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use moat_bpf::{Program, SeccompData, emu};
use moat_policy::{Cond, Lowered};
use moat_syscalls::Arch;

/// The shared fixture.
pub static DOCKER_DEFAULT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| moat_testkit::fixture("fixtures/docker-default.json"));

/// The ABI families the `docker` profile is proven on: (host, ABIs of its filter).
pub const FAMILIES: &[(Arch, &[Arch])] = &[
    (Arch::X86_64, &[Arch::X86_64, Arch::X86, Arch::X32]),
    (Arch::Aarch64, &[Arch::Aarch64, Arch::Arm]),
];

pub fn oracle_arch(a: Arch) -> moat_oracle::Arch {
    a.name().parse().unwrap()
}

/// libseccomp's program for Docker's default profile on `host`, Docker's default capabilities.
pub fn docker_program(host: Arch) -> Program {
    let f = moat_oracle::docker_profile(
        &std::fs::read_to_string(&*DOCKER_DEFAULT).unwrap(),
        oracle_arch(host),
        moat_oracle::DOCKER_DEFAULT_CAPS,
        None,
    )
    .unwrap();
    let c = moat_oracle::compile(&f).unwrap();
    Program::from_bytes(&c.bytes).unwrap()
}

pub fn run(p: &Program, arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
    emu::run(
        p,
        &SeccompData {
            nr,
            arch: arch.audit_arch(),
            instruction_pointer: 0x1000,
            args,
        },
    )
    .ret
}

fn collect(c: &Cond, out: &mut BTreeSet<(u8, u64, u64)>) {
    match c {
        Cond::Cmp(x) => {
            out.insert((x.arg, x.mask, x.value));
        }
        Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| collect(c, out)),
        Cond::Not(x) => collect(x, out),
        Cond::True | Cond::False => {}
    }
}

/// Argument vectors around every comparison the policy makes for `nr` on `arch` (one argument
/// varied at a time, the others zero), plus all-zero. Values stay within 32 bits when `low32`.
pub fn boundary_args(lowered: &Lowered, arch: Arch, nr: u32, low32: bool) -> Vec<[u64; 6]> {
    let mut cmps = BTreeSet::new();
    for abi in lowered.abis.iter().filter(|a| a.arch == arch) {
        if let Some(rules) = abi.syscalls.get(&nr) {
            for r in rules {
                collect(&r.cond, &mut cmps);
            }
        }
    }
    let mut out = vec![[0u64; 6]];
    for (arg, mask, value) in cmps {
        let mut vals = vec![
            0,
            1,
            value,
            value.wrapping_sub(1),
            value.wrapping_add(1),
            mask,
            value | !mask,
            !value & mask,
            0x7fff_ffff,
            0xffff_ffff,
        ];
        for b in 0..32 {
            vals.push(value ^ (1 << b));
        }
        if !low32 {
            vals.extend([
                0x1_0000_0000 | value,
                u64::MAX,
                0xffff_ffff_0000_0000 | value,
            ]);
        }
        for v in vals {
            let v = if low32 { v & 0xffff_ffff } else { v };
            let mut a = [0u64; 6];
            a[usize::from(arg)] = v;
            out.push(a);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
