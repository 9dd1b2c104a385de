//! The system calls moat needs to enforce filters; the only crate in moat with `unsafe`.
//!
//! [`install`] attaches a validated [`moat_bpf::Program`] to the calling thread with
//! `prctl(PR_SET_NO_NEW_PRIVS)` and `seccomp(SECCOMP_SET_MODE_FILTER)`. [`testing`] runs code in
//! a forked child, so tests can install filters without touching the test runner's process.
//! [`read_filters`] reads the filters attached to another process (`PTRACE_SECCOMP_GET_FILTER`).
//! [`listener`] is the supervisor's end of a user-notification filter (receive a call, answer
//! it, read the caller's memory); [`notify`] starts a program under such a filter and answers
//! its calls, for `moat record`. [`raw`] makes the raw syscalls that tests and benchmarks of
//! filters need (arbitrary registers, the i386 ABI), limited to a list that is sound from safe
//! code.
//!
//! It does not build or check programs (that is `moat-bpf`) and does not remove filters (the
//! kernel offers no way to).
//!
//! # Safety
//! Every `unsafe` block in this crate calls into libc. The contract each block argues is:
//! pointers passed to the kernel point to live, correctly laid out memory for the whole call
//! (the kernel copies a filter during `seccomp(2)` and keeps no pointer to user memory); only
//! async-signal-safe work happens between `fork` and `_exit` in code this crate controls; and no
//! Rust value is duplicated or dropped twice across `fork` (the child leaves with `_exit`,
//! without unwinding into the parent's frames or running destructors of shared state).

#![allow(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod bounded;
pub mod exec;
mod filters;
pub mod landlock;
pub mod listener;
pub mod notify;
pub mod raw;
pub mod testing;

pub use filters::{ReadError, read_filters};

use std::io;
use std::mem::{align_of, offset_of, size_of};
use std::ops::BitOr;

use moat_bpf::{Insn, Program};

// `Insn` is passed to the kernel as `struct sock_filter`: prove the layouts agree.
const _: () = {
    assert!(size_of::<Insn>() == size_of::<libc::sock_filter>());
    assert!(align_of::<Insn>() == align_of::<libc::sock_filter>());
    assert!(offset_of!(Insn, code) == offset_of!(libc::sock_filter, code));
    assert!(offset_of!(Insn, jt) == offset_of!(libc::sock_filter, jt));
    assert!(offset_of!(Insn, jf) == offset_of!(libc::sock_filter, jf));
    assert!(offset_of!(Insn, k) == offset_of!(libc::sock_filter, k));
};

/// `seccomp(2)` operation that attaches a filter.
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// `SECCOMP_FILTER_FLAG_*` values for [`install`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u32);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// Apply the filter to every thread of the process (Linux 3.17).
    #[doc(alias = "SECCOMP_FILTER_FLAG_TSYNC")]
    pub const TSYNC: Flags = Flags(1);
    /// Log every action except `SECCOMP_RET_ALLOW` (Linux 4.14).
    #[doc(alias = "SECCOMP_FILTER_FLAG_LOG")]
    pub const LOG: Flags = Flags(2);
    /// Do not enable the speculative store bypass mitigation (Linux 4.17).
    #[doc(alias = "SECCOMP_FILTER_FLAG_SPEC_ALLOW")]
    pub const SPEC_ALLOW: Flags = Flags(4);
    /// With `TSYNC`, report a failure to synchronize as `ESRCH` (Linux 5.7).
    #[doc(alias = "SECCOMP_FILTER_FLAG_TSYNC_ESRCH")]
    pub const TSYNC_ESRCH: Flags = Flags(16);

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// Why a filter could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The program does not fit `sock_fprog.len` (cannot happen for a validated program).
    #[error("program has {len} instructions, more than struct sock_fprog can hold")]
    TooLong {
        /// Number of instructions.
        len: usize,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)` failed.
    #[error("prctl(PR_SET_NO_NEW_PRIVS) failed: {0}")]
    NoNewPrivs(#[source] io::Error),
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed (e.g. `EINVAL` for a program the kernel
    /// rejects, `ENOMEM` beyond 32768 instructions over all stacked filters).
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) failed: {0}")]
    Seccomp(#[source] io::Error),
    /// With [`Flags::TSYNC`], a thread that cannot be synchronized.
    #[error("thread {tid} cannot be synchronized to the new filter")]
    Tsync {
        /// The thread's id.
        tid: i64,
    },
}

/// Sets `no_new_privs` on the calling thread, which `seccomp(2)` requires of callers without
/// `CAP_SYS_ADMIN` and which execve then keeps: no set-user-ID or file capability gains.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes four integer arguments and no pointers; it
    // cannot touch this process's memory.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets `no_new_privs` and attaches `program` as a seccomp filter of the calling thread (of
/// every thread with [`Flags::TSYNC`]). Irreversible: the filter stays for the life of the
/// thread and is inherited by children.
pub fn install(program: &Program, flags: Flags) -> Result<(), InstallError> {
    set_no_new_privs().map_err(InstallError::NoNewPrivs)?;
    install_filter(program.insns(), flags)
}

/// Attaches raw instructions without validating them, so tests can ask the kernel what it
/// accepts. `no_new_privs` must already be set (or the caller must have `CAP_SYS_ADMIN`).
pub fn install_unchecked(insns: &[Insn], flags: Flags) -> Result<(), InstallError> {
    install_filter(insns, flags)
}

fn install_filter(insns: &[Insn], flags: Flags) -> Result<(), InstallError> {
    match set_mode_filter(insns, flags.bits())? {
        0 => Ok(()),
        tid => Err(InstallError::Tsync { tid }),
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, insns)`: the kernel's non-negative result (0, a
/// thread id that TSYNC could not synchronize, or with `NEW_LISTENER` the listener descriptor).
fn set_mode_filter(insns: &[Insn], flags: u32) -> Result<libc::c_long, InstallError> {
    let len = u16::try_from(insns.len()).map_err(|_| InstallError::TooLong { len: insns.len() })?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (copy_from_user); the `mut` is C's.
        filter: insns.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `fprog` lives on this stack frame for the whole call and points to `len`
    // instructions borrowed from `insns`, whose layout equals `struct sock_filter` (asserted at
    // compile time above). The kernel copies the program before returning and keeps no pointer
    // into user memory. The flags are plain integers; unknown bits make the kernel fail with
    // EINVAL rather than touch memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_uint::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        Err(InstallError::Seccomp(io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}
