//! `moat-abis [ABI...]`: runs the foreign-ABI kernel tests (all of them without arguments),
//! prints one line per ABI and a closing `N passed, N failed` line; exits 1 if any failed.

use std::process::ExitCode;

use moat_abis::Target;
use moat_syscalls::Arch;

fn main() -> ExitCode {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let targets: Vec<Target> = Target::all()
        .into_iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|w| w == t.arch.name()))
        .collect();
    if targets.is_empty() {
        let names: Vec<&str> = Target::all().iter().map(|t| t.arch.name()).collect();
        eprintln!("moat-abis: no such ABI among {}", names.join(", "));
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0, 0);
    for t in targets {
        let arch: Arch = t.arch;
        match moat_abis::run(arch) {
            Ok(r) if r.passed() => {
                passed += 1;
                println!(
                    "{arch}: ok ({} filters, {} calls, {} unknown numbers ENOSYS, {:.0}s, kernel {})",
                    r.filters, r.calls, r.unknown_checked, r.seconds, r.kernel
                );
            }
            Ok(r) => {
                failed += 1;
                println!("{arch}: FAILED (kernel {})\n{}", r.kernel, r.failures());
            }
            Err(e) => {
                failed += 1;
                println!("{arch}: FAILED: {e:#}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
