//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub(crate) mod compile;
pub(crate) mod completions;
pub(crate) mod convert;
pub(crate) mod diff;
pub(crate) mod disasm;
pub(crate) mod dump;
pub(crate) mod emu;
pub(crate) mod explain;
pub(crate) mod lint;
pub(crate) mod node;
pub(crate) mod oci_runtime;
pub(crate) mod profiles;
pub(crate) mod progress;
pub(crate) mod record;
pub(crate) mod run;
pub(crate) mod style;
pub(crate) mod syscalls;
pub(crate) mod test;

use std::sync::OnceLock;

/// How foreign profiles are read, for every command that reads a policy (global flags).
#[derive(Debug, clap::Args)]
pub(crate) struct Import {
    /// Importing: skip syscall names nobody knows (with a warning) instead of failing.
    #[arg(long, global = true)]
    pub(crate) allow_unknown_names: bool,
    /// Importing: reproduce this runtime's reading where runc, crun and youki differ. (Not
    /// `--runtime`: `moat oci-runtime --runtime PATH` names the real runtime to run.)
    #[arg(
        id = "read_as",
        long = "read-as",
        global = true,
        value_name = "RUNTIME",
        default_value = "runc"
    )]
    pub(crate) runtime: moat_export::Runtime,
    /// Importing: the SeccompProfile to read from a file holding several (or FILE#NAME).
    #[arg(long = "profile-name", global = true, value_name = "NAME")]
    pub(crate) profile_name: Option<String>,
}

static IMPORT: OnceLock<moat_export::Options> = OnceLock::new();

/// Records the global import flags (once, from `main`).
pub(crate) fn set_import(i: &Import) {
    let _ = IMPORT.set(moat_export::Options {
        allow_unknown_names: i.allow_unknown_names,
        runtime: i.runtime,
        profile: i.profile_name.clone(),
        ..moat_export::Options::default()
    });
}

/// The import options the global flags give.
pub(crate) fn import_options() -> moat_export::Options {
    IMPORT.get().cloned().unwrap_or_default()
}

/// Reads what `spec` names by `moat::input`'s rule (built-in profile, file in any format, raw
/// BPF or a listing, `-`, `pid:N`) with the global import flags; `arch` is the ABI a BPF program
/// is read for. Import warnings go to standard error.
pub(crate) fn input(
    spec: &str,
    arch: Option<moat::syscalls::Arch>,
) -> anyhow::Result<moat::input::Input> {
    let input = moat::input::open(
        spec,
        &moat::input::Options {
            import: import_options(),
            arch,
        },
    )?;
    if let moat::input::Input::Policy(loaded) = &input {
        for w in &loaded.warnings {
            eprintln!("moat: warning: {w}");
        }
    }
    Ok(input)
}

/// [`input`] for a command that needs a policy (`command` names it in the error for BPF).
pub(crate) fn policy(spec: &str, command: &str) -> anyhow::Result<moat::policy::Policy> {
    Ok(input(spec, None)?.into_policy(command)?.policy)
}
