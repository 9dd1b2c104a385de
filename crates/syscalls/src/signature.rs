//! Parameter names, C types and widths of every syscall, per ABI.
//!
//! The table is generated (`cargo xtask gen-syscalls`) from `data/signatures.tsv`, which
//! `cargo xtask gen-signatures` extracts from a kernel source tree: for each ABI the syscall
//! table's entry point and that entry point's `SYSCALL_DEFINEn` (or `COMPAT_SYSCALL_DEFINEn` for
//! the 32-bit ABIs and x32's own entries, which is what a 64-bit kernel runs), plus
//! `data/signature-extras.tsv` for syscalls newer than that kernel and ARM's private calls.
//!
//! Widths follow the declared C types: `int`, `unsigned int`, `pid_t`, `uid_t`, `key_serial_t`,
//! `clockid_t` and the other `int`-sized types are 32-bit ([`Width::U32`]); `long`,
//! `unsigned long`, `size_t`, `loff_t`, `off_t`, `aio_context_t` and pointers are 64-bit
//! ([`Width::U64`]) on the 64-bit ABIs; `umode_t` and the 16-bit uid types read 16 bits
//! ([`Param::bits`]). The syscall wrapper casts each register to the declared type
//! (`__SC_CAST` in include/linux/syscalls.h), so the kernel ignores the bits above a parameter's
//! width: a filter must compare only the low bits, a caller can set the rest to anything.
//!
//! moat's own names win where people already used them (`request` for ioctl's `cmd`, `flags` for
//! clone's `clone_flags`, `pathname` for `filename`); the kernel's name is accepted too
//! ([`Param::is_called`]).

use crate::{Arch, generated_signatures as g};

/// How many bits of a syscall argument carry meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// A C `int`-sized (or smaller) argument: only the low 32 bits of `seccomp_data.args[i]`
    /// count.
    U32,
    /// A `long`, `size_t` or pointer argument: all 64 bits count.
    U64,
}

/// One parameter of a syscall signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    /// The name policies use for it (`flags`, `domain`, `request`).
    pub name: &'static str,
    /// Its position: the index into `seccomp_data.args`.
    pub index: u8,
    /// How many bits the kernel reads, as a filter compares them.
    pub width: Width,
    /// The kernel's name for it in the definition (`cmd` for ioctl's `request`); equal to
    /// [`Param::name`] where moat does not rename it.
    pub kernel_name: &'static str,
    /// The C type the kernel declares (`unsigned int`, `const char __user *`, `umode_t`).
    pub c_type: &'static str,
    /// How many low bits of the register the kernel reads: 16 (`umode_t`, the 16-bit uid and
    /// gid types), 32 or 64. At most 32 on the 32-bit ABIs.
    pub bits: u8,
}

impl Param {
    /// Whether a policy's `name` refers to this parameter: moat's name or the kernel's. A kernel
    /// name of the form `argN` is not a name: `argN` means position N.
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name
            || (self.kernel_name == name
                && positional(self.kernel_name, self.index) == self.kernel_name)
    }

    /// The bits of `seccomp_data.args[index]` the kernel reads: `0xffff`, `0xffff_ffff` or all
    /// ones.
    pub fn mask(&self) -> u64 {
        match self.bits {
            64.. => u64::MAX,
            b => (1u64 << b) - 1,
        }
    }
}

/// A generated entry: the entry point and its parameters (kernel name, C type, bits on the
/// 64-bit ABIs).
pub(crate) type Proto = (&'static str, &'static [(&'static str, &'static str, u8)]);

/// moat's names where they differ from the kernel's: (syscall, [(kernel name, moat name)]).
/// These are the names moat's signatures used before they were generated from the kernel;
/// policies written with them keep working, and the kernel's names work too.
static RENAMES: &[(&str, &[(&str, &str)])] = &[
    (
        "accept",
        &[("upeer_sockaddr", "addr"), ("upeer_addrlen", "addrlen")],
    ),
    (
        "accept4",
        &[("upeer_sockaddr", "addr"), ("upeer_addrlen", "addrlen")],
    ),
    (
        "add_key",
        &[
            ("_type", "type"),
            ("_description", "description"),
            ("_payload", "payload"),
            ("ringid", "keyring"),
        ],
    ),
    ("bind", &[("umyaddr", "addr")]),
    ("bpf", &[("uattr", "attr")]),
    ("chmod", &[("filename", "pathname")]),
    ("chown", &[("filename", "pathname"), ("user", "owner")]),
    ("chroot", &[("filename", "pathname")]),
    (
        "clone",
        &[
            ("clone_flags", "flags"),
            ("parent_tidptr", "parent_tid"),
            ("child_tidptr", "child_tid"),
            ("tls_val", "tls"),
        ],
    ),
    ("connect", &[("uservaddr", "addr")]),
    ("delete_module", &[("name_user", "name")]),
    ("execve", &[("filename", "pathname")]),
    ("execveat", &[("fd", "dirfd"), ("filename", "pathname")]),
    ("fchmodat", &[("dfd", "dirfd"), ("filename", "pathname")]),
    ("fchmodat2", &[("dfd", "dirfd"), ("filename", "pathname")]),
    ("fchown", &[("user", "owner")]),
    (
        "fchownat",
        &[
            ("dfd", "dirfd"),
            ("filename", "pathname"),
            ("user", "owner"),
            ("flag", "flags"),
        ],
    ),
    ("finit_module", &[("uargs", "param_values")]),
    ("ioctl", &[("cmd", "request")]),
    ("lchown", &[("filename", "pathname"), ("user", "owner")]),
    (
        "madvise",
        &[
            ("start", "addr"),
            ("len_in", "length"),
            ("behavior", "advice"),
        ],
    ),
    ("mbind", &[("start", "addr"), ("nmask", "nodemask")]),
    ("memfd_create", &[("uname", "name")]),
    ("mknod", &[("filename", "pathname")]),
    ("mknodat", &[("dfd", "dirfd"), ("filename", "pathname")]),
    (
        "mmap",
        &[("len", "length"), ("off", "offset"), ("arg", "args")],
    ),
    (
        "mmap2",
        &[
            ("len", "length"),
            ("pgoff", "pgoffset"),
            ("off_4k", "pgoffset"),
        ],
    ),
    (
        "mount",
        &[
            ("dev_name", "source"),
            ("dir_name", "target"),
            ("type", "filesystemtype"),
            ("flags", "mountflags"),
        ],
    ),
    ("move_pages", &[("nr_pages", "count")]),
    ("mprotect", &[("start", "addr")]),
    (
        "mremap",
        &[
            ("addr", "old_address"),
            ("old_len", "old_size"),
            ("new_len", "new_size"),
            ("new_addr", "new_address"),
        ],
    ),
    ("open", &[("filename", "pathname")]),
    ("open_by_handle_at", &[("mountdirfd", "mount_fd")]),
    ("openat", &[("dfd", "dirfd"), ("filename", "pathname")]),
    (
        "openat2",
        &[
            ("dfd", "dirfd"),
            ("filename", "pathname"),
            ("usize", "size"),
        ],
    ),
    ("perf_event_open", &[("attr_uptr", "attr")]),
    ("personality", &[("personality", "persona")]),
    ("pkey_mprotect", &[("start", "addr")]),
    (
        "process_vm_readv",
        &[("lvec", "local_iov"), ("rvec", "remote_iov")],
    ),
    (
        "process_vm_writev",
        &[("lvec", "local_iov"), ("rvec", "remote_iov")],
    ),
    ("reboot", &[("magic1", "magic")]),
    (
        "request_key",
        &[
            ("_type", "type"),
            ("_description", "description"),
            ("_callout_info", "callout_info"),
            ("destringid", "dest_keyring"),
        ],
    ),
    ("seccomp", &[("op", "operation"), ("uargs", "args")]),
    ("setfsgid", &[("gid", "fsgid")]),
    ("setfsuid", &[("uid", "fsuid")]),
    (
        "setgroups",
        &[("gidsetsize", "size"), ("grouplist", "list")],
    ),
    ("setns", &[("flags", "nstype")]),
    ("socket", &[("family", "domain")]),
    ("socketpair", &[("family", "domain"), ("usockvec", "sv")]),
    ("tgkill", &[("pid", "tid")]),
    ("tkill", &[("pid", "tid")]),
    ("umount2", &[("name", "target")]),
    ("unshare", &[("unshare_flags", "flags")]),
];

/// Names whose renames are their base name's: the 64-bit-offset and 32-bit-uid twins
/// (`fcntl64` is `fcntl`, `setuid32` is `setuid`, `chown32` is `chown`), and i386's and
/// s390x's `umount` (`oldumount(name)`, umount2 without flags).
fn base_name(name: &str) -> &str {
    match name {
        "fcntl64" => "fcntl",
        "umount" => "umount2",
        _ => name
            .strip_suffix("32")
            .filter(|base| is_uid32_base(base))
            .unwrap_or(name),
    }
}

fn is_uid32_base(base: &str) -> bool {
    matches!(
        base,
        "setuid"
            | "setgid"
            | "setreuid"
            | "setregid"
            | "setresuid"
            | "setresgid"
            | "setfsuid"
            | "setfsgid"
            | "getgroups"
            | "setgroups"
            | "chown"
            | "fchown"
            | "lchown"
    )
}

fn table(arch: Arch) -> &'static [(&'static str, u16)] {
    match arch {
        Arch::X86_64 => g::X86_64,
        Arch::X86 => g::X86,
        Arch::X32 => g::X32,
        Arch::Aarch64 => g::AARCH64,
        Arch::Arm => g::ARM,
        Arch::Riscv64 => g::RISCV64,
        Arch::Ppc64le => g::PPC64LE,
        Arch::S390x => g::S390X,
        Arch::Loongarch64 => g::LOONGARCH64,
    }
}

fn proto(arch: Arch, name: &str) -> Option<&'static Proto> {
    let t = table(arch);
    let i = t.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
    g::PROTOS.get(usize::from(t.get(i)?.1))
}

/// The kernel's entry point for `name` on `arch` (`sys_openat`, `compat_sys_ioctl`), where the
/// signature comes from: `sys_ni_syscall` for a number the kernel reserves without implementing
/// it, `None` where the ABI has no such syscall.
pub fn entry_point(arch: Arch, name: &str) -> Option<&'static str> {
    proto(arch, name).map(|p| p.0)
}

/// The parameters of `name` on `arch`, in argument order, or `None` when the ABI has no such
/// syscall, the syscall takes no parameter (`getpid`), or the kernel does not implement it
/// (`sys_ni_syscall`: it answers `ENOSYS` without reading an argument).
///
/// On the 32-bit ABIs (x86, arm: [`Arch::is_compat32`]) every width is [`Width::U32`], and a
/// 64-bit value takes two parameters (`pos_lo`, `pos_hi`). `clone` follows the ABI's argument
/// order: on s390x `flags` is argument 1.
pub fn signature(arch: Arch, name: &str) -> Option<Vec<Param>> {
    arch.by_name(name)?;
    let &(_, params) = proto(arch, name)?;
    // No parameters: nothing to name or type. Conditions on such a syscall's `argN` compare all
    // 64 bits of registers the kernel never reads; tests use that to probe a filter's argument
    // handling with calls that are harmless whatever the registers hold (getpid, gettid).
    if params.is_empty() {
        return None;
    }
    let renames = RENAMES
        .binary_search_by(|(n, _)| (*n).cmp(base_name(name)))
        .ok()
        .and_then(|i| RENAMES.get(i))
        .map_or(&[][..], |r| r.1);
    Some(
        params
            .iter()
            .zip(0u8..)
            .map(|(&(kernel_name, c_type, bits), index)| {
                let bits = if arch.is_compat32() {
                    bits.min(32)
                } else {
                    bits
                };
                let name = renames
                    .iter()
                    .find(|(k, _)| *k == kernel_name)
                    .map_or(kernel_name, |(_, m)| m);
                Param {
                    name: positional(name, index),
                    index,
                    width: if bits > 32 { Width::U64 } else { Width::U32 },
                    kernel_name,
                    c_type,
                    bits,
                }
            })
            .collect(),
    )
}

/// Policies write `argN` for position N, so a parameter the kernel calls `argN` at another
/// position (prctl's and keyctl's `arg2`..`arg5` are arguments 1..4, arch_prctl's `arg2` is
/// argument 1) takes its positional name: a name that read as another position would compare
/// the wrong register.
fn positional(name: &'static str, index: u8) -> &'static str {
    const ARGS: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];
    if ARGS.contains(&name) {
        ARGS.get(usize::from(index)).copied().unwrap_or(name)
    } else {
        name
    }
}

/// Every name [`signature`] knows (on some ABI), sorted.
pub fn signature_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Arch::ALL
        .iter()
        .flat_map(|a| table(*a).iter())
        .filter(|(_, i)| {
            g::PROTOS
                .get(usize::from(*i))
                .is_some_and(|p| !p.1.is_empty())
        })
        .map(|(n, _)| *n)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter moat or the kernel calls `param`.
    fn find(arch: Arch, name: &str, param: &str) -> Param {
        signature(arch, name)
            .unwrap()
            .into_iter()
            .find(|p| p.is_called(param) || p.kernel_name == param)
            .unwrap()
    }

    #[test]
    fn tables_sorted_and_names_exist() {
        assert!(RENAMES.windows(2).all(|w| w[0].0 < w[1].0));
        for arch in Arch::ALL {
            let t = table(arch);
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{arch}");
            for (name, _) in t {
                assert!(arch.by_name(name).is_some(), "{arch} {name}");
            }
        }
        for name in signature_names() {
            assert!(crate::is_known(name), "{name}");
            assert!(
                crate::abis_with(name)
                    .iter()
                    .any(|a| signature(*a, name).is_some()),
                "{name}"
            );
        }
    }

    /// Every rename names a kernel parameter of its syscall on some ABI, and no name (moat's or
    /// the kernel's) means two parameters of one signature.
    #[test]
    fn renames_apply_and_names_are_unambiguous() {
        for (syscall, renames) in RENAMES {
            for (kernel, _) in *renames {
                let used = Arch::ALL.iter().any(|a| {
                    signature(*a, syscall)
                        .is_some_and(|s| s.iter().any(|p| p.kernel_name == *kernel))
                });
                assert!(used, "{syscall}: no ABI has a kernel parameter {kernel}");
            }
        }
        for arch in Arch::ALL {
            for sc in arch.syscalls() {
                let Some(sig) = signature(arch, sc.name) else {
                    continue;
                };
                assert!(sig.len() <= 6, "{arch} {}", sc.name);
                for p in &sig {
                    for q in &sig {
                        if p.index != q.index {
                            let kernel = p.is_called(p.kernel_name) && q.is_called(p.kernel_name);
                            assert!(
                                !q.is_called(p.name) && !kernel,
                                "{arch} {}: {} and {} share a name",
                                sc.name,
                                p.name,
                                q.name
                            );
                        }
                    }
                }
            }
        }
    }

    /// The generated table covers every syscall of every ABI: with its parameters, or as a
    /// number the kernel reserves without an implementation.
    #[test]
    fn every_syscall_has_an_entry_point() {
        let mut missing = Vec::new();
        for arch in Arch::ALL {
            for sc in arch.syscalls() {
                match (entry_point(arch, sc.name), proto(arch, sc.name)) {
                    (Some(e), _) if e.ends_with("sys_ni_syscall") => {
                        assert_eq!(signature(arch, sc.name), None, "{arch} {}", sc.name);
                    }
                    (Some(_), Some((_, params))) => {
                        assert_eq!(signature(arch, sc.name).is_some(), !params.is_empty());
                    }
                    _ => missing.push(format!("{arch} {}", sc.name)),
                }
            }
        }
        assert!(missing.is_empty(), "no entry point: {missing:?}");
        assert_eq!(entry_point(Arch::X86_64, "tuxcall"), Some("sys_ni_syscall"));
        assert!(signature(Arch::X86_64, "tuxcall").is_none());
    }

    #[test]
    fn kernel_names_are_accepted_beside_moat_names() {
        let ioctl = find(Arch::X86_64, "ioctl", "request");
        assert_eq!((ioctl.kernel_name, ioctl.c_type), ("cmd", "unsigned int"));
        assert!(ioctl.is_called("cmd") && ioctl.is_called("request"));
        let write = signature(Arch::X86_64, "write").unwrap();
        assert_eq!(write[0].name, "fd");
        assert_eq!(write[0].width, Width::U32);
        assert_eq!(write[2].width, Width::U64, "size_t count");
        assert_eq!(entry_point(Arch::X86, "ioctl"), Some("compat_sys_ioctl"));
    }

    /// prctl's `arg2` (the kernel's name) is argument 1: moat names it `arg1`, since a policy's
    /// `arg2` is argument 2.
    #[test]
    fn kernel_names_of_the_form_arg_n_take_their_position() {
        let arg2 = find(Arch::X86_64, "prctl", "arg2");
        assert_eq!(
            (arg2.index, arg2.name, arg2.kernel_name),
            (1, "arg1", "arg2")
        );
        assert!(!arg2.is_called("arg2"), "arg2 is position 2");
        assert_eq!(find(Arch::X86, "keyctl", "arg5").name, "arg4");
        assert_eq!(find(Arch::X86_64, "arch_prctl", "arg2").name, "arg1");
        for arch in Arch::ALL {
            for sc in arch.syscalls() {
                for p in signature(arch, sc.name).unwrap_or_default() {
                    if let Some(n) = p
                        .name
                        .strip_prefix("arg")
                        .and_then(|n| n.parse::<u8>().ok())
                    {
                        assert_eq!(n, p.index, "{arch} {} {}", sc.name, p.name);
                    }
                }
            }
        }
    }

    #[test]
    fn sixteen_bit_types_read_sixteen_bits() {
        let mode = find(Arch::X86_64, "openat", "mode");
        assert_eq!(
            (mode.c_type, mode.bits, mode.mask()),
            ("umode_t", 16, 0xffff)
        );
        assert_eq!(mode.width, Width::U32);
        // i386's setuid is setuid16(old_uid_t); setuid32 takes a full uid_t.
        assert_eq!(find(Arch::X86, "setuid", "uid").bits, 16);
        assert_eq!(find(Arch::X86, "setuid32", "uid").bits, 32);
        assert_eq!(find(Arch::X86_64, "setuid", "uid").bits, 32);
        assert_eq!(find(Arch::X86_64, "write", "count").mask(), u64::MAX);
    }

    /// data/effective-widths.csv: declared `unsigned long`, read as `unsigned int`.
    #[test]
    fn effective_widths_narrow_declared_types() {
        let fd = find(Arch::X86_64, "readv", "fd");
        assert_eq!(
            (fd.c_type, fd.bits, fd.width),
            ("unsigned long", 32, Width::U32)
        );
        assert_eq!(find(Arch::X32, "preadv", "fd").bits, 32);
        assert_eq!(find(Arch::X86_64, "mmap", "fd").bits, 32);
        assert_eq!(find(Arch::X86_64, "mmap", "flags").bits, 64);
        let persona = find(Arch::Ppc64le, "personality", "persona");
        assert_eq!((persona.c_type, persona.bits), ("unsigned long", 32));
    }

    /// 64-bit values on the 32-bit ABIs take a register pair; ARM EABI aligns the pair to an
    /// even register (arch/arm64/kernel/sys32.c's `__pad`).
    #[test]
    fn split_64_bit_values_on_32_bit_abis() {
        let names = |arch, name| -> Vec<&str> {
            signature(arch, name)
                .unwrap()
                .iter()
                .map(|p| p.name)
                .collect()
        };
        assert_eq!(
            names(Arch::X86, "pread64"),
            ["fd", "ubuf", "count", "poslo", "poshi"]
        );
        assert_eq!(
            names(Arch::Arm, "pread64"),
            ["fd", "buf", "count", "__pad", "pos_lo", "pos_hi"]
        );
        assert_eq!(find(Arch::X86_64, "pread64", "pos").width, Width::U64);
    }

    #[test]
    fn clone_order_per_abi() {
        assert_eq!(find(Arch::X86_64, "clone", "flags").index, 0);
        assert_eq!(find(Arch::X86_64, "clone", "tls").index, 4);
        assert_eq!(find(Arch::Aarch64, "clone", "tls").index, 3);
        assert_eq!(find(Arch::Aarch64, "clone", "child_tid").index, 4);
        assert_eq!(find(Arch::S390x, "clone", "flags").index, 1);
        assert_eq!(find(Arch::S390x, "clone", "newsp").index, 0);
        assert_eq!(find(Arch::X86, "clone", "tls").index, 3);
        assert_eq!(find(Arch::X86_64, "clone", "flags").width, Width::U64);
        // loongarch selects no CONFIG_CLONE_BACKWARDS* (arch/loongarch/Kconfig).
        assert_eq!(find(Arch::Loongarch64, "clone", "tls").index, 4);
        assert_eq!(find(Arch::Riscv64, "clone", "tls").index, 3);
    }

    #[test]
    fn widths_follow_c_types() {
        assert_eq!(
            find(Arch::X86_64, "personality", "persona").width,
            Width::U32
        );
        assert_eq!(find(Arch::X86_64, "ioctl", "request").width, Width::U32);
        assert_eq!(find(Arch::X86_64, "ioctl", "request").index, 1);
        assert_eq!(find(Arch::X86_64, "ioctl", "arg").width, Width::U64);
        assert_eq!(find(Arch::X86_64, "socket", "domain").index, 0);
        assert_eq!(find(Arch::X86_64, "socket", "domain").width, Width::U32);
        assert_eq!(find(Arch::X86_64, "unshare", "flags").width, Width::U64);
        assert_eq!(find(Arch::X86_64, "prctl", "option").width, Width::U32);
        assert_eq!(find(Arch::X86_64, "prctl", "arg5").index, 4);
        assert_eq!(find(Arch::X86_64, "openat", "flags").index, 2);
        assert_eq!(find(Arch::X86_64, "mmap", "offset").index, 5);
        assert_eq!(find(Arch::Aarch64, "setns", "nstype").width, Width::U32);
        assert_eq!(find(Arch::X86, "socketcall", "args").width, Width::U32);
    }

    #[test]
    fn compat_abis_are_all_u32() {
        for arch in [Arch::X86, Arch::Arm] {
            for name in ["clone", "unshare", "ioctl", "mmap2", "prctl", "fcntl64"] {
                let sig = signature(arch, name).unwrap();
                assert!(sig.iter().all(|p| p.width == Width::U32), "{arch} {name}");
            }
        }
    }

    #[test]
    fn absent_or_unknown() {
        assert_eq!(
            signature(Arch::Aarch64, "open"),
            None,
            "aarch64 has no open"
        );
        assert_eq!(
            signature(Arch::X86_64, "getpid"),
            None,
            "getpid has no parameters"
        );
        assert_eq!(entry_point(Arch::X86_64, "getpid"), Some("sys_getpid"));
        assert_eq!(signature(Arch::X86_64, "nosuchcall"), None);
        assert_eq!(signature(Arch::X86, "mmap").unwrap().len(), 1, "old_mmap");
        assert_eq!(signature(Arch::X86, "mmap").unwrap()[0].name, "args");
        assert_eq!(signature(Arch::X86, "setuid32").unwrap()[0].name, "uid");
        assert_eq!(signature(Arch::X86, "fcntl64").unwrap()[1].name, "cmd");
    }
}
