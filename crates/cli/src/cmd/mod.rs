//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub(crate) mod compile;
pub(crate) mod convert;
pub(crate) mod diff;
pub(crate) mod disasm;
pub(crate) mod dump;
pub(crate) mod emu;
pub(crate) mod explain;
pub(crate) mod lint;
pub(crate) mod oci_runtime;
pub(crate) mod profiles;
pub(crate) mod record;
pub(crate) mod run;
pub(crate) mod syscalls;
pub(crate) mod test;
