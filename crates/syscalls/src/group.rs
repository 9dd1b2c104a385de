//! Syscall groups, modelled on systemd's `SystemCallFilter=` sets.
//!
//! Membership follows systemd's src/shared/seccomp-util.c (`syscall_filter_sets`), plus four
//! groups of moat's own: `@clock-set`, `@io-uring`, `@namespaces`, `@numa`. A member is a syscall
//! name known on at least one ABI, or another group written `@name`.
//!
//! Members moat adds to systemd's sets (newer calls, and ABI-specific names for calls systemd
//! lists): `@default` futex_requeue, futex_wait, futex_waitv, futex_wake; `@basic-io`
//! close_range; `@file-system` fchmodat2, getxattrat, listxattrat, removexattrat, setxattrat;
//! `@io-event` epoll_pwait2; `@mount` listmount, mount_setattr, open_tree_attr, statmount;
//! `@privileged` quotactl_fd; `@resources` set_mempolicy_home_node; `@sync` arm_sync_file_range;
//! `@system-service` arm_fadvise64_64, cachestat. systemd includes s390x's `s390_*` calls only
//! when built for s390x; moat lists them unconditionally (they exist on no other ABI).

use std::collections::BTreeSet;

/// A named set of syscalls (`@mount`, `@system-service`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// The name without `@` (`mount`).
    pub name: &'static str,
    /// One line saying what the group is for.
    pub description: &'static str,
    /// Syscall names and `@group` references, as written.
    pub members: &'static [&'static str],
}

const fn g(
    name: &'static str,
    description: &'static str,
    members: &'static [&'static str],
) -> Group {
    Group {
        name,
        description,
        members,
    }
}

static GROUPS: &[Group] = &[
    g(
        "aio",
        "Asynchronous IO",
        &[
            "io_cancel",
            "io_destroy",
            "io_getevents",
            "io_pgetevents",
            "io_pgetevents_time64",
            "io_setup",
            "io_submit",
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
        ],
    ),
    g(
        "basic-io",
        "Basic IO",
        &[
            "_llseek",
            "close",
            "close_range",
            "dup",
            "dup2",
            "dup3",
            "lseek",
            "pread64",
            "preadv",
            "preadv2",
            "pwrite64",
            "pwritev",
            "pwritev2",
            "read",
            "readv",
            "write",
            "writev",
        ],
    ),
    g(
        "chown",
        "Change ownership of files and directories",
        &[
            "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32",
        ],
    ),
    g(
        "clock",
        "Change the system time",
        &[
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
            "clock_settime",
            "clock_settime64",
            "settimeofday",
            "stime",
        ],
    ),
    g(
        "clock-set",
        "Set or adjust the system clock (moat's name for @clock)",
        &["@clock"],
    ),
    g(
        "cpu-emulation",
        "System calls for CPU emulation functionality",
        &[
            "modify_ldt",
            "subpage_prot",
            "switch_endian",
            "vm86",
            "vm86old",
        ],
    ),
    g(
        "debug",
        "Debugging, performance monitoring and tracing functionality",
        &[
            "lookup_dcookie",
            "perf_event_open",
            "pidfd_getfd",
            "ptrace",
            "rtas",
            "s390_runtime_instr",
            "sys_debug_setcontext",
        ],
    ),
    g(
        "default",
        "System calls that are always permitted",
        &[
            "clock_getres",
            "clock_getres_time64",
            "clock_gettime",
            "clock_gettime64",
            "clock_nanosleep",
            "clock_nanosleep_time64",
            "execve",
            "exit",
            "exit_group",
            "futex",
            "futex_time64",
            "futex_requeue",
            "futex_wait",
            "futex_waitv",
            "futex_wake",
            "get_robust_list",
            "get_thread_area",
            "getegid",
            "getegid32",
            "geteuid",
            "geteuid32",
            "getgid",
            "getgid32",
            "getgroups",
            "getgroups32",
            "getpgid",
            "getpgrp",
            "getpid",
            "getppid",
            "getresgid",
            "getresgid32",
            "getresuid",
            "getresuid32",
            "getrlimit",
            "getsid",
            "gettid",
            "gettimeofday",
            "getuid",
            "getuid32",
            "membarrier",
            "nanosleep",
            "pause",
            "prlimit64",
            "restart_syscall",
            "rseq",
            "rt_sigreturn",
            "sched_yield",
            "set_robust_list",
            "set_thread_area",
            "set_tid_address",
            "set_tls",
            "sigreturn",
            "time",
            "ugetrlimit",
        ],
    ),
    g(
        "file-system",
        "File system operations",
        &[
            "access",
            "chdir",
            "chmod",
            "close",
            "creat",
            "faccessat",
            "faccessat2",
            "fallocate",
            "fchdir",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "fcntl",
            "fcntl64",
            "fgetxattr",
            "flistxattr",
            "fremovexattr",
            "fsetxattr",
            "fstat",
            "fstat64",
            "fstatat64",
            "fstatfs",
            "fstatfs64",
            "ftruncate",
            "ftruncate64",
            "futimesat",
            "getcwd",
            "getdents",
            "getdents64",
            "getxattr",
            "getxattrat",
            "inotify_add_watch",
            "inotify_init",
            "inotify_init1",
            "inotify_rm_watch",
            "lgetxattr",
            "link",
            "linkat",
            "listxattr",
            "listxattrat",
            "llistxattr",
            "lremovexattr",
            "lsetxattr",
            "lstat",
            "lstat64",
            "mkdir",
            "mkdirat",
            "mknod",
            "mknodat",
            "mmap",
            "mmap2",
            "munmap",
            "newfstatat",
            "oldfstat",
            "oldlstat",
            "oldstat",
            "open",
            "openat",
            "openat2",
            "readlink",
            "readlinkat",
            "removexattr",
            "removexattrat",
            "rename",
            "renameat",
            "renameat2",
            "rmdir",
            "setxattr",
            "setxattrat",
            "stat",
            "stat64",
            "statfs",
            "statfs64",
            "statx",
            "symlink",
            "symlinkat",
            "truncate",
            "truncate64",
            "unlink",
            "unlinkat",
            "utime",
            "utimensat",
            "utimensat_time64",
            "utimes",
        ],
    ),
    g(
        "io-event",
        "Event loop system calls",
        &[
            "_newselect",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_ctl_old",
            "epoll_pwait",
            "epoll_pwait2",
            "epoll_wait",
            "epoll_wait_old",
            "eventfd",
            "eventfd2",
            "poll",
            "ppoll",
            "ppoll_time64",
            "pselect6",
            "pselect6_time64",
            "select",
        ],
    ),
    g(
        "io-uring",
        "The io_uring interface, which bypasses per-syscall filtering",
        &["io_uring_enter", "io_uring_register", "io_uring_setup"],
    ),
    g(
        "ipc",
        "SysV IPC, POSIX Message Queues or other IPC",
        &[
            "ipc",
            "memfd_create",
            "mq_getsetattr",
            "mq_notify",
            "mq_open",
            "mq_timedreceive",
            "mq_timedreceive_time64",
            "mq_timedsend",
            "mq_timedsend_time64",
            "mq_unlink",
            "msgctl",
            "msgget",
            "msgrcv",
            "msgsnd",
            "pipe",
            "pipe2",
            "process_vm_readv",
            "process_vm_writev",
            "semctl",
            "semget",
            "semop",
            "semtimedop",
            "semtimedop_time64",
            "shmat",
            "shmctl",
            "shmdt",
            "shmget",
        ],
    ),
    g(
        "keyring",
        "Kernel keyring access",
        &["add_key", "keyctl", "request_key"],
    ),
    g(
        "memlock",
        "Memory locking control",
        &["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
    ),
    g(
        "module",
        "Loading and unloading of kernel modules",
        &["delete_module", "finit_module", "init_module"],
    ),
    g(
        "mount",
        "Mounting and unmounting of file systems",
        &[
            "chroot",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "listmount",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "pivot_root",
            "statmount",
            "umount",
            "umount2",
        ],
    ),
    g(
        "namespaces",
        "Entering and creating namespaces (clone's CLONE_NEW* flags need a condition)",
        &["setns", "unshare"],
    ),
    g(
        "network-io",
        "Network or Unix socket IO, should not be needed if not network facing",
        &[
            "accept",
            "accept4",
            "bind",
            "connect",
            "getpeername",
            "getsockname",
            "getsockopt",
            "listen",
            "recv",
            "recvfrom",
            "recvmmsg",
            "recvmmsg_time64",
            "recvmsg",
            "send",
            "sendmmsg",
            "sendmsg",
            "sendto",
            "setsockopt",
            "shutdown",
            "socket",
            "socketcall",
            "socketpair",
        ],
    ),
    g(
        "numa",
        "NUMA memory placement",
        &[
            "get_mempolicy",
            "mbind",
            "migrate_pages",
            "move_pages",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    g(
        "obsolete",
        "Unusual, obsolete or unimplemented system calls",
        &[
            "_sysctl",
            "afs_syscall",
            "bdflush",
            "break",
            "create_module",
            "ftime",
            "get_kernel_syms",
            "getpmsg",
            "gtty",
            "idle",
            "lock",
            "mpx",
            "prof",
            "profil",
            "putpmsg",
            "query_module",
            "security",
            "sgetmask",
            "ssetmask",
            "stty",
            "sysfs",
            "tuxcall",
            "ulimit",
            "uselib",
            "ustat",
            "vserver",
        ],
    ),
    g(
        "pkey",
        "System calls used for memory protection keys",
        &["pkey_alloc", "pkey_free", "pkey_mprotect"],
    ),
    g(
        "privileged",
        "All system calls which need super-user capabilities",
        &[
            "@chown",
            "@clock",
            "@module",
            "@raw-io",
            "@reboot",
            "@swap",
            "_sysctl",
            "acct",
            "bpf",
            "capset",
            "chroot",
            "fanotify_init",
            "fanotify_mark",
            "nfsservctl",
            "open_by_handle_at",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "setfsuid",
            "setfsuid32",
            "setgroups",
            "setgroups32",
            "sethostname",
            "setresuid",
            "setresuid32",
            "setreuid",
            "setreuid32",
            "setuid",
            "setuid32",
            "vhangup",
        ],
    ),
    g(
        "process",
        "Process control, execution, namespacing operations",
        &[
            "arch_prctl",
            "capget",
            "clone",
            "clone3",
            "execveat",
            "fork",
            "getrusage",
            "kill",
            "pidfd_open",
            "pidfd_send_signal",
            "prctl",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "setns",
            "swapcontext",
            "tgkill",
            "times",
            "tkill",
            "unshare",
            "vfork",
            "wait4",
            "waitid",
            "waitpid",
        ],
    ),
    g(
        "raw-io",
        "Raw I/O port access",
        &[
            "ioperm",
            "iopl",
            "pciconfig_iobase",
            "pciconfig_read",
            "pciconfig_write",
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
        ],
    ),
    g(
        "reboot",
        "Reboot and reboot preparation/kexec",
        &["kexec_file_load", "kexec_load", "reboot"],
    ),
    g(
        "resources",
        "Alter resource settings",
        &[
            "ioprio_set",
            "mbind",
            "migrate_pages",
            "move_pages",
            "nice",
            "sched_setaffinity",
            "sched_setattr",
            "sched_setparam",
            "sched_setscheduler",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "setpriority",
            "setrlimit",
        ],
    ),
    g(
        "setuid",
        "Operations for changing user/group credentials",
        &[
            "setgid",
            "setgid32",
            "setgroups",
            "setgroups32",
            "setregid",
            "setregid32",
            "setresgid",
            "setresgid32",
            "setresuid",
            "setresuid32",
            "setreuid",
            "setreuid32",
            "setuid",
            "setuid32",
        ],
    ),
    g(
        "signal",
        "Process signal handling",
        &[
            "rt_sigaction",
            "rt_sigpending",
            "rt_sigprocmask",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "rt_sigtimedwait_time64",
            "sigaction",
            "sigaltstack",
            "signal",
            "signalfd",
            "signalfd4",
            "sigpending",
            "sigprocmask",
            "sigsuspend",
        ],
    ),
    g(
        "swap",
        "Enable/disable swap devices",
        &["swapoff", "swapon"],
    ),
    g(
        "sync",
        "Synchronize files and memory to storage",
        &[
            "fdatasync",
            "fsync",
            "msync",
            "sync",
            "sync_file_range",
            "sync_file_range2",
            "arm_sync_file_range",
            "syncfs",
        ],
    ),
    g(
        "system-service",
        "General system service operations",
        &[
            "@aio",
            "@basic-io",
            "@chown",
            "@default",
            "@file-system",
            "@io-event",
            "@ipc",
            "@keyring",
            "@memlock",
            "@network-io",
            "@process",
            "@resources",
            "@setuid",
            "@signal",
            "@sync",
            "@timer",
            "arm_fadvise64_64",
            "brk",
            "cachestat",
            "capget",
            "capset",
            "copy_file_range",
            "fadvise64",
            "fadvise64_64",
            "flock",
            "get_mempolicy",
            "getcpu",
            "getpriority",
            "getrandom",
            "ioctl",
            "ioprio_get",
            "kcmp",
            "madvise",
            "mprotect",
            "mremap",
            "name_to_handle_at",
            "oldolduname",
            "olduname",
            "personality",
            "readahead",
            "readdir",
            "remap_file_pages",
            "sched_get_priority_max",
            "sched_get_priority_min",
            "sched_getaffinity",
            "sched_getattr",
            "sched_getparam",
            "sched_getscheduler",
            "sched_rr_get_interval",
            "sched_rr_get_interval_time64",
            "sched_yield",
            "sendfile",
            "sendfile64",
            "setfsgid",
            "setfsgid32",
            "setfsuid",
            "setfsuid32",
            "setpgid",
            "setsid",
            "splice",
            "sysinfo",
            "tee",
            "umask",
            "uname",
            "userfaultfd",
            "vmsplice",
        ],
    ),
    g(
        "timer",
        "Schedule operations by time",
        &[
            "alarm",
            "getitimer",
            "setitimer",
            "timer_create",
            "timer_delete",
            "timer_getoverrun",
            "timer_gettime",
            "timer_gettime64",
            "timer_settime",
            "timer_settime64",
            "timerfd_create",
            "timerfd_gettime",
            "timerfd_gettime64",
            "timerfd_settime",
            "timerfd_settime64",
            "times",
        ],
    ),
];

/// Every group, sorted by name.
pub fn groups() -> &'static [Group] {
    GROUPS
}

/// The group called `name`, with or without the leading `@`.
pub fn group(name: &str) -> Option<&'static Group> {
    let name = name.strip_prefix('@').unwrap_or(name);
    GROUPS
        .binary_search_by(|g| g.name.cmp(name))
        .ok()
        .map(|i| &GROUPS[i])
}

/// The syscall names of a group with nested groups expanded: sorted, unique.
pub fn expand_group(name: &str) -> Option<Vec<&'static str>> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    expand_into(group(name)?, &mut out, &mut seen);
    Some(out.into_iter().collect())
}

fn expand_into(
    g: &'static Group,
    out: &mut BTreeSet<&'static str>,
    seen: &mut BTreeSet<&'static str>,
) {
    if !seen.insert(g.name) {
        return;
    }
    for member in g.members {
        match member.strip_prefix('@').and_then(group) {
            Some(inner) => expand_into(inner, out, seen),
            None => {
                out.insert(member);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arch, abis_with};

    #[test]
    fn sorted_and_members_known() {
        assert!(GROUPS.windows(2).all(|w| w[0].name < w[1].name));
        for g in GROUPS {
            for m in g.members {
                match m.strip_prefix('@') {
                    Some(inner) => {
                        assert!(group(inner).is_some(), "@{} -> unknown @{inner}", g.name)
                    }
                    None => assert!(!abis_with(m).is_empty(), "@{}: {m} is on no ABI", g.name),
                }
            }
        }
    }

    #[test]
    fn lookup_and_expand() {
        assert_eq!(group("@mount").unwrap().name, "mount");
        assert_eq!(group("mount").unwrap().name, "mount");
        assert!(group("@nope").is_none());
        assert_eq!(expand_group("@namespaces").unwrap(), ["setns", "unshare"]);
        let clock_set = expand_group("clock-set").unwrap();
        assert!(clock_set.contains(&"settimeofday"));
        assert!(clock_set.contains(&"clock_settime64"));
        let privileged = expand_group("@privileged").unwrap();
        assert!(privileged.contains(&"chown32"), "nested @chown");
        assert!(privileged.contains(&"kexec_load"), "nested @reboot");
        assert!(privileged.windows(2).all(|w| w[0] < w[1]));
        assert!(!privileged.iter().any(|m| m.starts_with('@')));
        let service = expand_group("@system-service").unwrap();
        for name in [
            "read",
            "openat",
            "execve",
            "clone",
            "socket",
            "epoll_wait",
            "ioctl",
        ] {
            assert!(service.contains(&name), "{name}");
        }
        assert!(!service.contains(&"mount"));
        assert!(!service.contains(&"reboot"));
    }

    #[test]
    fn brief_groups_exist() {
        for name in [
            "system-service",
            "file-system",
            "network-io",
            "process",
            "mount",
            "module",
            "reboot",
            "swap",
            "raw-io",
            "clock",
            "keyring",
            "obsolete",
            "privileged",
            "basic-io",
            "io-event",
            "ipc",
            "signal",
            "timer",
            "sync",
            "resources",
            "memlock",
            "cpu-emulation",
            "debug",
            "setuid",
            "aio",
            "chown",
            "io-uring",
            "numa",
            "namespaces",
            "clock-set",
        ] {
            assert!(group(name).is_some(), "{name}");
        }
    }

    #[test]
    fn default_group_per_abi() {
        // @default mixes names of several ABIs; each ABI resolves the ones it has.
        let members = expand_group("default").unwrap();
        let on = |arch: Arch| -> Vec<&str> {
            members
                .iter()
                .copied()
                .filter(|m| arch.by_name(m).is_some())
                .collect()
        };
        let x86_64 = on(Arch::X86_64);
        assert!(x86_64.contains(&"execve") && x86_64.contains(&"time"));
        assert!(!x86_64.contains(&"getuid32") && !x86_64.contains(&"set_tls"));
        assert!(on(Arch::X86).contains(&"getuid32"));
        assert!(on(Arch::Arm).contains(&"set_tls"));
        assert!(on(Arch::Arm).contains(&"ugetrlimit"));
        assert!(!on(Arch::Aarch64).contains(&"time"));
    }
}
