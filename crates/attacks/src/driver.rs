//! A stable-Rust fuzz driver: seeded random mutation of a corpus, without coverage feedback.
//!
//! cargo-fuzz needs nightly and a long run to pay off; CI has stable and seconds. This driver
//! runs a target for a fixed number of iterations or a time budget, mutating seeds with bit
//! flips, interesting integers, dictionary tokens, splices, deletions and duplications. Inputs
//! the target accepts join the corpus, so mutants of valid policies and programs dominate after
//! a while. A panic stops the run and returns the input, for the caller to write to
//! `testdata/fuzz-regressions/<target>/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::targets::{Rng, Target};

/// How long and how to fuzz.
#[derive(Clone, Debug)]
pub struct Config {
    /// Stop after this long.
    pub budget: Duration,
    /// Or after this many executions, whichever comes first.
    pub max_runs: u64,
    /// The random seed; the same seed, corpus and budget in runs give the same inputs.
    pub seed: u64,
    /// Longest input the mutator produces.
    pub max_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            budget: Duration::from_secs(2),
            max_runs: u64::MAX,
            seed: 1,
            max_len: 8192,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Target executions.
    pub runs: u64,
    /// Executions whose input the target accepted.
    pub accepted: u64,
    /// Corpus size at the end.
    pub corpus: usize,
    /// The first input that panicked, with the panic message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// Fuzzes `target` starting from `seeds` (an empty input is always added).
pub fn run(target: &Target, seeds: &[Vec<u8>], cfg: &Config) -> Report {
    let mut rng = Rng::new(cfg.seed);
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    corpus.push(Vec::new());
    let mut report = Report::default();
    // Seeds first, unmutated.
    for s in seeds {
        report.runs += 1;
        match exec(target, s) {
            Ok(true) => report.accepted += 1,
            Ok(false) => {}
            Err(msg) => {
                report.crash = Some((s.clone(), msg));
                report.corpus = corpus.len();
                return report;
            }
        }
    }
    let start = Instant::now();
    while report.runs < cfg.max_runs && start.elapsed() < cfg.budget {
        let base = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let mut input = base.clone();
        let rounds = 1 + rng.below(4);
        for _ in 0..rounds {
            mutate(&mut input, other, target.dict, &mut rng, cfg.max_len);
        }
        report.runs += 1;
        match exec(target, &input) {
            Ok(true) => {
                report.accepted += 1;
                if corpus.len() < 4096 && rng.below(4) == 0 {
                    corpus.push(input);
                }
            }
            Ok(false) => {}
            Err(msg) => {
                report.crash = Some((input, msg));
                break;
            }
        }
    }
    report.corpus = corpus.len();
    report
}

/// Runs `target` on `input`, turning a panic into its message.
pub fn exec(target: &Target, input: &[u8]) -> Result<bool, String> {
    catch_unwind(AssertUnwindSafe(|| (target.run)(input))).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "non-string panic".to_string())
    })
}

const INTERESTING_U32: [u32; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x4000_0000,
    0xc000_003e,
    0x7fff_0000,
    0x0005_0001,
];

fn mutate(input: &mut Vec<u8>, other: &[u8], dict: &[&str], rng: &mut Rng, max_len: usize) {
    let len = input.len();
    match rng.below(10) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        // Replace one byte.
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = rng.next_u64().to_le_bytes()[0];
        }
        // Overwrite four bytes with an interesting little-endian word (BPF fields).
        2 if len >= 4 => {
            let i = rng.below(len - 3);
            let w = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
            input[i..i + 4].copy_from_slice(&w.to_le_bytes());
        }
        // Insert a dictionary token.
        3 | 4 if !dict.is_empty() => {
            let tok = dict[rng.below(dict.len())].as_bytes();
            let at = rng.below(len + 1);
            input.splice(at..at, tok.iter().copied());
        }
        // Delete a range.
        5 if len > 0 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(16)).min(len);
            input.drain(a..b);
        }
        // Duplicate a range (repeats lines, instructions).
        6 if len > 0 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(64)).min(len);
            let chunk: Vec<u8> = input[a..b].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, chunk);
        }
        // Splice in part of another corpus entry.
        7 if !other.is_empty() => {
            let a = rng.below(other.len());
            let b = (a + 1 + rng.below(128)).min(other.len());
            let at = rng.below(len + 1);
            input.splice(at..at, other[a..b].iter().copied());
        }
        // Truncate.
        8 if len > 0 => input.truncate(rng.below(len)),
        // Insert random bytes.
        _ => {
            let n = 1 + rng.below(8);
            let at = rng.below(len + 1);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
            input.splice(at..at, bytes);
        }
    }
    input.truncate(max_len);
}
