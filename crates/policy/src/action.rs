//! Actions: what the kernel does with a call, their `SECCOMP_RET_*` encoding, and the two orders
//! every part of moat compares them by.
//!
//! # How permissive an action is ([`Action::no_looser_than`])
//!
//! Proofs that a policy B is never looser than a baseline A (`moat diff --subset`, the node's
//! `pod-policies = "subset"`, `intersect`, `lint`) assume B was written by someone hostile, so
//! every action falls in one of three [`Permission`] classes:
//!
//! - [`Permission::Allows`]: `allow`, `log` (the call runs) and `notify`, `trace N` (a listener
//!   or tracer decides, and the confined process may own one: it can stack its own filter with
//!   a listener that answers CONTINUE, or be traced by a sibling).
//! - [`Permission::Fakes`]: `errno 0`. The call appears to succeed without running, which
//!   deceives whoever relies on its effect: runc and crun install the filter before they drop
//!   privileges when `noNewPrivileges` is false, so `errno 0 setuid capset` leaves the
//!   container root with every capability. It is looser than `allow`, and no looser only than
//!   the very same `errno 0`.
//! - [`Permission::Refuses`]: `errno N` (N > 0), `trap`, `kill-thread`, `kill`: the call does
//!   not run and the caller is told so. Refusing is no looser than anything.
//!
//! # The kernel's precedence of stacked filters ([`Action::stacked`])
//!
//! When several filters are attached, every one runs and the action with the lowest
//! `SECCOMP_RET_*` value, compared as a signed 32-bit number, wins: kill-process < kill-thread <
//! trap < errno < notify < trace < log < allow. Among equal actions the newest filter's data is
//! kept ([`moat_bpf::consts::stacked`], which cites the kernel source). This order decides what
//! a container runs when the runtime stacks filters; it is not a permissiveness order (`errno
//! 0` outranks `allow` there).

use std::fmt;
use std::str::FromStr;

use moat_bpf::consts::{
    SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF,
};

/// The largest errno the kernel passes through ([`moat_bpf::consts::MAX_ERRNO`]); larger values
/// are clamped by it.
pub const MAX_ERRNO: u16 = 4095;
const _: () = assert!(MAX_ERRNO as u32 == moat_bpf::consts::MAX_ERRNO);

/// What happens to a system call.
///
/// `Action` has no ordering of its own: compare permissiveness with [`Action::no_looser_than`]
/// and the kernel's precedence with [`Action::stacked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | u32::from(e),
            Action::KillProcess => SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => SECCOMP_RET_KILL_THREAD,
            Action::Trap(d) => SECCOMP_RET_TRAP | u32::from(d),
            Action::Log => SECCOMP_RET_LOG,
            Action::Trace(d) => SECCOMP_RET_TRACE | u32::from(d),
            Action::Notify => SECCOMP_RET_USER_NOTIF,
        }
    }

    /// Decodes a filter return value the way the kernel acts on it: an unknown action value kills
    /// the process (kernel/seccomp.c, `__seccomp_filter`, `default:` case).
    pub fn from_ret(ret: u32) -> Action {
        let data = u16::try_from(ret & SECCOMP_RET_DATA).unwrap_or(u16::MAX);
        match ret & SECCOMP_RET_ACTION_FULL {
            SECCOMP_RET_ALLOW => Action::Allow,
            SECCOMP_RET_ERRNO => Action::Errno(data),
            SECCOMP_RET_KILL_THREAD => Action::KillThread,
            SECCOMP_RET_TRAP => Action::Trap(data),
            SECCOMP_RET_LOG => Action::Log,
            SECCOMP_RET_TRACE => Action::Trace(data),
            SECCOMP_RET_USER_NOTIF => Action::Notify,
            _ => Action::KillProcess,
        }
    }

    /// True for `allow` and `log`: the call runs. Everything else stops or intercepts it.
    pub fn runs_call(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }

    /// How this action counts in a proof against a hostile policy author (module docs).
    pub fn permission(self) -> Permission {
        match self {
            Action::Allow | Action::Log | Action::Notify | Action::Trace(_) => Permission::Allows,
            Action::Errno(0) => Permission::Fakes,
            Action::Errno(_) | Action::Trap(_) | Action::KillThread | Action::KillProcess => {
                Permission::Refuses
            }
        }
    }

    /// True when a policy doing `self` for a call is never looser than a `baseline` doing
    /// `baseline` for it: refusing is never looser; allowing (`allow`, `log`, `notify`,
    /// `trace`) is no looser only than allowing; `errno 0` is no looser only than `errno 0`.
    pub fn no_looser_than(self, baseline: Action) -> bool {
        match self.permission() {
            Permission::Refuses => true,
            Permission::Allows => baseline.permission() == Permission::Allows,
            Permission::Fakes => baseline == Action::Errno(0),
        }
    }

    /// The action the kernel takes when a filter returning `older` was attached before one
    /// returning `newer` ([`moat_bpf::consts::stacked`]): the lower `SECCOMP_RET_*` action wins,
    /// the newer filter's data on a tie.
    pub fn stacked(older: Action, newer: Action) -> Action {
        Action::from_ret(moat_bpf::consts::stacked(older.to_ret(), newer.to_ret()))
    }

    /// The strictest of `actions`, for an output that must give one action where a policy has
    /// several: among the actions no looser than every other one, the kernel's precedence
    /// decides (a refusing errno before `errno 0`, the first written on a tie). When none is
    /// (`allow` beside `errno 0`), `deny`. `None` for no actions.
    pub fn strictest(actions: impl IntoIterator<Item = Action>) -> Option<Action> {
        let all: Vec<Action> = actions.into_iter().collect();
        if all.is_empty() {
            return None;
        }
        let key = |a: Action| {
            (
                moat_bpf::consts::action_only(a.to_ret()),
                a == Action::Errno(0),
            )
        };
        let best = all
            .iter()
            .copied()
            .filter(|a| all.iter().all(|b| a.no_looser_than(*b)))
            .min_by_key(|a| key(*a));
        Some(best.unwrap_or(Action::DENY))
    }

    /// The loosest action no looser than both `a` and `b`, for intersecting two policies:
    /// whichever of the two is no looser than the other (the kernel's precedence when each is,
    /// as between `allow` and `notify`), else `deny` (only `errno 0` against an allowing action).
    pub fn meet(a: Action, b: Action) -> Action {
        match (a.no_looser_than(b), b.no_looser_than(a)) {
            (true, true) => Action::stacked(a, b),
            (true, false) => a,
            (false, true) => b,
            (false, false) => Action::DENY,
        }
    }
}

/// How an action counts when proving that a policy is never looser than another, against a
/// hostile author: [`Action::permission`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// The call does not run and the caller is told so: `errno N` (N > 0), `trap`,
    /// `kill-thread`, `kill`.
    Refuses,
    /// The call runs (`allow`, `log`), or a listener or tracer that the confined process may
    /// control decides (`notify`, `trace N`).
    Allows,
    /// The call appears to succeed without running: `errno 0`.
    Fakes,
}

/// Why an action's text does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?}: not an action (expected allow, deny, errno E, kill, kill-thread, trap [N], log, trace N or notify)"
)]
pub struct ActionError {
    /// The text.
    pub text: String,
}

impl FromStr for Action {
    type Err = ActionError;

    /// The policy-language spelling, as [`fmt::Display`] writes it: `allow`, `deny`, `errno
    /// ENOSYS`, `errno 13`, `kill`, `kill-process`, `kill-thread`, `trap`, `trap 5`, `log`,
    /// `trace 7`, `notify`.
    fn from_str(s: &str) -> Result<Action, ActionError> {
        let err = || ActionError {
            text: s.to_string(),
        };
        let mut words = s.split_ascii_whitespace();
        let first = words.next().ok_or_else(err)?;
        let data = words.next();
        if words.next().is_some() {
            return Err(err());
        }
        let number = |d: &str| -> Option<u16> {
            if let Some(hex) = d.strip_prefix("0x") {
                u16::from_str_radix(hex, 16).ok()
            } else {
                d.parse().ok()
            }
        };
        Ok(match (first, data) {
            ("allow", None) => Action::Allow,
            ("deny", None) => Action::DENY,
            ("kill" | "kill-process", None) => Action::KillProcess,
            ("kill-thread", None) => Action::KillThread,
            ("log", None) => Action::Log,
            ("notify", None) => Action::Notify,
            ("trap", None) => Action::Trap(0),
            ("trap", Some(d)) => Action::Trap(number(d).ok_or_else(err)?),
            ("trace", None) => Action::Trace(0),
            ("trace", Some(d)) => Action::Trace(number(d).ok_or_else(err)?),
            ("errno", Some(d)) => Action::Errno(
                moat_syscalls::errno(d)
                    .or_else(|| number(d))
                    .filter(|&e| e <= MAX_ERRNO)
                    .ok_or_else(err)?,
            ),
            _ => return Err(err()),
        })
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

    const ALL: [Action; 11] = [
        Action::Allow,
        Action::Errno(0),
        Action::Errno(1),
        Action::Errno(38),
        Action::KillProcess,
        Action::KillThread,
        Action::Trap(0),
        Action::Trap(3),
        Action::Log,
        Action::Trace(7),
        Action::Notify,
    ];

    #[test]
    fn errno_zero_is_looser_than_allow_and_only_no_looser_than_itself() {
        for a in ALL {
            assert_eq!(
                Action::Errno(0).no_looser_than(a),
                a == Action::Errno(0),
                "{a}"
            );
        }
        assert!(!Action::Errno(0).no_looser_than(Action::Allow));
        assert!(!Action::Allow.no_looser_than(Action::Errno(0)));
    }

    #[test]
    fn notify_trace_and_log_count_as_allow() {
        for a in [Action::Notify, Action::Trace(7), Action::Log, Action::Allow] {
            assert_eq!(a.permission(), Permission::Allows);
            assert!(a.no_looser_than(Action::Allow));
            assert!(!a.no_looser_than(Action::DENY), "{a}");
            assert!(!a.no_looser_than(Action::KillProcess), "{a}");
        }
    }

    #[test]
    fn refusing_is_never_looser() {
        for r in [
            Action::DENY,
            Action::Errno(38),
            Action::Trap(0),
            Action::KillThread,
            Action::KillProcess,
        ] {
            for a in ALL {
                assert!(r.no_looser_than(a), "{r} vs {a}");
            }
        }
    }

    #[test]
    fn stacked_follows_the_kernels_signed_precedence() {
        let order = [
            Action::KillProcess,
            Action::KillThread,
            Action::Trap(0),
            Action::Errno(1),
            Action::Notify,
            Action::Trace(0),
            Action::Log,
            Action::Allow,
        ];
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[i + 1..] {
                assert_eq!(Action::stacked(a, b), a, "{a} {b}");
                assert_eq!(Action::stacked(b, a), a, "{b} {a}");
            }
        }
        // A tie keeps the newer filter's data; errno 0 outranks allow in the kernel.
        assert_eq!(
            Action::stacked(Action::Errno(1), Action::Errno(0)),
            Action::Errno(0)
        );
        assert_eq!(
            Action::stacked(Action::Errno(0), Action::Allow),
            Action::Errno(0)
        );
    }

    #[test]
    fn strictest_never_picks_errno_zero_over_an_allow() {
        assert_eq!(
            Action::strictest([Action::Allow, Action::Errno(0)]),
            Some(Action::DENY)
        );
        assert_eq!(
            Action::strictest([Action::Errno(0), Action::Errno(13)]),
            Some(Action::Errno(13))
        );
        assert_eq!(
            Action::strictest([
                Action::Allow,
                Action::Notify,
                Action::Errno(38),
                Action::KillProcess
            ]),
            Some(Action::KillProcess)
        );
        assert_eq!(Action::strictest([]), None);
        for a in ALL {
            for b in ALL {
                let s = Action::strictest([a, b]).unwrap();
                assert!(s.no_looser_than(a) && s.no_looser_than(b), "{a} {b} -> {s}");
            }
        }
    }

    #[test]
    fn meet_is_no_looser_than_both_and_keeps_what_both_allow() {
        for a in ALL {
            for b in ALL {
                let m = Action::meet(a, b);
                assert!(m.no_looser_than(a) && m.no_looser_than(b), "{a} {b} -> {m}");
                if a.permission() == Permission::Allows && b.permission() == Permission::Allows {
                    assert_eq!(m.permission(), Permission::Allows, "{a} {b} -> {m}");
                }
            }
        }
    }

    #[test]
    fn from_str_reads_what_display_writes() {
        for a in ALL {
            assert_eq!(a.to_string().parse::<Action>(), Ok(a), "{a}");
        }
        assert_eq!("errno 13".parse::<Action>(), Ok(Action::Errno(13)));
        assert_eq!("kill-process".parse::<Action>(), Ok(Action::KillProcess));
        assert_eq!("trap".parse::<Action>(), Ok(Action::Trap(0)));
        for bad in [
            "",
            "errno",
            "errno 4096",
            "errno EBOGUS",
            "allow 1",
            "alow",
            "trace x",
        ] {
            assert!(bad.parse::<Action>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_ret_kills_the_process() {
        assert_eq!(Action::from_ret(0x0001_0000), Action::KillProcess);
        assert_eq!(Action::from_ret(0x8000_0000), Action::KillProcess);
        assert_eq!(Action::from_ret(0x7fff_0005), Action::Allow);
    }
}
