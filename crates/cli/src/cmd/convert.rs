//! `moat convert`: between moat text, Docker/OCI JSON, Kubernetes, security-profiles-operator
//! YAML, systemd drop-ins, minijail and LXC policies and raw BPF, with a loss report on stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use moat::policy::model::Guard;
use moat::policy::{CapSet, Context};
use moat::syscalls::{self as sc, Arch, KernelVersion};
use moat_export::{Format, Options};

/// Convert a policy between formats.
///
/// Input formats (detected from the content): moat text or a built-in profile name, Docker/OCI
/// seccomp JSON, an OCI config.json, a security-profiles-operator SeccompProfile (YAML or JSON,
/// several documents or a List: pick one with FILE#NAME), a systemd unit file or drop-in
/// (SystemCallFilter= ...), a minijail .policy file, an LXC seccomp policy (LXD, Incus, Proxmox).
///
/// Output formats (--to): moat, docker, oci, k8s, spo, systemd, bpf, oci-artifact, lxc.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A built-in profile name or a policy file in any supported format.
    #[arg(value_name = "INPUT")]
    input: String,
    /// The output format.
    #[arg(long, value_enum)]
    to: To,
    /// Write here (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Fail (exit 2, nothing written) when the target cannot express the policy exactly.
    #[arg(long)]
    strict: bool,
    /// Capabilities the confined process holds, for `when cap` guards (repeatable); default:
    /// Docker's default set.
    #[arg(long = "cap", value_name = "CAP")]
    caps: Vec<String>,
    /// Kernel the filter is for, for `when kernel` guards.
    #[arg(long, value_name = "VERSION")]
    kernel: Option<String>,
    /// Import: accept these ABIs instead of the profile's architectures/archMap (repeatable).
    #[arg(long = "arch", value_name = "ABI")]
    arches: Vec<String>,
    /// Profile name for `k8s` and `spo` output (default: the input's file stem).
    #[arg(long)]
    name: Option<String>,
    /// With `--to moat`: the statements on one line, separated by `;` and without reasons (for
    /// transports that keep one line of a value, such as Podman's `--annotation`).
    #[arg(long)]
    one_line: bool,
    /// Also write the loss report as JSON to FILE: `{"input", "to", "losses": [...], "notes":
    /// [...], "warnings": [...], "strict", "written"}`; written with `--strict` refusing too.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// `--to`: every [`Format`], named and described by moat-export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct To(Format);

static TO: std::sync::LazyLock<Vec<To>> =
    std::sync::LazyLock::new(|| Format::ALL.into_iter().map(To).collect());

impl clap::ValueEnum for To {
    fn value_variants<'a>() -> &'a [Self] {
        &TO
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name()).help(self.0.about()))
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // `-o DIR/` with --to oci-artifact: an OCI layout directory instead of its archive.
    let layout_dir = args
        .output
        .as_ref()
        .filter(|p| {
            args.to.0 == Format::OciArtifact && p.as_os_str().to_string_lossy().ends_with('/')
        })
        .cloned();
    let output = match args.output.as_ref().filter(|_| layout_dir.is_none()) {
        Some(p) => moat::io::Output::from_arg(p)?,
        None => moat::io::Output::stdout(),
    };
    let report = args
        .report
        .as_deref()
        .map(|p| moat::io::Output::from_arg(p).with_context(|| format!("--report {}", p.display())))
        .transpose()?;
    let mut arches = Vec::new();
    for a in &args.arches {
        let arch: Arch = a.parse().map_err(|e| anyhow::anyhow!("--arch {a}: {e}"))?;
        arches.push(arch);
    }
    let opts = Options {
        arches: (!arches.is_empty()).then_some(arches),
        ..super::import_options()
    };
    let loaded = moat::input::open(
        &args.input,
        &moat::input::Options {
            import: opts,
            arch: None,
        },
    )?
    .into_policy("convert")?;
    for w in &loaded.warnings {
        eprintln!("moat: warning: {w}");
    }
    let resolves = !args.to.0.keeps_guards();
    let ctx = context(&args, &loaded.policy, resolves)?;
    let name = args.name.clone().unwrap_or_else(|| {
        Path::new(&args.input).file_stem().map_or_else(
            || "policy".to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    });
    let format = args.to.0;
    if args.one_line && args.to.0 != Format::Moat {
        bail!("--one-line applies to --to moat only");
    }
    let mut out = moat_export::export(&loaded, format, &ctx, &name)?;
    if args.one_line {
        out.data = format!("{}\n", loaded.policy.one_line()).into_bytes();
    }
    for l in &out.losses {
        eprintln!("moat: convert: {}: loss: {}", format.name(), l.0);
    }
    let refused = args.strict && !out.losses.is_empty();
    let mut report = report;
    let mut write_report = |written: bool| -> anyhow::Result<()> {
        let Some(report) = report.take() else {
            return Ok(());
        };
        let losses: Vec<&str> = out.losses.iter().map(|l| l.0.as_str()).collect();
        let v = serde_json::json!({
            "input": args.input,
            "to": format.name(),
            "losses": losses,
            "notes": out.notes,
            "warnings": loaded.warnings,
            "strict": args.strict,
            "written": written,
        });
        report.write(format!("{}\n", serde_json::to_string_pretty(&v)?).as_bytes())?;
        Ok(())
    };
    if refused {
        write_report(false)?;
        bail!(
            "{} cannot express this policy exactly ({} loss{}); nothing written (--strict)",
            format.name(),
            out.losses.len(),
            if out.losses.len() == 1 { "" } else { "es" }
        );
    }
    match &layout_dir {
        Some(dir) => {
            let (layout, _) =
                moat_export::oci::artifact(&loaded, &ctx, &moat_export::k8s_name(&name))?;
            layout.write_dir(dir)?;
        }
        None => output.write(&out.data)?,
    }
    write_report(true)?;
    for n in &out.notes {
        eprintln!("moat: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The guard context: `--cap` (default Docker's set when the policy has capability guards) and
/// `--kernel`.
fn context(args: &Args, policy: &moat::policy::Policy, resolves: bool) -> anyhow::Result<Context> {
    let mut caps = None;
    for c in &args.caps {
        let n = sc::capability(&c.to_ascii_uppercase())
            .with_context(|| format!("unknown capability \"{c}\""))?;
        caps.get_or_insert(CapSet::EMPTY).insert(n);
    }
    if caps.is_none()
        && policy
            .rules()
            .iter()
            .any(|r| r.guard.as_ref().is_some_and(has_cap))
    {
        if resolves {
            eprintln!(
                "moat: note: capability guards resolved for Docker's default capabilities (choose others with --cap)"
            );
        }
        caps = Some(CapSet::docker_default());
    }
    let kernel = match &args.kernel {
        Some(k) => Some(
            k.parse::<KernelVersion>()
                .map_err(|e| anyhow::anyhow!("--kernel {k}: {e}"))?,
        ),
        None => None,
    };
    Ok(Context { caps, kernel })
}

fn has_cap(g: &Guard) -> bool {
    match g {
        Guard::Cap(_) => true,
        Guard::And(v) | Guard::Or(v) => v.iter().any(has_cap),
        Guard::Not(x) => has_cap(x),
        Guard::Arch(_) | Guard::Kernel { .. } => false,
    }
}
