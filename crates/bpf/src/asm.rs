//! Reads [`disasm`](crate::disasm) output back into a program.
//!
//! Every instruction line carries its raw fields (` 0001: 0x15 0x00 0x07 0xc000003e  ...`); the
//! assembler takes the instruction from them, so the bytes round-trip exactly whatever the
//! pseudo-code says, and ignores the pseudo-code after the fields. The header lines, blank lines
//! and lines starting with `#` are skipped. Line numbers must count up from 0000 without gaps.
//! The result is validated like any other program.

use crate::insn::Insn;
use crate::program::{Program, ValidateError};

/// Why text is not a program. `line` and `col` are 1-based positions in the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    /// A line does not have the `NNNN: 0xCC 0xJT 0xJF 0xKKKKKKKK` shape.
    #[error("{line}:{col}: {message}")]
    Syntax {
        /// Line of the input.
        line: usize,
        /// Column of the input.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The instructions parse but the kernel would reject them.
    #[error("{line}:1: {source}")]
    Invalid {
        /// Input line of the offending instruction (or of the last one).
        line: usize,
        /// The validation error.
        source: ValidateError,
    },
    /// No instruction lines at all.
    #[error("no instructions")]
    Empty,
}

/// Parses disassembler text into a validated program.
pub fn assemble(text: &str) -> Result<Program, AsmError> {
    let mut insns = Vec::new();
    let mut lines_of = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with('=')
            || trimmed.starts_with("line ")
        {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        let insn = parse_line(trimmed, line, indent, insns.len())?;
        insns.push(insn);
        lines_of.push(line);
    }
    if insns.is_empty() {
        return Err(AsmError::Empty);
    }
    Program::new(insns).map_err(|source| {
        let line = match source.pc() {
            Some(pc) => lines_of.get(pc).copied().unwrap_or(0),
            None => lines_of.last().copied().unwrap_or(0),
        };
        AsmError::Invalid { line, source }
    })
}

/// One `NNNN: 0xCC 0xJT 0xJF 0xKKKKKKKK  pseudo-code` line.
fn parse_line(s: &str, line: usize, indent: usize, expected: usize) -> Result<Insn, AsmError> {
    let err = |col: usize, message: String| AsmError::Syntax {
        line,
        col: indent + col + 1,
        message,
    };
    let Some((num, rest)) = s.split_once(':') else {
        return Err(err(
            0,
            "expected `NNNN: 0xCODE 0xJT 0xJF 0xK` (disassembler output)".to_owned(),
        ));
    };
    let n: usize = num
        .trim()
        .parse()
        .map_err(|_| err(0, format!("`{}` is not a line number", num.trim())))?;
    if n != expected {
        return Err(err(
            0,
            format!("line number {n:04}, expected {expected:04}"),
        ));
    }
    let mut fields = Vec::with_capacity(4);
    let mut col = num.len() + 1;
    let mut rest_iter = rest;
    for what in ["CODE", "JT", "JF", "K"] {
        let skipped = rest_iter.len() - rest_iter.trim_start().len();
        col += skipped;
        rest_iter = rest_iter.trim_start();
        let end = rest_iter
            .find(char::is_whitespace)
            .unwrap_or(rest_iter.len());
        let tok = &rest_iter[..end];
        if tok.is_empty() {
            return Err(err(col, format!("missing {what} field")));
        }
        let value = tok
            .strip_prefix("0x")
            .or_else(|| tok.strip_prefix("0X"))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| {
                err(
                    col,
                    format!("{what} field `{tok}` is not a hex number like 0x15"),
                )
            })?;
        fields.push((value, col, what));
        col += end;
        rest_iter = &rest_iter[end..];
    }
    let fit = |(v, c, what): (u64, usize, &str), max: u64| -> Result<u64, AsmError> {
        if v > max {
            Err(err(
                c,
                format!("{what} value {v:#x} is larger than {max:#x}"),
            ))
        } else {
            Ok(v)
        }
    };
    let code = u16::try_from(fit(fields[0], 0xffff)?).unwrap_or(u16::MAX);
    let jt = u8::try_from(fit(fields[1], 0xff)?).unwrap_or(u8::MAX);
    let jf = u8::try_from(fit(fields[2], 0xff)?).unwrap_or(u8::MAX);
    let k = u32::try_from(fit(fields[3], 0xffff_ffff)?).unwrap_or(u32::MAX);
    Ok(Insn::new(code, jt, jf, k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::*;
    use crate::disasm::disasm;

    #[test]
    fn reads_disassembly_back() {
        let p = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            Insn::stmt(BPF_RET | BPF_K, ret_errno(1)),
        ])
        .unwrap();
        assert_eq!(assemble(&disasm(&p, None)), Ok(p));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = assemble(" 0000: 0x06 0x00 0x00 0x7fff0000  return ALLOW\n 0001: 0x06 0x00 zz\n");
        assert_eq!(
            e,
            Err(AsmError::Syntax {
                line: 2,
                col: 18,
                message: "JF field `zz` is not a hex number like 0x15".into()
            })
        );
        let e = assemble(" 0000: 0x06 0x00 0x00 0x7fff0000\n 0002: 0x06 0x00 0x00 0x0\n");
        assert!(matches!(e, Err(AsmError::Syntax { line: 2, .. })), "{e:?}");
        let e = assemble(" 0000: 0x100 0x00 0x00 0x7fff0000\n");
        assert!(matches!(e, Err(AsmError::Invalid { line: 1, .. })), "{e:?}");
        let e = assemble(" 0000: 0x06 0x100 0x00 0x7fff0000\n");
        assert!(
            matches!(
                e,
                Err(AsmError::Syntax {
                    line: 1,
                    col: 13,
                    ..
                })
            ),
            "{e:?}"
        );
        assert_eq!(assemble("# nothing\n\n"), Err(AsmError::Empty));
        let e = assemble(" 0000: 0x20 0x00 0x00 0x00000000\n");
        assert_eq!(
            e.unwrap_err().to_string(),
            "1:1: instruction 0: the last instruction must be a return"
        );
    }
}
