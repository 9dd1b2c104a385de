//! Disassembly in seccomp-tools' `disasm` layout.
//!
//! ```text
//!  line  CODE  JT   JF      K
//! =================================
//!  0000: 0x20 0x00 0x00 0x00000004  A = arch
//!  0001: 0x15 0x00 0x02 0xc000003e  if (A != ARCH_X86_64) goto 0004
//!  0002: 0x20 0x00 0x00 0x00000000  A = sys_number
//!  0003: 0x15 0x01 0x00 0x00000027  if (A == getpid) goto 0005
//!  0004: 0x06 0x00 0x00 0x00050001  return ERRNO(1)
//!  0005: 0x06 0x00 0x00 0x7fff0000  return ALLOW
//! ```
//!
//! Each line shows the raw fields and pseudo-code. Like seccomp-tools, the disassembler follows
//! what A holds along every path: a comparison of `sys_number` for equality shows the syscall
//! name, resolved in the ABI that the preceding `arch` checks establish on every path to that
//! instruction (x32 when the number has bit 30 set), or else in the ABI passed in; when that
//! ABI differs from the one passed in (without one: from the ABI the `arch` check names, so x32
//! numbers under an x86_64 check), the name is prefixed with it (`x86.socketcall`). A
//! comparison of `arch` shows `ARCH_*` names; other constants compared with loaded data show in
//! hex, other constants in decimal.
//!
//! Differences from seccomp-tools: return values with data show it (`TRAP(3)`), not only
//! `ERRNO(n)`; unknown actions show in hex; ABIs are named as in moat (`x86`, not `i386`); there is
//! no argument-name inference (`A = args[0]`).

use moat_syscalls::Arch;

use crate::ByteOrder;
use crate::consts::*;
use crate::program::Program;

/// The header seccomp-tools prints above the instructions.
pub const HEADER: &str = " line  CODE  JT   JF      K\n=================================\n";

/// What a register or scratch slot holds, as far as the disassembler can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Val {
    Unknown,
    /// A word of `seccomp_data` at this offset.
    Data(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub(crate) a: Val,
    x: Val,
    mem: [Val; 16],
    /// The `arch` value every path to here has compared equal, if any.
    pub(crate) arch: Option<u32>,
}

impl Ctx {
    pub(crate) fn start() -> Ctx {
        Ctx {
            a: Val::Unknown,
            x: Val::Unknown,
            mem: [Val::Unknown; 16],
            arch: None,
        }
    }

    pub(crate) fn join(&mut self, other: &Ctx) {
        fn j<T: PartialEq + Copy>(a: &mut T, b: T, top: T) {
            if *a != b {
                *a = top;
            }
        }
        j(&mut self.a, other.a, Val::Unknown);
        j(&mut self.x, other.x, Val::Unknown);
        for (m, o) in self.mem.iter_mut().zip(other.mem.iter()) {
            j(m, *o, Val::Unknown);
        }
        if self.arch != other.arch {
            self.arch = None;
        }
    }
}

/// Disassembles `p`. `arch` names syscall numbers where the program itself does not establish
/// the ABI; with `None`, such numbers stay numeric.
pub fn disasm(p: &Program, arch: Option<Arch>) -> String {
    let insns = p.insns();
    let n = insns.len();
    let mut ctxs: Vec<Option<Ctx>> = vec![None; n];
    if let Some(c) = ctxs.first_mut() {
        *c = Some(Ctx::start());
    }
    let mut out = String::with_capacity(HEADER.len() + n * 64);
    out.push_str(HEADER);
    for pc in 0..n {
        let insn = insns[pc];
        // Unreachable instructions are shown without context.
        let ctx = ctxs[pc].clone().unwrap_or_else(Ctx::start);
        let text = render(pc, insn, &ctx, arch);
        out.push_str(&format!(
            " {pc:04}: 0x{:02x} 0x{:02x} 0x{:02x} 0x{:08x}  {text}\n",
            insn.code, insn.jt, insn.jf, insn.k
        ));
        if ctxs[pc].is_none() {
            continue;
        }
        for (succ, c) in successors(pc, insn, ctx) {
            if let Some(slot) = ctxs.get_mut(succ) {
                match slot {
                    Some(existing) => existing.join(&c),
                    None => *slot = Some(c),
                }
            }
        }
    }
    out
}

pub(crate) fn successors(pc: usize, insn: crate::Insn, mut c: Ctx) -> Vec<(usize, Ctx)> {
    let k = insn.k;
    let next = pc + 1;
    match class(insn.code) {
        BPF_RET => vec![],
        BPF_JMP if op(insn.code) == BPF_JA => vec![(next + k as usize, c)],
        BPF_JMP => {
            let t = next + usize::from(insn.jt);
            let f = next + usize::from(insn.jf);
            if t == f {
                return vec![(t, c)];
            }
            let mut ct = c.clone();
            if insn.code == BPF_JMP | BPF_JEQ | BPF_K && c.a == Val::Data(OFFSET_ARCH) {
                ct.arch = Some(k);
            }
            vec![(t, ct), (f, c)]
        }
        cls => {
            let mode = insn.code & 0xe0;
            let slot = (k as usize).min(15);
            match cls {
                BPF_LD | BPF_LDX => {
                    let v = match mode {
                        BPF_ABS => Val::Data(k),
                        BPF_MEM => c.mem[slot],
                        _ => Val::Unknown,
                    };
                    if cls == BPF_LD {
                        c.a = v;
                    } else {
                        c.x = v;
                    }
                }
                BPF_ST => c.mem[slot] = c.a,
                BPF_STX => c.mem[slot] = c.x,
                BPF_ALU => c.a = Val::Unknown,
                _ => {
                    if insn.code & 0xf8 == BPF_TXA {
                        c.a = c.x;
                    } else {
                        c.x = c.a;
                    }
                }
            }
            vec![(next, c)]
        }
    }
}

fn render(pc: usize, insn: crate::Insn, ctx: &Ctx, arch: Option<Arch>) -> String {
    let (code, k) = (insn.code, insn.k);
    match class(code) {
        BPF_LD | BPF_LDX => {
            let reg = if class(code) == BPF_LD { "A" } else { "X" };
            let what = match code & 0xe0 {
                BPF_ABS => data_name(k, order(ctx.arch, arch)),
                BPF_MEM => format!("mem[{k}]"),
                BPF_LEN => SECCOMP_DATA_SIZE.to_string(),
                _ => k.to_string(),
            };
            format!("{reg} = {what}")
        }
        BPF_ST => format!("mem[{k}] = A"),
        BPF_STX => format!("mem[{k}] = X"),
        BPF_ALU => {
            let sym = match op(code) {
                BPF_ADD => "+",
                BPF_SUB => "-",
                BPF_MUL => "*",
                BPF_DIV => "/",
                BPF_OR => "|",
                BPF_AND => "&",
                BPF_LSH => "<<",
                BPF_RSH => ">>",
                BPF_XOR => "^",
                BPF_MOD => "%",
                _ => return "A = -A".to_owned(),
            };
            let operand = if src(code) == BPF_X {
                "X".to_owned()
            } else if matches!(op(code), BPF_LSH | BPF_RSH) {
                k.to_string()
            } else {
                format!("0x{k:x}")
            };
            format!("A {sym}= {operand}")
        }
        BPF_JMP => render_jump(pc, insn, ctx, arch),
        BPF_RET => {
            if code & 0x18 == BPF_A {
                "return A".to_owned()
            } else {
                format!("return {}", action_name(k))
            }
        }
        _ => {
            if code & 0xf8 == BPF_TXA {
                "A = X".to_owned()
            } else {
                "X = A".to_owned()
            }
        }
    }
}

fn render_jump(pc: usize, insn: crate::Insn, ctx: &Ctx, arch: Option<Arch>) -> String {
    let goto = |off: usize| format!("goto {:04}", pc + 1 + off);
    let code = insn.code;
    if op(code) == BPF_JA {
        return goto(insn.k as usize);
    }
    let (jt, jf) = (usize::from(insn.jt), usize::from(insn.jf));
    if jt == 0 && jf == 0 {
        return "/* no-op */".to_owned();
    }
    if jt == jf {
        return goto(jt);
    }
    let operand = operand(insn, ctx, arch);
    if jt == 0 {
        let cond = match op(code) {
            BPF_JSET => format!("!(A & {operand})"),
            BPF_JGE => format!("A < {operand}"),
            BPF_JGT => format!("A <= {operand}"),
            _ => format!("A != {operand}"),
        };
        return format!("if ({cond}) {}", goto(jf));
    }
    let sym = match op(code) {
        BPF_JSET => "&",
        BPF_JGE => ">=",
        BPF_JGT => ">",
        _ => "==",
    };
    let mut s = format!("if (A {sym} {operand}) {}", goto(jt));
    if jf != 0 {
        s.push_str(&format!(" else {}", goto(jf)));
    }
    s
}

fn operand(insn: crate::Insn, ctx: &Ctx, arch: Option<Arch>) -> String {
    let k = insn.k;
    if src(insn.code) == BPF_X {
        return "X".to_owned();
    }
    let hex = format!("0x{k:x}");
    match ctx.a {
        Val::Data(OFFSET_NR) if op(insn.code) == BPF_JEQ => {
            syscall_name(k, ctx.arch, arch).unwrap_or(hex)
        }
        Val::Data(OFFSET_ARCH) => arch_name(k).map(str::to_owned).unwrap_or(hex),
        Val::Data(_) => hex,
        Val::Unknown => k.to_string(),
    }
}

/// The ABI whose syscall names print without prefix: the one passed in, else the one the
/// `arch` checks establish (x86_64 for `AUDIT_ARCH_X86_64`, x32 numbers then get a prefix).
pub(crate) fn base_abi(known_audit: Option<u32>, arch: Option<Arch>) -> Option<Arch> {
    arch.or_else(|| Arch::of(known_audit?, 0))
}

/// The name of syscall `nr` in the ABI the context establishes (else in `arch`), prefixed with
/// that ABI (`x86.socketcall`) when it is not [`base_abi`].
fn syscall_name(nr: u32, known_audit: Option<u32>, arch: Option<Arch>) -> Option<String> {
    let audit = known_audit.or(arch.map(Arch::audit_arch))?;
    let abi = Arch::of(audit, nr)?;
    let name = abi.by_nr(nr)?.name;
    if base_abi(known_audit, arch) == Some(abi) {
        Some(name.to_owned())
    } else {
        Some(format!("{}.{name}", abi.name()))
    }
}

/// `ARCH_*` names of the `AUDIT_ARCH_*` values (seccomp-tools' spelling where it has one).
pub const ARCH_NAMES: &[(&str, u32)] = &[
    ("ARCH_X86_64", 0xc000_003e),
    ("ARCH_I386", 0x4000_0003),
    ("ARCH_AARCH64", 0xc000_00b7),
    ("ARCH_ARM", 0x4000_0028),
    ("ARCH_RISCV64", 0xc000_00f3),
    ("ARCH_PPC64LE", 0xc000_0015),
    ("ARCH_S390X", 0x8000_0016),
    ("ARCH_LOONGARCH64", 0xc000_0102),
];

pub(crate) fn arch_name(audit: u32) -> Option<&'static str> {
    ARCH_NAMES
        .iter()
        .find(|(_, v)| *v == audit)
        .map(|(n, _)| *n)
}

/// The byte order of the data at an instruction: that of the ABI every path to it checked, else
/// that of the ABI passed in, else little-endian.
pub(crate) fn order(known_audit: Option<u32>, arch: Option<Arch>) -> ByteOrder {
    match known_audit.or(arch.map(Arch::audit_arch)) {
        Some(audit) => ByteOrder::of_audit_arch(audit),
        None => ByteOrder::Little,
    }
}

/// The pseudo-code name of a `seccomp_data` word in the given layout (on s390x the word at 16
/// is `args[0] >> 32`).
fn data_name(k: u32, order: ByteOrder) -> String {
    let field = match k {
        OFFSET_NR => return "sys_number".to_owned(),
        OFFSET_ARCH => return "arch".to_owned(),
        8 | 12 => "instruction_pointer".to_owned(),
        16..=60 if k & 3 == 0 => format!("args[{}]", (k - OFFSET_ARGS) / 8),
        _ => return "INVALID".to_owned(),
    };
    if order.is_high_word(k) {
        format!("{field} >> 32")
    } else {
        field
    }
}

/// Names of the `SECCOMP_RET_*` actions as seccomp-tools prints them.
pub const ACTION_NAMES: &[(&str, u32)] = &[
    ("KILL_PROCESS", SECCOMP_RET_KILL_PROCESS),
    ("KILL", SECCOMP_RET_KILL_THREAD),
    ("TRAP", SECCOMP_RET_TRAP),
    ("ERRNO", SECCOMP_RET_ERRNO),
    ("USER_NOTIF", SECCOMP_RET_USER_NOTIF),
    ("TRACE", SECCOMP_RET_TRACE),
    ("LOG", SECCOMP_RET_LOG),
    ("ALLOW", SECCOMP_RET_ALLOW),
];

/// A return value as text: `ALLOW`, `ERRNO(1)`, `TRAP(3)`, `KILL`, or hex for an unknown action.
pub fn action_name(ret: u32) -> String {
    let action = ret & SECCOMP_RET_ACTION_FULL;
    let data = ret & SECCOMP_RET_DATA;
    match ACTION_NAMES.iter().find(|(_, v)| *v == action) {
        Some(("ERRNO", _)) => format!("ERRNO({data})"),
        Some((name, _)) if data == 0 => (*name).to_owned(),
        Some((name, _)) => format!("{name}({data})"),
        None => format!("0x{ret:08x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{Builder, JumpOp};
    use crate::insn::Insn;

    #[test]
    fn layout_matches_seccomp_tools() {
        let mut b = Builder::new();
        let [kill, allow, deny] = [b.label(), b.label(), b.label()];
        b.load(OFFSET_ARCH);
        let ok = b.label();
        b.jump(JumpOp::Eq, 0xc000_003e, ok, kill);
        b.bind(ok);
        b.load(OFFSET_NR);
        let n = b.label();
        b.jump(JumpOp::Ge, 0x4000_0000, kill, n);
        b.bind(n);
        let n2 = b.label();
        b.jump(JumpOp::Eq, 39, allow, n2);
        b.bind(n2);
        b.load(offset_arg_hi(1));
        b.jump(JumpOp::Set, 4, deny, allow);
        b.bind(deny);
        b.ret(ret_errno(1));
        b.bind(allow);
        b.ret(SECCOMP_RET_ALLOW);
        b.bind(kill);
        b.ret(SECCOMP_RET_KILL_THREAD);
        let p = b.finish().unwrap();
        let text = disasm(&p, None);
        let want = " line  CODE  JT   JF      K
=================================
 0000: 0x20 0x00 0x00 0x00000004  A = arch
 0001: 0x15 0x00 0x07 0xc000003e  if (A != ARCH_X86_64) goto 0009
 0002: 0x20 0x00 0x00 0x00000000  A = sys_number
 0003: 0x35 0x05 0x00 0x40000000  if (A >= 0x40000000) goto 0009
 0004: 0x15 0x03 0x00 0x00000027  if (A == getpid) goto 0008
 0005: 0x20 0x00 0x00 0x0000001c  A = args[1] >> 32
 0006: 0x45 0x00 0x01 0x00000004  if (!(A & 0x4)) goto 0008
 0007: 0x06 0x00 0x00 0x00050001  return ERRNO(1)
 0008: 0x06 0x00 0x00 0x7fff0000  return ALLOW
 0009: 0x06 0x00 0x00 0x00000000  return KILL
";
        assert_eq!(text, want);
    }

    /// s390x is big-endian: after an `arch == ARCH_S390X` check (or with `--arch s390x`) the word
    /// at 16 is the high half of `args[0]` and the word at 20 its low half (offsets by hand from
    /// `struct seccomp_data`), and the assembler reads the names back to the same offsets.
    #[test]
    fn s390x_argument_words_are_named_big_endian() {
        let insns = vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_ARCH),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x8000_0016, 0, 5),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 20),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 16),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 60),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 8),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 12),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        ];
        let p = Program::new(insns).unwrap();
        let text = disasm(&p, None);
        let names: Vec<&str> = text
            .lines()
            .skip(4)
            .take(5)
            .map(|l| l.split("  ").last().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "A = args[0]",
                "A = args[0] >> 32",
                "A = args[5]",
                "A = instruction_pointer >> 32",
                "A = instruction_pointer"
            ],
            "{text}"
        );
        assert_eq!(crate::asm::assemble(&text).unwrap(), p);
        // Without the arch check, `--arch s390x` gives the layout.
        let bare = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 20),
            Insn::stmt(BPF_RET | BPF_A, 0),
        ])
        .unwrap();
        let text = disasm(&bare, Some(Arch::S390x));
        assert!(text.contains("A = args[0]\n"), "{text}");
        assert_eq!(
            crate::asm::assemble_with(&text, Some(Arch::S390x)).unwrap(),
            bare
        );
        assert!(disasm(&bare, None).contains("A = args[0] >> 32"));
    }

    #[test]
    fn names_follow_the_arch_check_and_prefix_foreign_abis() {
        let insns = vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_ARCH),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x4000_0003, 0, 3),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 102, 4, 0),
            Insn::stmt(BPF_RET | BPF_K, 0),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x4000_0000, 1, 0),
            Insn::stmt(BPF_RET | BPF_K, 0x7fc0_0000),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP | 3),
        ];
        let p = Program::new(insns).unwrap();
        let text = disasm(&p, Some(Arch::X86_64));
        assert!(
            text.contains("if (A == x86.socketcall) goto 0008"),
            "{text}"
        );
        // Not under the i386 check: resolved with the ABI passed in, x32 by bit 30.
        assert!(text.contains("if (A == x32.read) goto 0008"), "{text}");
        assert!(text.contains("return USER_NOTIF"), "{text}");
        assert!(text.contains("return TRAP(3)"), "{text}");
        let plain = disasm(&p, None);
        assert!(plain.contains("if (A == socketcall) goto 0008"), "{plain}");
        assert!(plain.contains("if (A == 0x40000000) goto 0008"), "{plain}");
        // Under an x86_64 check without an ABI passed in, x32 numbers carry their prefix.
        let x64 = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_ARCH),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000_003e, 0, 4),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x4000_0000, 2, 0),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
            Insn::stmt(BPF_RET | BPF_K, 0),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        ])
        .unwrap();
        let t = disasm(&x64, None);
        assert!(t.contains("if (A == x32.read) goto 0006"), "{t}");
        assert!(t.contains("if (A == read) goto 0006"), "{t}");
    }

    #[test]
    fn alu_and_misc_text() {
        let p = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_IMM, 5),
            Insn::stmt(BPF_ALU | BPF_LSH | BPF_K, 3),
            Insn::stmt(BPF_ALU | BPF_ADD | BPF_K, 255),
            Insn::stmt(BPF_ALU | BPF_SUB | BPF_X, 0),
            Insn::stmt(BPF_ALU | BPF_NEG, 0),
            Insn::stmt(BPF_MISC | BPF_TAX, 0),
            Insn::stmt(BPF_ST, 2),
            Insn::stmt(BPF_LDX | BPF_MEM, 2),
            Insn::stmt(BPF_LD | BPF_W | BPF_LEN, 0),
            Insn::jump(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 0),
            Insn::stmt(BPF_RET | BPF_A, 0),
        ])
        .unwrap();
        let t = disasm(&p, None);
        for want in [
            "A = 5",
            "A <<= 3",
            "A += 0xff",
            "A -= X",
            "A = -A",
            "X = A",
            "mem[2] = A",
            "X = mem[2]",
            "A = 64",
            "/* no-op */",
            "return A",
        ] {
            assert!(t.contains(&format!("  {want}\n")), "{want} in\n{t}");
        }
    }
}
