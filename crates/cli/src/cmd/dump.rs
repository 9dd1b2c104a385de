//! `moat dump PID`: the seccomp filters a running process really has.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use moat::syscalls::Arch;

/// Read the seccomp filters installed in a running process (as root, PTRACE_SECCOMP_GET_FILTER)
/// and print them disassembled, or write them as raw BPF files. Every analysis command also
/// reads a live process directly: `moat diff pid:PID container`, `moat lint pid:PID`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The process (a thread id works too: filters are per thread).
    #[arg(value_name = "PID")]
    pid: i32,
    /// Write each filter as DIR/filter-N.bpf (raw, 8 bytes per instruction; N = 0 is the
    /// oldest) instead of printing it.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
    /// ABI for naming syscall numbers in the listing; default: the ABI moat was built for.
    #[arg(long, short = 'a', value_name = "ABI")]
    arch: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arch = match args.arch.as_deref() {
        Some(a) => a.parse::<Arch>()?,
        None => Arch::native(),
    };
    let filters = moat_sys::read_filters(args.pid)?;
    if filters.is_empty() {
        bail!("process {} has no seccomp filters", args.pid);
    }
    let n = filters.len();
    let mut out = std::io::stdout().lock();
    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        for (i, p) in filters.iter().enumerate() {
            let path = dir.join(format!("filter-{i}.bpf"));
            moat::io::Output::create(&path)?.write(&p.to_bytes())?;
            writeln!(out, "{}: {} instructions", path.display(), p.len())?;
        }
        writeln!(
            out,
            "process {}: {n} filters (filter-0 was installed first; the kernel runs all of them and the most restrictive action wins)",
            args.pid
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "process {}: {n} filters (0 was installed first; the kernel runs all of them and the most restrictive action wins)",
        args.pid
    )?;
    for (i, p) in filters.iter().enumerate() {
        writeln!(out, "\nfilter {i}: {} instructions", p.len())?;
        out.write_all(moat::bpf::disasm::disasm(p, Some(arch)).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
