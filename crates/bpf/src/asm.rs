//! Reads [`disasm`](crate::disasm) output, or hand-written pseudo-code, back into a program.
//!
//! A line with raw fields (` 0001: 0x15 0x00 0x07 0xc000003e  ...`) is taken from those fields,
//! so disassembler output round-trips to identical bytes whatever its pseudo-code says. A line
//! without them (`0001: if (A != ARCH_X86_64) goto 0007`, or the same without `0001:`) is
//! assembled from its pseudo-code, the language the disassembler prints:
//!
//! ```text
//! A = arch | sys_number | instruction_pointer [>> 32] | args[i] [>> 32] | mem[k] | X | -A | len | <n>
//! X = A | mem[k] | len | <n>
//! mem[k] = A | X
//! A += | -= | *= | /= | |= | &= | ^= | <<= | >>= <n> | X
//! if (A == | != | > | >= | < | <= | & <operand>) goto NNNN [else goto MMMM]
//! if (!(A & <operand>)) goto NNNN
//! goto NNNN
//! return A | ALLOW | KILL | KILL_PROCESS | TRAP(n) | ERRNO(n) | TRACE(n) | LOG | USER_NOTIF | <n>
//! ```
//!
//! Numbers are decimal or `0x` hex. An operand may be `X`, a number, an `ARCH_*` name or a
//! syscall name: `x86.socketcall` names its ABI; a bare name is looked up in the ABI passed to
//! [`assemble_with`], else in the ABI the preceding `arch` checks establish on every path to the
//! line. `goto` targets are line numbers and must lie ahead. Lines count from 0000; a line
//! number, if given, must match. Blank lines, the header and lines starting with `#` are
//! skipped, as is a `#` comment after pseudo-code. `/* no-op */` (a conditional jump whose
//! branches both fall through) cannot be rebuilt from pseudo-code; keep its raw fields.
//! The result is validated like any other program.

use std::collections::BTreeMap;

use moat_syscalls::Arch;

use crate::consts::*;
use crate::disasm::{ACTION_NAMES, ARCH_NAMES, Ctx, base_abi, successors};
use crate::insn::{ByteOrder, Insn};
use crate::program::{Program, ValidateError};

/// Why text is not a program. `line` and `col` are 1-based positions in the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsmError {
    /// A line is neither raw fields nor pseudo-code the assembler understands.
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

/// Parses disassembler text (or pseudo-code) into a validated program; bare syscall names need
/// an `arch` check before them.
pub fn assemble(text: &str) -> Result<Program, AsmError> {
    assemble_with(text, None)
}

/// Like [`assemble`]; bare syscall names are looked up in `arch` (as [`crate::disasm::disasm`]
/// printed them with the same `arch`).
pub fn assemble_with(text: &str, arch: Option<Arch>) -> Result<Program, AsmError> {
    let mut insns = Vec::new();
    let mut lines_of = Vec::new();
    // What the registers hold at each line, as the disassembler tracks it; jumps only go
    // forward, so every context is complete when its line is reached.
    let mut ctxs: BTreeMap<usize, Ctx> = BTreeMap::new();
    ctxs.insert(0, Ctx::start());
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
        let pc = insns.len();
        let ctx = ctxs.remove(&pc);
        let here = Here {
            line,
            indent: raw.len() - trimmed.len(),
            pc,
        };
        let insn = parse_line(trimmed, &here, ctx.as_ref(), arch)?;
        if let Some(c) = ctx {
            for (succ, next) in successors(pc, insn, c) {
                match ctxs.get_mut(&succ) {
                    Some(existing) => existing.join(&next),
                    None => {
                        ctxs.insert(succ, next);
                    }
                }
            }
        }
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

/// Where a line is: for error positions and relative jumps.
struct Here {
    line: usize,
    indent: usize,
    pc: usize,
}

impl Here {
    /// An error at byte `col` (0-based) of the trimmed line.
    fn err(&self, col: usize, message: String) -> AsmError {
        AsmError::Syntax {
            line: self.line,
            col: self.indent + col + 1,
            message,
        }
    }
}

fn parse_line(
    s: &str,
    here: &Here,
    ctx: Option<&Ctx>,
    arch: Option<Arch>,
) -> Result<Insn, AsmError> {
    // Optional `NNNN:` line number.
    let mut rest = s;
    let mut col = 0;
    let numbered = s.split_once(':').filter(|(num, _)| {
        !num.trim().is_empty() && num.trim().bytes().all(|b| b.is_ascii_digit())
    });
    if let Some((num, after)) = numbered {
        let n: usize = num
            .trim()
            .parse()
            .map_err(|_| here.err(0, format!("`{}` is not a line number", num.trim())))?;
        if n != here.pc {
            return Err(here.err(0, format!("line number {n:04}, expected {:04}", here.pc)));
        }
        rest = after;
        col = num.len() + 1;
    }
    let skipped = rest.len() - rest.trim_start().len();
    col += skipped;
    rest = rest.trim_start();
    if rest.starts_with("0x") || rest.starts_with("0X") {
        return parse_fields(rest, col, here);
    }
    // A trailing `# comment` (seccomp-tools prints argument names that way).
    let code = match rest.find(" #") {
        Some(i) => &rest[..i],
        None => rest,
    };
    parse_pseudo(code.trim_end(), here, col, ctx, arch)
}

/// `0xCC 0xJT 0xJF 0xKKKKKKKK  anything`.
fn parse_fields(s: &str, mut col: usize, here: &Here) -> Result<Insn, AsmError> {
    let mut fields = Vec::with_capacity(4);
    let mut rest = s;
    for (what, max) in [
        ("CODE", 0xffff_u64),
        ("JT", 0xff),
        ("JF", 0xff),
        ("K", 0xffff_ffff),
    ] {
        let skipped = rest.len() - rest.trim_start().len();
        col += skipped;
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let tok = &rest[..end];
        if tok.is_empty() {
            return Err(here.err(col, format!("missing {what} field")));
        }
        let value = tok
            .strip_prefix("0x")
            .or_else(|| tok.strip_prefix("0X"))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| {
                here.err(
                    col,
                    format!("{what} field `{tok}` is not a hex number like 0x15"),
                )
            })?;
        if value > max {
            return Err(here.err(
                col,
                format!("{what} value {value:#x} is larger than {max:#x}"),
            ));
        }
        fields.push(value);
        col += end;
        rest = &rest[end..];
    }
    let code = u16::try_from(fields[0]).unwrap_or(u16::MAX);
    let jt = u8::try_from(fields[1]).unwrap_or(u8::MAX);
    let jf = u8::try_from(fields[2]).unwrap_or(u8::MAX);
    let k = u32::try_from(fields[3]).unwrap_or(u32::MAX);
    Ok(Insn::new(code, jt, jf, k))
}

fn number(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `args[i]` -> i.
fn arg_index(s: &str) -> Option<u32> {
    let i: u32 = s.strip_prefix("args[")?.strip_suffix(']')?.parse().ok()?;
    (i < 6).then_some(i)
}

/// `mem[k]` -> k.
fn mem_slot(s: &str) -> Option<u32> {
    s.strip_prefix("mem[")?
        .strip_suffix(']')?
        .trim()
        .parse()
        .ok()
}

/// A `seccomp_data` word by name, in the given layout (on s390x `args[0]` is the word at 20 and
/// `args[0] >> 32` the word at 16).
fn data_offset(s: &str, order: ByteOrder) -> Option<u32> {
    let (base, high) = match s.strip_suffix(">> 32") {
        Some(b) => (b.trim_end(), true),
        None => (s, false),
    };
    let field = match base {
        "sys_number" if !high => return Some(OFFSET_NR),
        "arch" if !high => return Some(OFFSET_ARCH),
        "instruction_pointer" => OFFSET_IP,
        other => offset_arg_lo(u8::try_from(arg_index(other)?).ok()?),
    };
    // `field` is the first word of the 64-bit field; pick the half the layout puts there.
    Some(if order.is_high_word(field) == high {
        field
    } else {
        field + 4
    })
}

fn parse_pseudo(
    s: &str,
    here: &Here,
    col: usize,
    ctx: Option<&Ctx>,
    arch: Option<Arch>,
) -> Result<Insn, AsmError> {
    let err = |message: String| here.err(col, message);
    if s == "/* no-op */" {
        return Err(err(
            "`/* no-op */` does not say which comparison it was; keep the raw fields".into(),
        ));
    }
    if let Some(r) = s.strip_prefix("return ") {
        return parse_return(r.trim()).map_err(err);
    }
    if let Some(t) = s.strip_prefix("goto ") {
        let target = goto_target(t, here).map_err(err)?;
        return Ok(Insn::stmt(
            BPF_JMP | BPF_JA,
            u32::try_from(target).unwrap_or(u32::MAX),
        ));
    }
    if let Some(rest) = s.strip_prefix("if ") {
        return parse_if(rest.trim(), here, ctx, arch).map_err(err);
    }
    if let Some((lhs, rhs)) = s.split_once('=') {
        let lhs = lhs.trim_end();
        let rhs = rhs.trim();
        if let Some(slot) = mem_slot(lhs) {
            return match rhs {
                "A" => Ok(Insn::stmt(BPF_ST, slot)),
                "X" => Ok(Insn::stmt(BPF_STX, slot)),
                _ => Err(err(format!("`{lhs} = {rhs}`: scratch memory takes A or X"))),
            };
        }
        // Compound assignment: `A += k`, `A <<= X`, ...
        if let Some(opstr) = lhs
            .strip_prefix('A')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            let op = match opstr {
                "+" => BPF_ADD,
                "-" => BPF_SUB,
                "*" => BPF_MUL,
                "/" => BPF_DIV,
                "|" => BPF_OR,
                "&" => BPF_AND,
                "^" => BPF_XOR,
                "<<" => BPF_LSH,
                ">>" => BPF_RSH,
                "%" => BPF_MOD,
                _ => return Err(err(format!("unknown operator `{opstr}=`"))),
            };
            if rhs == "X" {
                return Ok(Insn::stmt(BPF_ALU | op | BPF_X, 0));
            }
            let k =
                number(rhs).ok_or_else(|| err(format!("`{rhs}` is not X or a 32-bit number")))?;
            return Ok(Insn::stmt(BPF_ALU | op | BPF_K, k));
        }
        return match lhs {
            "A" => match rhs {
                "X" => Ok(Insn::stmt(BPF_MISC | BPF_TXA, 0)),
                "-A" => Ok(Insn::stmt(BPF_ALU | BPF_NEG, 0)),
                "len" => Ok(Insn::stmt(BPF_LD | BPF_W | BPF_LEN, 0)),
                _ => {
                    if let Some(slot) = mem_slot(rhs) {
                        Ok(Insn::stmt(BPF_LD | BPF_MEM, slot))
                    } else if let Some(off) =
                        data_offset(rhs, crate::disasm::order(ctx.and_then(|c| c.arch), arch))
                    {
                        Ok(Insn::stmt(BPF_LD | BPF_W | BPF_ABS, off))
                    } else if let Some(k) = number(rhs) {
                        Ok(Insn::stmt(BPF_LD | BPF_IMM, k))
                    } else {
                        Err(err(format!("cannot load `{rhs}` into A")))
                    }
                }
            },
            "X" => match rhs {
                "A" => Ok(Insn::stmt(BPF_MISC | BPF_TAX, 0)),
                "len" => Ok(Insn::stmt(BPF_LDX | BPF_W | BPF_LEN, 0)),
                _ => {
                    if let Some(slot) = mem_slot(rhs) {
                        Ok(Insn::stmt(BPF_LDX | BPF_MEM, slot))
                    } else if let Some(k) = number(rhs) {
                        Ok(Insn::stmt(BPF_LDX | BPF_IMM, k))
                    } else {
                        Err(err(format!(
                            "cannot load `{rhs}` into X (only A, mem[k], len or a number)"
                        )))
                    }
                }
            },
            _ => Err(err(format!("cannot assign to `{lhs}`"))),
        };
    }
    Err(err(format!(
        "`{s}` is not an instruction (A = ..., if (...) goto, goto, return, mem[k] = ...)"
    )))
}

fn parse_return(r: &str) -> Result<Insn, String> {
    if r == "A" {
        return Ok(Insn::stmt(BPF_RET | BPF_A, 0));
    }
    if let Some(k) = number(r) {
        return Ok(Insn::stmt(BPF_RET | BPF_K, k));
    }
    let (name, data) = match r.split_once('(') {
        Some((n, d)) => {
            let d = d
                .strip_suffix(')')
                .ok_or_else(|| format!("missing `)` in `{r}`"))?;
            let v = number(d)
                .filter(|&v| v <= SECCOMP_RET_DATA)
                .ok_or_else(|| format!("`{d}` is not a 16-bit number"))?;
            (n.trim(), v)
        }
        None => (r, 0),
    };
    let name = if name == "KILL_THREAD" { "KILL" } else { name };
    let action = ACTION_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("unknown action `{name}` (ALLOW, ERRNO(n), KILL, KILL_PROCESS, TRAP, TRACE, LOG, USER_NOTIF)"))?;
    Ok(Insn::stmt(BPF_RET | BPF_K, action | data))
}

/// `NNNN` -> offset from the next instruction.
fn goto_target(t: &str, here: &Here) -> Result<usize, String> {
    let n: usize = t
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a line number", t.trim()))?;
    if n <= here.pc {
        return Err(format!(
            "goto {n:04} from line {:04}: jumps only go forward",
            here.pc
        ));
    }
    Ok(n - here.pc - 1)
}

/// `(cond) goto N [else goto M]`.
fn parse_if(s: &str, here: &Here, ctx: Option<&Ctx>, arch: Option<Arch>) -> Result<Insn, String> {
    let close = s
        .rfind(") goto ")
        .ok_or_else(|| format!("expected `if (...) goto NNNN`, got `if {s}`"))?;
    let cond = s[..close]
        .strip_prefix('(')
        .ok_or("expected `(` after `if`")?
        .trim();
    let tail = &s[close + ") goto ".len()..];
    let (t, e) = match tail.split_once(" else goto ") {
        Some((t, e)) => (t, Some(e)),
        None => (tail, None),
    };
    let taken = goto_target(t, here)?;
    let other = e.map(|e| goto_target(e, here)).transpose()?.unwrap_or(0);
    let short = |off: usize| {
        u8::try_from(off).map_err(|_| {
            format!("jump of {off} instructions; conditional jumps reach 255 (use goto)")
        })
    };
    // `!(A & k)` and `A != k`, `A < k`, `A <= k` are the false branch of JSET, JEQ, JGE, JGT.
    let (op, operand, negated) =
        if let Some(inner) = cond.strip_prefix("!(").and_then(|c| c.strip_suffix(')')) {
            let operand = inner
                .trim()
                .strip_prefix("A &")
                .ok_or("expected `!(A & ...)`")?;
            (BPF_JSET, operand.trim(), true)
        } else {
            let rest = cond
                .strip_prefix("A ")
                .ok_or("conditions compare A: `A == ...`")?
                .trim_start();
            let (opstr, operand) = rest.split_once(' ').ok_or("expected `A <op> <operand>`")?;
            let (op, negated) = match opstr {
                "==" => (BPF_JEQ, false),
                "!=" => (BPF_JEQ, true),
                ">" => (BPF_JGT, false),
                "<=" => (BPF_JGT, true),
                ">=" => (BPF_JGE, false),
                "<" => (BPF_JGE, true),
                "&" => (BPF_JSET, false),
                _ => return Err(format!("unknown comparison `{opstr}`")),
            };
            (op, operand.trim(), negated)
        };
    let (src, k) = if operand == "X" {
        (BPF_X, 0)
    } else {
        (BPF_K, operand_value(operand, ctx, arch)?)
    };
    let (jt, jf) = if negated {
        (other, taken)
    } else {
        (taken, other)
    };
    Ok(Insn::jump(BPF_JMP | op | src, k, short(jt)?, short(jf)?))
}

/// A number, an `ARCH_*` name or a syscall name.
fn operand_value(s: &str, ctx: Option<&Ctx>, arch: Option<Arch>) -> Result<u32, String> {
    if let Some(k) = number(s) {
        return Ok(k);
    }
    if let Some((_, v)) = ARCH_NAMES.iter().find(|(n, _)| *n == s) {
        return Ok(*v);
    }
    let (abi, name) = match s.split_once('.') {
        Some((abi, name)) => (Some(abi.parse::<Arch>().map_err(|e| e.to_string())?), name),
        None => {
            let known = ctx.and_then(|c| c.arch);
            (base_abi(known, arch), s)
        }
    };
    let Some(abi) = abi else {
        return Err(format!(
            "`{s}` needs an ABI: compare `arch` first, write `x86_64.{s}`, or pass one to assemble_with"
        ));
    };
    abi.by_name(name)
        .map(|sc| sc.nr)
        .ok_or_else(|| format!("{abi} has no syscall `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn assembles_hand_written_pseudo_code() {
        let text = "\
# allow getpid and personality(0xffffffff) on x86_64
A = arch
if (A != ARCH_X86_64) goto 0010
A = sys_number
if (A == getpid) goto 0009
if (A != personality) goto 0008
A = args[0] # persona
if (A == 0xffffffff) goto 0009
return ERRNO(1)
return ERRNO(38)
return ALLOW
return KILL_PROCESS
";
        let p = assemble(text).unwrap();
        let want = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_ARCH),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000_003e, 0, 8),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 5, 0),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 135, 0, 3),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, offset_arg_lo(0)),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0xffff_ffff, 2, 0),
            Insn::stmt(BPF_RET | BPF_K, ret_errno(1)),
            Insn::stmt(BPF_RET | BPF_K, ret_errno(38)),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        ])
        .unwrap();
        assert_eq!(p, want);
    }

    #[test]
    fn every_pseudo_form() {
        let text = "\
X = len
A = len
A = 7
X = 0x10
mem[3] = A
mem[4] = X
A = mem[3]
X = mem[4]
A += 0x1
A -= X
A *= 3
A /= 2
A |= X
A &= 0xff
A ^= 1
A <<= 4
A >>= X
A = -A
X = A
A = X
A = instruction_pointer >> 32
A = args[5] >> 32
if (A > 5) goto 0023 else goto 0024
if (A <= X) goto 0024
if (!(A & 0x4)) goto 0025
goto 0026
return A
return TRAP(3)
";
        let p = assemble(text).unwrap();
        let codes: Vec<u16> = p.insns().iter().map(|i| i.code).collect();
        assert_eq!(
            codes,
            vec![
                0x81, 0x80, 0x00, 0x01, 0x02, 0x03, 0x60, 0x61, 0x04, 0x1c, 0x24, 0x34, 0x4c, 0x54,
                0xa4, 0x64, 0x7c, 0x84, 0x07, 0x87, 0x20, 0x20, 0x25, 0x2d, 0x45, 0x05, 0x16, 0x06
            ]
        );
        assert_eq!(p.insns()[20].k, 12);
        assert_eq!(p.insns()[21].k, 60);
        assert_eq!((p.insns()[22].jt, p.insns()[22].jf), (0, 1));
        assert_eq!((p.insns()[23].jt, p.insns()[23].jf), (0, 0));
        assert_eq!((p.insns()[24].jt, p.insns()[24].jf), (0, 0));
        assert_eq!(p.insns()[27].k, SECCOMP_RET_TRAP | 3);
    }

    #[test]
    fn names_resolve_per_abi() {
        let text = "A = sys_number\nif (A == x86.socketcall) goto 0003\nif (A == x32.read) goto 0003\nreturn ALLOW\n";
        let p = assemble(text).unwrap();
        assert_eq!(p.insns()[1].k, 102);
        assert_eq!(p.insns()[2].k, 0x4000_0000);
        let bare = "A = sys_number\nif (A == read) goto 0002\nreturn ALLOW\n";
        let e = assemble(bare).unwrap_err().to_string();
        assert!(e.starts_with("2:1: `read` needs an ABI"), "{e}");
        assert_eq!(
            assemble_with(bare, Some(Arch::Aarch64)).unwrap().insns()[1].k,
            63
        );
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
        let e = assemble("A = sys_number\ngoto 0000\nreturn ALLOW\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "2:1: goto 0000 from line 0001: jumps only go forward");
        let e = assemble("  0000: A = frobnicate\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "1:9: cannot load `frobnicate` into A");
        let e = assemble("return MAYBE\n").unwrap_err().to_string();
        assert!(e.starts_with("1:1: unknown action `MAYBE`"), "{e}");
        let e = assemble("A = sys_number\n/* no-op */\nreturn ALLOW\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2:1: `/* no-op */`"), "{e}");
    }
}
