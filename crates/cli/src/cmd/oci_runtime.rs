//! `moat oci-runtime`: a runc-compatible wrapper. On `create` and `run` it compiles the policy a
//! bundle's annotations ask for (or the node default) into the bundle, then it execs the real
//! runtime with the command line unchanged, so exit status, stdio and signals are the runtime's.
//! Installed as `moat-runc` (a link to `moat`), it takes runc's command line directly.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use moat::runtime::{self, Bundle, Format, NodeConfig, Outcome, Request, cmdline, log::Level};

/// Environment variable naming the real runtime.
const RUNTIME_ENV: &str = "MOAT_RUNTIME";
/// Environment variable naming the node configuration file.
const CONFIG_ENV: &str = "MOAT_RUNTIME_CONFIG";

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Annotations: moat.dev/policy (inline policy text), moat.dev/profile (a built-in \
                  profile or a file in the node's profile directory).\nThe runtime's own --help: \
                  `moat oci-runtime -- --help`."
)]
pub(crate) struct Args {
    /// The real runtime [default: $MOAT_RUNTIME, the node config's `runtime`, then `runc`].
    #[arg(long, value_name = "PATH")]
    runtime: Option<PathBuf>,
    /// The node configuration [default: $MOAT_RUNTIME_CONFIG, then /etc/moat/runtime.toml].
    #[arg(long, value_name = "FILE")]
    node_config: Option<PathBuf>,
    /// How the filter reaches the runtime: `oci` (linux.seccomp) or `bpf` (crun's
    /// run.oci.seccomp_bpf_data) [default: the node config's `format`, else bpf for crun, oci
    /// otherwise].
    #[arg(long, value_name = "FORMAT")]
    format: Option<Format>,
    /// Print what would be written into BUNDLE's config.json, change nothing, run nothing.
    #[arg(long, value_name = "BUNDLE")]
    dry_run: Option<PathBuf>,
    /// The runtime's command line (global flags, command, command flags, operands).
    #[arg(
        value_name = "RUNTIME ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<OsString>,
}

/// True when this process was started as `moat-runc` (or any name ending in `-runc`, so a
/// distribution can install `moat-runc` under its own prefix).
pub(crate) fn invoked_as_runc() -> bool {
    std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .is_some_and(|n| n == "moat-runc" || n.ends_with("moat-runc"))
}

/// The entry point for `moat-runc ARGS...`: runc's command line, no moat flags (settings come
/// from the environment and the node configuration).
pub(crate) fn main_as_runc() -> ExitCode {
    let args = Args {
        runtime: None,
        node_config: None,
        format: None,
        dry_run: None,
        args: std::env::args_os().skip(1).collect(),
    };
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("moat: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn node_config(args: &Args) -> anyhow::Result<NodeConfig> {
    let explicit = args
        .node_config
        .clone()
        .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    Ok(match explicit {
        Some(p) => NodeConfig::load(&p)?,
        None => NodeConfig::load_default()?,
    })
}

fn runtime_path(args: &Args, node: Option<&NodeConfig>) -> PathBuf {
    args.runtime
        .clone()
        .or_else(|| std::env::var_os(RUNTIME_ENV).map(PathBuf::from))
        .or_else(|| node.and_then(|n| n.runtime.clone()))
        .unwrap_or_else(|| PathBuf::from("runc"))
}

/// What `RUNTIME --version` prints (empty when it cannot be run within a few seconds).
fn version_of(runtime: &Path) -> String {
    let child = std::process::Command::new(runtime)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return String::new();
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return String::new();
            }
        }
    }
    let mut out = String::new();
    if let Some(o) = child.stdout.take() {
        use std::io::Read as _;
        let _ = o.take(64 * 1024).read_to_string(&mut out);
    }
    out
}

/// The format, from evidence: an explicit one (flag, then node config) must be one the runtime
/// says it applies, else the container is refused; otherwise what its `--version` says.
fn format_for(args: &Args, node: &NodeConfig, runtime: &Path) -> anyhow::Result<Format> {
    let version = version_of(runtime);
    match args.format.or(node.format) {
        Some(f) => {
            if !f.supported_by(&version) {
                bail!(
                    "format = \"{f}\" but the runtime {} does not say it applies it (only crun built with +SECCOMP loads {}); refusing rather than running the container without seccomp",
                    runtime.display(),
                    runtime::CRUN_BPF_ANNOTATION
                );
            }
            Ok(f)
        }
        None => Ok(Format::from_version(&version).unwrap_or(Format::Oci)),
    }
}

/// Reports a line where the runtime's caller looks: the runtime's `--log` file when given
/// (containerd reads it back on failure), stderr otherwise.
fn report(inv: &runtime::Invocation, level: Level, msg: &str) {
    let written = inv.log.as_deref().is_some_and(|path| {
        runtime::log::append(
            path,
            inv.log_format.as_deref(),
            level,
            &format!("moat: {msg}"),
        )
        .is_ok()
    });
    if !written || level == Level::Error {
        let prefix = if level == Level::Error {
            ""
        } else {
            "warning: "
        };
        eprintln!("moat: {prefix}{msg}");
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.dry_run {
        return dry_run(&args, dir);
    }
    let inv = cmdline::parse(&args.args).context("runtime command line")?;
    match invoke(&args, &inv) {
        Ok(code) => Ok(code),
        // Every error reaches the runtime's caller, in `--log` when given.
        Err(e) => {
            report(&inv, Level::Error, &format!("{e:#}"));
            Ok(ExitCode::from(2))
        }
    }
}

fn invoke(args: &Args, inv: &runtime::Invocation) -> anyhow::Result<ExitCode> {
    let creates = inv.creates();
    let node = match node_config(args) {
        Ok(n) => Some(n),
        Err(e) if creates => return Err(e),
        // Cleaning up (`delete`, `kill`) must keep working with a broken node configuration.
        Err(e) => {
            report(
                inv,
                Level::Warning,
                &format!("{e:#}; using the runtime that created the container"),
            );
            None
        }
    };
    let states = runtime::state::dir();
    // A container's later commands reach the runtime that created it, whatever the
    // configuration says now.
    let recorded = match (creates, inv.id.as_deref()) {
        (false, Some(id)) => runtime::state::recorded(&states, inv.root.as_deref(), id),
        _ => None,
    };
    let runtime = recorded
        .clone()
        .unwrap_or_else(|| runtime_path(args, node.as_ref()));
    let path = std::env::var_os("PATH");
    let Some(resolved) = runtime::locate_runtime(&runtime, path.as_deref()) else {
        bail!(
            "runtime {} not found on PATH or in {}",
            runtime.display(),
            runtime::RUNTIME_DIRS.join(", ")
        );
    };
    if let (Ok(me), Ok(it)) = (std::env::current_exe(), std::fs::canonicalize(&resolved))
        && std::fs::canonicalize(me).is_ok_and(|me| me == it)
    {
        bail!(
            "the runtime {} is moat itself; set --runtime, {RUNTIME_ENV} or `runtime` in the node config to the real runc or crun",
            resolved.display()
        );
    }
    if creates {
        let node = node.unwrap_or_default();
        for w in &node.warnings {
            report(inv, Level::Warning, w);
        }
        let format = format_for(args, &node, &resolved)?;
        let dir = inv.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
        prepare(inv, &node, format, &dir)?;
        if let Some(id) = inv.id.as_deref() {
            runtime::state::record(&states, inv.root.as_deref(), id, &resolved).with_context(
                || {
                    format!(
                        "cannot record the runtime of container {id} in {}",
                        states.display()
                    )
                },
            )?;
        }
    }
    if inv.command.as_deref() == Some("delete")
        && let Some(id) = inv.id.as_deref()
    {
        // Waited for, so that the record goes only once the runtime's state is gone.
        let status = std::process::Command::new(&resolved)
            .arg0(&runtime)
            .args(&args.args)
            .status()
            .with_context(|| format!("cannot run the runtime {}", resolved.display()))?;
        if status.success() {
            runtime::state::forget(&states, inv.root.as_deref(), id);
        }
        let code = status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1);
        return Ok(ExitCode::from(code));
    }
    let err = std::process::Command::new(&resolved)
        .arg0(&runtime)
        .args(&args.args)
        .exec();
    Err(err).with_context(|| format!("cannot run the runtime {}", resolved.display()))
}

/// Compiles the bundle's policy and rewrites its configuration; an error means the container
/// must not start.
fn prepare(
    inv: &runtime::Invocation,
    node: &NodeConfig,
    format: Format,
    dir: &Path,
) -> anyhow::Result<()> {
    let bundle = Bundle::open(dir, inv.config.as_deref())?;
    let req = Request {
        format,
        kernel: runtime::running_kernel(),
    };
    match runtime::plan(&bundle, node, &req)? {
        Outcome::Apply(plan) => {
            for loss in &plan.losses {
                report(
                    inv,
                    Level::Warning,
                    &format!("linux.seccomp cannot say: {loss}"),
                );
            }
            bundle.write(&plan.config)?;
            Ok(())
        }
    }
}

fn dry_run(args: &Args, dir: &Path) -> anyhow::Result<ExitCode> {
    let node = node_config(args)?;
    let runtime = runtime_path(args, Some(&node));
    let path = std::env::var_os("PATH");
    let located = runtime::locate_runtime(&runtime, path.as_deref()).unwrap_or(runtime.clone());
    let format = format_for(args, &node, &located)?;
    let bundle = Bundle::open(dir, None)?;
    let req = Request {
        format,
        kernel: runtime::running_kernel(),
    };
    let Outcome::Apply(plan) = runtime::plan(&bundle, &node, &req)?;
    let mut out = String::new();
    let _ = writeln!(out, "# {}", bundle.config_path.display());
    let _ = writeln!(out, "# runtime: {} (format {format})", runtime.display());
    let _ = writeln!(out, "# policy from: {}", plan.sources.join(" + "));
    for note in &plan.notes {
        let _ = writeln!(out, "# note: {note}");
    }
    for loss in &plan.losses {
        let _ = writeln!(out, "# loss: {loss}");
    }
    let _ = writeln!(out, "# compiled policy text:");
    for line in plan.policy.to_string().lines() {
        let _ = writeln!(out, "#   {line}");
    }
    let mut changes = serde_json::Map::new();
    match format {
        Format::Oci => {
            changes.insert(
                "linux.seccomp".into(),
                plan.config["linux"]["seccomp"].clone(),
            );
        }
        Format::Bpf => {
            changes.insert("linux.seccomp".into(), serde_json::Value::Null);
            changes.insert(
                format!("annotations.\"{}\"", runtime::CRUN_BPF_ANNOTATION),
                plan.config["annotations"][runtime::CRUN_BPF_ANNOTATION].clone(),
            );
        }
    }
    changes.insert(
        format!("annotations.\"{}\"", runtime::APPLIED_ANNOTATION),
        serde_json::Value::String(plan.summary.clone()),
    );
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(&changes)?);
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
