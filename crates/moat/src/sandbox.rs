//! Confine a process with a policy: seccomp for system calls, Landlock for paths, ports and
//! IPC scopes, from the same policy text.
//!
//! ```no_run
//! // In main(), before reading untrusted input:
//! let sandbox = moat::Sandbox::profile("container")?;
//! sandbox.confine()?; // every thread of the process, irreversibly
//! # Ok::<(), moat::sandbox::Error>(())
//! ```
//!
//! [`Sandbox`] compiles a [`Policy`] for the ABIs it accepts, resolving `when` guards against
//! this process ([`host_context`]: its effective capabilities and the running kernel), and
//! turns its Landlock statements into a [`landlock::Ruleset`]. [`Sandbox::confine`] applies
//! Landlock to the calling thread and installs the filter on every thread of the process
//! (`SECCOMP_FILTER_FLAG_TSYNC`). [`Builder`] writes a policy from code.

use std::fmt;

use moat_bpf::consts::{
    BPF_K, BPF_RET, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_LOG,
};
use moat_bpf::{Insn, Program};
use moat_compile::{CompileError, Options};
use moat_policy::landlock::{FsAccess, Landlock, NetAccess, Scope};
use moat_policy::{Action, CapSet, Context, Decider, LowerError, ParseError, Policy, Verdict};
use moat_sys::landlock::{self, Compat, LandlockError, Prepared, Ruleset};
use moat_sys::{Flags, InstallError};
use moat_syscalls::{Arch, KernelVersion};

/// Why a sandbox could not be built or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy text is wrong (`file:line:col: message`).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The policy cannot be compiled (too large, unenforceable condition).
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Landlock is required and cannot be enforced, or a Landlock call failed.
    #[error(transparent)]
    Landlock(#[from] LandlockError),
    /// `landlock required` in a process that already runs several threads: Landlock (before
    /// ABI 8) confines only the calling thread.
    #[error(
        "landlock required but this process already runs {threads} threads and landlock confines only the calling thread; confine before starting threads"
    )]
    LandlockThreads {
        /// Threads in the process.
        threads: usize,
    },
    /// The kernel refused the filter, or a thread could not be synchronised (its id is in
    /// the message).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// Applying Landlock failed.
    #[error("landlock_restrict_self failed: {0}")]
    Restrict(std::io::Error),
}

/// What `when` guards resolve against for this process: its effective capabilities
/// (`/proc/self/status`) and the running kernel's version (`uname`). Unknown parts stay `None`.
pub fn host_context() -> Context {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .map(CapSet);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| {
            let mut parts = r.trim().split(['.', '-']);
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            Some(KernelVersion { major, minor })
        });
    Context { caps, kernel }
}

/// A compiled policy, ready to confine this process or to hand to [`moat_sys::exec::spawn`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    policy: Policy,
    ctx: Context,
    program: Program,
    ruleset: Ruleset,
    compat: Compat,
}

impl Sandbox {
    /// Compiles `policy` for the ABIs it accepts, with `when` guards resolved by
    /// [`host_context`].
    pub fn new(policy: Policy) -> Result<Sandbox, Error> {
        Sandbox::with_context(policy, host_context())
    }

    /// Compiles `policy` with `when` guards resolved against `ctx`.
    pub fn with_context(policy: Policy, ctx: Context) -> Result<Sandbox, Error> {
        let compiled = moat_compile::compile(
            &policy,
            &Options {
                ctx,
                ..Options::default()
            },
        )?;
        let ruleset = ruleset(policy.landlock());
        let compat = if policy.landlock().required.is_some() {
            Compat::Required
        } else {
            Compat::BestEffort
        };
        Ok(Sandbox {
            policy,
            ctx,
            program: compiled.program,
            ruleset,
            compat,
        })
    }

    /// Parses policy text (`origin` names it in error messages) and compiles it.
    pub fn from_text(text: &str, origin: &str) -> Result<Sandbox, Error> {
        Sandbox::new(Policy::parse(text, origin)?)
    }

    /// A built-in profile (`container`, `strict`, ...).
    pub fn profile(name: &str) -> Result<Sandbox, Error> {
        let policy = Policy::open(name)?;
        Sandbox::new(policy)
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The context `when` guards were resolved against.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The compiled seccomp filter.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The Landlock rules (empty when the policy has no Landlock statement).
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// Whether Landlock must be enforced in full (`landlock required`).
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// Creates the kernel's Landlock ruleset (see [`Ruleset::prepare`]).
    pub fn prepare_landlock(&self) -> Result<Prepared, Error> {
        Ok(self.ruleset.prepare(self.compat)?)
    }

    /// Confines this process, irreversibly: sets `no_new_privs`, applies the Landlock rules to
    /// the calling thread (and every thread and process it creates afterwards), then installs
    /// the filter on every thread (`TSYNC`). Fails without installing anything when Landlock
    /// is required and cannot be enforced. Returns what best-effort Landlock left out.
    ///
    /// Unlike `moat run`, which always puts its program in a Landlock domain to fence off its
    /// unconfined supervisor ([`Ruleset::isolate`]), `confine` creates a domain only when the
    /// policy has a Landlock statement: a process that confines itself leaves no unconfined
    /// supervisor behind. Add `scope signals` to keep it from signalling processes outside.
    pub fn confine(&self) -> Result<Vec<String>, Error> {
        let prepared = self.prepare_landlock()?;
        let mut warnings = prepared.warnings().to_vec();
        if prepared.is_active() {
            let threads = thread_count();
            if threads > 1 {
                if self.compat == Compat::Required {
                    return Err(Error::LandlockThreads { threads });
                }
                warnings.push(format!(
                    "landlock: {} other threads already run and stay outside the landlock rules",
                    threads - 1
                ));
            }
            prepared.restrict_self().map_err(Error::Restrict)?;
        }
        moat_sys::install(&self.program, Flags::TSYNC)?;
        Ok(warnings)
    }

    /// Which parts of the policy can have decided a call the kernel logged: `arch` and `nr` as
    /// in the audit record (which carries no arguments). One entry when the syscall has no
    /// conditional rules; otherwise every rule whose condition may hold, last first, and the
    /// default if no unconditional rule covers the call. Only verdicts that do not allow the
    /// call are returned.
    pub fn deciders(&self, audit_arch: u32, nr: u32) -> Vec<Verdict> {
        deciders(&self.policy, &self.ctx, audit_arch, nr)
    }
}

/// See [`Sandbox::deciders`].
pub fn deciders(policy: &Policy, ctx: &Context, audit_arch: u32, nr: u32) -> Vec<Verdict> {
    let evaluated = policy.evaluate(ctx, audit_arch, nr, [0; 6]);
    let (Decider::Rule { .. } | Decider::Default) = evaluated.decided_by else {
        return non_allow(vec![evaluated]);
    };
    let lowered: Result<_, LowerError> = policy.lower(ctx);
    let Some(abi) = Arch::of(audit_arch, nr).and_then(|arch| {
        lowered
            .ok()
            .and_then(|l| l.abis.into_iter().find(|a| a.arch == arch))
    }) else {
        return non_allow(vec![evaluated]);
    };
    let Some(rules) = abi.syscalls.get(&nr) else {
        return non_allow(vec![evaluated]);
    };
    let mut out = Vec::new();
    let mut covered = false;
    for r in rules.iter().rev() {
        if matches!(r.cond, moat_policy::Cond::False) {
            continue;
        }
        let span = policy
            .rules()
            .get(r.rule)
            .map(|x| x.location.span)
            .unwrap_or_default();
        out.push(Verdict {
            action: r.action,
            decided_by: Decider::Rule {
                index: r.rule,
                span,
            },
        });
        if matches!(r.cond, moat_policy::Cond::True) {
            covered = true;
            break;
        }
    }
    if !covered {
        out.push(Verdict {
            action: abi.default,
            decided_by: Decider::Default,
        });
    }
    non_allow(out)
}

fn non_allow(v: Vec<Verdict>) -> Vec<Verdict> {
    v.into_iter()
        .filter(|v| v.action != Action::Allow)
        .collect()
}

/// `program` with every return that does not allow the call turned into `SECCOMP_RET_LOG`:
/// the program then stops nothing, and the kernel logs every call the original would have
/// refused (`moat run --audit`).
pub fn audit_program(program: &Program) -> Program {
    let insns: Vec<Insn> = program
        .insns()
        .iter()
        .map(|i| {
            if i.code == BPF_RET | BPF_K && i.k & SECCOMP_RET_ACTION_FULL != SECCOMP_RET_ALLOW {
                Insn {
                    k: SECCOMP_RET_LOG,
                    ..*i
                }
            } else {
                *i
            }
        })
        .collect();
    // Changing a constant return keeps every loader check satisfied.
    Program::new(insns).unwrap_or_else(|_| program.clone())
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count)
}

/// The Landlock ruleset a policy's statements describe.
pub fn ruleset(l: &Landlock) -> Ruleset {
    let mut rs = Ruleset::new();
    for r in &l.fs {
        let bits = fs_bits(r.access);
        rs.handle_fs(bits);
        for p in &r.paths {
            rs.allow_path(p, bits);
        }
    }
    for r in &l.net {
        let bits = net_bits(r.access);
        rs.handle_net(bits);
        for &p in &r.ports {
            rs.allow_port(p, bits);
        }
    }
    for (s, _) in &l.scopes {
        rs.scope(match s {
            Scope::Signals => landlock::scope::SIGNAL,
            Scope::AbstractUnix => landlock::scope::ABSTRACT_UNIX_SOCKET,
        });
    }
    rs
}

fn fs_bits(a: FsAccess) -> u64 {
    match a {
        FsAccess::Read => landlock::fs::READ,
        FsAccess::Write => landlock::fs::WRITE,
        FsAccess::Exec => landlock::fs::EXEC,
    }
}

fn net_bits(a: NetAccess) -> u64 {
    match a {
        NetAccess::Bind => landlock::net::BIND_TCP,
        NetAccess::Connect => landlock::net::CONNECT_TCP,
    }
}

/// Writes a policy from code, one statement per call, in order (later statements win).
///
/// ```
/// use moat::policy::Action;
/// let policy = moat::Builder::new()
///     .profile("container")
///     .rule(Action::Errno(1), &["getppid"])
///     .fs_read(&["/usr", "/etc"])
///     .policy()?;
/// assert!(policy.to_string().contains("deny getppid"));
/// # Ok::<(), moat::policy::ParseError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    lines: Vec<String>,
}

impl Builder {
    /// An empty policy (`default kill` until a statement says otherwise).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// `use NAME`: start from a built-in profile.
    pub fn profile(self, name: &str) -> Builder {
        self.statement(format!("use {name}"))
    }

    /// `default ACTION`.
    pub fn default_action(self, action: Action) -> Builder {
        self.statement(format!("default {action}"))
    }

    /// `ACTION TARGET...`: syscall names and `@groups`.
    pub fn rule(self, action: Action, targets: &[&str]) -> Builder {
        self.statement(format!("{action} {}", targets.join(" ")))
    }

    /// `allow TARGET...`.
    pub fn allow(self, targets: &[&str]) -> Builder {
        self.rule(Action::Allow, targets)
    }

    /// `deny TARGET...` (errno EPERM).
    pub fn deny(self, targets: &[&str]) -> Builder {
        self.rule(Action::DENY, targets)
    }

    /// `fs read PATH...`.
    pub fn fs_read(self, paths: &[&str]) -> Builder {
        self.landlock("fs read", paths)
    }

    /// `fs write PATH...`.
    pub fn fs_write(self, paths: &[&str]) -> Builder {
        self.landlock("fs write", paths)
    }

    /// `fs exec PATH...`.
    pub fn fs_exec(self, paths: &[&str]) -> Builder {
        self.landlock("fs exec", paths)
    }

    /// `net bind PORT...`.
    pub fn net_bind(self, ports: &[u16]) -> Builder {
        let p: Vec<String> = ports.iter().map(u16::to_string).collect();
        self.statement(format!("net bind {}", p.join(" ")))
    }

    /// `net connect PORT...`.
    pub fn net_connect(self, ports: &[u16]) -> Builder {
        let p: Vec<String> = ports.iter().map(u16::to_string).collect();
        self.statement(format!("net connect {}", p.join(" ")))
    }

    /// `scope signals` / `scope abstract-unix`.
    pub fn scope(self, scope: Scope) -> Builder {
        self.statement(format!("scope {}", scope.name()))
    }

    /// `landlock required`.
    pub fn landlock_required(self) -> Builder {
        self.statement("landlock required")
    }

    /// Any statement of the policy language, as text.
    pub fn statement(mut self, text: impl fmt::Display) -> Builder {
        self.lines.push(text.to_string());
        self
    }

    fn landlock(self, head: &str, paths: &[&str]) -> Builder {
        let quoted: Vec<String> = paths
            .iter()
            .map(|p| {
                if p.contains([' ', '\t', '#']) {
                    format!("\"{p}\"")
                } else {
                    (*p).to_string()
                }
            })
            .collect();
        self.statement(format!("{head} {}", quoted.join(" ")))
    }

    /// The policy text written so far.
    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    /// Parses the statements (origin `builder` in messages).
    pub fn policy(&self) -> Result<Policy, ParseError> {
        Policy::parse(&self.text(), "builder")
    }

    /// Parses and compiles.
    pub fn build(&self) -> Result<Sandbox, Error> {
        Sandbox::new(self.policy()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_program_logs_instead_of_denying() {
        let s = Sandbox::profile("container").unwrap();
        let audit = audit_program(s.program());
        assert_eq!(audit.len(), s.program().len());
        for i in audit.insns() {
            if i.code == BPF_RET | BPF_K {
                assert!(
                    i.k == SECCOMP_RET_ALLOW || i.k == SECCOMP_RET_LOG,
                    "{:#x}",
                    i.k
                );
            }
        }
    }

    #[test]
    fn deciders_name_the_rule() {
        let p = Policy::parse("default allow\ndeny bpf\nkill getppid\n", "t.moat").unwrap();
        let ctx = Context::default();
        let x86_64 = Arch::X86_64.audit_arch();
        let bpf = Arch::X86_64.by_name("bpf").unwrap().nr;
        let v = deciders(&p, &ctx, x86_64, bpf);
        assert_eq!(v.len(), 1);
        assert_eq!(
            p.describe(&v[0]),
            "deny (errno EPERM) by t.moat:2: deny bpf"
        );
        let read = Arch::X86_64.by_name("read").unwrap().nr;
        assert!(deciders(&p, &ctx, x86_64, read).is_empty());
        // Conditional: both the condition's rule and the default are candidates.
        let p = Policy::parse("default kill\nallow socket if domain == 1\n", "c").unwrap();
        let socket = Arch::X86_64.by_name("socket").unwrap().nr;
        let v = deciders(&p, &ctx, x86_64, socket);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].decided_by, Decider::Default);
    }

    #[test]
    fn builder_writes_statements_in_order() {
        let b = Builder::new()
            .default_action(Action::Allow)
            .deny(&["bpf"])
            .fs_read(&["/usr", "/my dir"])
            .net_connect(&[443])
            .scope(Scope::Signals)
            .landlock_required();
        assert_eq!(
            b.text(),
            "default allow\ndeny bpf\nfs read /usr \"/my dir\"\nnet connect 443\nscope signals\nlandlock required\n"
        );
        let p = b.policy().unwrap();
        assert!(p.landlock().required.is_some());
        let rs = ruleset(p.landlock());
        assert_eq!(rs.handled_fs(), landlock::fs::READ);
        assert_eq!(rs.handled_net(), landlock::net::CONNECT_TCP);
    }
}
