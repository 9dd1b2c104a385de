//! Random valid policies for property tests: moat-policy's generator over a larger vocabulary
//! (more ABI sets, masks with high bits, twins and multiplexed calls).

use std::sync::LazyLock;

use moat_policy::testing::{self, Target, Vocabulary};
use proptest::prelude::*;

/// Targets besides moat-policy's, with the highest argument index every covered syscall has on
/// every ABI and the parameter names usable on single-target rules.
const MORE_TARGETS: &[Target] = &[
    ("lseek", Some(2), &["fd", "offset", "whence"]),
    ("mmap2", Some(0), &[]),
    ("setsockopt", Some(2), &[]),
    ("semget", Some(2), &[]),
    ("statx", Some(4), &[]),
];

/// Values besides moat-policy's: high words and masks.
const MORE_VALUES: &[&str] = &["0x100000000", "0xffffffff00000000", "0x1fffffffe", "0xff"];

/// `arch` lines besides moat-policy's.
const MORE_ARCHES: &[&str] = &[
    "arch x86_64 x32",
    "arch x32",
    "arch aarch64 arm riscv64",
    "arch x86 x86_64 ppc64le s390x loongarch64",
];

static TARGETS: LazyLock<Vec<Target>> = LazyLock::new(|| [testing::TARGETS, MORE_TARGETS].concat());
static VALUES: LazyLock<Vec<&str>> = LazyLock::new(|| [testing::VALUES, MORE_VALUES].concat());
static ARCHES: LazyLock<Vec<&str>> = LazyLock::new(|| [testing::ARCHES, MORE_ARCHES].concat());

/// A random valid policy text.
pub fn policy() -> impl Strategy<Value = String> {
    Vocabulary {
        targets: TARGETS.as_slice(),
        values: VALUES.as_slice(),
        arches: ARCHES.as_slice(),
    }
    .policy()
}
