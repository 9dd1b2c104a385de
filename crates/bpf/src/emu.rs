//! Evaluates a program on one `seccomp_data`, the way the kernel runs it.

use crate::consts::*;
use crate::insn::SeccompData;
use crate::program::Program;

/// The result of running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// The filter's return value (`SECCOMP_RET_*` action and data).
    pub ret: u32,
    /// Number of instructions executed, the final return included.
    pub executed: usize,
}

/// Runs `p` on `d`.
///
/// Semantics follow the kernel's translation of classic BPF (`bpf_convert_filter()` in
/// `net/core/filter.c`) as run by the eBPF interpreter and JITs:
/// - A and X start at 0; arithmetic is 32-bit and wraps.
/// - `A /= X` with `X == 0` ends the filter with return value 0 (`SECCOMP_RET_KILL_THREAD`):
///   classic BPF has always returned 0 on a division by zero.
/// - Shifts by X use the low five bits of X (`A << (X & 31)`), as the eBPF interpreter and the
///   x86 `shl`/`shr` instructions do.
/// - `BPF_LEN` loads 64, `sizeof(struct seccomp_data)`; `seccomp_check_filter()` rewrites it.
///
/// Never panics: a [`Program`] is validated, so every jump, load and scratch slot is in range.
pub fn run(p: &Program, d: &SeccompData) -> Outcome {
    exec(p, d, &mut |_| {})
}

/// Like [`run`], and also returns the index of every executed instruction, in order.
pub fn trace(p: &Program, d: &SeccompData) -> (Outcome, Vec<usize>) {
    let mut path = Vec::new();
    let out = exec(p, d, &mut |pc| path.push(pc));
    (out, path)
}

fn exec(p: &Program, d: &SeccompData, visit: &mut dyn FnMut(usize)) -> Outcome {
    let insns = p.insns();
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; BPF_MEMWORDS as usize];
    let mut pc: usize = 0;
    let mut executed: usize = 0;
    // Fail closed should an impossible state occur: the kernel's own fallback is to kill.
    const FAIL: u32 = SECCOMP_RET_KILL_PROCESS;
    while let Some(insn) = insns.get(pc) {
        executed += 1;
        visit(pc);
        let k = insn.k;
        let code = insn.code;
        let mut next = pc + 1;
        match class(code) {
            BPF_LD | BPF_LDX => {
                let mode = code & 0xe0;
                let v = match mode {
                    BPF_IMM => k,
                    BPF_LEN => SECCOMP_DATA_SIZE,
                    BPF_ABS => match d.load(k) {
                        Some(v) => v,
                        None => {
                            return Outcome {
                                ret: FAIL,
                                executed,
                            };
                        }
                    },
                    BPF_MEM => match mem.get(k as usize) {
                        Some(&v) => v,
                        None => {
                            return Outcome {
                                ret: FAIL,
                                executed,
                            };
                        }
                    },
                    _ => {
                        return Outcome {
                            ret: FAIL,
                            executed,
                        };
                    }
                };
                if class(code) == BPF_LD {
                    a = v;
                } else {
                    x = v;
                }
            }
            BPF_ST | BPF_STX => {
                let v = if class(code) == BPF_ST { a } else { x };
                match mem.get_mut(k as usize) {
                    Some(slot) => *slot = v,
                    None => {
                        return Outcome {
                            ret: FAIL,
                            executed,
                        };
                    }
                }
            }
            BPF_ALU => {
                let s = if src(code) == BPF_X { x } else { k };
                a = match op(code) {
                    BPF_ADD => a.wrapping_add(s),
                    BPF_SUB => a.wrapping_sub(s),
                    BPF_MUL => a.wrapping_mul(s),
                    BPF_DIV => match a.checked_div(s) {
                        Some(v) => v,
                        // Division by X == 0: the program returns 0.
                        None => return Outcome { ret: 0, executed },
                    },
                    BPF_OR => a | s,
                    BPF_AND => a & s,
                    BPF_XOR => a ^ s,
                    BPF_LSH => a << (s & 31),
                    BPF_RSH => a >> (s & 31),
                    BPF_NEG => a.wrapping_neg(),
                    _ => {
                        return Outcome {
                            ret: FAIL,
                            executed,
                        };
                    }
                };
            }
            BPF_JMP => {
                if op(code) == BPF_JA {
                    next = pc + 1 + k as usize;
                } else {
                    let s = if src(code) == BPF_X { x } else { k };
                    let taken = match op(code) {
                        BPF_JEQ => a == s,
                        BPF_JGT => a > s,
                        BPF_JGE => a >= s,
                        BPF_JSET => a & s != 0,
                        _ => {
                            return Outcome {
                                ret: FAIL,
                                executed,
                            };
                        }
                    };
                    next = pc + 1 + usize::from(if taken { insn.jt } else { insn.jf });
                }
            }
            BPF_RET => {
                let ret = if code & 0x18 == BPF_A { a } else { k };
                return Outcome { ret, executed };
            }
            _ => {
                // BPF_MISC
                if code & 0xf8 == BPF_TXA {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
        pc = next;
    }
    Outcome {
        ret: FAIL,
        executed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::Insn;

    fn prog(insns: &[Insn]) -> Program {
        Program::new(insns.to_vec()).unwrap()
    }

    fn data(nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData::new(0xc000_003e, nr, args)
    }

    #[test]
    fn counts_executed_instructions() {
        let p = prog(&[
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            Insn::stmt(BPF_RET | BPF_K, ret_errno(1)),
        ]);
        assert_eq!(
            run(&p, &data(39, [0; 6])),
            Outcome {
                ret: SECCOMP_RET_ALLOW,
                executed: 3
            }
        );
        assert_eq!(
            run(&p, &data(40, [0; 6])),
            Outcome {
                ret: ret_errno(1),
                executed: 3
            }
        );
    }

    #[test]
    fn alu_x_register_and_scratch_memory() {
        let p = prog(&[
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, offset_arg_lo(0)),
            Insn::stmt(BPF_ST, 5),
            Insn::stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
            Insn::stmt(BPF_ALU | BPF_ADD | BPF_X, 0), // A = arg0 + 64
            Insn::stmt(BPF_MISC | BPF_TAX, 0),
            Insn::stmt(BPF_LD | BPF_MEM, 5),
            Insn::stmt(BPF_ALU | BPF_LSH | BPF_K, 4),
            Insn::stmt(BPF_ALU | BPF_SUB | BPF_X, 0), // A = arg0*16 - (arg0+64)
            Insn::stmt(BPF_ALU | BPF_NEG, 0),
            Insn::stmt(BPF_RET | BPF_A, 0),
        ]);
        let out = run(&p, &data(0, [10, 0, 0, 0, 0, 0]));
        assert_eq!(out.ret, (74u32).wrapping_sub(160));
        assert_eq!(out.executed, 10);
    }

    #[test]
    fn trace_lists_the_path() {
        let p = prog(&[
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            Insn::stmt(BPF_RET | BPF_K, ret_errno(1)),
        ]);
        let (out, path) = trace(&p, &data(40, [0; 6]));
        assert_eq!(path, vec![0, 1, 3]);
        assert_eq!(out, run(&p, &data(40, [0; 6])));
    }

    #[test]
    fn division_by_zero_x_returns_zero() {
        let p = prog(&[
            Insn::stmt(BPF_LD | BPF_IMM, 7),
            Insn::stmt(BPF_ALU | BPF_DIV | BPF_X, 0),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        ]);
        assert_eq!(
            run(&p, &data(0, [0; 6])),
            Outcome {
                ret: 0,
                executed: 2
            }
        );
    }

    #[test]
    fn shift_by_x_uses_low_five_bits() {
        let p = prog(&[
            Insn::stmt(BPF_LDX | BPF_IMM, 33),
            Insn::stmt(BPF_LD | BPF_IMM, 1),
            Insn::stmt(BPF_ALU | BPF_LSH | BPF_X, 0),
            Insn::stmt(BPF_RET | BPF_A, 0),
        ]);
        assert_eq!(run(&p, &data(0, [0; 6])).ret, 2);
    }
}
