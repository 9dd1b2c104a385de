//! `moat disasm`: show a raw seccomp BPF program in seccomp-tools' layout.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::anyhow;
use moat::bpf::Program;
use moat::syscalls::Arch;

/// Disassemble a raw seccomp BPF program (seccomp-tools layout).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Raw BPF (8 bytes per instruction, little-endian, as `seccomp_export_bpf` writes it),
    /// `moat disasm` text or pseudo-code; `-` reads standard input.
    #[arg(
        value_name = "FILE",
        required_unless_present = "pid",
        conflicts_with = "pid"
    )]
    file: Option<String>,
    /// Read the filters of a running process instead (needs CAP_SYS_ADMIN and ptrace
    /// permission; PTRACE_SECCOMP_GET_FILTER).
    #[arg(long, value_name = "PID")]
    pid: Option<i32>,
    /// With --pid: only the filter at this position, 0 = installed first.
    #[arg(long, value_name = "N", requires = "pid")]
    filter: Option<usize>,
    /// ABI for naming syscall numbers where the program does not check `arch` itself;
    /// default: the ABI moat was built for.
    #[arg(long, short = 'a', value_name = "ABI")]
    arch: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arch = arch(args.arch.as_deref())?;
    let arch = arch.unwrap_or_else(Arch::native);
    let (Some(pid), None) = (args.pid, args.file.as_deref()) else {
        let file = args.file.as_deref().unwrap_or("-");
        let program = match super::input(file, Some(arch))? {
            // A policy is shown as the program `moat compile` makes of it.
            moat::input::Input::Policy(loaded) => {
                moat::compile::compile(&loaded.policy, &moat::compile::Options::default())?.program
            }
            moat::input::Input::Programs { mut programs, .. } if programs.len() == 1 => {
                programs.remove(0)
            }
            moat::input::Input::Programs { .. } => {
                anyhow::bail!("{file}: several filters; use --pid PID to list them")
            }
        };
        let text = moat::bpf::disasm::disasm(&program, Some(arch));
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    };
    let filters = moat_sys::read_filters(pid)?;
    if filters.is_empty() {
        anyhow::bail!("process {pid} has no seccomp filters");
    }
    let total = filters.len();
    let chosen: Vec<(usize, Program)> = match args.filter {
        Some(n) if n >= total => {
            anyhow::bail!(
                "process {pid} has {total} filters; --filter takes 0..{}",
                total - 1
            )
        }
        Some(n) => filters.into_iter().enumerate().skip(n).take(1).collect(),
        None => filters.into_iter().enumerate().collect(),
    };
    let mut out = String::new();
    for (i, program) in &chosen {
        if chosen.len() > 1 || args.filter.is_none() {
            out.push_str(&format!(
                "# process {pid}, filter {i} of {total} (0 = installed first), {} instructions\n",
                program.len()
            ));
        }
        out.push_str(&moat::bpf::disasm::disasm(program, Some(arch)));
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

// Reading programs, shared with `moat emu`.

/// `--arch`, parsed; `None` when not given.
pub(super) fn arch(arg: Option<&str>) -> anyhow::Result<Option<Arch>> {
    arg.map(|a| a.parse::<Arch>().map_err(|e| anyhow!("{e}")))
        .transpose()
}
