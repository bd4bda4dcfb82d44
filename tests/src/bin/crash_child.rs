//! The process the crash harness (`tests/tests/crash.rs`) kills: runs or
//! resumes a recorded flow and freezes at its K-th event, so the harness can
//! SIGKILL it at exactly that transition.
//!
//! `crash-child DB CACHE_DIR SCENARIO_JSON K start|resume:ID`
//!
//! - `DB`: the redb logbook to record in (`start`) or resume from;
//! - `CACHE_DIR`: the compiled-component cache, shared with the harness so
//!   that the child starts without compiling the guests;
//! - `SCENARIO_JSON`: `{"flow": Flow, "store": {..}, "mode": Mode}`, used by
//!   `start` (a resumed flow is rebuilt from the logbook);
//! - `K`: the event to freeze at, counting from 1 (0: never);
//! - `start` records and runs a new flow, `resume:ID` resumes flow `ID`.
//!
//! At event K it prints `PAUSED <flow id> <event as JSON>` and sleeps
//! forever inside the subscriber, blocking the thread that published it: the
//! scheduler at a transition or decision (published before its step is
//! committed), or the thread running a guest at one of its log lines or
//! progress reports (inside the guest's call). When the run ends first it
//! prints `DONE <flow id> <state>`.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use taskbox::{
    Engine, EngineOptions, Flow, Limits, Logbook, Mode, RedbLogbook, ResumeOptions, Sandbox,
    SandboxConfig,
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, cache, scenario, pause, what] = args.as_slice() else {
        bail!("usage: crash-child DB CACHE_DIR SCENARIO_JSON K start|resume:ID");
    };
    let scenario: Value = serde_json::from_str(scenario).context("scenario JSON")?;
    let pause: usize = pause.parse().context("K")?;
    let sandbox = Arc::new(Sandbox::new(&SandboxConfig {
        cache_dir: Some(PathBuf::from(cache)),
        ..SandboxConfig::default()
    })?);
    let plugins = sandbox.load_dir(taskbox_tests::GUEST_DIR.as_ref(), &Limits::default())?;
    let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::open(db.as_ref())?);
    let engine = match what.strip_prefix("resume:") {
        Some(id) => Engine::resume(
            sandbox,
            &plugins,
            logbook,
            id.parse().context("flow id")?,
            &ResumeOptions::default(),
        )?,
        None => {
            let flow: Flow = serde_json::from_value(scenario["flow"].clone())?;
            let store: BTreeMap<String, Value> = serde_json::from_value(scenario["store"].clone())?;
            let mode: Mode = serde_json::from_value(scenario["mode"].clone())?;
            let options = EngineOptions {
                mode,
                ..EngineOptions::default()
            };
            Engine::new(sandbox, &plugins, &flow, store, &options)?.record(
                logbook,
                "crash",
                BTreeMap::new(),
            )?
        }
    };
    let id = engine.flow_id().context("recorded")?;
    let seen = AtomicUsize::new(0);
    engine.subscribe(move |event| {
        if seen.fetch_add(1, Ordering::Relaxed) + 1 == pause {
            let event = serde_json::to_string(event).unwrap_or_else(|_| "null".into());
            println!("PAUSED {id} {event}");
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
        }
    });
    let outcome = engine.run()?;
    println!("DONE {id} {}", outcome.state);
    Ok(())
}
