//! Landlock: confine file-system paths, TCP ports and IPC scopes, the things seccomp cannot see
//! (Linux 5.13+, `security/landlock/`).
//!
//! A [`Ruleset`] lists what stays allowed; [`Ruleset::prepare`] asks the kernel which Landlock
//! ABI it speaks, drops what that ABI cannot express (or fails, with [`Compat::Required`]),
//! creates the ruleset and adds the rules. [`Prepared::restrict_self`] then confines the calling
//! thread and every thread and process it creates afterwards. Preparing opens files and
//! allocates; restricting is two system calls and nothing else, so it is safe between `fork`
//! and `execve`.
//!
//! Only the access rights a ruleset *handles* are restricted: a ruleset built from read rules
//! alone restricts reading and leaves writing and executing to the other layers. The kernel
//! evaluates a file access against the rules of the path's ancestors, so a rule on `/usr` covers
//! everything beneath it.
//!
//! Any Landlock domain, whatever it handles, also fences `ptrace` access: a process inside the
//! domain cannot trace, open `/proc/<pid>/mem` of, or `process_vm_writev` into a process outside
//! it (`security/landlock/task.c`, `hook_ptrace_access_check`: access is allowed only to tasks in
//! the same domain or a nested one). [`Ruleset::isolate`] uses that to put a supervised program
//! in a domain of its own even when the policy restricts nothing else.
//!
//! The raw system calls are used instead of the `landlock` crate: the three calls are small, the
//! ABI downgrade rules are this module's to state exactly, and `restrict_self` must run in a
//! forked child where only async-signal-safe work is allowed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// File-system access rights (`LANDLOCK_ACCESS_FS_*`, `include/uapi/linux/landlock.h`).
pub mod fs {
    /// Execute a file (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_EXECUTE")]
    pub const EXECUTE: u64 = 1 << 0;
    /// Open a file for writing (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_WRITE_FILE")]
    pub const WRITE_FILE: u64 = 1 << 1;
    /// Open a file for reading (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_READ_FILE")]
    pub const READ_FILE: u64 = 1 << 2;
    /// List a directory (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_READ_DIR")]
    pub const READ_DIR: u64 = 1 << 3;
    /// Remove an empty directory or rename one (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_REMOVE_DIR")]
    pub const REMOVE_DIR: u64 = 1 << 4;
    /// Unlink or rename a file (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_REMOVE_FILE")]
    pub const REMOVE_FILE: u64 = 1 << 5;
    /// Create a character device (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_CHAR")]
    pub const MAKE_CHAR: u64 = 1 << 6;
    /// Create a directory (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_DIR")]
    pub const MAKE_DIR: u64 = 1 << 7;
    /// Create a regular file (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_REG")]
    pub const MAKE_REG: u64 = 1 << 8;
    /// Create a unix socket (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_SOCK")]
    pub const MAKE_SOCK: u64 = 1 << 9;
    /// Create a named pipe (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_FIFO")]
    pub const MAKE_FIFO: u64 = 1 << 10;
    /// Create a block device (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_BLOCK")]
    pub const MAKE_BLOCK: u64 = 1 << 11;
    /// Create a symbolic link (ABI 1).
    #[doc(alias = "LANDLOCK_ACCESS_FS_MAKE_SYM")]
    pub const MAKE_SYM: u64 = 1 << 12;
    /// Link or rename a file into another directory (ABI 2).
    #[doc(alias = "LANDLOCK_ACCESS_FS_REFER")]
    pub const REFER: u64 = 1 << 13;
    /// Truncate a file (ABI 3).
    #[doc(alias = "LANDLOCK_ACCESS_FS_TRUNCATE")]
    pub const TRUNCATE: u64 = 1 << 14;
    /// `ioctl` on a character or block device (ABI 5).
    #[doc(alias = "LANDLOCK_ACCESS_FS_IOCTL_DEV")]
    pub const IOCTL_DEV: u64 = 1 << 15;

    /// Rights that apply to a regular file (the rest only make sense on directories); the
    /// kernel rejects a rule on a file that names others (`EINVAL`).
    pub const FILE: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
    /// What moat's `fs read` allows: read files, list directories.
    pub const READ: u64 = READ_FILE | READ_DIR;
    /// What moat's `fs write` allows: write, truncate, create, remove, rename and link files,
    /// and device `ioctl`s.
    pub const WRITE: u64 = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM
        | REFER
        | TRUNCATE
        | IOCTL_DEV;
    /// What moat's `fs exec` allows: execute files (the loader must also be able to read them).
    pub const EXEC: u64 = EXECUTE;
}

/// TCP access rights (`LANDLOCK_ACCESS_NET_*`, ABI 4).
pub mod net {
    /// Bind a TCP socket to a local port.
    #[doc(alias = "LANDLOCK_ACCESS_NET_BIND_TCP")]
    pub const BIND_TCP: u64 = 1 << 0;
    /// Connect a TCP socket to a remote port.
    #[doc(alias = "LANDLOCK_ACCESS_NET_CONNECT_TCP")]
    pub const CONNECT_TCP: u64 = 1 << 1;
}

/// IPC scopes (`LANDLOCK_SCOPE_*`, ABI 6): deny reaching outside the Landlock domain.
pub mod scope {
    /// Connecting to an abstract unix socket created outside the domain.
    #[doc(alias = "LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET")]
    pub const ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    /// Sending a signal to a process outside the domain.
    #[doc(alias = "LANDLOCK_SCOPE_SIGNAL")]
    pub const SIGNAL: u64 = 1 << 1;
}

const CREATE_RULESET_VERSION: u32 = 1 << 0;
const RULE_PATH_BENEATH: libc::c_int = 1;
const RULE_NET_PORT: libc::c_int = 2;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// `struct landlock_path_beneath_attr`, packed in the UAPI header.
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// File-system rights each ABI version knows (index = ABI version).
fn fs_known(abi: u32) -> u64 {
    match abi {
        0 => 0,
        1 => (1 << 13) - 1,
        2 => (1 << 14) - 1,
        3 | 4 => (1 << 15) - 1,
        _ => (1 << 16) - 1,
    }
}

fn net_known(abi: u32) -> u64 {
    if abi >= 4 {
        net::BIND_TCP | net::CONNECT_TCP
    } else {
        0
    }
}

fn scope_known(abi: u32) -> u64 {
    if abi >= 6 {
        scope::ABSTRACT_UNIX_SOCKET | scope::SIGNAL
    } else {
        0
    }
}

/// The Landlock ABI version the running kernel speaks; 0 when Landlock is not built in or not
/// enabled (`ENOSYS`, `EOPNOTSUPP`).
pub fn abi() -> u32 {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the kernel reads no
    // memory and returns the ABI version (or -1 with errno).
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(r).unwrap_or(0)
}

/// What to do when the kernel cannot enforce part of a ruleset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compat {
    /// Enforce what the kernel supports and report the rest as [`Prepared::warnings`].
    #[default]
    BestEffort,
    /// Fail with [`LandlockError::Unsupported`] unless every rule can be enforced.
    Required,
}

/// Why a ruleset could not be prepared or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    /// The kernel lacks a feature the ruleset needs (only with [`Compat::Required`]).
    #[error("landlock required but {what} needs ABI {needs} and this kernel has ABI {have}")]
    Unsupported {
        /// The feature.
        what: String,
        /// The ABI that introduced it.
        needs: u32,
        /// The kernel's ABI (0: no Landlock).
        have: u32,
    },
    /// A path rule's path cannot be opened (only with [`Compat::Required`]).
    #[error("landlock rule for {}: {error}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// The error from `open(O_PATH)` or `landlock_add_rule` (part of the message).
        error: io::Error,
    },
    /// A Landlock system call failed.
    #[error("{call} failed: {error}")]
    Syscall {
        /// Which call.
        call: &'static str,
        /// The error (part of the message).
        error: io::Error,
    },
}

/// What stays allowed under Landlock. Access rights named by any rule (or by
/// [`Ruleset::handle_fs`] / [`Ruleset::handle_net`]) are handled: denied except where a rule
/// allows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    handled_fs: u64,
    handled_net: u64,
    scoped: u64,
    paths: Vec<(PathBuf, u64)>,
    ports: Vec<(u16, u64)>,
    isolate: bool,
}

/// The warning [`Ruleset::prepare`] gives for an isolating ruleset on a kernel without Landlock.
const UNISOLATED: &str = "landlock: not available on this kernel: processes outside the sandbox, \
the supervisor included, stay reachable from it (/proc/<pid>/mem, signals); seccomp still applies";

impl Ruleset {
    /// An empty ruleset: restricts nothing.
    pub fn new() -> Ruleset {
        Ruleset::default()
    }

    /// True when the ruleset handles no access right and scopes nothing ([`Ruleset::isolate`]
    /// aside).
    pub fn is_empty(&self) -> bool {
        self.handled_fs == 0 && self.handled_net == 0 && self.scoped == 0
    }

    /// Makes [`Ruleset::prepare`] create a Landlock domain even when the ruleset restricts
    /// nothing, so that the confined process cannot reach processes outside it: Landlock
    /// refuses `ptrace` access (`/proc/<pid>/mem`, `process_vm_*`) from inside a domain to
    /// outside it, and on ABI 6+ the domain also scopes signals ([`scope::SIGNAL`]). For a
    /// supervised program such as `moat run`'s, whose unconfined supervisor is its parent.
    ///
    /// On ABI 6+ a domain needs no handled access right: it scopes signals and changes nothing
    /// else. Before ABI 6 a domain must handle some file-system right; when the ruleset handles
    /// none, it handles one and grants it on `/`: [`fs::REFER`] on ABI 2 to 5 (a rename or link
    /// across directories stays allowed everywhere beneath `/`), [`fs::MAKE_BLOCK`] on ABI 1,
    /// where every Landlock domain that handles a file-system right refuses renames and links
    /// across directories (`EXDEV`). A domain that handles a file-system right also makes the
    /// kernel refuse `mount`, `umount` and `pivot_root` (`EPERM`). Signals are not scoped before
    /// ABI 6 (a warning says so). On a kernel without Landlock nothing is enforced: a warning in
    /// best effort, [`LandlockError::Unsupported`] with [`Compat::Required`].
    pub fn isolate(&mut self) -> &mut Ruleset {
        self.isolate = true;
        self
    }

    /// Whether [`Ruleset::isolate`] was asked for.
    pub fn isolates(&self) -> bool {
        self.isolate
    }

    /// Restricts these file-system rights everywhere except beneath paths allowed by
    /// [`Ruleset::allow_path`].
    pub fn handle_fs(&mut self, access: u64) -> &mut Ruleset {
        self.handled_fs |= access;
        self
    }

    /// Restricts these TCP rights on every port except those allowed by
    /// [`Ruleset::allow_port`].
    pub fn handle_net(&mut self, access: u64) -> &mut Ruleset {
        self.handled_net |= access;
        self
    }

    /// Denies the IPC scopes in `scopes` ([`scope`]) outside the Landlock domain.
    pub fn scope(&mut self, scopes: u64) -> &mut Ruleset {
        self.scoped |= scopes;
        self
    }

    /// Allows `access` ([`fs`]) on `path` and beneath it; the rights become handled.
    pub fn allow_path(&mut self, path: impl Into<PathBuf>, access: u64) -> &mut Ruleset {
        self.handled_fs |= access;
        self.paths.push((path.into(), access));
        self
    }

    /// Allows `access` ([`net`]) on TCP `port`; the rights become handled.
    pub fn allow_port(&mut self, port: u16, access: u64) -> &mut Ruleset {
        self.handled_net |= access;
        self.ports.push((port, access));
        self
    }

    /// Handled file-system rights.
    pub fn handled_fs(&self) -> u64 {
        self.handled_fs
    }

    /// Handled TCP rights.
    pub fn handled_net(&self) -> u64 {
        self.handled_net
    }

    /// Scopes.
    pub fn scoped(&self) -> u64 {
        self.scoped
    }

    /// Creates the kernel ruleset and adds the rules, degrading to the kernel's ABI as `compat`
    /// says. Returns a [`Prepared`] ruleset that [`Prepared::restrict_self`] enforces.
    pub fn prepare(&self, compat: Compat) -> Result<Prepared, LandlockError> {
        self.prepare_as(compat, abi())
    }

    /// [`Ruleset::prepare`] as for a kernel speaking ABI `have` (no newer than the running
    /// kernel's): tests use it to try what an older kernel gets on this one.
    fn prepare_as(&self, compat: Compat, have: u32) -> Result<Prepared, LandlockError> {
        let Plan {
            attr,
            mut warnings,
            root_grant,
        } = self.plan(have, compat)?;
        let Some(attr) = attr else {
            return Ok(Prepared {
                fd: None,
                abi: have,
                warnings,
            });
        };
        // SAFETY: `attr` is a live, initialised `struct landlock_ruleset_attr` (three u64 words,
        // the layout of ABI 6+) and the size passed is exactly its size; an older kernel accepts
        // a larger struct when the words it does not know are zero, which the masks above
        // guarantee. The returned descriptor is owned by nobody else.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &attr as *const RulesetAttr,
                std::mem::size_of::<RulesetAttr>(),
                0u32,
            )
        };
        let raw = i32::try_from(r).unwrap_or(-1);
        if raw < 0 {
            return Err(LandlockError::Syscall {
                call: "landlock_create_ruleset",
                error: io::Error::last_os_error(),
            });
        }
        // SAFETY: the kernel returned a fresh descriptor (close-on-exec); we wrap it once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if root_grant != 0 {
            // The right isolation handles only to make a domain at all: denied nowhere.
            add_path(&fd, Path::new("/"), root_grant).map_err(|error| LandlockError::Syscall {
                call: "landlock_add_rule(/)",
                error,
            })?;
        }
        for (path, access) in &self.paths {
            let access = access & fs_known(have);
            if access == 0 {
                continue;
            }
            if let Err(e) = add_path(&fd, path, access) {
                match compat {
                    Compat::Required => {
                        return Err(LandlockError::Path {
                            path: path.clone(),
                            error: e,
                        });
                    }
                    Compat::BestEffort => warnings.push(format!(
                        "landlock: rule for {}: {e}: skipped (nothing beneath it is allowed)",
                        path.display()
                    )),
                }
            }
        }
        for &(port, access) in &self.ports {
            let access = access & net_known(have);
            if access == 0 {
                continue;
            }
            let rule = NetPortAttr {
                allowed_access: access,
                port: u64::from(port),
            };
            // SAFETY: `rule` is a live `struct landlock_net_port_attr`; the kernel copies it.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    fd.as_raw_fd(),
                    RULE_NET_PORT,
                    &rule as *const NetPortAttr,
                    0u32,
                )
            };
            if r != 0 {
                return Err(LandlockError::Syscall {
                    call: "landlock_add_rule(net port)",
                    error: io::Error::last_os_error(),
                });
            }
        }
        Ok(Prepared {
            fd: Some(fd),
            abi: have,
            warnings,
        })
    }
}

/// What [`Ruleset::prepare`] asks of a kernel.
struct Plan {
    /// The ruleset to create; `None` when nothing is left to enforce.
    attr: Option<RulesetAttr>,
    /// One line per feature best effort left out.
    warnings: Vec<String>,
    /// File-system rights handled only to create a domain ([`Ruleset::isolate`]), granted on `/`.
    root_grant: u64,
}

impl Ruleset {
    /// What a kernel speaking Landlock ABI `have` can enforce of this ruleset: the handled
    /// rights and, in best effort, one warning per feature left out. With [`Compat::Required`]
    /// a missing feature is an error.
    fn plan(&self, have: u32, compat: Compat) -> Result<Plan, LandlockError> {
        let mut warnings = Vec::new();
        let mut lacking = |what: &str, needs: u32| -> Result<(), LandlockError> {
            match compat {
                Compat::Required => Err(LandlockError::Unsupported {
                    what: what.to_string(),
                    needs,
                    have,
                }),
                Compat::BestEffort => {
                    warnings.push(format!(
                        "landlock: {what} needs ABI {needs}, this kernel has ABI {have}: not enforced"
                    ));
                    Ok(())
                }
            }
        };
        if self.is_empty() && !self.isolate {
            return Ok(Plan {
                attr: None,
                warnings,
                root_grant: 0,
            });
        }
        if have == 0 {
            if !self.is_empty() || compat == Compat::Required {
                lacking("landlock", 1)?;
            }
            if self.isolate {
                warnings.push(UNISOLATED.to_string());
            }
            return Ok(Plan {
                attr: None,
                warnings,
                root_grant: 0,
            });
        }
        // TRUNCATE and IOCTL_DEV only come with `fs write`; on an older kernel those operations
        // stay unrestricted. REFER is not reported: ABI 1 always denies reparenting, which is
        // stricter than the rule.
        for (bit, name, needs) in [
            (fs::TRUNCATE, "fs write (truncate)", 3),
            (fs::IOCTL_DEV, "fs write (device ioctl)", 5),
        ] {
            if self.handled_fs & bit != 0 && fs_known(have) & bit == 0 {
                lacking(name, needs)?;
            }
        }
        if self.handled_net & !net_known(have) != 0 {
            lacking("net bind/connect", 4)?;
        }
        if self.scoped & !scope_known(have) != 0 {
            lacking("scope", 6)?;
        }
        let mut attr = RulesetAttr {
            handled_access_fs: self.handled_fs & fs_known(have),
            handled_access_net: self.handled_net & net_known(have),
            scoped: self.scoped & scope_known(have),
        };
        let mut root_grant = 0;
        if self.isolate {
            if scope_known(have) & scope::SIGNAL != 0 {
                attr.scoped |= scope::SIGNAL;
            } else if self.scoped & scope::SIGNAL == 0 {
                // (An explicit `scope signals` has been reported above.)
                warnings.push(format!(
                    "landlock: signals to processes outside the sandbox are not scoped (needs ABI 6, this kernel has ABI {have})"
                ));
            }
            // landlock_create_ruleset refuses a ruleset that handles nothing (ENOMSG,
            // security/landlock/ruleset.c): before ABI 6 handle one file-system right and
            // grant it on `/`. REFER alone, granted on `/`, leaves renames and links across
            // directories allowed beneath `/`; ABI 1 has no REFER, and creating block devices
            // is the least used right it has.
            if attr.handled_access_fs == 0 && attr.handled_access_net == 0 && attr.scoped == 0 {
                root_grant = if have >= 2 { fs::REFER } else { fs::MAKE_BLOCK };
                attr.handled_access_fs = root_grant;
            }
        }
        let empty = attr.handled_access_fs == 0 && attr.handled_access_net == 0 && attr.scoped == 0;
        Ok(Plan {
            attr: (!empty).then_some(attr),
            warnings,
            root_grant,
        })
    }
}

fn add_path(ruleset: &OwnedFd, path: &Path, access: u64) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let raw = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open returned a fresh descriptor that nobody else owns.
    let parent = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: an all-zero `struct stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `parent` is open and `st` is writable memory of the right type.
    if unsafe { libc::fstat(parent.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let allowed = if is_dir { access } else { access & fs::FILE };
    if allowed == 0 {
        return Ok(());
    }
    let rule = PathBeneathAttr {
        allowed_access: allowed,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `rule` is a live packed `struct landlock_path_beneath_attr` whose fd is open for
    // the whole call; the kernel copies the struct and takes its own reference to the file.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &rule as *const PathBeneathAttr,
            0u32,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A ruleset the kernel holds, ready to enforce.
#[derive(Debug)]
pub struct Prepared {
    fd: Option<OwnedFd>,
    abi: u32,
    warnings: Vec<String>,
}

impl Prepared {
    /// The kernel's Landlock ABI (0: none).
    pub fn abi(&self) -> u32 {
        self.abi
    }

    /// What best-effort mode left unenforced, one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// False when there is nothing to enforce (empty ruleset, or no Landlock in best effort).
    pub fn is_active(&self) -> bool {
        self.fd.is_some()
    }

    /// The ruleset descriptor, for [`restrict_self_fd`] in a forked child.
    pub fn raw_fd(&self) -> Option<i32> {
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Sets `no_new_privs` and confines the calling thread (and everything it later creates).
    /// Threads that already exist are not confined: Landlock before ABI 8 has no TSYNC.
    pub fn restrict_self(&self) -> io::Result<()> {
        match self.raw_fd() {
            Some(fd) => restrict_self_fd(fd),
            None => Ok(()),
        }
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS)` then `landlock_restrict_self(fd, 0)`: two system calls, no
/// allocation, safe to call between `fork` and `execve`.
pub fn restrict_self_fd(fd: i32) -> io::Result<()> {
    crate::set_no_new_privs()?;
    // SAFETY: the call takes a descriptor and flags only; a bad descriptor fails with EBADF.
    let r = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_masks_grow() {
        assert_eq!(fs_known(1) & fs::REFER, 0);
        assert_ne!(fs_known(2) & fs::REFER, 0);
        assert_eq!(fs_known(4) & fs::IOCTL_DEV, 0);
        assert_ne!(fs_known(5) & fs::IOCTL_DEV, 0);
        assert_eq!(net_known(3), 0);
        assert_eq!(scope_known(5), 0);
        assert_eq!(scope_known(7), 3);
    }

    fn planned(rs: &Ruleset, have: u32, compat: Compat) -> Result<(u64, u64, u64, usize), String> {
        rs.plan(have, compat)
            .map(|p| {
                let a = p.attr.unwrap_or(RulesetAttr {
                    handled_access_fs: 0,
                    handled_access_net: 0,
                    scoped: 0,
                });
                (
                    a.handled_access_fs,
                    a.handled_access_net,
                    a.scoped,
                    p.warnings.len(),
                )
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn older_kernels_degrade_in_best_effort_and_fail_when_required() {
        let mut rs = Ruleset::new();
        rs.allow_path("/usr", fs::READ)
            .allow_path("/tmp", fs::WRITE)
            .allow_port(443, net::CONNECT_TCP)
            .scope(scope::SIGNAL);
        // ABI 7: everything.
        assert_eq!(
            planned(&rs, 7, Compat::Required),
            Ok((fs::READ | fs::WRITE, net::CONNECT_TCP, scope::SIGNAL, 0))
        );
        // ABI 3: no device ioctl, no network, no scopes.
        assert_eq!(
            planned(&rs, 3, Compat::BestEffort),
            Ok(((fs::READ | fs::WRITE) & !fs::IOCTL_DEV, 0, 0, 3))
        );
        assert_eq!(
            planned(&rs, 3, Compat::Required),
            Err("landlock required but fs write (device ioctl) needs ABI 5 and this kernel has ABI 3".into())
        );
        // ABI 1: REFER and TRUNCATE dropped too.
        assert_eq!(
            planned(&rs, 1, Compat::BestEffort).unwrap().0,
            ((1 << 13) - 1) & (fs::READ | fs::WRITE)
        );
        // No Landlock at all.
        assert_eq!(planned(&rs, 0, Compat::BestEffort), Ok((0, 0, 0, 1)));
        assert_eq!(
            planned(&rs, 0, Compat::Required),
            Err("landlock required but landlock needs ABI 1 and this kernel has ABI 0".into())
        );
        // Only what an old kernel cannot do: nothing left, no ruleset.
        let mut net_only = Ruleset::new();
        net_only.allow_port(80, net::BIND_TCP);
        assert!(net_only.plan(3, Compat::BestEffort).unwrap().attr.is_none());
        assert!(net_only.plan(3, Compat::Required).is_err());
    }

    #[test]
    fn isolation_makes_a_domain_on_every_abi() {
        let mut rs = Ruleset::new();
        rs.isolate();
        assert!(rs.is_empty() && rs.isolates());
        let grant = |have| rs.plan(have, Compat::BestEffort).unwrap().root_grant;
        // ABI 6+: a signal scope and nothing else, no rule.
        assert_eq!(
            planned(&rs, 7, Compat::Required),
            Ok((0, 0, scope::SIGNAL, 0))
        );
        assert_eq!(grant(6), 0);
        // ABI 2 to 5: REFER handled and granted on `/`; one warning (signals not scoped).
        assert_eq!(planned(&rs, 5, Compat::Required), Ok((fs::REFER, 0, 0, 1)));
        assert_eq!(grant(2), fs::REFER);
        // ABI 1: no REFER.
        assert_eq!(
            planned(&rs, 1, Compat::BestEffort),
            Ok((fs::MAKE_BLOCK, 0, 0, 1))
        );
        assert_eq!(grant(1), fs::MAKE_BLOCK);
        // No Landlock: one warning that the supervisor is reachable, or an error when required.
        let none = rs.plan(0, Compat::BestEffort).unwrap();
        assert!(none.attr.is_none());
        assert_eq!(none.warnings, vec![UNISOLATED.to_string()]);
        assert_eq!(
            planned(&rs, 0, Compat::Required),
            Err("landlock required but landlock needs ABI 1 and this kernel has ABI 0".into())
        );
        // With policy rights: no extra handled right, the signal scope added on ABI 6+.
        let mut read = Ruleset::new();
        read.allow_path("/usr", fs::READ).isolate();
        assert_eq!(
            planned(&read, 6, Compat::Required),
            Ok((fs::READ, 0, scope::SIGNAL, 0))
        );
        assert_eq!(
            planned(&read, 3, Compat::BestEffort),
            Ok((fs::READ, 0, 0, 1))
        );
        assert_eq!(read.plan(3, Compat::BestEffort).unwrap().root_grant, 0);
        // An explicit `scope signals` on an old kernel is reported once.
        let mut sig = Ruleset::new();
        sig.scope(scope::SIGNAL).isolate();
        assert_eq!(
            planned(&sig, 5, Compat::BestEffort),
            Ok((fs::REFER, 0, 0, 1))
        );
    }

    #[test]
    fn isolation_on_this_kernel_prepares_a_domain() {
        let mut rs = Ruleset::new();
        rs.isolate();
        let p = rs.prepare(Compat::BestEffort).unwrap();
        assert_eq!(p.is_active(), abi() >= 1, "{p:?}");
    }

    /// In a forked child under an isolating domain prepared as for ABI `have`: bit 0 set when
    /// `/proc/<parent>/mem` opens for writing, bit 1 when `kill(parent, 0)` succeeds, bit 2 when
    /// a rename across directories succeeds, bit 3 when it fails with EXDEV; 100 + stage when
    /// setting up failed.
    fn reach_under_isolation(have: u32, dir: &Path) -> i32 {
        let mut rs = Ruleset::new();
        rs.isolate();
        // ABI 0: no domain at all, the control.
        let compat = if have == 0 {
            Compat::BestEffort
        } else {
            Compat::Required
        };
        let prepared = rs.prepare_as(compat, have).unwrap();
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        let mem = CString::new(format!("/proc/{parent}/mem")).unwrap();
        let (from, to) = (dir.join("a/f"), dir.join("b/f"));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(&from, b"x").unwrap();
        let from = CString::new(from.as_os_str().as_bytes()).unwrap();
        let to = CString::new(to.as_os_str().as_bytes()).unwrap();
        crate::testing::in_child(|| {
            if prepared.restrict_self().is_err() {
                return 100;
            }
            let mut bits = 0;
            // SAFETY: a NUL-terminated path; the descriptor is closed at once.
            let fd = unsafe { libc::open(mem.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            if fd >= 0 {
                bits |= 1;
                // SAFETY: closing the descriptor just opened.
                unsafe { libc::close(fd) };
            }
            // SAFETY: signal 0 sends nothing; it checks permission only.
            if unsafe { libc::kill(parent, 0) } == 0 {
                bits |= 2;
            }
            // SAFETY: two NUL-terminated paths.
            if unsafe { libc::rename(from.as_ptr(), to.as_ptr()) } == 0 {
                bits |= 4;
            } else if io::Error::last_os_error().raw_os_error() == Some(libc::EXDEV) {
                bits |= 8;
            }
            bits
        })
        .unwrap()
        .code()
        .unwrap()
    }

    /// The isolation domain of every ABI, tried on this kernel: the test runner (outside the
    /// domain), which a child without a domain reaches, cannot be reached through
    /// `/proc/<pid>/mem`; signals are scoped from ABI 6;
    /// renames across directories work from ABI 2 and fail with EXDEV on ABI 1.
    #[test]
    fn isolation_fences_off_the_parent_on_every_abi() {
        let have = abi();
        if !moat_testkit::require(
            have >= 6,
            &format!("this kernel has Landlock ABI {have}, the test needs 6"),
        ) {
            return;
        }
        let base = std::env::temp_dir().join(format!("moat-isolate-{}", std::process::id()));
        let mut results = Vec::new();
        for abi in [0, have, 5, 2, 1] {
            let dir = base.join(abi.to_string());
            results.push((abi, reach_under_isolation(abi, &dir)));
        }
        let _ = std::fs::remove_dir_all(&base);
        eprintln!("isolation (abi, bits): {results:?}");
        assert_eq!(
            results,
            vec![
                (0, 1 | 2 | 4),
                (have, 4),
                (5, 2 | 4),
                (2, 2 | 4),
                (1, 2 | 8)
            ]
        );
    }

    #[test]
    fn empty_ruleset_prepares_to_nothing() {
        let p = Ruleset::new().prepare(Compat::Required).unwrap();
        assert!(!p.is_active());
    }
}
