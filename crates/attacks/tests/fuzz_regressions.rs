//! Replays every input kept under `testdata/fuzz-regressions/<target>/` (crashers found by the
//! fuzzers, each named after what it guards) and every seed, through its target.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::seeds;
use moat_attacks::{driver, targets};

#[test]
fn every_regression_input_passes_its_target() {
    let mut failures = Vec::new();
    let mut count = 0;
    for t in targets::ALL {
        for (path, input) in seeds::regressions(t.name) {
            count += 1;
            if let Err(msg) = driver::exec(t, &input) {
                failures.push(format!("{}: {msg}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{count} regression inputs replayed");
}

#[test]
fn every_seed_passes_its_target_and_is_accepted() {
    for t in targets::ALL {
        for (i, input) in seeds::for_target(t.name).iter().enumerate() {
            match driver::exec(t, input) {
                Ok(_) => {}
                Err(msg) => panic!("{} seed {i}: {msg}", t.name),
            }
        }
    }
    // The policies the project ships are accepted (otherwise the policy target fuzzes only the
    // error paths).
    for p in seeds::policies() {
        assert!((targets::by_name("policy").unwrap().run)(&p));
    }
}

#[test]
fn the_regression_directories_exist_for_every_target() {
    for t in targets::ALL {
        assert!(
            seeds::regressions_dir(t.name).is_dir(),
            "missing testdata/fuzz-regressions/{}",
            t.name
        );
    }
}
