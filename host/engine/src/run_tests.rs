//! Unit tests of the scheduler with a scripted executor: priority order,
//! revert order, revert failures, argument passing, and TaskFlow's retry
//! semantics transition by transition.

use crate::compile_tests::build;
use crate::events::{Event, Notifier};
use crate::graph::{AtomKind, ExecGraph};
use crate::run::{Run, RunSetup};
use crate::work::{Done, Executor, Job, JobKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskbox_model::{AtomState, Decision, Failure, Flow, FlowState, History, Retry, Task};

/// Answers jobs from a script; records what was called, in order.
struct Scripted<'g> {
    graph: &'g ExecGraph,
    capacity: usize,
    /// How many more times each atom's execute fails.
    fails: BTreeMap<String, usize>,
    fail_revert: Vec<&'static str>,
    queue: VecDeque<Job>,
    calls: Vec<String>,
}

impl Executor for Scripted<'_> {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn submit(&mut self, job: Job) {
        self.queue.push_back(job);
    }

    fn try_next(&mut self) -> Option<Done> {
        None
    }

    fn next(&mut self) -> Option<Done> {
        let job = self.queue.pop_front()?;
        let node = &self.graph.atoms[job.atom];
        let name = node.name.clone();
        let outcome = match (&job.kind, &node.kind) {
            (JobKind::Execute, _) => {
                self.calls.push(format!("execute {name} {}", job.args));
                match self.fails.get_mut(&name) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        Err(Failure::new("test.failed", format!("{name} failed")))
                    }
                    _ => Ok(Some(json!(format!("{name}-result")))),
                }
            }
            (JobKind::RetryExecute { history }, AtomKind::Retry { controller, .. }) => {
                self.calls
                    .push(format!("execute {name} after {}", history.attempts.len()));
                match self.fails.get_mut(&name) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        Err(Failure::new("test.retry-failed", format!("{name} failed")))
                    }
                    _ => controller.builtin_execute(history, &job.args).map(Some),
                }
            }
            (JobKind::Revert { result, failures }, _) => {
                let causes: Vec<&str> = failures.iter().map(|f| f.atom.as_str()).collect();
                self.calls
                    .push(format!("revert {name} {result:?} {causes:?}"));
                if self.fail_revert.contains(&name.as_str()) {
                    Err(Failure::new("test.revert-failed", "nope"))
                } else {
                    Ok(None)
                }
            }
            (JobKind::RetryRevert { .. }, _) => {
                self.calls.push(format!("revert {name}"));
                Ok(None)
            }
            (JobKind::RetryExecute { .. }, AtomKind::Task) => {
                Err(Failure::new("test.bug", "task as retry"))
            }
        };
        Some(Done {
            atom: job.atom,
            outcome,
            elapsed: Duration::ZERO,
        })
    }

    fn decide(&mut self, atom: usize, history: &History, args: &Value) -> Decision {
        match &self.graph.atoms[atom].kind {
            AtomKind::Retry { controller, .. } => controller.builtin_on_failure(history, args),
            AtomKind::Task => Decision::RevertAll,
        }
    }
}

struct Ran {
    state: FlowState,
    calls: Vec<String>,
    states: BTreeMap<String, AtomState>,
    events: Vec<Event>,
    histories: BTreeMap<String, History>,
}

impl Ran {
    /// "atom:STATE" for every atom transition and "retry(atom)=DECISION"
    /// for every decision, in order.
    fn transitions(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Atom { atom, to, .. } => Some(format!("{atom}:{to}")),
                Event::Decision {
                    retry,
                    atom,
                    decision,
                } => Some(format!("{retry}({atom})={decision}")),
                _ => None,
            })
            .collect()
    }

    fn flow_states(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Flow { to, .. } => Some(to.to_string()),
                _ => None,
            })
            .collect()
    }
}

struct Script {
    capacity: usize,
    fails: Vec<(&'static str, usize)>,
    fail_revert: Vec<&'static str>,
    defer_reverts: bool,
    store: Value,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            capacity: 1,
            fails: Vec::new(),
            fail_revert: Vec::new(),
            defer_reverts: false,
            store: json!({"x": 1}),
        }
    }
}

fn run_with(flow: &Flow, script: Script) -> Ran {
    let store: BTreeMap<String, Value> = serde_json::from_value(script.store).expect("store");
    let names: Vec<&str> = store.keys().map(String::as_str).collect();
    let graph = match build(flow, &names) {
        Ok(g) => g,
        Err(e) => panic!("test flow does not compile: {e}"),
    };
    let notifier = Notifier::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    notifier.subscribe(Box::new(move |e: &Event| {
        if let Ok(mut v) = sink.lock() {
            v.push(e.clone());
        }
    }));
    let mut exec = Scripted {
        graph: &graph,
        capacity: script.capacity,
        fails: script
            .fails
            .iter()
            .map(|(n, k)| (n.to_string(), *k))
            .collect(),
        fail_revert: script.fail_revert,
        queue: VecDeque::new(),
        calls: Vec::new(),
    };
    let suspend = AtomicBool::new(false);
    let setup = RunSetup {
        flow: &flow.name,
        store: &store,
        notifier: &notifier,
        defer_reverts: script.defer_reverts,
        journal: None,
        suspend: &suspend,
    };
    let outcome = Run::new(&graph, setup)
        .run(&mut exec)
        .expect("an in-memory run has no logbook to fail");
    let events = events.lock().map(|v| v.clone()).unwrap_or_default();
    Ran {
        state: outcome.state,
        calls: exec.calls,
        states: outcome
            .atoms
            .iter()
            .map(|a| (a.name.clone(), a.state))
            .collect(),
        histories: outcome
            .atoms
            .iter()
            .filter_map(|a| a.history.clone().map(|h| (a.name.clone(), h)))
            .collect(),
        events,
    }
}

fn run(
    flow: &Flow,
    capacity: usize,
    fail_execute: Vec<&'static str>,
    fail_revert: Vec<&'static str>,
) -> Ran {
    run_with(
        flow,
        Script {
            capacity,
            fails: fail_execute.into_iter().map(|n| (n, usize::MAX)).collect(),
            fail_revert,
            ..Script::default()
        },
    )
}

fn verbs(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ready_atoms_run_highest_priority_first_stably() {
    let flow = Flow::unordered("u")
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop").priority(5))
        .task(Task::new("c", "noop").priority(1))
        .task(Task::new("d", "noop").priority(5));
    let ran = run(&flow, 1, vec![], vec![]);
    assert_eq!(ran.state, FlowState::Success);
    assert_eq!(
        verbs(&ran.calls),
        ["execute b", "execute d", "execute c", "execute a"]
    );
}

#[test]
fn failure_reverts_everything_that_ran_in_reverse_order() {
    let flow = Flow::linear("l")
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop"))
        .task(Task::new("c", "noop"))
        .task(Task::new("never", "noop"));
    let ran = run(&flow, 1, vec!["c"], vec![]);
    assert_eq!(ran.state, FlowState::Reverted);
    assert_eq!(
        verbs(&ran.calls),
        [
            "execute a",
            "execute b",
            "execute c",
            "revert c",
            "revert b",
            "revert a"
        ]
    );
    // The failed atom's revert gets no result; the others get theirs; all
    // get the flow's failures.
    assert_eq!(ran.calls[3], "revert c None [\"c\"]");
    assert_eq!(ran.calls[4], "revert b Some(String(\"b-result\")) [\"c\"]");
    assert_eq!(ran.states["never"], AtomState::Pending);
    assert_eq!(ran.states["a"], AtomState::Reverted);
    assert_eq!(ran.flow_states(), ["RUNNING", "REVERTING", "REVERTED"]);
}

#[test]
fn atom_transitions_follow_taskflow_names_in_order() {
    let flow = Flow::linear("l")
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop"));
    let ran = run(&flow, 1, vec!["b"], vec![]);
    assert_eq!(
        ran.transitions(),
        strings(&[
            "a:RUNNING",
            "a:SUCCESS",
            "b:RUNNING",
            "b:FAILURE",
            "b:REVERTING",
            "b:REVERTED",
            "a:REVERTING",
            "a:REVERTED"
        ])
    );
}

#[test]
fn independent_reverts_follow_priority() {
    let flow = Flow::linear("l")
        .flow(
            Flow::unordered("u")
                .task(Task::new("a", "noop").priority(1))
                .task(Task::new("b", "noop").priority(3))
                .task(Task::new("c", "noop").priority(2)),
        )
        .task(Task::new("boom", "noop"));
    let ran = run(&flow, 1, vec!["boom"], vec![]);
    assert_eq!(
        verbs(&ran.calls)[3..],
        [
            "execute boom",
            "revert boom",
            "revert b",
            "revert c",
            "revert a"
        ]
    );
}

#[test]
fn running_atoms_finish_and_are_reverted_but_nothing_new_starts() {
    let flow = Flow::linear("l")
        .flow(
            Flow::unordered("u")
                .task(Task::new("fails", "noop").priority(9))
                .task(Task::new("slow", "noop")),
        )
        .task(Task::new("after", "noop"));
    let ran = run(&flow, 2, vec!["fails"], vec![]);
    assert_eq!(ran.state, FlowState::Reverted);
    assert_eq!(ran.states["slow"], AtomState::Reverted);
    assert_eq!(ran.states["after"], AtomState::Pending);
    assert!(!verbs(&ran.calls).contains(&"execute after".to_string()));
}

#[test]
fn failed_revert_stops_reverting_below_it_and_fails_the_flow() {
    let flow = Flow::linear("l")
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop"))
        .task(Task::new("c", "noop"));
    let ran = run(&flow, 1, vec!["c"], vec!["b"]);
    assert_eq!(ran.state, FlowState::Failure);
    assert_eq!(ran.states["b"], AtomState::RevertFailure);
    assert_eq!(ran.states["a"], AtomState::Success);
    assert_eq!(
        verbs(&ran.calls),
        [
            "execute a",
            "execute b",
            "execute c",
            "revert c",
            "revert b"
        ]
    );
}

#[test]
fn arguments_come_from_store_results_and_injects() {
    let flow = Flow::linear("l")
        .task(Task::new("s", "source"))
        .task(Task::new("d", "double").inject("extra", json!([1, 2])))
        .task(Task::new("m", "maybe"));
    let ran = run(&flow, 1, vec![], vec![]);
    assert_eq!(ran.calls[1], r#"execute d {"extra":[1,2],"x":"s-result"}"#);
    assert_eq!(ran.calls[2], r#"execute m {"x":"s-result"}"#);
}

// ---- retries -------------------------------------------------------------

/// `first`, then flow `scoped` (with `retry`) holding `t`, then `last`.
fn retried(retry: Retry) -> Flow {
    Flow::linear("f")
        .task(Task::new("first", "noop"))
        .flow(
            Flow::linear("scoped")
                .retry(retry)
                .task(Task::new("t", "noop")),
        )
        .task(Task::new("last", "noop"))
}

fn failing(fails: &[(&'static str, usize)]) -> Script {
    Script {
        fails: fails.to_vec(),
        ..Script::default()
    }
}

#[test]
fn times_retries_until_the_scope_succeeds() {
    let ran = run_with(&retried(Retry::times("r", 3)), failing(&[("t", 2)]));
    assert_eq!(ran.state, FlowState::Success);
    assert_eq!(
        ran.transitions(),
        strings(&[
            "first:RUNNING",
            "first:SUCCESS",
            "r:RUNNING",
            "r:SUCCESS",
            "t:RUNNING",
            "t:FAILURE",
            "r(t)=RETRY",
            "t:REVERTING",
            "t:REVERTED",
            "r:RETRYING",
            "t:PENDING",
            "r:RUNNING",
            "r:SUCCESS",
            "t:RUNNING",
            "t:FAILURE",
            "r(t)=RETRY",
            "t:REVERTING",
            "t:REVERTED",
            "r:RETRYING",
            "t:PENDING",
            "r:RUNNING",
            "r:SUCCESS",
            "t:RUNNING",
            "t:SUCCESS",
            "last:RUNNING",
            "last:SUCCESS",
        ])
    );
    assert_eq!(ran.flow_states(), ["RUNNING", "SUCCESS"]);
    let history = &ran.histories["r"];
    assert_eq!(history.attempts.len(), 3);
    assert_eq!(history.attempts[0].value, json!(1));
    assert_eq!(history.attempts[0].failures[0].atom, "t");
    assert!(history.attempts[2].failures.is_empty());
    assert!(ran.calls.contains(&"execute r after 2".to_string()));
}

#[test]
fn exhausted_times_reverts_only_its_scope_without_defer_reverts() {
    let ran = run_with(
        &retried(Retry::times("r", 2)),
        failing(&[("t", usize::MAX)]),
    );
    assert_eq!(ran.state, FlowState::Reverted);
    let tail: Vec<String> = ran.transitions().into_iter().skip(15).collect();
    assert_eq!(
        tail,
        strings(&[
            "r(t)=REVERT",
            "t:REVERTING",
            "t:REVERTED",
            "r:REVERTING",
            "r:REVERTED"
        ])
    );
    // TaskFlow's backwards-compatible default: atoms before the scope stay.
    assert_eq!(ran.states["first"], AtomState::Success);
    assert_eq!(ran.states["last"], AtomState::Pending);
    assert_eq!(ran.flow_states(), ["RUNNING", "REVERTED"]);
    // A reverted retry forgets its history.
    assert!(ran.histories["r"].attempts.is_empty());
}

#[test]
fn exhausted_times_with_defer_reverts_reverts_the_whole_flow() {
    let script = Script {
        defer_reverts: true,
        ..failing(&[("t", usize::MAX)])
    };
    let ran = run_with(&retried(Retry::times("r", 2)), script);
    assert_eq!(ran.state, FlowState::Reverted);
    let tail: Vec<String> = ran.transitions().into_iter().skip(15).collect();
    assert_eq!(
        tail,
        strings(&[
            "r(t)=REVERT",
            "t:REVERTING",
            "t:REVERTED",
            "r:REVERTING",
            "r:REVERTED",
            "first:REVERTING",
            "first:REVERTED"
        ])
    );
    assert_eq!(ran.flow_states(), ["RUNNING", "REVERTING", "REVERTED"]);
}

#[test]
fn revert_all_from_an_exhausted_retry_reverts_everything() {
    let ran = run_with(
        &retried(Retry::times("r", 1).revert_all(true)),
        failing(&[("t", 1)]),
    );
    assert_eq!(ran.state, FlowState::Reverted);
    assert_eq!(
        ran.transitions()[6..],
        strings(&[
            "r(t)=REVERT_ALL",
            "t:REVERTING",
            "t:REVERTED",
            "r:REVERTING",
            "r:REVERTED",
            "first:REVERTING",
            "first:REVERTED"
        ])
    );
}

#[test]
fn for_each_walks_its_values_into_the_scope() {
    let flow = Flow::linear("f").flow(
        Flow::linear("scoped")
            .retry(Retry::for_each("r", vec![json!("a"), json!("b"), json!("c")]).provides("x"))
            .task(Task::new("d", "double")),
    );
    let ran = run_with(&flow, failing(&[("d", 2)]));
    assert_eq!(ran.state, FlowState::Success);
    let executed: Vec<&String> = ran
        .calls
        .iter()
        .filter(|c| c.starts_with("execute d"))
        .collect();
    assert_eq!(
        executed,
        [
            r#"execute d {"x":"a"}"#,
            r#"execute d {"x":"b"}"#,
            r#"execute d {"x":"c"}"#
        ]
    );
}

#[test]
fn for_each_runs_out_of_values() {
    let flow = Flow::linear("scoped")
        .retry(Retry::for_each("r", vec![json!(1), json!(2)]).provides("x"))
        .task(Task::new("d", "double"));
    let ran = run_with(&flow, failing(&[("d", usize::MAX)]));
    assert_eq!(ran.state, FlowState::Reverted);
    let decisions: Vec<String> = ran
        .transitions()
        .into_iter()
        .filter(|t| t.contains('='))
        .collect();
    assert_eq!(decisions, ["r(d)=RETRY", "r(d)=REVERT"]);
    assert_eq!(ran.states["r"], AtomState::Reverted);
}

#[test]
fn parameterized_for_each_takes_values_from_the_store() {
    let flow = Flow::linear("scoped")
        .retry(Retry::parameterized_for_each("r", "servers").provides("x"))
        .task(Task::new("d", "double"));
    let script = Script {
        store: json!({"servers": ["10.0.0.1", "10.0.0.2"]}),
        ..failing(&[("d", 1)])
    };
    let ran = run_with(&flow, script);
    assert_eq!(ran.state, FlowState::Success);
    let executed: Vec<&String> = ran
        .calls
        .iter()
        .filter(|c| c.starts_with("execute d"))
        .collect();
    assert_eq!(
        executed,
        [
            r#"execute d {"x":"10.0.0.1"}"#,
            r#"execute d {"x":"10.0.0.2"}"#
        ]
    );
}

#[test]
fn always_revert_and_always_revert_all() {
    let revert = Retry::new("r", taskbox_model::Controller::AlwaysRevert);
    let ran = run_with(&retried(revert), failing(&[("t", 1)]));
    assert_eq!(ran.states["first"], AtomState::Success);
    assert_eq!(ran.states["r"], AtomState::Reverted);
    assert_eq!(ran.transitions()[6], "r(t)=REVERT");

    let revert_all = Retry::new("r", taskbox_model::Controller::AlwaysRevertAll);
    let ran = run_with(&retried(revert_all), failing(&[("t", 1)]));
    assert_eq!(ran.states["first"], AtomState::Reverted);
    assert_eq!(ran.transitions()[6], "r(t)=REVERT_ALL");
}

/// Outer `times(2)` around `before`, then an inner flow with `inner_retry`
/// holding `t`.
fn nested(inner_retry: Retry) -> Flow {
    Flow::linear("outer")
        .retry(Retry::times("r1", 2))
        .task(Task::new("before", "noop"))
        .flow(
            Flow::linear("inner")
                .retry(inner_retry)
                .task(Task::new("t", "noop")),
        )
}

#[test]
fn inner_revert_defers_to_the_outer_retry_which_retries_everything() {
    let inner = Retry::new("r2", taskbox_model::Controller::AlwaysRevert);
    let ran = run_with(&nested(inner), failing(&[("t", 1)]));
    assert_eq!(ran.state, FlowState::Success);
    assert_eq!(
        ran.transitions(),
        strings(&[
            "r1:RUNNING",
            "r1:SUCCESS",
            "before:RUNNING",
            "before:SUCCESS",
            "r2:RUNNING",
            "r2:SUCCESS",
            "t:RUNNING",
            "t:FAILURE",
            "r2(t)=REVERT",
            "r1(t)=RETRY",
            "t:REVERTING",
            "t:REVERTED",
            "r2:REVERTING",
            "r2:REVERTED",
            "before:REVERTING",
            "before:REVERTED",
            "r1:RETRYING",
            "before:PENDING",
            "r2:PENDING",
            "t:PENDING",
            "r1:RUNNING",
            "r1:SUCCESS",
            "before:RUNNING",
            "before:SUCCESS",
            "r2:RUNNING",
            "r2:SUCCESS",
            "t:RUNNING",
            "t:SUCCESS",
        ])
    );
    // The outer history saw the failure; the inner one started afresh.
    assert_eq!(ran.histories["r1"].attempts.len(), 2);
    assert_eq!(ran.histories["r1"].attempts[0].failures[0].atom, "t");
    assert_eq!(ran.histories["r2"].attempts.len(), 1);
}

#[test]
fn inner_retry_handles_its_own_failures_first() {
    let ran = run_with(&nested(Retry::times("r2", 3)), failing(&[("t", 2)]));
    assert_eq!(ran.state, FlowState::Success);
    let decisions: Vec<String> = ran
        .transitions()
        .into_iter()
        .filter(|t| t.contains('='))
        .collect();
    assert_eq!(decisions, ["r2(t)=RETRY", "r2(t)=RETRY"]);
    assert_eq!(ran.histories["r1"].attempts.len(), 1);
    assert_eq!(ran.histories["r2"].attempts.len(), 3);
}

#[test]
fn a_failing_revert_during_a_retry_fails_the_flow() {
    let flow = Flow::linear("scoped")
        .retry(Retry::times("r", 3))
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop"));
    let script = Script {
        fail_revert: vec!["a"],
        ..failing(&[("b", 1)])
    };
    let ran = run_with(&flow, script);
    assert_eq!(ran.state, FlowState::Failure);
    assert_eq!(ran.states["a"], AtomState::RevertFailure);
    assert_eq!(ran.states["r"], AtomState::Success);
    assert!(!ran.transitions().contains(&"r:RETRYING".to_string()));
}

#[test]
fn a_failing_retry_execute_reverts_everything() {
    let ran = run_with(&retried(Retry::times("r", 3)), failing(&[("r", 1)]));
    assert_eq!(ran.state, FlowState::Reverted);
    assert_eq!(
        ran.transitions(),
        strings(&[
            "first:RUNNING",
            "first:SUCCESS",
            "r:RUNNING",
            "r:FAILURE",
            "r:REVERTING",
            "r:REVERTED",
            "first:REVERTING",
            "first:REVERTED"
        ])
    );
}

#[test]
fn retry_of_an_unordered_scope_waits_for_running_siblings() {
    let flow = Flow::unordered("wide")
        .retry(Retry::times("r", 2))
        .task(Task::new("a", "noop").priority(1))
        .task(Task::new("b", "noop"));
    let script = Script {
        capacity: 2,
        ..failing(&[("a", 1)])
    };
    let ran = run_with(&flow, script);
    assert_eq!(ran.state, FlowState::Success);
    assert_eq!(
        ran.transitions(),
        strings(&[
            "r:RUNNING",
            "r:SUCCESS",
            "a:RUNNING",
            "b:RUNNING",
            "a:FAILURE",
            "r(a)=RETRY",
            "a:REVERTING",
            "b:SUCCESS",
            "b:REVERTING",
            "a:REVERTED",
            "b:REVERTED",
            "r:RETRYING",
            "a:PENDING",
            "b:PENDING",
            "r:RUNNING",
            "r:SUCCESS",
            "a:RUNNING",
            "b:RUNNING",
            "a:SUCCESS",
            "b:SUCCESS",
        ])
    );
}
