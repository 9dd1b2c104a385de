//! Raw system calls for tests and benchmarks that probe filters, callable from safe code.
//!
//! A filter decides on the syscall number and the raw argument registers, so its tests make
//! calls libc does not offer: a number no ABI assigns, an `unsigned int` parameter with bits
//! above 32 set, the i386 ABI through `int 0x80` from a 64-bit process. A raw syscall is not
//! sound in general: `munmap` of live memory, `exit` of the calling thread, `clone` without a
//! stack, `rt_sigreturn`, `close` of a descriptor a `File` owns, or `read` into an arbitrary
//! address all break what Rust code relies on. So this module makes only the calls on one fixed
//! list, [`ALLOWED`], and refuses every other number or argument combination before the kernel
//! sees it. Each listed call is one whose effect cannot reach this process's memory, its
//! threads, or descriptors that Rust objects own:
//!
//! | name | arguments | why it is sound |
//! |------|-----------|-----------------|
//! | `getpid`, `getppid`, `gettid` | any | no parameters: the kernel ignores the registers |
//! | `personality` | any | one `unsigned int`; it changes flags that later `execve`/`mmap` read, no existing memory |
//! | `socket` | any | three integers; the result is a new descriptor no Rust object owns yet |
//! | `bpf` | all zero | `BPF_MAP_CREATE` with a NULL attribute of size 0: the kernel copies nothing and fails (map type 0) |
//! | `reboot` | all zero | the magic numbers are checked before anything else: `EINVAL` (or `EPERM`) |
//! | `clone3` | all zero | a size below `CLONE_ARGS_SIZE_VER0` fails with `EINVAL` before anything is read or created |
//! | `acct` | all zero | `acct(NULL)` switches process accounting off; no pointer is followed |
//! | `close`, `ioctl` | first argument a negative `int` | the descriptor lookup fails with `EBADF` before any other argument is used, so no descriptor this process owns is touched |
//! | `unshare` | any | takes only flags; it changes which namespaces, fs data or descriptor table the thread uses (a copied table keeps every descriptor valid), never this process's memory |
//! | `mount` | all zero | a NULL target fails with `EFAULT` when the kernel copies the path |
//! | `getrandom` | buffer NULL | the kernel writes only through the buffer pointer; NULL faults (`EFAULT`) or, with length 0, nothing is written |
//! | `bpf` | `attr` NULL | every command reads its attributes through `attr`; NULL faults or fails with `EINVAL`, and the kernel writes results only through `attr` |
//! | [`UNASSIGNED`] | any | no ABI assigns the number: the kernel answers `ENOSYS` |
//!
//! (Sources: `kernel/bpf/syscall.c: __sys_bpf, map_create`, `kernel/reboot.c`,
//! `kernel/fork.c: copy_clone_args_from_user`, `kernel/acct.c`.) With all arguments zero every
//! pointer parameter is NULL; the kernel faults on the lowest page (`vm.mmap_min_addr`), and no
//! Rust object lives at address 0 anyway.
//!
//! A seccomp filter can only make a listed call fail or kill the process, never widen what it
//! does. An agent outside the process (a ptrace tracer, a user-notification supervisor that
//! answers `CONTINUE` after rewriting memory) can change any process at will; that is outside
//! what Rust's soundness covers, as writing to `/proc/self/mem` is.
//!
//! The module does not offer `close`, `ioctl`, `mmap` or any call that takes a pointer to live
//! memory: [`socket`] returns an [`OwnedFd`] that closes itself, and std or the typed functions
//! of this crate cover the rest.

use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A syscall number no Linux ABI assigns, for tests of a filter's default action: unfiltered,
/// the kernel answers `ENOSYS`. Numbers are allocated in sequence and stay below 470 on x86_64
/// and i386 in Linux 6.18, so 1000 is far from the next one (x32's numbers start at 2^30).
pub const UNASSIGNED: i64 = 1000;

/// Which argument values a listed call accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepts {
    /// Any values: the call takes only integers and touches no memory of the process.
    Any,
    /// Only all six arguments zero: the call takes pointers, and with NULL ones it fails (or
    /// does something pointer-free) before it could read or write user memory.
    Zeros,
    /// The listed argument positions (the pointer parameters) must be zero, the others (plain
    /// integers) may be anything: every pointer the kernel could follow is NULL.
    NullAt(&'static [usize]),
    /// The first argument, a file descriptor, must be negative as the kernel reads it (its low
    /// 32 bits as an `int`): the kernel fails with `EBADF` at the descriptor lookup, before it
    /// looks at any other argument, so no descriptor this process owns is closed or used.
    BadFd,
}

/// One call this module makes: its name, its numbers on the native ABI and on i386, and the
/// argument values it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The kernel's name for it, or `"unassigned"` for [`UNASSIGNED`].
    pub name: &'static str,
    /// Its number on the ABI this crate is compiled for.
    pub native: i64,
    /// Its number on i386 (`arch/x86/entry/syscalls/syscall_32.tbl`), for [`int80`].
    pub i386: u32,
    /// The argument values it accepts.
    pub accepts: Accepts,
}

/// The calls [`syscall`], [`int80`] and [`Call`] make; the module documentation argues why each
/// is sound from safe code.
pub const ALLOWED: &[Allowed] = &[
    allowed("getpid", libc::SYS_getpid, 20, Accepts::Any),
    allowed("getppid", libc::SYS_getppid, 64, Accepts::Any),
    allowed("gettid", libc::SYS_gettid, 224, Accepts::Any),
    allowed("personality", libc::SYS_personality, 136, Accepts::Any),
    allowed("socket", libc::SYS_socket, 359, Accepts::Any),
    allowed("bpf", libc::SYS_bpf, 357, Accepts::NullAt(&[1])),
    allowed("reboot", libc::SYS_reboot, 88, Accepts::Zeros),
    allowed("clone3", libc::SYS_clone3, 435, Accepts::Zeros),
    allowed("acct", libc::SYS_acct, 51, Accepts::Zeros),
    allowed("close", libc::SYS_close, 6, Accepts::BadFd),
    allowed("ioctl", libc::SYS_ioctl, 54, Accepts::BadFd),
    allowed("unshare", libc::SYS_unshare, 310, Accepts::Any),
    allowed("mount", libc::SYS_mount, 21, Accepts::Zeros),
    allowed("getrandom", libc::SYS_getrandom, 355, Accepts::NullAt(&[0])),
    allowed("unassigned", UNASSIGNED, 1000, Accepts::Any),
];

const fn allowed(name: &'static str, native: i64, i386: u32, accepts: Accepts) -> Allowed {
    Allowed {
        name,
        native,
        i386,
        accepts,
    }
}

/// An error number the kernel (or a filter's `SECCOMP_RET_ERRNO`) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's `errno` right after a failed libc call.
    fn last() -> Errno {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        io::Error::from_raw_os_error(self.0).fmt(f)
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.0)
    }
}

/// The ABI a [`Call`] is made through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Abi {
    /// The ABI this crate is compiled for (`syscall` on x86_64).
    Native,
    /// i386 through `int 0x80` from a 64-bit process (the kernel reports `AUDIT_ARCH_I386`).
    #[cfg(target_arch = "x86_64")]
    I386,
}

/// A call this module refuses to make, because it is not on [`ALLOWED`] with these arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "syscall {nr} ({abi:?}) with arguments {args:#x?} is not on moat_sys::raw::ALLOWED, the calls known to be sound from safe code"
)]
pub struct Refused {
    /// The ABI.
    pub abi: Abi,
    /// The number.
    pub nr: i64,
    /// The arguments.
    pub args: [u64; 6],
}

/// A checked call: built once (the list is consulted then), made any number of times with
/// [`Call::run`], so a benchmark's loop times only the syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    abi: Abi,
    nr: i64,
    args: [u64; 6],
}

impl Call {
    /// Native syscall `nr(args)`, if [`ALLOWED`] lists it with these arguments.
    pub fn native(nr: i64, args: [u64; 6]) -> Result<Call, Refused> {
        let call = Call {
            abi: Abi::Native,
            nr,
            args,
        };
        if ALLOWED.iter().any(|a| a.native == nr && accepts(a, &args)) {
            Ok(call)
        } else {
            Err(call.refused())
        }
    }

    /// i386 syscall `nr(args)` through `int 0x80` (arguments in ebx, ecx, edx), if [`ALLOWED`]
    /// lists it with these arguments.
    #[cfg(target_arch = "x86_64")]
    pub fn i386(nr: u32, args: [u32; 3]) -> Result<Call, Refused> {
        let wide = [args[0], args[1], args[2], 0, 0, 0].map(u64::from);
        let call = Call {
            abi: Abi::I386,
            nr: i64::from(nr),
            args: wide,
        };
        if ALLOWED.iter().any(|a| a.i386 == nr && accepts(a, &wide)) {
            Ok(call)
        } else {
            Err(call.refused())
        }
    }

    fn refused(self) -> Refused {
        Refused {
            abi: self.abi,
            nr: self.nr,
            args: self.args,
        }
    }

    /// The ABI.
    pub fn abi(&self) -> Abi {
        self.abi
    }

    /// The number.
    pub fn nr(&self) -> i64 {
        self.nr
    }

    /// The arguments (i386: the first three, zero-extended).
    pub fn args(&self) -> [u64; 6] {
        self.args
    }

    /// Makes the call: the kernel's non-negative result, or the errno. An i386 result is eax
    /// zero-extended; eax in -4095..=-1 is an errno.
    #[inline]
    pub fn run(&self) -> Result<u64, Errno> {
        match self.abi {
            Abi::Native => {
                let [a0, a1, a2, a3, a4, a5] = self.args;
                // SAFETY: `Call` values are built only by `Call::native`, which checked that
                // ALLOWED lists this number with these arguments; the module documentation
                // argues for each entry that the kernel reads and writes none of this process's
                // memory and creates no thread or descriptor that Rust code owns. The arguments
                // are plain integers passed in registers.
                let r = unsafe { libc::syscall(self.nr, a0, a1, a2, a3, a4, a5) };
                u64::try_from(r).map_err(|_| Errno::last())
            }
            #[cfg(target_arch = "x86_64")]
            Abi::I386 => {
                // `Call::i386` built `nr` and the first three arguments from u32 values.
                let nr = u32::try_from(self.nr).unwrap_or(u32::MAX);
                let arg = |i: usize| u32::try_from(self.args[i]).unwrap_or(u32::MAX);
                int80_unchecked(nr, [arg(0), arg(1), arg(2)])
            }
        }
    }
}

fn accepts(a: &Allowed, args: &[u64; 6]) -> bool {
    match a.accepts {
        Accepts::Any => true,
        Accepts::Zeros => args.iter().all(|&v| v == 0),
        Accepts::NullAt(pointers) => pointers.iter().all(|&i| args.get(i) == Some(&0)),
        Accepts::BadFd => (args[0] & 0x8000_0000) != 0,
    }
}

/// i386 syscall through `int 0x80`; the caller checked the call against [`ALLOWED`].
#[cfg(target_arch = "x86_64")]
#[inline]
fn int80_unchecked(nr: u32, args: [u32; 3]) -> Result<u64, Errno> {
    let ret: u32;
    // SAFETY: only `Call::run` calls this, for a `Call` that `Call::i386` checked against
    // ALLOWED; the module documentation argues that those calls read and write none of this
    // process's memory (a 64-bit process's addresses may lie below 4 GiB, so the list matters
    // here as much as natively). The asm itself: rbx is reserved by the compiler, so the first
    // argument is swapped into it and swapped back, leaving rbx as it was; ecx and edx carry
    // the other two and are declared clobbered; eax carries the number in and the result out;
    // the 64-bit kernel's int 0x80 entry may zero r8-r11 (`arch/x86/entry/entry_64_compat.S`),
    // declared clobbered too. The instruction uses no user stack, and the default asm options
    // assume memory and flags may change, so the compiler keeps no value cached across it.
    unsafe {
        std::arch::asm!(
            "xchg rbx, {a0}",
            "int 0x80",
            "xchg rbx, {a0}",
            a0 = inout(reg) u64::from(args[0]) => _,
            inlateout("eax") nr => ret,
            inout("ecx") args[1] => _,
            inout("edx") args[2] => _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    let signed = i32::from_ne_bytes(ret.to_ne_bytes());
    if (-4095..0).contains(&signed) {
        Err(Errno(-signed))
    } else {
        Ok(u64::from(ret))
    }
}

/// Native syscall `nr(args)`: the kernel's non-negative result, or the errno.
///
/// # Panics
/// If [`ALLOWED`] does not list `nr` with these arguments (the call is not made), like an
/// out-of-bounds index: a bug in the caller. Use [`Call::native`] to handle the refusal.
pub fn syscall(nr: i64, args: [u64; 6]) -> Result<u64, Errno> {
    match Call::native(nr, args) {
        Ok(call) => call.run(),
        Err(refused) => panic!("{refused}"),
    }
}

/// i386 syscall `nr(args)` through `int 0x80` (ebx, ecx, edx): eax, or the errno when eax is in
/// -4095..=-1.
///
/// # Panics
/// If [`ALLOWED`] does not list `nr` with these arguments (the call is not made). Use
/// [`Call::i386`] to handle the refusal.
#[cfg(target_arch = "x86_64")]
pub fn int80(nr: u32, args: [u32; 3]) -> Result<u32, Errno> {
    match Call::i386(nr, args) {
        Ok(call) => call.run().map(|eax| u32::try_from(eax).unwrap_or(u32::MAX)),
        Err(refused) => panic!("{refused}"),
    }
}

/// `socket(domain, ty, protocol)` through the raw syscall (so a filter sees exactly these
/// values), as a descriptor that closes itself.
pub fn socket(domain: i32, ty: i32, protocol: i32) -> Result<OwnedFd, Errno> {
    // Sign-extended like the C ABI passes an `int`; the kernel reads the low 32 bits.
    let arg = |v: i32| u64::from_ne_bytes(i64::from(v).to_ne_bytes());
    let fd = syscall(
        libc::SYS_socket,
        [arg(domain), arg(ty), arg(protocol), 0, 0, 0],
    )?;
    let fd = i32::try_from(fd).map_err(|_| Errno(libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor of this process; nothing else
    // knows its number, so the OwnedFd is its only owner and closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getpid_is_the_process_id() {
        let pid = u64::from(std::process::id());
        assert_eq!(syscall(libc::SYS_getpid, [0; 6]), Ok(pid));
        // getpid ignores its argument registers.
        assert_eq!(syscall(libc::SYS_getpid, [u64::MAX; 6]), Ok(pid));
    }

    #[test]
    fn unassigned_numbers_are_enosys() {
        assert_eq!(syscall(UNASSIGNED, [7; 6]), Err(Errno(libc::ENOSYS)));
    }

    #[test]
    fn pointer_taking_calls_with_zero_arguments_fail_early() {
        assert_eq!(syscall(libc::SYS_clone3, [0; 6]), Err(Errno(libc::EINVAL)));
        // reboot: EPERM without CAP_SYS_BOOT, EINVAL for the wrong magic with it.
        let r = syscall(libc::SYS_reboot, [0; 6]);
        assert!(matches!(r, Err(Errno(libc::EINVAL | libc::EPERM))), "{r:?}");
        // bpf(BPF_MAP_CREATE, NULL, 0): map type 0, or no permission.
        let r = syscall(libc::SYS_bpf, [0; 6]);
        assert!(matches!(r, Err(Errno(libc::EINVAL | libc::EPERM))), "{r:?}");
    }

    #[test]
    fn personality_query_reports_the_current_persona() {
        let raw = syscall(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]);
        assert!(raw.is_ok(), "{raw:?}");
        // The kernel reads an unsigned int: bits above 32 are ignored, the query is the same.
        assert_eq!(
            syscall(libc::SYS_personality, [0x1_ffff_ffff, 0, 0, 0, 0, 0]),
            raw
        );
    }

    #[test]
    fn negative_descriptors_fail_with_ebadf_before_anything_else() {
        let minus_one = u64::MAX;
        assert_eq!(
            syscall(libc::SYS_close, [minus_one, 0, 0, 0, 0, 0]),
            Err(Errno(libc::EBADF))
        );
        assert_eq!(
            syscall(libc::SYS_ioctl, [minus_one, 0x5412, 0, 0, 0, 0]),
            Err(Errno(libc::EBADF))
        );
        assert_eq!(syscall(libc::SYS_getrandom, [0; 6]), Ok(0));
    }

    #[test]
    fn unlisted_calls_and_arguments_are_refused() {
        for (nr, args) in [
            (libc::SYS_munmap, [0; 6]),
            (libc::SYS_exit, [0; 6]),
            (libc::SYS_rt_sigreturn, [0; 6]),
            (libc::SYS_close, [0; 6]),
            (libc::SYS_read, [0; 6]),
            // Listed, but only with zero arguments.
            (libc::SYS_bpf, [0, 0x1000, 8, 0, 0, 0]),
            (libc::SYS_clone3, [0, 88, 0, 0, 0, 0]),
            (libc::SYS_acct, [0x1000, 0, 0, 0, 0, 0]),
            (libc::SYS_reboot, [0xfee1_dead, 0, 0, 0, 0, 0]),
            // Listed with a NULL pointer or a negative descriptor only.
            (libc::SYS_getrandom, [0x1000, 8, 0, 0, 0, 0]),
            (libc::SYS_ioctl, [1, 0x5412, 0, 0, 0, 0]),
            (libc::SYS_close, [0x7fff_ffff, 0, 0, 0, 0, 0]),
            (libc::SYS_mount, [0, 0x1000, 0, 0, 0, 0]),
        ] {
            let err = Call::native(nr, args).unwrap_err();
            assert_eq!((err.nr, err.args), (nr, args));
            assert!(err.to_string().contains("not on moat_sys::raw::ALLOWED"));
        }
        #[cfg(target_arch = "x86_64")]
        for (nr, args) in [(1u32, [0; 3]), (91, [0; 3]), (357, [0, 0x1000, 8])] {
            assert!(Call::i386(nr, args).is_err(), "{nr}");
        }
    }

    #[test]
    fn socket_owns_its_descriptor() {
        let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0).unwrap();
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        assert!(
            std::fs::read_link(&path)
                .unwrap()
                .to_string_lossy()
                .starts_with("socket:")
        );
        drop(fd);
        assert!(std::fs::read_link(&path).is_err());
        assert_eq!(
            socket(-1, libc::SOCK_STREAM, 0).unwrap_err(),
            Errno(libc::EAFNOSUPPORT)
        );
    }

    #[test]
    fn native_numbers_match_the_syscall_table() {
        #[cfg(target_arch = "x86_64")]
        let table = moat_syscalls::Arch::X86_64;
        #[cfg(target_arch = "x86_64")]
        for a in ALLOWED.iter().filter(|a| a.name != "unassigned") {
            let s = table.by_name(a.name).unwrap();
            assert_eq!(i64::from(s.nr), a.native, "{}", a.name);
        }
        use moat_syscalls::Arch;
        for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
            for s in arch.syscalls() {
                assert!(
                    i64::from(s.nr - arch.nr_bias()) < UNASSIGNED,
                    "{arch} {}",
                    s.name
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod i386 {
        use super::*;
        use crate::testing::{ChildStatus, in_child};

        #[test]
        fn i386_numbers_match_the_syscall_table() {
            for a in ALLOWED.iter().filter(|a| a.name != "unassigned") {
                let s = moat_syscalls::Arch::X86.by_name(a.name).unwrap();
                assert_eq!(s.nr, a.i386, "{}", a.name);
            }
        }

        #[test]
        fn int80_reaches_the_i386_abi() {
            // getpid through either ABI is the same process; getppid too.
            assert_eq!(int80(20, [0; 3]), Ok(std::process::id()));
            let ppid = syscall(libc::SYS_getppid, [0; 6]).unwrap();
            assert_eq!(int80(64, [5, 6, 7]).map(u64::from), Ok(ppid));
            assert_eq!(int80(1000, [1, 2, 3]), Err(Errno(libc::ENOSYS)));
            assert_eq!(int80(435, [0; 3]), Err(Errno(libc::EINVAL)));
        }

        #[test]
        fn int80_preserves_the_callers_registers() {
            // Values live across the asm in registers and on the stack must survive it.
            let before: Vec<u64> = (0..32u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect();
            let mut acc = 0u64;
            for (i, v) in before.iter().enumerate() {
                let nr = if i % 2 == 0 { 20 } else { 64 };
                let r = int80(nr, [u32::try_from(i).unwrap(), 0, 0]).unwrap();
                acc = acc.wrapping_add(*v ^ u64::from(r > 0));
            }
            let want = before.iter().fold(0u64, |a, v| a.wrapping_add(v ^ 1));
            assert_eq!(acc, want);
        }

        #[test]
        fn i386_calls_are_filtered_as_i386() {
            // A filter that fails every i386 call with EACCES and allows the rest, installed in
            // a child: the raw i386 call sees it, the native one does not.
            use moat_bpf::Insn;
            const AUDIT_ARCH_I386: u32 = 0x4000_0003;
            let insns = [
                Insn::stmt(0x20, 4),                     // ld [arch]
                Insn::jump(0x15, AUDIT_ARCH_I386, 0, 1), // jeq i386
                Insn::stmt(0x06, 0x0005_0000 | 13),      // ret ERRNO(EACCES)
                Insn::stmt(0x06, 0x7fff_0000),           // ret ALLOW
            ];
            let program = moat_bpf::Program::new(insns.to_vec()).unwrap();
            let status = in_child(|| {
                if crate::install(&program, crate::Flags::NONE).is_err() {
                    return 91;
                }
                if int80(20, [0; 3]) != Err(Errno(libc::EACCES)) {
                    return 1;
                }
                if syscall(libc::SYS_getpid, [0; 6]).is_err() {
                    return 2;
                }
                0
            })
            .unwrap();
            assert_eq!(status, ChildStatus::Exited(0));
        }
    }
}
