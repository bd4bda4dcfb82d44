//! A bounded fuzz run of every target, as CI runs it: a few thousand
//! mutants each from fixed seeds must all decode or fail cleanly, and the
//! fuzzer must get past the syntax (some mutants accepted).

use std::time::Duration;
use taskbox_fuzz::{Budget, TARGETS, fuzz};

#[test]
fn every_target_survives_a_bounded_run() {
    for target in TARGETS {
        for seed in [1, 2] {
            let report = fuzz(
                target,
                seed,
                Budget {
                    runs: 3_000,
                    time: Duration::from_secs(20),
                },
            );
            if let Some((input, message)) = &report.crash {
                panic!(
                    "{} panicked on {:?}: {message}",
                    target.name,
                    String::from_utf8_lossy(input)
                );
            }
            assert!(report.runs > 0, "{}: nothing ran", target.name);
            assert!(
                report.accepted > 0,
                "{}: no mutant was accepted; the seeds or the target are broken",
                target.name
            );
        }
    }
}

#[test]
fn a_panicking_decoder_is_caught_and_reported() {
    let target = taskbox_fuzz::Target {
        name: "panics",
        about: "panics on any input starting with '{'",
        seeds: || vec![b"{".to_vec()],
        run: |bytes| {
            assert!(bytes.first() != Some(&b'{'), "found a brace");
            true
        },
    };
    let report = fuzz(
        &target,
        7,
        Budget {
            runs: 1_000,
            time: Duration::from_secs(10),
        },
    );
    let (input, message) = report.crash.expect("the panic is reported");
    assert_eq!(input.first(), Some(&b'{'));
    assert!(message.contains("found a brace"), "{message}");
}
