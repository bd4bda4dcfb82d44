//! Unit tests of the scheduler with a scripted executor: priority order,
//! revert order, revert failures, argument passing.

use crate::compile_tests::build;
use crate::events::{Event, Notifier};
use crate::run::Run;
use crate::work::{Done, Executor, Job, JobKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskbox_model::{AtomState, Failure, Flow, FlowState, Task};

/// Answers jobs from a script; records what was called, in order.
struct Scripted {
    capacity: usize,
    names: Vec<String>,
    fail_execute: Vec<&'static str>,
    fail_revert: Vec<&'static str>,
    queue: VecDeque<Job>,
    calls: Vec<String>,
}

impl Scripted {
    fn new(capacity: usize, names: Vec<String>) -> Self {
        Scripted {
            capacity,
            names,
            fail_execute: Vec::new(),
            fail_revert: Vec::new(),
            queue: VecDeque::new(),
            calls: Vec::new(),
        }
    }
}

impl Executor for Scripted {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn submit(&mut self, job: Job) {
        self.queue.push_back(job);
    }

    fn next(&mut self) -> Option<Done> {
        let job = self.queue.pop_front()?;
        let name = self.names[job.atom].clone();
        let outcome = match &job.kind {
            JobKind::Execute => {
                self.calls.push(format!("execute {name} {}", job.args));
                if self.fail_execute.contains(&name.as_str()) {
                    Err(Failure::new("test.failed", format!("{name} failed")))
                } else {
                    Ok(Some(json!(format!("{name}-result"))))
                }
            }
            JobKind::Revert { result, failures } => {
                let causes: Vec<&str> = failures.iter().map(|f| f.atom.as_str()).collect();
                self.calls
                    .push(format!("revert {name} {result:?} {causes:?}"));
                if self.fail_revert.contains(&name.as_str()) {
                    Err(Failure::new("test.revert-failed", "nope"))
                } else {
                    Ok(None)
                }
            }
        };
        Some(Done {
            atom: job.atom,
            outcome,
            elapsed: Duration::ZERO,
        })
    }
}

struct Ran {
    state: FlowState,
    calls: Vec<String>,
    states: BTreeMap<String, AtomState>,
    events: Vec<Event>,
}

fn run(
    flow: &Flow,
    capacity: usize,
    fail_execute: Vec<&'static str>,
    fail_revert: Vec<&'static str>,
) -> Ran {
    let graph = match build(flow, &["x"]) {
        Ok(g) => g,
        Err(e) => panic!("test flow does not compile: {e}"),
    };
    let store = BTreeMap::from([("x".to_string(), Value::from(1))]);
    let notifier = Notifier::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    notifier.subscribe(Box::new(move |e: &Event| {
        if let Ok(mut v) = sink.lock() {
            v.push(e.clone());
        }
    }));
    let names = graph.atoms.iter().map(|a| a.name.clone()).collect();
    let mut exec = Scripted::new(capacity, names);
    exec.fail_execute = fail_execute;
    exec.fail_revert = fail_revert;
    let outcome = Run::new(&graph, &flow.name, &store, &notifier).run(&mut exec);
    let events = events.lock().map(|v| v.clone()).unwrap_or_default();
    Ran {
        state: outcome.state,
        calls: exec.calls,
        states: outcome
            .atoms
            .iter()
            .map(|a| (a.name.clone(), a.state))
            .collect(),
        events,
    }
}

fn verbs(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
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
    let flow_states: Vec<(FlowState, FlowState)> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Flow { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        flow_states,
        [
            (FlowState::Pending, FlowState::Running),
            (FlowState::Running, FlowState::Reverting),
            (FlowState::Reverting, FlowState::Reverted)
        ]
    );
}

#[test]
fn atom_transitions_follow_taskflow_names_in_order() {
    let flow = Flow::linear("l")
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop"));
    let ran = run(&flow, 1, vec!["b"], vec![]);
    let of_a: Vec<String> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Atom { atom, to, .. } if atom == "a" => Some(to.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(of_a, ["RUNNING", "SUCCESS", "REVERTING", "REVERTED"]);
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
