//! `taskbox-fuzz [TARGET...] [--seconds N] [--runs N] [--seed N]`: fuzzes
//! each target (all by default) and exits 1 at the first panicking input,
//! saved under target/fuzz-crashes/.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use taskbox_fuzz::{Budget, TARGETS, fuzz};

struct Args {
    targets: Vec<String>,
    budget: Budget,
    seed: u64,
}

fn number(value: Option<String>, flag: &str) -> Result<u64> {
    value
        .with_context(|| format!("{flag} needs a number"))?
        .parse()
        .with_context(|| format!("{flag} needs a number"))
}

fn args() -> Result<Args> {
    let mut args = Args {
        targets: Vec::new(),
        budget: Budget {
            runs: u64::MAX,
            time: Duration::from_secs(10),
        },
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--seconds" => args.budget.time = Duration::from_secs(number(raw.next(), &arg)?),
            "--runs" => args.budget.runs = number(raw.next(), &arg)?,
            "--seed" => args.seed = number(raw.next(), &arg)?,
            "-h" | "--help" => {
                println!("taskbox-fuzz [TARGET...] [--seconds N (10)] [--runs N] [--seed N]\n");
                for target in TARGETS {
                    println!("  {:<10} {}", target.name, target.about);
                }
                std::process::exit(0);
            }
            name if TARGETS.iter().any(|t| t.name == name) => args.targets.push(arg),
            other => bail!("unknown target or flag '{other}' (see --help)"),
        }
    }
    Ok(args)
}

fn main() -> Result<ExitCode> {
    let args = args()?;
    let crashes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
    for target in TARGETS {
        if !args.targets.is_empty() && !args.targets.iter().any(|t| t == target.name) {
            continue;
        }
        let report = fuzz(target, args.seed, args.budget);
        println!(
            "{:<10} {:>9} inputs, {:>7} accepted (seed {})",
            target.name, report.runs, report.accepted, args.seed
        );
        if let Some((input, message)) = report.crash {
            std::fs::create_dir_all(&crashes)?;
            let path = crashes.join(format!("{}-{}", target.name, args.seed));
            std::fs::write(&path, &input)?;
            eprintln!(
                "{}: PANIC: {message}\n  input saved to {}",
                target.name,
                path.display()
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
