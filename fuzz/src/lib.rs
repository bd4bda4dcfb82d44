//! Mutation fuzzing of the decoders that read untrusted bytes: flow specs
//! (TOML and JSON, parsed and compiled), job payloads, and logbook records.
//! Every input must give a value or an error, never a panic.
//!
//! `cargo fuzz` needs a nightly toolchain and this project builds with
//! stable only, so this is a self-contained fuzzer: it starts from seed
//! inputs (the example flow specs, a payload, empty and random bytes),
//! mutates them (bit flips, byte edits, truncation, splices of two inputs,
//! repeated chunks) with a seeded generator, and keeps every mutant that
//! decoded without error as a new seed, so it walks deeper into valid
//! syntax. It has no coverage feedback. A panicking input is saved and
//! reported with the seed that reproduces the run.

mod mutate;
mod targets;

pub use targets::{TARGETS, Target};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// At most this many inputs.
    pub runs: u64,
    /// At most this long.
    pub time: Duration,
}

/// What a run of one target did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Inputs tried.
    pub runs: u64,
    /// Inputs that decoded without error (and became seeds).
    pub accepted: u64,
    /// The first input that panicked, and the panic's message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// Largest input tried, in bytes.
const MAX_INPUT: usize = 64 * 1024;
/// Largest pool of seeds kept.
const MAX_SEEDS: usize = 512;

/// Fuzzes `target` from `seed` within `budget`.
pub fn fuzz(target: &Target, seed: u64, budget: Budget) -> Report {
    let mut rng = mutate::Rng::new(seed);
    let mut seeds: Vec<Vec<u8>> = (target.seeds)();
    seeds.push(Vec::new());
    let started = Instant::now();
    let mut report = Report {
        runs: 0,
        accepted: 0,
        crash: None,
    };
    while report.runs < budget.runs && started.elapsed() < budget.time {
        let input = mutate::mutant(&mut rng, &seeds, MAX_INPUT);
        report.runs += 1;
        match catch_unwind(AssertUnwindSafe(|| (target.run)(&input))) {
            Ok(true) => {
                report.accepted += 1;
                if seeds.len() < MAX_SEEDS {
                    seeds.push(input);
                } else {
                    let slot = rng.below(seeds.len());
                    seeds[slot] = input;
                }
            }
            Ok(false) => {}
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                report.crash = Some((input, message));
                break;
            }
        }
    }
    report
}
