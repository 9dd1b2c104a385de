//! `moat emu`: evaluate one syscall against a raw seccomp BPF program.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use moat::bpf::{SeccompData, cache, disasm, emu};
use moat::syscalls::{self as sc, Arch};

use super::disasm::{arch as parse_arch, read_program};

/// Evaluate one syscall against a raw BPF program: verdict, return value, instructions executed.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A policy (built-in profile name, `.moat` file, or text that parses as a policy: evaluated
    /// by the reference evaluator, printing the deciding line), or the program: raw BPF (8 bytes
    /// per instruction, little-endian), `moat disasm` text or pseudo-code; `-` reads standard
    /// input.
    #[arg(value_name = "FILE")]
    file: String,
    /// ABI of the call (x86_64, x86, x32, aarch64, ...); default: the ABI moat was built for.
    #[arg(long, short = 'a', value_name = "ABI")]
    arch: Option<String>,
    /// The syscall: a name on that ABI, or a number (decimal or 0x...; x32 numbers may omit
    /// 0x40000000).
    #[arg(value_name = "SYSCALL")]
    syscall: String,
    /// Up to six arguments: decimal, 0x hex, or negative (two's complement); on 32-bit ABIs
    /// (x86, arm) only 32-bit values.
    #[arg(value_name = "ARG", allow_negative_numbers = true)]
    args: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arch = parse_arch(args.arch.as_deref())?.unwrap_or_else(Arch::native);
    let nr = syscall_number(arch, &args.syscall)?;
    let call_args = parse_args(arch, &args.args)?;
    if let Some(policy) = super::explain::policy_input(&args.file)? {
        return super::explain::emu_policy(&policy, arch, nr, call_args);
    }
    let program = read_program(&args.file, Some(arch))?;
    let data = SeccompData::new(arch.audit_arch(), nr, call_args);
    let out = emu::run(&program, &data);
    let name = arch
        .by_nr(nr)
        .map_or_else(|| format!("{nr:#x}"), |s| s.name.to_owned());
    let cached = cache::is_constant_allow(&program, data.arch, nr);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", disasm::action_name(out.ret))?;
    let shown: Vec<String> = call_args.iter().map(|a| format!("{a:#x}")).collect();
    writeln!(
        stdout,
        "call: {arch} {name} (nr {nr:#x}) args {}",
        shown.join(" ")
    )?;
    writeln!(stdout, "return value: {:#010x}", out.ret)?;
    writeln!(stdout, "executed: {} instructions", out.executed)?;
    writeln!(
        stdout,
        "constant-allow cache (Linux 5.11+): {}",
        if cached {
            "hit, the filter is skipped"
        } else {
            "miss, the filter runs"
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A syscall name on `arch`, or a number.
fn syscall_number(arch: Arch, s: &str) -> anyhow::Result<u32> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        let n = parse_u64(s).and_then(|v| u32::try_from(v).ok());
        let Some(n) = n else {
            bail!("syscall number `{s}` is not a 32-bit number");
        };
        return Ok(if n < arch.nr_bias() {
            n | arch.nr_bias()
        } else {
            n
        });
    }
    if let Some(found) = arch.by_name(s) {
        return Ok(found.nr);
    }
    let elsewhere = sc::abis_with(s);
    if !elsewhere.is_empty() {
        let list: Vec<&str> = elsewhere.iter().map(|a| a.name()).collect();
        bail!(
            "{arch} has no syscall `{s}` (it exists on {})",
            list.join(", ")
        );
    }
    match sc::suggest(s) {
        Some(near) => bail!("unknown syscall `{s}`; did you mean `{near}`?"),
        None => bail!("unknown syscall `{s}`"),
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => s.replace('_', "").parse().ok(),
    }
}

/// Arguments as the kernel puts them in `seccomp_data.args`: 64-bit registers, or on 32-bit
/// ABIs 32-bit registers zero-extended.
fn parse_args(arch: Arch, raw: &[String]) -> anyhow::Result<[u64; 6]> {
    if raw.len() > 6 {
        bail!("{} arguments given; a syscall has at most 6", raw.len());
    }
    let mut out = [0u64; 6];
    for (i, s) in raw.iter().enumerate() {
        let v = if let Some(neg) = s.strip_prefix('-') {
            let Some(m) = parse_u64(neg).filter(|&m| m <= 1 << 63) else {
                bail!("argument {i} `{s}` is not a number (decimal, 0x hex, or negative)");
            };
            // Two's complement, as the register holds it.
            let v = 0u64.wrapping_sub(m);
            if arch.is_compat32() {
                v & 0xffff_ffff
            } else {
                v
            }
        } else {
            let Some(v) = parse_u64(s) else {
                bail!("argument {i} `{s}` is not a number (decimal, 0x hex, or negative)");
            };
            if arch.is_compat32() && v > 0xffff_ffff {
                bail!("argument {i} `{s}` does not fit the 32-bit registers of {arch}");
            }
            v
        };
        out[i] = v;
    }
    Ok(out)
}
