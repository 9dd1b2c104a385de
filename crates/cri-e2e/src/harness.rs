//! The CRI test binary's runner (`harness = false`): one [`Suite`] for every case, so
//! containerd starts once and is stopped by its pid at the end, also after a failed case.
//! Every case runs once per real runtime (`runc::NAME`, `crun::NAME`: moat's `oci` and `bpf`
//! formats). Cases run one after the other, each on a thread named after it (panic messages
//! and [`moat_testkit::require`] name the case), because they share the node configuration.
//! The output is libtest's, so cargo's summary counts the cases.
//!
//! Arguments: words that are not flags filter cases by substring (as libtest's do); `--list`
//! lists them; other flags cargo passes (`--quiet`, `--nocapture`, ...) are accepted.

use std::process::ExitCode;
use std::time::Instant;

use crate::{Runtime, Suite};

/// One case: a name and the function that runs it against the shared suite.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The case's name (as `cargo test -- NAME` selects it).
    pub name: &'static str,
    /// The case.
    pub run: fn(&Suite),
    /// The node runtimes it runs with ([`BOTH`] for most cases).
    pub runtimes: &'static [Runtime],
}

/// runc, then crun.
pub const BOTH: &[Runtime] = &[Runtime::Runc, Runtime::Crun];

/// Runs the selected cases; the process's exit status (101 when one failed, as libtest).
pub fn main(cases: &[Case]) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let all: Vec<(Runtime, String, &Case)> = [Runtime::Runc, Runtime::Crun]
        .into_iter()
        .flat_map(|r| {
            cases
                .iter()
                .filter(move |c| c.runtimes.contains(&r))
                .map(move |c| (r, format!("{}::{}", r.name(), c.name), c))
        })
        .collect();
    let selected: Vec<&(Runtime, String, &Case)> = all
        .iter()
        .filter(|(_, name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    if args.iter().any(|a| a == "--list") {
        for (_, name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filtered = all.len() - selected.len();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    if selected.is_empty() {
        println!(
            "\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; {filtered} filtered out; finished in 0.00s\n"
        );
        return ExitCode::SUCCESS;
    }
    let Some(suite) = Suite::start() else {
        println!(
            "\ntest result: ok. 0 passed; 0 failed; {} ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
            selected.len(),
            started.elapsed().as_secs_f64()
        );
        return ExitCode::SUCCESS;
    };
    println!(
        "containerd {} up, moat built and images imported in {:.2}s",
        suite.daemon.pid(),
        started.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for (runtime, name, case) in &selected {
        let t = Instant::now();
        suite.set_runtime(*runtime);
        let outcome = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name(name.clone())
                .spawn_scoped(s, || (case.run)(&suite))
                .map(|h| h.join().is_ok())
                .unwrap_or(false)
        });
        let secs = t.elapsed().as_secs_f64();
        if outcome {
            println!("test {name} ... ok ({secs:.2}s)");
        } else {
            println!("test {name} ... FAILED ({secs:.2}s)");
            failed.push(name.as_str());
        }
    }
    if !failed.is_empty() {
        println!(
            "\ncontainerd's log, last lines:\n{}",
            suite.daemon.log_tail(40)
        );
    }
    drop(suite);
    let passed = selected.len() - failed.len();
    if !failed.is_empty() {
        println!("\nfailures:");
        for f in &failed {
            println!("    {f}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}
