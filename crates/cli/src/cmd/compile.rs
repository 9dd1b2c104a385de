//! `moat compile`: a policy to a seccomp BPF program (raw, C, Rust, hex, disassembly), with a cost
//! report. Every program is validated exactly against its policy before anything is written.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use moat::analyze::validate::validate;
use moat::bpf::{ByteOrder, Program};
use moat::compile::{Options, Weights, compile, report};
use moat::syscalls::Arch;

/// Compile a policy to a seccomp BPF program.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A built-in profile (`moat profiles` lists them) or a policy file.
    #[arg(value_name = "PROFILE|FILE")]
    policy: String,
    /// Write the program to FILE (atomically: a temporary file renamed into place); default:
    /// standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    format: Format,
    /// Accept these ABIs instead of the ones the policy names (comma-separated or repeated).
    #[arg(long, value_name = "ABI", value_delimiter = ',')]
    arch: Vec<String>,
    #[command(flatten)]
    guards: super::explain::Guards,
    /// Call frequencies (`name count` per line, e.g. counted by a recording): lay the search
    /// out for the least expected cost instead of the least worst case.
    #[arg(long, value_name = "FILE")]
    weights: Option<String>,
    /// Print the cost report: program length, the syscalls the kernel caches, and what every
    /// other syscall executes, and the exact validation's size and time; `--report=json` as
    /// JSON. Without -o, only the report is printed.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "text"
    )]
    report: Option<ReportFormat>,
    /// Byte order of raw and hex output. Default: that of the ABIs the program targets
    /// (big-endian for s390x, little-endian for the others); a program for ABIs of both orders
    /// needs this flag, since no one encoding loads on both kernels.
    #[arg(long, value_enum, value_name = "ORDER")]
    byte_order: Option<Order>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Order {
    /// Least significant byte first (x86_64, aarch64, ...).
    Little,
    /// Most significant byte first (s390x).
    Big,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// 8 bytes per instruction (`struct sock_filter`), what `seccomp(2)` loads, in the target
    /// kernel's byte order (see --byte-order).
    Raw,
    /// A C array of `struct sock_filter` and its `struct sock_fprog`.
    C,
    /// A Rust array of `libc::sock_filter`.
    Rust,
    /// One instruction per line as 16 hex digits (the raw bytes).
    Hex,
    /// seccomp-tools' disassembly layout.
    Disasm,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut policy = super::policy(&args.policy, "compile")?;
    if !args.arch.is_empty() {
        let arches = args
            .arch
            .iter()
            .map(|a| a.parse::<Arch>().map_err(|e| anyhow!("--arch: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        policy = policy.with_arches(&arches)?;
    }
    // The output is checked before the work: an unwritable -o fails first.
    let output = args
        .output
        .as_deref()
        .map(|p| moat::io::Output::from_arg(Path::new(p)))
        .transpose()?;
    let ctx = args.guards.context()?;
    let weights = match &args.weights {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read weights file {path}"))?;
            Some(Weights::parse(&text, path)?)
        }
    };
    let started = Instant::now();
    let compiled = compile(&policy, &Options { ctx, weights })?;
    let compile_time = started.elapsed();
    // Nothing is written unless the program is proved to decide every call as the policy does.
    let started = Instant::now();
    let lowered = policy.lower(&ctx)?;
    let validated = validate(&lowered, &compiled.program).map_err(|e| {
        anyhow::Error::new(e).context(format!(
            "{}: not written: the compiled program failed its exact check",
            policy.origin()
        ))
    })?;
    let validate_time = started.elapsed();
    let order = match args.byte_order {
        Some(Order::Little) => ByteOrder::Little,
        Some(Order::Big) => ByteOrder::Big,
        None if matches!(args.format, Format::Raw | Format::Hex) => compiled.byte_order()?,
        None => ByteOrder::Little,
    };
    let bytes = render(&compiled.program, args.format, policy.origin(), order);
    let mut out = std::io::stdout().lock();
    match output {
        Some(o) => {
            if args.format == Format::Raw && o.is_terminal() {
                bail!(
                    "refusing to write binary BPF to a terminal; use -o FILE, a pipe, or --format disasm"
                );
            }
            o.write(&bytes)?;
        }
        None if args.report.is_some() => {}
        None => {
            if args.format == Format::Raw && out.is_terminal() {
                bail!(
                    "refusing to write binary BPF to a terminal; use -o FILE, a pipe, or --format disasm"
                );
            }
            out.write_all(&bytes)?;
        }
    }
    let (validate_ms, compile_ms) = (
        validate_time.as_secs_f64() * 1e3,
        compile_time.as_secs_f64() * 1e3,
    );
    match args.report {
        None => {}
        Some(ReportFormat::Text) => {
            write!(out, "{}", report(&compiled))?;
            writeln!(
                out,
                "validated exactly: {} paths, {} cases, {validate_ms:.2} ms (compile {compile_ms:.2} ms)",
                validated.paths, validated.cases,
            )?;
        }
        Some(ReportFormat::Json) => {
            let mut v = report(&compiled).to_json();
            v["validated"] = serde_json::json!({
                "paths": validated.paths,
                "cases": validated.cases,
                "ms": validate_ms,
            });
            v["compile_ms"] = serde_json::json!(compile_ms);
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn render(p: &Program, format: Format, origin: &str, order: ByteOrder) -> Vec<u8> {
    let insns = p.insns();
    match format {
        Format::Raw => p.to_bytes_in(order),
        Format::Hex => {
            let mut s = String::new();
            for chunk in p.to_bytes_in(order).chunks(8) {
                for b in chunk {
                    s.push_str(&format!("{b:02x}"));
                }
                s.push('\n');
            }
            s.into_bytes()
        }
        Format::Disasm => moat::bpf::disasm::disasm(p, None).into_bytes(),
        Format::C => {
            let mut s = format!(
                "/* seccomp filter compiled by moat from {origin}: {} instructions */\n#include <linux/filter.h>\n\nstatic struct sock_filter moat_filter[] = {{\n",
                insns.len()
            );
            for i in insns {
                s.push_str(&format!(
                    "\t{{ 0x{:02x}, {}, {}, 0x{:08x} }},\n",
                    i.code, i.jt, i.jf, i.k
                ));
            }
            s.push_str("};\n\nstatic struct sock_fprog moat_prog = {\n\t.len = sizeof(moat_filter) / sizeof(moat_filter[0]),\n\t.filter = moat_filter,\n};\n");
            s.into_bytes()
        }
        Format::Rust => {
            let mut s = format!(
                "// seccomp filter compiled by moat from {origin}: {} instructions\npub const FILTER: [libc::sock_filter; {}] = [\n",
                insns.len(),
                insns.len()
            );
            for i in insns {
                s.push_str(&format!(
                    "    libc::sock_filter {{ code: 0x{:02x}, jt: {}, jf: {}, k: 0x{:08x} }},\n",
                    i.code, i.jt, i.jf, i.k
                ));
            }
            s.push_str("];\n");
            s.into_bytes()
        }
    }
}
