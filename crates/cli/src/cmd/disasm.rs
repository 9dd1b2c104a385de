//! `moat disasm`: show a raw seccomp BPF program in seccomp-tools' layout.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use moat::bpf::{DecodeError, Program, asm};
use moat::syscalls::Arch;

/// Disassemble a raw seccomp BPF program (seccomp-tools layout).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Raw BPF (8 bytes per instruction, little-endian, as `seccomp_export_bpf` writes it) or
    /// `moat disasm` text; `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// ABI for naming syscall numbers where the program does not check `arch` itself;
    /// default: the ABI moat was built for.
    #[arg(long, short = 'a', value_name = "ABI")]
    arch: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arch = arch(args.arch.as_deref())?;
    let program = read_program(&args.file)?;
    let text = moat::bpf::disasm::disasm(&program, Some(arch.unwrap_or_else(Arch::native)));
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

// Reading programs, shared with `moat emu`.

/// `--arch`, parsed; `None` when not given.
pub(super) fn arch(arg: Option<&str>) -> anyhow::Result<Option<Arch>> {
    arg.map(|a| a.parse::<Arch>().map_err(|e| anyhow!("{e}")))
        .transpose()
}

/// Reads `path` (`-`: standard input) as raw BPF bytes, or as `moat disasm` text when it
/// starts like that (a raw program cannot: its first opcode would be invalid).
pub(super) fn read_program(path: &str) -> anyhow::Result<Program> {
    let mut bytes = Vec::new();
    let name = if path == "-" { "<stdin>" } else { path };
    if path == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    }
    if let Some(text) = as_disasm_text(&bytes) {
        return asm::assemble(text).map_err(|e| anyhow!("{name}:{e}"));
    }
    Program::from_bytes(&bytes).map_err(|e| match e {
        DecodeError::Length { len } => anyhow!(
            "{name}: {len} bytes is not a whole number of 8-byte instructions; expected raw BPF \
             (struct sock_filter, little-endian) or `moat disasm` text"
        ),
        DecodeError::Invalid(v) => match v.pc() {
            Some(pc) => anyhow!("{name}: byte offset {}: {v}", pc * 8),
            None => anyhow!("{name}: {v}"),
        },
    })
}

fn as_disasm_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.trim_start();
    (start.starts_with("line") || start.starts_with("0000:")).then_some(text)
}
