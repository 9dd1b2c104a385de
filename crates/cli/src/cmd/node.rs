//! `moat node install`: sets a node up from a container that mounts the host's root (the
//! DaemonSet's installer), then prints the runtime-handler registration.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use moat::runtime::install::{self, Engine, Install};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Copy moat and its moat-runc link into the host's root and install the node
    /// configuration and profiles, after checking that a container start would accept them
    /// (a refusal writes nothing and exits 2).
    Install(InstallArgs),
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The host's root as this process sees it (a hostPath mount).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Where the binary goes, as the host sees it.
    #[arg(long, value_name = "DIR", default_value = install::DEFAULT_BIN_DIR)]
    bin_dir: PathBuf,
    /// The node configuration to install as /etc/moat/runtime.toml (a ConfigMap's file);
    /// without it the node's stays.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A directory whose NAME.moat files go into the configuration's profile-dir.
    #[arg(long, value_name = "DIR")]
    profiles: Option<PathBuf>,
    /// The engine whose runtime-handler registration to print: containerd (1.6/1.7),
    /// containerd2 or cri-o.
    #[arg(long, value_name = "ENGINE", default_value = "containerd")]
    engine: Engine,
    /// Print containerd's `SystemdCgroup = true` (the kubelet uses the systemd cgroup driver)
    /// instead of `false` (cgroupfs).
    #[arg(long)]
    systemd_cgroup: bool,
    /// The binary to copy [default: this moat].
    #[arg(long, value_name = "FILE")]
    binary: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Install(a) => run_install(a),
    }
}

fn run_install(a: InstallArgs) -> anyhow::Result<ExitCode> {
    let binary = match a.binary {
        Some(b) => b,
        None => std::env::current_exe().context("cannot find this moat binary to copy")?,
    };
    let req = Install {
        root: a.root,
        bin_dir: a.bin_dir,
        binary,
        config: a.config,
        profiles: a.profiles,
    };
    let installed = install::install(&req).context("nothing was installed")?;
    for w in &installed.warnings {
        eprintln!("moat: warning: {w}");
    }
    let mut out = String::new();
    for note in &installed.notes {
        out.push_str(&format!("# {note}\n"));
    }
    for (path, what) in &installed.files {
        out.push_str(&format!("# installed {}: {what}\n", path.display()));
    }
    out.push('\n');
    out.push_str(&install::handler(
        a.engine,
        &req.bin_dir.join("moat-runc"),
        a.systemd_cgroup,
    ));
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
