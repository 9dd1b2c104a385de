//! Parameter names and widths of the syscalls people filter on.
//!
//! Widths follow the kernel's `SYSCALL_DEFINE` declarations: `int`, `unsigned int`, `pid_t`,
//! `uid_t`, `umode_t`, `key_serial_t` are 32-bit ([`Width::U32`]); `long`, `unsigned long`,
//! `size_t` and pointers are 64-bit ([`Width::U64`]) on the 64-bit ABIs. The kernel ignores the
//! upper half of a 32-bit argument, so a filter must compare only the low word of a `U32`
//! parameter: a caller can set the upper half to anything.

use crate::Arch;

/// How many bits of a syscall argument carry meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// A C `int`-sized argument: only the low 32 bits of `seccomp_data.args[i]` count.
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
    /// How many bits the kernel reads.
    pub width: Width,
}

use Width::{U32, U64};

/// Signatures in argument order for the common (generic) ABI layout, sorted by name.
///
/// Sources: the `SYSCALL_DEFINEn` of each call in the kernel (kernel/fork.c, net/socket.c,
/// ipc/syscall.c, kernel/sys.c, fs/ioctl.c, fs/fcntl.c, mm/mmap.c, mm/mprotect.c, fs/open.c,
/// kernel/signal.c, kernel/ptrace.c, security/keys/keyctl.c, kernel/bpf/syscall.c,
/// kernel/events/core.c, fs/namespace.c, fs/exec.c, mm/madvise.c, mm/mremap.c, kernel/seccomp.c,
/// mm/memfd.c, kernel/pid.c, kernel/kcmp.c, mm/process_vm_access.c, io_uring/io_uring.c,
/// fs/userfaultfd.c, mm/migrate.c, mm/mempolicy.c, kernel/nsproxy.c, kernel/exec_domain.c).
static SIGNATURES: &[(&str, &[(&str, Width)])] = &[
    ("accept", &[("fd", U32), ("addr", U64), ("addrlen", U64)]),
    (
        "accept4",
        &[("fd", U32), ("addr", U64), ("addrlen", U64), ("flags", U32)],
    ),
    (
        "add_key",
        &[
            ("type", U64),
            ("description", U64),
            ("payload", U64),
            ("plen", U64),
            ("keyring", U32),
        ],
    ),
    ("bind", &[("fd", U32), ("addr", U64), ("addrlen", U32)]),
    ("bpf", &[("cmd", U32), ("attr", U64), ("size", U32)]),
    ("chmod", &[("pathname", U64), ("mode", U32)]),
    (
        "chown",
        &[("pathname", U64), ("owner", U32), ("group", U32)],
    ),
    ("chroot", &[("pathname", U64)]),
    ("clone3", &[("uargs", U64), ("size", U64)]),
    ("connect", &[("fd", U32), ("addr", U64), ("addrlen", U32)]),
    ("creat", &[("pathname", U64), ("mode", U32)]),
    ("delete_module", &[("name", U64), ("flags", U32)]),
    ("execve", &[("pathname", U64), ("argv", U64), ("envp", U64)]),
    (
        "execveat",
        &[
            ("dirfd", U32),
            ("pathname", U64),
            ("argv", U64),
            ("envp", U64),
            ("flags", U32),
        ],
    ),
    ("fchmod", &[("fd", U32), ("mode", U32)]),
    (
        "fchmodat",
        &[("dirfd", U32), ("pathname", U64), ("mode", U32)],
    ),
    (
        "fchmodat2",
        &[
            ("dirfd", U32),
            ("pathname", U64),
            ("mode", U32),
            ("flags", U32),
        ],
    ),
    ("fchown", &[("fd", U32), ("owner", U32), ("group", U32)]),
    (
        "fchownat",
        &[
            ("dirfd", U32),
            ("pathname", U64),
            ("owner", U32),
            ("group", U32),
            ("flags", U32),
        ],
    ),
    ("fcntl", &[("fd", U32), ("cmd", U32), ("arg", U64)]),
    (
        "finit_module",
        &[("fd", U32), ("param_values", U64), ("flags", U32)],
    ),
    (
        "getsockopt",
        &[
            ("fd", U32),
            ("level", U32),
            ("optname", U32),
            ("optval", U64),
            ("optlen", U64),
        ],
    ),
    ("io_uring_setup", &[("entries", U32), ("params", U64)]),
    ("ioctl", &[("fd", U32), ("request", U32), ("arg", U64)]),
    (
        "ipc",
        &[
            ("call", U32),
            ("first", U32),
            ("second", U64),
            ("third", U64),
            ("ptr", U64),
            ("fifth", U64),
        ],
    ),
    (
        "kcmp",
        &[
            ("pid1", U32),
            ("pid2", U32),
            ("type", U32),
            ("idx1", U64),
            ("idx2", U64),
        ],
    ),
    (
        "keyctl",
        &[
            ("option", U32),
            ("arg2", U64),
            ("arg3", U64),
            ("arg4", U64),
            ("arg5", U64),
        ],
    ),
    ("kill", &[("pid", U32), ("sig", U32)]),
    (
        "lchown",
        &[("pathname", U64), ("owner", U32), ("group", U32)],
    ),
    (
        "madvise",
        &[("addr", U64), ("length", U64), ("advice", U32)],
    ),
    (
        "mbind",
        &[
            ("addr", U64),
            ("len", U64),
            ("mode", U64),
            ("nodemask", U64),
            ("maxnode", U64),
            ("flags", U32),
        ],
    ),
    ("memfd_create", &[("name", U64), ("flags", U32)]),
    ("mknod", &[("pathname", U64), ("mode", U32), ("dev", U32)]),
    (
        "mknodat",
        &[
            ("dirfd", U32),
            ("pathname", U64),
            ("mode", U32),
            ("dev", U32),
        ],
    ),
    (
        "mmap",
        &[
            ("addr", U64),
            ("length", U64),
            ("prot", U64),
            ("flags", U64),
            ("fd", U64),
            ("offset", U64),
        ],
    ),
    (
        "mmap2",
        &[
            ("addr", U64),
            ("length", U64),
            ("prot", U64),
            ("flags", U64),
            ("fd", U64),
            ("pgoffset", U64),
        ],
    ),
    (
        "mount",
        &[
            ("source", U64),
            ("target", U64),
            ("filesystemtype", U64),
            ("mountflags", U64),
            ("data", U64),
        ],
    ),
    (
        "move_pages",
        &[
            ("pid", U32),
            ("count", U64),
            ("pages", U64),
            ("nodes", U64),
            ("status", U64),
            ("flags", U32),
        ],
    ),
    ("mprotect", &[("addr", U64), ("len", U64), ("prot", U64)]),
    (
        "mremap",
        &[
            ("old_address", U64),
            ("old_size", U64),
            ("new_size", U64),
            ("flags", U64),
            ("new_address", U64),
        ],
    ),
    ("open", &[("pathname", U64), ("flags", U32), ("mode", U32)]),
    (
        "open_by_handle_at",
        &[("mount_fd", U32), ("handle", U64), ("flags", U32)],
    ),
    (
        "openat",
        &[
            ("dirfd", U32),
            ("pathname", U64),
            ("flags", U32),
            ("mode", U32),
        ],
    ),
    (
        "openat2",
        &[
            ("dirfd", U32),
            ("pathname", U64),
            ("how", U64),
            ("size", U64),
        ],
    ),
    (
        "perf_event_open",
        &[
            ("attr", U64),
            ("pid", U32),
            ("cpu", U32),
            ("group_fd", U32),
            ("flags", U64),
        ],
    ),
    ("personality", &[("persona", U32)]),
    ("pidfd_open", &[("pid", U32), ("flags", U32)]),
    (
        "pidfd_send_signal",
        &[("pidfd", U32), ("sig", U32), ("info", U64), ("flags", U32)],
    ),
    (
        "pkey_mprotect",
        &[("addr", U64), ("len", U64), ("prot", U64), ("pkey", U32)],
    ),
    (
        "prctl",
        &[
            ("option", U32),
            ("arg2", U64),
            ("arg3", U64),
            ("arg4", U64),
            ("arg5", U64),
        ],
    ),
    (
        "process_vm_readv",
        &[
            ("pid", U32),
            ("local_iov", U64),
            ("liovcnt", U64),
            ("remote_iov", U64),
            ("riovcnt", U64),
            ("flags", U64),
        ],
    ),
    (
        "process_vm_writev",
        &[
            ("pid", U32),
            ("local_iov", U64),
            ("liovcnt", U64),
            ("remote_iov", U64),
            ("riovcnt", U64),
            ("flags", U64),
        ],
    ),
    (
        "ptrace",
        &[("request", U64), ("pid", U64), ("addr", U64), ("data", U64)],
    ),
    (
        "reboot",
        &[("magic", U32), ("magic2", U32), ("cmd", U32), ("arg", U64)],
    ),
    (
        "request_key",
        &[
            ("type", U64),
            ("description", U64),
            ("callout_info", U64),
            ("dest_keyring", U32),
        ],
    ),
    (
        "seccomp",
        &[("operation", U32), ("flags", U32), ("args", U64)],
    ),
    ("setfsgid", &[("fsgid", U32)]),
    ("setfsuid", &[("fsuid", U32)]),
    ("setgid", &[("gid", U32)]),
    ("setgroups", &[("size", U32), ("list", U64)]),
    ("setns", &[("fd", U32), ("nstype", U32)]),
    ("setregid", &[("rgid", U32), ("egid", U32)]),
    ("setresgid", &[("rgid", U32), ("egid", U32), ("sgid", U32)]),
    ("setresuid", &[("ruid", U32), ("euid", U32), ("suid", U32)]),
    ("setreuid", &[("ruid", U32), ("euid", U32)]),
    (
        "setsockopt",
        &[
            ("fd", U32),
            ("level", U32),
            ("optname", U32),
            ("optval", U64),
            ("optlen", U32),
        ],
    ),
    ("setuid", &[("uid", U32)]),
    (
        "socket",
        &[("domain", U32), ("type", U32), ("protocol", U32)],
    ),
    ("socketcall", &[("call", U32), ("args", U64)]),
    (
        "socketpair",
        &[
            ("domain", U32),
            ("type", U32),
            ("protocol", U32),
            ("sv", U64),
        ],
    ),
    ("syslog", &[("type", U32), ("buf", U64), ("len", U32)]),
    ("tgkill", &[("tgid", U32), ("tid", U32), ("sig", U32)]),
    ("tkill", &[("tid", U32), ("sig", U32)]),
    ("umount2", &[("target", U64), ("flags", U32)]),
    ("unshare", &[("flags", U64)]),
    ("userfaultfd", &[("flags", U32)]),
];

/// `clone` without `CONFIG_CLONE_BACKWARDS*` (x86_64, x32): kernel/fork.c.
const CLONE: &[(&str, Width)] = &[
    ("flags", U64),
    ("newsp", U64),
    ("parent_tid", U64),
    ("child_tid", U64),
    ("tls", U64),
];
/// `CONFIG_CLONE_BACKWARDS` (x86, arm, ppc, arm64, riscv, loongarch): `tls` before `child_tid`.
const CLONE_BACKWARDS: &[(&str, Width)] = &[
    ("flags", U64),
    ("newsp", U64),
    ("parent_tid", U64),
    ("tls", U64),
    ("child_tid", U64),
];
/// `CONFIG_CLONE_BACKWARDS2` (s390): the stack pointer comes first, `flags` is argument 1.
const CLONE_BACKWARDS2: &[(&str, Width)] = &[
    ("newsp", U64),
    ("flags", U64),
    ("parent_tid", U64),
    ("child_tid", U64),
    ("tls", U64),
];
/// i386 and s390 `mmap` is `old_mmap(struct mmap_arg_struct *)`: the six values sit in memory.
const OLD_MMAP: &[(&str, Width)] = &[("args", U64)];

/// Names whose signature is their base name's: the 64-bit-offset and 32-bit-uid twins
/// (`fcntl64` is `fcntl`, `setuid32` is `setuid`, `chown32` is `chown`).
fn signature_alias(name: &str) -> &str {
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
            | "setgroups"
            | "chown"
            | "fchown"
            | "lchown"
    )
}

/// The parameters of `name` on `arch`, in argument order, or `None` when moat has no signature
/// for it (or the ABI has no such syscall).
///
/// On the 32-bit ABIs (x86, arm: [`Arch::is_compat32`]) every width is [`Width::U32`]. `clone`
/// follows the ABI's argument order: on s390x `flags` is argument 1.
pub fn signature(arch: Arch, name: &str) -> Option<Vec<Param>> {
    arch.by_name(name)?;
    let params: &[(&str, Width)] = match name {
        "clone" => match arch {
            Arch::X86_64 | Arch::X32 => CLONE,
            Arch::S390x => CLONE_BACKWARDS2,
            _ => CLONE_BACKWARDS,
        },
        "mmap" if matches!(arch, Arch::X86 | Arch::S390x) => OLD_MMAP,
        _ => {
            let base = signature_alias(name);
            let i = SIGNATURES.binary_search_by(|(n, _)| n.cmp(&base)).ok()?;
            SIGNATURES[i].1
        }
    };
    Some(
        params
            .iter()
            .zip(0u8..)
            .map(|(&(name, width), index)| Param {
                name,
                index,
                width: if arch.is_compat32() { U32 } else { width },
            })
            .collect(),
    )
}

/// Every name [`signature`] knows (on some ABI), sorted.
pub fn signature_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SIGNATURES.iter().map(|(n, _)| *n).collect();
    v.extend(["clone", "fcntl64", "umount"]);
    v.extend(
        crate::names()
            .iter()
            .copied()
            .filter(|n| n.strip_suffix("32").is_some_and(is_uid32_base)),
    );
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(arch: Arch, name: &str, param: &str) -> Param {
        signature(arch, name)
            .unwrap()
            .into_iter()
            .find(|p| p.name == param)
            .unwrap()
    }

    #[test]
    fn table_sorted_and_names_exist() {
        assert!(SIGNATURES.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, params) in SIGNATURES {
            assert!(crate::is_known(name), "{name}");
            assert!(params.len() <= 6, "{name}");
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
            "no signature recorded"
        );
        assert_eq!(signature(Arch::X86_64, "nosuchcall"), None);
        assert_eq!(signature(Arch::X86, "mmap").unwrap().len(), 1, "old_mmap");
        assert_eq!(signature(Arch::X86, "setuid32").unwrap()[0].name, "uid");
        assert_eq!(signature(Arch::X86, "fcntl64").unwrap()[1].name, "cmd");
    }
}
