//! Actions: what the kernel does with a call, and their `SECCOMP_RET_*` encoding.

use std::fmt;

/// `SECCOMP_RET_KILL_PROCESS`.
const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_KILL_THREAD`.
const RET_KILL_THREAD: u32 = 0;
/// `SECCOMP_RET_TRAP`.
const RET_TRAP: u32 = 0x0003_0000;
/// `SECCOMP_RET_ERRNO`.
const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_TRACE`.
const RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_LOG`.
const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ACTION_FULL`.
const RET_ACTION_FULL: u32 = 0xffff_0000;
/// `SECCOMP_RET_DATA`.
const RET_DATA: u32 = 0x0000_ffff;

/// The largest errno the kernel passes through (`MAX_ERRNO`); larger values are clamped by it.
pub const MAX_ERRNO: u16 = 4095;

/// What happens to a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Run the call.
    #[doc(alias = "SECCOMP_RET_ALLOW")]
    Allow,
    /// Fail the call with this errno without running it (`deny` is `Errno(EPERM)`).
    #[doc(alias = "SECCOMP_RET_ERRNO")]
    Errno(u16),
    /// Kill the whole process with SIGSYS (`kill`).
    #[doc(alias = "SECCOMP_RET_KILL_PROCESS")]
    KillProcess,
    /// Kill only the calling thread (`kill-thread`).
    #[doc(alias = "SECCOMP_RET_KILL_THREAD")]
    KillThread,
    /// Send a catchable SIGSYS carrying this value (`trap`).
    #[doc(alias = "SECCOMP_RET_TRAP")]
    Trap(u16),
    /// Run the call and log it (`log`).
    #[doc(alias = "SECCOMP_RET_LOG")]
    Log,
    /// Notify a ptrace tracer with this value (`trace N`); without a tracer the call fails with ENOSYS.
    #[doc(alias = "SECCOMP_RET_TRACE")]
    Trace(u16),
    /// Ask a user-space supervisor (`notify`); without a listener the call fails with ENOSYS.
    #[doc(alias = "SECCOMP_RET_USER_NOTIF")]
    Notify,
}

impl Action {
    /// `deny`: `errno EPERM`.
    pub const DENY: Action = Action::Errno(1);

    /// The filter return value (`SECCOMP_RET_*` | data).
    pub fn to_ret(self) -> u32 {
        match self {
            Action::Allow => RET_ALLOW,
            Action::Errno(e) => RET_ERRNO | u32::from(e),
            Action::KillProcess => RET_KILL_PROCESS,
            Action::KillThread => RET_KILL_THREAD,
            Action::Trap(d) => RET_TRAP | u32::from(d),
            Action::Log => RET_LOG,
            Action::Trace(d) => RET_TRACE | u32::from(d),
            Action::Notify => RET_USER_NOTIF,
        }
    }

    /// Decodes a filter return value the way the kernel acts on it: an unknown action value kills
    /// the process (kernel/seccomp.c, `__seccomp_filter`, `default:` case).
    pub fn from_ret(ret: u32) -> Action {
        let data = u16::try_from(ret & RET_DATA).unwrap_or(u16::MAX);
        match ret & RET_ACTION_FULL {
            RET_ALLOW => Action::Allow,
            RET_ERRNO => Action::Errno(data),
            RET_KILL_THREAD => Action::KillThread,
            RET_TRAP => Action::Trap(data),
            RET_LOG => Action::Log,
            RET_TRACE => Action::Trace(data),
            RET_USER_NOTIF => Action::Notify,
            _ => Action::KillProcess,
        }
    }

    /// True for `allow` and `log`: the call runs. Everything else stops or intercepts it.
    pub fn runs_call(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }
}

impl fmt::Display for Action {
    /// The policy-language spelling: `allow`, `deny`, `errno ENOSYS`, `kill`, `trace 7`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::Allow => f.write_str("allow"),
            Action::Errno(1) => f.write_str("deny"),
            Action::Errno(e) => match moat_syscalls::errno_name(e) {
                Some(name) => write!(f, "errno {name}"),
                None => write!(f, "errno {e}"),
            },
            Action::KillProcess => f.write_str("kill"),
            Action::KillThread => f.write_str("kill-thread"),
            Action::Trap(0) => f.write_str("trap"),
            Action::Trap(d) => write!(f, "trap {d}"),
            Action::Log => f.write_str("log"),
            Action::Trace(d) => write!(f, "trace {d}"),
            Action::Notify => f.write_str("notify"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ret_round_trip() {
        for a in [
            Action::Allow,
            Action::Errno(1),
            Action::Errno(38),
            Action::Errno(4095),
            Action::KillProcess,
            Action::KillThread,
            Action::Trap(0),
            Action::Trap(65535),
            Action::Log,
            Action::Trace(7),
            Action::Notify,
        ] {
            assert_eq!(Action::from_ret(a.to_ret()), a);
        }
    }

    #[test]
    fn unknown_ret_kills_the_process() {
        assert_eq!(Action::from_ret(0x0001_0000), Action::KillProcess);
        assert_eq!(Action::from_ret(0x8000_0000), Action::KillProcess);
        assert_eq!(Action::from_ret(0x7fff_0005), Action::Allow);
    }
}
