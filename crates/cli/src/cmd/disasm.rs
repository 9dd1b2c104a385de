//! `moat disasm`: show a raw seccomp BPF program in seccomp-tools' layout.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::anyhow;
use moat::bpf::{DecodeError, Program, asm};
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
        let program = read_program(file, Some(arch))?;
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

/// Reads `path` (`-`: standard input) as raw BPF bytes, or as `moat disasm` text or
/// pseudo-code when it is text; bare syscall names in text are looked up in `arch`, and raw bytes
/// are read in its byte order (big-endian for s390x).
pub(super) fn read_program(path: &str, arch: Option<Arch>) -> anyhow::Result<Program> {
    let name = if path == "-" { "<stdin>" } else { path };
    // Text (disassembly) may be larger than a raw program; both are capped, so `- < /dev/zero`
    // ends at once. A raw program longer than BPF_MAXINSNS is refused when it is decoded.
    let bytes = if path == "-" {
        moat::io::read_stdin(moat::io::Limit::TEXT)?
    } else {
        moat::io::read(
            std::path::Path::new(path),
            moat::io::Limit::TEXT,
            moat::io::Source::Main,
        )?
    };
    if let Some(text) = as_disasm_text(&bytes) {
        return asm::assemble_with(text, arch).map_err(|e| anyhow!("{name}:{e}"));
    }
    // Raw bytes are in the byte order of the ABI's kernel: big-endian for `--arch s390x`.
    let order = arch.map_or(moat::bpf::ByteOrder::Little, moat::bpf::ByteOrder::of);
    Program::from_bytes_in(&bytes, order).map_err(|e| match e {
        DecodeError::Length { len } => anyhow!(
            "{name}: {len} bytes is not a whole number of 8-byte instructions; expected raw BPF \
             (struct sock_filter, {}-endian) or `moat disasm` text",
            order.name()
        ),
        DecodeError::Invalid(v) => match v.pc() {
            Some(pc) => anyhow!("{name}: byte offset {}: {v}", pc * 8),
            None => anyhow!("{name}: {v}"),
        },
    })
}

fn as_disasm_text(bytes: &[u8]) -> Option<&str> {
    // Raw programs practically always contain NUL bytes (zero jump offsets, the zero high
    // bytes of small constants); text never does.
    if bytes.contains(&0) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let first = text.trim_start().chars().next()?;
    (first.is_ascii_alphanumeric() || first == '#').then_some(text)
}
