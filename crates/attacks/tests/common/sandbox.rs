//! Runs the C attack helper unconfined (the probe) and under a compiled moat policy, each time in
//! a fresh process: `moat-confine FILTER helper CASE ARGS...` installs the filter with
//! `moat-sys` and execs the helper. Parses the helper's `ret=N errno=E key=value` lines.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use moat_bpf::Program;
use moat_policy::Policy;

/// `CARGO_TARGET_TMPDIR/attacks`.
pub fn tmp() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("attacks");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The attack helper, compiled once per test binary.
pub fn helper() -> &'static Path {
    static H: OnceLock<PathBuf> = OnceLock::new();
    H.get_or_init(|| {
        let name = format!("attack-{}", std::process::id());
        moat_attacks::helpers::build("attack", &name, &[], &tmp().join("bin"))
            .unwrap_or_else(|e| panic!("cannot build the attack helper: {e}"))
    })
}

/// Compiles `policy` with moat-compile and writes the program where `moat-confine` reads it.
#[derive(Debug)]
pub struct Filter {
    pub name: String,
    /// The policy the program was compiled from (`None` for a foreign program).
    pub policy: Option<Policy>,
    pub program: Program,
    pub path: PathBuf,
}

impl Filter {
    pub fn new(name: &str, policy: Policy) -> Filter {
        Filter::with_ctx(name, policy, moat_policy::Context::default())
    }

    /// Compiled for a context (capabilities and kernel for `when` guards).
    pub fn with_ctx(name: &str, policy: Policy, ctx: moat_policy::Context) -> Filter {
        let options = moat_compile::Options {
            ctx,
            ..moat_compile::Options::default()
        };
        let compiled = moat_compile::compile(&policy, &options)
            .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
        Filter::program(name, Some(policy), compiled.program)
    }

    /// moat's built-in `docker` profile compiled for Docker's default capabilities.
    pub fn docker_moat() -> Filter {
        Filter::with_ctx(
            "docker(moat)",
            Policy::builtin("docker").unwrap().unwrap(),
            moat_policy::Context {
                caps: Some(moat_policy::CapSet::docker_default()),
                kernel: None,
            },
        )
    }

    /// A program from elsewhere (libseccomp's compilation of Docker's profile).
    pub fn program(name: &str, policy: Option<Policy>, program: Program) -> Filter {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = tmp().join(format!("{name}-{}-{n}.bpf", std::process::id()));
        std::fs::write(&path, program.to_bytes()).unwrap();
        Filter {
            name: name.to_string(),
            policy,
            program,
            path,
        }
    }

    /// The filter runc installs for Docker's default profile on x86_64 (Docker's default
    /// capabilities, this kernel's version), as libseccomp compiles it.
    pub fn docker_runc() -> Filter {
        let f = moat_oracle::docker_default(moat_oracle::Arch::X86_64).unwrap();
        let compiled = moat_oracle::compile_runc(&f).unwrap();
        Filter::program(
            "docker(runc+libseccomp)",
            None,
            Program::from_bytes(&compiled.bytes).unwrap(),
        )
    }

    pub fn builtin(name: &str) -> Filter {
        Filter::new(name, Policy::builtin(name).unwrap().unwrap())
    }

    pub fn text(name: &str, text: &str) -> Filter {
        Filter::new(
            name,
            Policy::parse(text, name).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// The reference evaluator's action for an x86_64 call.
    pub fn evaluate(&self, nr: u32, args: [u64; 6]) -> moat_policy::Action {
        self.policy
            .as_ref()
            .expect("a moat policy")
            .evaluate(
                &moat_policy::Context::default(),
                moat_syscalls::Arch::X86_64.audit_arch(),
                nr,
                args,
            )
            .action
    }
}

/// How a helper run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    /// The helper printed a result line: `ret`, `errno` and extra fields.
    Done {
        ret: i64,
        errno: i32,
        extra: BTreeMap<String, String>,
    },
    /// The helper said it cannot run here.
    Skip(String),
    /// Killed by a signal.
    Signal(i32),
    /// Anything else (exit status and output), a harness failure.
    Other(String),
}

impl Res {
    pub fn ok(&self) -> bool {
        matches!(self, Res::Done { ret, .. } if *ret >= 0)
    }
    pub fn errno(&self) -> Option<i32> {
        match self {
            Res::Done { ret, errno, .. } if *ret < 0 => Some(*errno),
            _ => None,
        }
    }
    pub fn extra(&self, key: &str) -> Option<&str> {
        match self {
            Res::Done { extra, .. } => extra.get(key).map(String::as_str),
            _ => None,
        }
    }
}

impl fmt::Display for Res {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Res::Done { ret, errno, extra } => {
                if *ret < 0 {
                    write!(f, "-1 {}", errno_name(*errno))?;
                } else {
                    write!(f, "{ret}")?;
                }
                for (k, v) in extra {
                    write!(f, " {k}={v}")?;
                }
                Ok(())
            }
            Res::Skip(s) => write!(f, "skip ({s})"),
            Res::Signal(s) => write!(f, "killed by signal {s}"),
            Res::Other(s) => write!(f, "{s}"),
        }
    }
}

pub fn errno_name(e: i32) -> String {
    u16::try_from(e)
        .ok()
        .and_then(moat_syscalls::errno_name)
        .map_or_else(|| format!("errno {e}"), str::to_string)
}

fn parse_line(line: &str) -> Option<Res> {
    let mut ret = None;
    let mut errno = None;
    let mut extra = BTreeMap::new();
    for field in line.split_whitespace() {
        let (k, v) = field.split_once('=')?;
        match k {
            "ret" => ret = v.parse().ok(),
            "errno" => errno = v.parse().ok(),
            _ => {
                extra.insert(k.to_string(), v.to_string());
            }
        }
    }
    Some(Res::Done {
        ret: ret?,
        errno: errno?,
        extra,
    })
}

/// Where and how to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    /// Run inside `unshare -m --propagation private` (mount attacks never touch the host's
    /// mount table, even when they succeed).
    pub private_mounts: bool,
}

fn command(filter: Option<&Filter>, args: &[String], opts: Opts) -> Command {
    let mut argv: Vec<String> = Vec::new();
    if opts.private_mounts {
        argv.extend(["unshare", "-m", "--propagation", "private", "--"].map(String::from));
    }
    if let Some(f) = filter {
        argv.push(env!("CARGO_BIN_EXE_moat-confine").to_string());
        argv.push(f.path.display().to_string());
    }
    argv.push(helper().display().to_string());
    argv.extend(args.iter().cloned());
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]).stdin(Stdio::null());
    c
}

/// Runs the helper; returns the output lines and how it ended.
pub fn run_lines(filter: Option<&Filter>, args: &[String], opts: Opts) -> (Vec<Res>, Res) {
    let out = command(filter, args, opts).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    // raw_many lines start with the value tried: `VALUE ret=N errno=E`.
    let strip = |l: &str| -> Option<Res> {
        parse_line(
            l.split_once(' ')
                .filter(|(h, _)| !h.contains('='))
                .map_or(l, |(_, rest)| rest),
        )
    };
    let lines: Vec<Res> = stdout.lines().filter_map(strip).collect();
    let end = if let Some(sig) = out.status.signal() {
        Res::Signal(sig)
    } else if let Some(skip) = stdout.lines().find_map(|l| l.strip_prefix("skip: ")) {
        Res::Skip(skip.to_string())
    } else if out.status.success() {
        match stdout.lines().last().and_then(strip) {
            Some(r) => r,
            None => Res::Other(format!("no result line: {stdout:?}")),
        }
    } else {
        Res::Other(format!(
            "exit {:?}, stdout {stdout:?}, stderr {:?}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    (lines, end)
}

pub fn run(filter: Option<&Filter>, args: &[String], opts: Opts) -> Res {
    run_lines(filter, args, opts).1
}

/// What the confined attempt must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Fails with exactly this errno.
    Errno(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Succeeds (a control: the policy must not break it, or a documented limit).
    Success,
}

impl Want {
    pub fn matches(self, r: &Res) -> bool {
        match self {
            Want::Errno(e) => r.errno() == Some(e),
            Want::Signal(s) => *r == Res::Signal(s),
            Want::Success => r.ok(),
        }
    }
}

/// One attack: a helper invocation, the probe's success condition, the expected confined result.
#[derive(Debug)]
pub struct Attack {
    pub args: Vec<String>,
    pub probe: fn(&Res) -> bool,
    pub want: Want,
    pub opts: Opts,
    /// When the probe fails: still attempt confined (the filter's answer is observable even
    /// though the kernel refuses the call, e.g. x32 numbers on a kernel without x32).
    pub confine_anyway: bool,
}

pub fn attack(args: &str, probe: fn(&Res) -> bool, want: Want) -> Attack {
    Attack {
        args: args.split_whitespace().map(String::from).collect(),
        probe,
        want,
        opts: Opts::default(),
        confine_anyway: false,
    }
}

impl Attack {
    pub fn private_mounts(mut self) -> Attack {
        self.opts.private_mounts = true;
        self
    }
    pub fn confine_anyway(mut self) -> Attack {
        self.confine_anyway = true;
        self
    }
}

pub fn succeeds(r: &Res) -> bool {
    r.ok()
}

/// The probe reached the kernel's own argument checks (any errno but EPERM/ENOSYS): the call
/// is implemented and permitted, so only the filter can stop it.
pub fn reaches_kernel(r: &Res) -> bool {
    r.ok() || matches!(r.errno(), Some(e) if e != 1 && e != 38)
}

/// The probe ran (any result line): used for calls the kernel has compiled out (ENOSYS), where
/// the filter's distinct errno is what the test observes.
pub fn ran(r: &Res) -> bool {
    matches!(r, Res::Done { .. })
}

/// Runs every attack: probe unconfined, then under each filter. Prints one line per attempt and
/// panics listing every failed expectation. Returns how many ran and how many were skipped.
pub fn run_all(class: &str, filters: &[&Filter], attacks: &[Attack]) -> (usize, usize) {
    let mut failures = Vec::new();
    let (mut ran_n, mut skipped) = (0, 0);
    for a in attacks {
        let name = a.args.join(" ");
        let probe = run(None, &a.args, a.opts);
        let probed = (a.probe)(&probe);
        if !probed
            && !a.confine_anyway
            && !moat_testkit::require(
                false,
                &format!("[{class}] {name}: the unconfined control gave {probe}"),
            )
        {
            skipped += 1;
            continue;
        }
        for f in filters {
            let got = run(Some(f), &a.args, a.opts);
            let ok = a.want.matches(&got);
            eprintln!(
                "[{class}] {} {name}: unconfined {probe}{}; under {} {got} (want {:?})",
                if ok { "ok  " } else { "FAIL" },
                if probed {
                    ""
                } else {
                    " (probe failed; filter still observable)"
                },
                f.name,
                a.want
            );
            if !ok {
                failures.push(format!(
                    "{name} under {}: got {got}, want {:?} (unconfined: {probe})",
                    f.name, a.want
                ));
            }
            ran_n += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "[{class}] {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    (ran_n, skipped)
}
