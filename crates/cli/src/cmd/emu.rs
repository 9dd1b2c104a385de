//! `moat emu`: evaluate one syscall against a raw seccomp BPF program.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use moat::bpf::{Program, SeccompData, cache, disasm, emu};
use moat::policy::{Context, Policy};
use moat::syscalls::{self as sc, Arch};

use moat::input::Input;

use super::disasm::arch as parse_arch;

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
    /// Output format: `json` prints one object with the same facts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// What one call does: under a policy (the verdict and its deciding line, and the compiled
/// program's answer) or under a raw program (its answer, the instructions run, the cache).
struct Outcome {
    arch: Arch,
    name: String,
    nr: u32,
    args: [u64; 6],
    /// The verdict: the action's name (`allow`, `errno EPERM`, ...).
    verdict: String,
    /// The policy's deciding line (`allow by web.moat:7: allow ioctl ...`).
    described: Option<String>,
    ret: u32,
    /// Under a policy: what the compiled program returns, or why there is none.
    compiled: Option<Result<u32, String>>,
    /// Under a raw program: instructions executed and whether the kernel's cache skips it.
    executed: Option<usize>,
    cached: Option<bool>,
    note: Option<String>,
}

impl Outcome {
    /// A compiled program that disagrees with its policy's evaluator (a moat bug).
    fn disagrees(&self) -> bool {
        matches!(self.compiled, Some(Ok(ret)) if ret != self.ret)
    }

    fn text(&self) -> String {
        let mut out = format!("{}\n", self.described.as_deref().unwrap_or(&self.verdict));
        let shown: Vec<String> = self.args.iter().map(|a| format!("{a:#x}")).collect();
        out.push_str(&format!(
            "call: {} {} (nr {:#x}) args {}\n",
            self.arch,
            self.name,
            self.nr,
            shown.join(" ")
        ));
        out.push_str(&format!("return value: {:#010x}\n", self.ret));
        match &self.compiled {
            Some(Ok(ret)) if *ret == self.ret => {
                out.push_str(&format!("compiled program agrees: {ret:#010x}\n"));
            }
            Some(Ok(ret)) => out.push_str(&format!(
                "compiled program DISAGREES: it returns {ret:#010x} (a moat bug; please report)\n"
            )),
            Some(Err(e)) => out.push_str(&format!("compiled program: none ({e})\n")),
            None => {}
        }
        if let Some(n) = self.executed {
            out.push_str(&format!("executed: {n} instructions\n"));
        }
        if let Some(c) = self.cached {
            out.push_str(&format!(
                "constant-allow cache (Linux 5.11+): {}\n",
                if c {
                    "hit, the filter is skipped"
                } else {
                    "miss, the filter runs"
                }
            ));
        }
        if let Some(n) = &self.note {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "arch": self.arch.to_string(),
            "syscall": self.name,
            "nr": self.nr,
            "args": self.args,
            "verdict": self.verdict,
            "return_value": self.ret,
        });
        if let Some(d) = &self.described {
            v["decided_by"] = serde_json::json!(d);
        }
        match &self.compiled {
            Some(Ok(ret)) => {
                v["compiled_return_value"] = serde_json::json!(ret);
                v["compiled_agrees"] = serde_json::json!(*ret == self.ret);
            }
            Some(Err(e)) => v["compiled_error"] = serde_json::json!(e),
            None => {}
        }
        if let Some(n) = self.executed {
            v["executed"] = serde_json::json!(n);
        }
        if let Some(c) = self.cached {
            v["cached"] = serde_json::json!(c);
        }
        if let Some(n) = &self.note {
            v["note"] = serde_json::json!(n);
        }
        v
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arch = parse_arch(args.arch.as_deref())?.unwrap_or_else(Arch::native);
    let nr = syscall_number(arch, &args.syscall)?;
    let call_args = parse_args(arch, &args.args)?;
    let outcome = match super::input(&args.file, Some(arch))? {
        Input::Policy(loaded) => under_policy(&loaded.policy, arch, nr, call_args),
        Input::Programs {
            programs, origin, ..
        } => match programs.as_slice() {
            [program] => under_program(program, arch, nr, call_args),
            _ => bail!(
                "{origin} has {} filters; `moat emu` runs one: `moat dump` writes each to a file",
                programs.len()
            ),
        },
    };
    let text = match args.format {
        Format::Text => outcome.text(),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&outcome.json())?),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(if outcome.disagrees() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn name_of(arch: Arch, nr: u32) -> String {
    arch.by_nr(nr)
        .map_or_else(|| format!("{nr:#x}"), |s| s.name.to_owned())
}

/// One call under a raw program.
fn under_program(program: &Program, arch: Arch, nr: u32, args: [u64; 6]) -> Outcome {
    let data = SeccompData::new(arch.audit_arch(), nr, args);
    let out = emu::run(program, &data);
    Outcome {
        arch,
        name: name_of(arch, nr),
        nr,
        args,
        verdict: disasm::action_name(out.ret),
        described: None,
        ret: out.ret,
        compiled: None,
        executed: Some(out.executed),
        cached: Some(cache::is_constant_allow(program, data.arch, nr)),
        note: None,
    }
}

/// One call under a policy: the reference evaluator's verdict and deciding line, and what the
/// compiled program, emulated, says (it must say the same).
fn under_policy(policy: &Policy, arch: Arch, nr: u32, args: [u64; 6]) -> Outcome {
    let v = policy.evaluate(&Context::default(), arch.audit_arch(), nr, args);
    let options = moat::compile::Options {
        ctx: Context::default(),
        weights: None,
    };
    let compiled = match moat::compile::compile(policy, &options) {
        Ok(c) => {
            let data = SeccompData::new(arch.audit_arch(), nr, args);
            Ok(emu::run(&c.program, &data).ret)
        }
        Err(e) => Err(e.to_string()),
    };
    let name = name_of(arch, nr);
    let note = ((name == "socketcall" || name == "ipc") && policy.arches().contains(&arch)).then(|| {
        format!(
            "{name}'s arguments sit behind a pointer or are shifted; conditional rules on the calls it reaches apply to every such call when they stop it (see `moat explain --syscall {name}`)"
        )
    });
    Outcome {
        arch,
        name,
        nr,
        args,
        verdict: v.action.to_string(),
        described: Some(policy.describe(&v)),
        ret: v.action.to_ret(),
        compiled: Some(compiled),
        executed: None,
        cached: None,
        note,
    }
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
