//! Embedding taskbox: build a flow with the builder API and run it.
//!
//! Run after `bash scripts/build-plugins.sh`:
//! `cargo run -p taskbox --example embed -- target/plugins`

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::sync::Arc;
use taskbox::{Engine, EngineOptions, Event, Flow, Limits, Mode, Sandbox, SandboxConfig, Task};

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/plugins".into());
    let sandbox = Arc::new(Sandbox::new(&SandboxConfig::default())?);
    let plugins = sandbox
        .load_dir(dir.as_ref(), &Limits::default())
        .with_context(|| format!("loading plugins from {dir}"))?;

    // (2 + 3) and (84 / 2) side by side, then their product.
    let flow = Flow::linear("embedded")
        .flow(
            Flow::unordered("inputs")
                .task(
                    Task::new("sum", "add")
                        .inject("x", 2.into())
                        .inject("y", 3.into()),
                )
                .task(
                    Task::new("quotient", "divide")
                        .inject("numerator", 84.into())
                        .rebind("denominator", "d"),
                ),
        )
        .task(
            Task::new("product", "multiply")
                .rebind("x", "sum")
                .rebind("y", "quotient")
                .provides("answer"),
        );
    let store = BTreeMap::from([("d".to_string(), 2.into())]);
    let options = EngineOptions {
        mode: Mode::Parallel { workers: 2 },
        ..EngineOptions::default()
    };
    let engine = Engine::new(sandbox, &plugins, &flow, store, &options)?;
    engine.subscribe(|event| {
        if let Event::Atom { atom, from, to, .. } = event {
            println!("{atom}: {from} -> {to}");
        }
    });
    let outcome = engine.run()?;
    if !outcome.succeeded() {
        bail!("flow ended {}: {:?}", outcome.state, outcome.failures);
    }
    println!("answer = {}", outcome.fetch("answer").context("no answer")?);
    Ok(())
}
