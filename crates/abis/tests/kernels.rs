//! One kernel test per foreign ABI: moat's filters in a real kernel of that ABI under qemu give
//! what the evaluator and the emulator say, every fault-injected filter is caught, and every
//! number moat's table does not know is ENOSYS.
//!
//! Needs what `scripts/abis-setup` installs (scripts/test runs it). Without it the test says what
//! is missing and skips outside CI; under `CI=true` a missing tool is a failure naming it.

use moat_abis::Target;
use moat_syscalls::Arch;

fn check(arch: Arch) {
    let Some(target) = Target::of(arch) else {
        panic!("no VM target for {arch}");
    };
    let missing = target.missing();
    if !moat_testkit::require(
        missing.is_empty(),
        &format!("{arch}: missing {}", missing.join(", ")),
    ) {
        return;
    }
    let report = match moat_abis::run(arch) {
        Ok(r) => r,
        Err(e) => panic!("{arch}: {e:#}"),
    };
    assert!(
        report.passed(),
        "{arch} (kernel {}):\n{}",
        report.kernel,
        report.failures()
    );
    eprintln!(
        "{arch}: {} filters, {} calls, {} unknown numbers, {:.0}s",
        report.filters, report.calls, report.unknown_checked, report.seconds
    );
}

#[test]
fn aarch64_kernel_enforces_what_moat_says() {
    check(Arch::Aarch64);
}

#[test]
fn arm_kernel_enforces_what_moat_says() {
    check(Arch::Arm);
}

#[test]
fn riscv64_kernel_enforces_what_moat_says() {
    check(Arch::Riscv64);
}

#[test]
fn ppc64le_kernel_enforces_what_moat_says() {
    check(Arch::Ppc64le);
}

#[test]
fn s390x_kernel_enforces_what_moat_says() {
    check(Arch::S390x);
}

#[test]
fn x32_kernel_enforces_what_moat_says() {
    check(Arch::X32);
}

#[test]
fn loongarch64_kernel_enforces_what_moat_says() {
    check(Arch::Loongarch64);
}
