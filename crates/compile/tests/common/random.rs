//! Random valid policies for property tests: moat-policy's generator over a larger vocabulary
//! (more ABI sets, masks with high bits, twins and multiplexed calls).

use moat_policy::testing::{Target, Vocabulary};
use proptest::prelude::*;

/// Targets with the highest argument index every covered syscall has on every ABI, and the
/// parameter names usable on single-target rules.
const TARGETS: &[Target] = &[
    ("socket", 2, &["domain", "type", "protocol"]),
    ("ioctl", 2, &["fd", "request"]),
    ("personality", 0, &["persona"]),
    ("clone", 4, &["flags"]),
    ("openat", 3, &["dirfd", "flags", "mode"]),
    ("kill", 1, &["pid", "sig"]),
    ("setuid", 0, &["uid"]),
    ("mmap", 0, &[]),
    ("getpid", 5, &[]),
    ("read", 5, &[]),
    ("fcntl", 2, &["fd", "cmd"]),
    ("socketcall", 1, &["call"]),
    ("ipc", 5, &["call"]),
    ("shmat", 5, &[]),
    ("bind", 2, &["fd"]),
    ("futex", 5, &[]),
    ("clock_gettime", 5, &[]),
    ("unshare", 0, &["flags"]),
    ("clone3", 1, &[]),
    ("openat2", 3, &[]),
    ("@io-uring", 0, &[]),
    ("@keyring", 0, &[]),
    ("@network-io", 0, &[]),
    ("@setuid", 0, &[]),
    ("lseek", 2, &["fd", "offset", "whence"]),
    ("mmap2", 0, &[]),
    ("setsockopt", 2, &[]),
    ("semget", 2, &[]),
    ("statx", 4, &[]),
];

const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "8",
    "40",
    "0x5412",
    "0x20000",
    "0xffffffff",
    "-1",
    "AF_VSOCK",
    "AF_INET",
    "TIOCSTI",
    "CLONE_NEWUSER",
    "CLONE_NEW_ANY",
    "O_RDONLY",
    "0x7fffffff",
    "0x80000000",
    "CLONE_NEWNS | CLONE_NEWNET",
    "0x100000000",
    "0xffffffff00000000",
    "0x1fffffffe",
    "0xff",
];

/// `arch` lines: moat-policy's and more ABI sets.
const ARCHES: &[&str] = &[
    "arch x86_64",
    "arch x86_64 x86",
    "arch native compat",
    "arch x86_64 x32 x86",
    "arch aarch64 arm",
    "arch x86",
    "arch x86_64 x32",
    "arch x32",
    "arch aarch64 arm riscv64",
    "arch x86 x86_64 ppc64le s390x loongarch64",
];

/// A random valid policy text.
pub fn policy() -> impl Strategy<Value = String> {
    Vocabulary {
        targets: TARGETS,
        values: VALUES,
        arches: ARCHES,
    }
    .policy()
}
