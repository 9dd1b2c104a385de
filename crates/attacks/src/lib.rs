//! moat-attacks: test-only support for moat's adversarial suite.
//!
//! What it does: [`targets`] holds the fuzz targets (policy parser and printer, BPF decoder,
//! disassembler, assembler and emulator, and the differential checks between them); [`driver`]
//! runs those targets on stable Rust with a seeded, coverage-less mutation loop, so CI fuzzes for
//! a few seconds on every run and keeps crashers in `testdata/fuzz-regressions/`; [`helpers`]
//! compiles the C attack programs under `crates/attacks/helpers/` with gcc at test time.
//! The `fuzz/` directory at the repository root drives the same targets with cargo-fuzz
//! (libFuzzer, nightly) for longer, coverage-guided runs.
//!
//! What it does not do: it is never a dependency of the product, installs no filters itself (the
//! tests use `moat-sys`), and contains no `unsafe`: raw syscalls live in the C helpers.

#![deny(missing_docs)]

pub mod driver;
pub mod helpers;
pub mod targets;
