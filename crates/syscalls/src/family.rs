//! Families of syscalls: twins that follow a base name, and calls reached through the
//! `socketcall` and `ipc` multiplexers.

use crate::Arch;

/// Base name -> the names that do the same job on some ABIs.
///
/// - time64 twins: the 32-bit ABIs (x86, arm) gained 64-bit-time versions in 5.1;
/// - uid32 twins: x86 and arm's 32-bit-uid versions of the 16-bit-uid calls;
/// - 64-bit offset twins: `fcntl64`, `mmap2`, `stat64`, `_llseek` and friends;
/// - renamed equivalents: `_newselect` (x86/arm/ppc `select` takes a struct),
///   `ugetrlimit` (x86/arm `getrlimit` is the old limited one), `fstatat64` (32-bit `newfstatat`).
static TWINS: &[(&str, &[&str])] = &[
    ("chown", &["chown32"]),
    ("clock_adjtime", &["clock_adjtime64"]),
    ("clock_getres", &["clock_getres_time64"]),
    ("clock_gettime", &["clock_gettime64"]),
    ("clock_nanosleep", &["clock_nanosleep_time64"]),
    ("clock_settime", &["clock_settime64"]),
    ("fadvise64", &["fadvise64_64"]),
    ("fchown", &["fchown32"]),
    ("fcntl", &["fcntl64"]),
    ("fstat", &["fstat64"]),
    ("fstatfs", &["fstatfs64"]),
    ("ftruncate", &["ftruncate64"]),
    ("futex", &["futex_time64"]),
    ("getegid", &["getegid32"]),
    ("geteuid", &["geteuid32"]),
    ("getgid", &["getgid32"]),
    ("getgroups", &["getgroups32"]),
    ("getresgid", &["getresgid32"]),
    ("getresuid", &["getresuid32"]),
    ("getrlimit", &["ugetrlimit"]),
    ("getuid", &["getuid32"]),
    ("io_pgetevents", &["io_pgetevents_time64"]),
    ("lchown", &["lchown32"]),
    ("lseek", &["_llseek"]),
    ("lstat", &["lstat64"]),
    ("mmap", &["mmap2"]),
    ("mq_timedreceive", &["mq_timedreceive_time64"]),
    ("mq_timedsend", &["mq_timedsend_time64"]),
    ("newfstatat", &["fstatat64"]),
    ("ppoll", &["ppoll_time64"]),
    ("pselect6", &["pselect6_time64"]),
    ("recvmmsg", &["recvmmsg_time64"]),
    ("rt_sigtimedwait", &["rt_sigtimedwait_time64"]),
    ("sched_rr_get_interval", &["sched_rr_get_interval_time64"]),
    ("select", &["_newselect"]),
    ("semtimedop", &["semtimedop_time64"]),
    ("sendfile", &["sendfile64"]),
    ("setfsgid", &["setfsgid32"]),
    ("setfsuid", &["setfsuid32"]),
    ("setgid", &["setgid32"]),
    ("setgroups", &["setgroups32"]),
    ("setregid", &["setregid32"]),
    ("setresgid", &["setresgid32"]),
    ("setresuid", &["setresuid32"]),
    ("setreuid", &["setreuid32"]),
    ("setuid", &["setuid32"]),
    ("stat", &["stat64"]),
    ("statfs", &["statfs64"]),
    ("timer_gettime", &["timer_gettime64"]),
    ("timer_settime", &["timer_settime64"]),
    ("timerfd_gettime", &["timerfd_gettime64"]),
    ("timerfd_settime", &["timerfd_settime64"]),
    ("truncate", &["truncate64"]),
    ("utimensat", &["utimensat_time64"]),
];

/// The names that follow `name` on the ABIs that have them: `"clock_gettime"` ->
/// `["clock_gettime64"]`, `"setuid"` -> `["setuid32"]`, `"fcntl"` -> `["fcntl64"]`,
/// `"mmap"` -> `["mmap2"]`. Empty when `name` has no twins.
pub fn twins(name: &str) -> &'static [&'static str] {
    TWINS
        .binary_search_by(|(base, _)| base.cmp(&name))
        .map_or(&[], |i| TWINS[i].1)
}

/// The multiplexing syscall a call is reached through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Multiplexer {
    /// `socketcall(call, args)`: the socket calls on x86, ppc64le and s390x.
    Socketcall,
    /// `ipc(call, ...)`: SysV IPC on x86, ppc64le and s390x; the kernel dispatches on
    /// `call & 0xffff` (the upper half carries a version).
    Ipc,
}

/// A call reachable through a multiplexer: `via(call, ...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Multiplexed {
    /// Which multiplexer.
    pub via: Multiplexer,
    /// The value of its first argument (`SYS_SOCKET` = 1, `SEMOP` = 1...).
    pub call: u32,
}

/// include/uapi/linux/net.h: SYS_SOCKET .. SYS_SENDMMSG.
static SOCKETCALLS: &[(&str, u32)] = &[
    ("socket", 1),
    ("bind", 2),
    ("connect", 3),
    ("listen", 4),
    ("accept", 5),
    ("getsockname", 6),
    ("getpeername", 7),
    ("socketpair", 8),
    ("send", 9),
    ("recv", 10),
    ("sendto", 11),
    ("recvfrom", 12),
    ("shutdown", 13),
    ("setsockopt", 14),
    ("getsockopt", 15),
    ("sendmsg", 16),
    ("recvmsg", 17),
    ("accept4", 18),
    ("recvmmsg", 19),
    ("sendmmsg", 20),
];

/// include/uapi/linux/ipc.h: SEMOP .. SHMCTL.
static IPCS: &[(&str, u32)] = &[
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// How `name` is reached through a multiplexer on `arch`, if `arch` has one that carries it:
/// `(X86, "socket")` -> `socketcall` with call 1, `(S390x, "shmat")` -> `ipc` with call 21.
/// `None` on ABIs without `socketcall`/`ipc` (x86_64, x32, aarch64, arm EABI, riscv64,
/// loongarch64).
pub fn multiplexed(arch: Arch, name: &str) -> Option<Multiplexed> {
    let (via, call, mux) = if let Some(&(_, call)) = SOCKETCALLS.iter().find(|(n, _)| *n == name) {
        (Multiplexer::Socketcall, call, "socketcall")
    } else {
        let &(_, call) = IPCS.iter().find(|(n, _)| *n == name)?;
        (Multiplexer::Ipc, call, "ipc")
    };
    arch.by_name(mux)?;
    Some(Multiplexed { via, call })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_table_is_sorted_and_known() {
        assert!(TWINS.windows(2).all(|w| w[0].0 < w[1].0));
        for (base, list) in TWINS {
            assert!(crate::is_known(base), "{base}");
            for t in *list {
                assert!(crate::is_known(t), "{t}");
            }
        }
    }

    #[test]
    fn twins_examples() {
        assert_eq!(twins("clock_gettime"), ["clock_gettime64"]);
        assert_eq!(twins("setuid"), ["setuid32"]);
        assert_eq!(twins("fcntl"), ["fcntl64"]);
        assert_eq!(twins("mmap"), ["mmap2"]);
        assert_eq!(twins("stat"), ["stat64"]);
        assert_eq!(twins("lseek"), ["_llseek"]);
        assert_eq!(twins("futex"), ["futex_time64"]);
        assert!(twins("getpid").is_empty());
        // The twins exist where the base is 32-bit-limited.
        assert!(Arch::X86.by_name("clock_gettime64").is_some());
        assert!(Arch::X86_64.by_name("clock_gettime64").is_none());
    }

    #[test]
    fn multiplexed_per_abi() {
        let socket = Multiplexed {
            via: Multiplexer::Socketcall,
            call: 1,
        };
        assert_eq!(multiplexed(Arch::X86, "socket"), Some(socket));
        assert_eq!(multiplexed(Arch::S390x, "socket"), Some(socket));
        assert_eq!(multiplexed(Arch::Ppc64le, "socket"), Some(socket));
        assert_eq!(multiplexed(Arch::X86_64, "socket"), None);
        assert_eq!(
            multiplexed(Arch::Arm, "socket"),
            None,
            "EABI has no socketcall"
        );
        assert_eq!(multiplexed(Arch::X86, "sendmmsg").unwrap().call, 20);
        assert_eq!(multiplexed(Arch::X86, "accept4").unwrap().call, 18);
        let shmat = multiplexed(Arch::X86, "shmat").unwrap();
        assert_eq!((shmat.via, shmat.call), (Multiplexer::Ipc, 21));
        assert_eq!(multiplexed(Arch::S390x, "semtimedop").unwrap().call, 4);
        assert_eq!(multiplexed(Arch::Aarch64, "shmat"), None);
        assert_eq!(multiplexed(Arch::X86, "openat"), None);
    }
}
