//! The `moat` command-line tool: one module per subcommand, no logic a library user would want.

mod cmd;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// Linux seccomp made usable: readable policies, compiled to the fastest correct BPF filter.
#[derive(Debug, Parser)]
#[command(name = "moat", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    import: cmd::Import,
    /// Colour: `auto` on a terminal unless NO_COLOR is set, `always`, or `never`.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    color: cmd::style::When,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Look up syscall numbers, names, groups and signatures per ABI.
    Syscalls(cmd::syscalls::Args),
    /// Compile a policy to a seccomp BPF program, with a cost report.
    Compile(cmd::compile::Args),
    /// Disassemble a raw seccomp BPF program (seccomp-tools layout).
    Disasm(cmd::disasm::Args),
    /// Evaluate one syscall against a raw BPF program or a policy.
    Emu(cmd::emu::Args),
    /// Show a policy and what it does to every group and syscall per ABI, with the deciding line.
    Explain(cmd::explain::Args),
    /// Show the semantic difference of two policies (or prove one is a subset of the other).
    Diff(cmd::diff::Args),
    /// Report dangerous allowances, gaps and mistakes with stable codes, spans and fixes.
    Lint(cmd::lint::Args),
    /// Run policy unit tests (`x86_64 openat(AT_FDCWD, *, O_RDONLY) = allow`).
    Test(cmd::test::Args),
    /// Read the seccomp filters a running process has installed.
    Dump(cmd::dump::Args),
    /// Convert between moat, Docker/OCI JSON, Kubernetes, security-profiles-operator, systemd and BPF.
    Convert(cmd::convert::Args),
    /// List the built-in profiles.
    Profiles(cmd::profiles::Args),
    /// Run a program and write the policy it needs, arguments included.
    Record(cmd::record::Args),
    /// Run a program under a policy (seccomp + Landlock); report what it refused.
    Run(cmd::run::Args),
    /// runc-compatible wrapper: compile a bundle's inline policy, then exec the real runtime.
    OciRuntime(cmd::oci_runtime::Args),
    /// Print a shell completion script for moat.
    Completions(cmd::completions::Args),
    /// Print moat's manual page (roff), or write one page per subcommand with --dir.
    Man(cmd::completions::ManArgs),
    /// Set a Kubernetes node up: install moat, moat-runc and /etc/moat into a host root.
    Node(cmd::node::Args),
}

fn main() -> ExitCode {
    // Installed as `moat-runc`, moat takes runc's command line as it is.
    if cmd::oci_runtime::invoked_as_runc() {
        return cmd::oci_runtime::main_as_runc();
    }
    let cli = Cli::parse();
    cmd::set_import(&cli.import);
    cmd::style::set(cli.color);
    let result = match cli.command {
        Command::Syscalls(args) => cmd::syscalls::run(args),
        Command::Compile(args) => cmd::compile::run(args),
        Command::Disasm(args) => cmd::disasm::run(args),
        Command::Emu(args) => cmd::emu::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::Diff(args) => cmd::diff::run(args),
        Command::Lint(args) => cmd::lint::run(args),
        Command::Test(args) => cmd::test::run(args),
        Command::Dump(args) => cmd::dump::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Profiles(args) => cmd::profiles::run(args),
        Command::Record(args) => cmd::record::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::OciRuntime(args) => cmd::oci_runtime::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Man(args) => cmd::completions::man(args, Cli::command()),
        Command::Node(args) => cmd::node::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("moat: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed pipe on stdout (`moat syscalls | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
