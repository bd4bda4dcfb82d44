//! One run of a compiled flow: scheduling by priority, completions, and
//! reverting in reverse dependency order after a failure.

use crate::events::{Event, Notifier};
use crate::graph::{ArgSource, ExecGraph};
use crate::outcome::{AtomReport, Outcome};
use crate::work::{Done, Executor, Job, JobKind};
use serde_json::{Map, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};
use taskbox_model::{AtomFailure, AtomState, Failure, FlowState, Provides, kinds};

/// Runtime state of one atom.
#[derive(Debug, Clone)]
struct AtomRun {
    state: AtomState,
    args: Option<Value>,
    result: Option<Value>,
    failure: Option<Failure>,
    revert_failure: Option<Failure>,
    elapsed: Option<Duration>,
    /// Execute: predecessors not yet done. Revert: successors not yet reverted.
    waiting: usize,
}

/// The run of one flow over one executor.
pub(crate) struct Run<'g> {
    graph: &'g ExecGraph,
    flow: &'g str,
    store: &'g BTreeMap<String, Value>,
    notifier: &'g Notifier,
    atoms: Vec<AtomRun>,
    /// Topological rank of each atom.
    rank: Vec<usize>,
    state: FlowState,
    failures: Vec<AtomFailure>,
}

/// The value `provides` publishes under `name` from `result`.
pub(crate) fn extract<'v>(provides: &Provides, result: &'v Value, name: &str) -> Option<&'v Value> {
    match provides {
        Provides::None => None,
        Provides::Single(n) => (n == name).then_some(result),
        Provides::Positional(names) => {
            let i = names.iter().position(|n| n == name)?;
            result.as_array()?.get(i)
        }
        Provides::Keyed(map) => result.as_object()?.get(map.get(name)?),
    }
}

/// Checks that `result` has everything `provides` promises.
fn check_provides(provides: &Provides, result: &Value) -> Result<(), Failure> {
    let problem = match provides {
        Provides::None | Provides::Single(_) => None,
        Provides::Positional(names) => match result.as_array() {
            Some(items) if items.len() >= names.len() => None,
            Some(items) => Some(format!(
                "provides {} names by position but the result has {} elements",
                names.len(),
                items.len()
            )),
            None => Some("provides names by position but the result is not an array".into()),
        },
        Provides::Keyed(map) => match result.as_object() {
            Some(object) => {
                map.iter()
                    .find(|(_, key)| !object.contains_key(*key))
                    .map(|(name, key)| {
                        format!("provides '{name}' from key '{key}', which the result lacks")
                    })
            }
            None => Some("provides names by key but the result is not an object".into()),
        },
    };
    match problem {
        Some(message) => Err(Failure::new(kinds::INVALID_RESULT, message)),
        None => Ok(()),
    }
}

fn needs_revert(state: AtomState) -> bool {
    matches!(state, AtomState::Success | AtomState::Failure)
}

impl<'g> Run<'g> {
    pub(crate) fn new(
        graph: &'g ExecGraph,
        flow: &'g str,
        store: &'g BTreeMap<String, Value>,
        notifier: &'g Notifier,
    ) -> Self {
        let mut rank = vec![0; graph.atoms.len()];
        for (position, &atom) in graph.topo.iter().enumerate() {
            rank[atom] = position;
        }
        let atoms = graph
            .preds
            .iter()
            .map(|preds| AtomRun {
                state: AtomState::Pending,
                args: None,
                result: None,
                failure: None,
                revert_failure: None,
                elapsed: None,
                waiting: preds.len(),
            })
            .collect();
        Run {
            graph,
            flow,
            store,
            notifier,
            atoms,
            rank,
            state: FlowState::Pending,
            failures: Vec::new(),
        }
    }

    fn set_flow(&mut self, to: FlowState) {
        let from = self.state;
        debug_assert!(from.can_become(to), "flow {from} -> {to}");
        self.state = to;
        tracing::debug!(flow = self.flow, %from, %to, "flow transition");
        self.notifier.publish(Event::Flow {
            flow: self.flow.to_string(),
            from,
            to,
        });
    }

    fn set_atom(&mut self, atom: usize, to: AtomState) {
        let from = self.atoms[atom].state;
        debug_assert!(from.task_can_become(to), "atom {from} -> {to}");
        self.atoms[atom].state = to;
        if self.notifier.is_empty() {
            return;
        }
        let run = &self.atoms[atom];
        let (result, failure) = match to {
            AtomState::Success => (run.result.clone(), None),
            AtomState::Failure => (None, run.failure.clone()),
            AtomState::RevertFailure => (None, run.revert_failure.clone()),
            _ => (None, None),
        };
        self.notifier.publish(Event::Atom {
            atom: self.graph.atoms[atom].name.clone(),
            from,
            to,
            result,
            failure,
        });
    }

    /// The arguments of `atom`, assembled from injects, the store and results.
    fn args_for(&self, atom: usize) -> Result<Value, Failure> {
        let mut args = Map::new();
        for binding in &self.graph.atoms[atom].args {
            let value = match &binding.source {
                ArgSource::Inject(value) => Some(value.clone()),
                ArgSource::Store(name) => self.store.get(name).cloned(),
                ArgSource::Atom { atom: from, name } => self.atoms[*from]
                    .result
                    .as_ref()
                    .and_then(|r| extract(&self.graph.atoms[*from].provides, r, name))
                    .cloned(),
            };
            let value = value.ok_or_else(|| {
                Failure::new(
                    kinds::INVALID_ARGUMENTS,
                    format!("no value for argument '{}'", binding.arg),
                )
            })?;
            args.insert(binding.arg.clone(), value);
        }
        Ok(Value::Object(args))
    }

    fn fail(&mut self, atom: usize, failure: Failure) {
        self.failures.push(AtomFailure {
            atom: self.graph.atoms[atom].name.clone(),
            failure: failure.clone(),
        });
        self.atoms[atom].failure = Some(failure);
        self.set_atom(atom, AtomState::Failure);
    }

    /// Runs the flow to its end and reports the outcome.
    pub(crate) fn run(mut self, exec: &mut dyn Executor) -> Outcome {
        let started = Instant::now();
        self.set_flow(FlowState::Running);
        let failed = self.execute_all(exec);
        if failed {
            self.set_flow(FlowState::Reverting);
            let revert_failed = self.revert_all(exec);
            self.set_flow(if revert_failed {
                FlowState::Failure
            } else {
                FlowState::Reverted
            });
        } else {
            self.set_flow(FlowState::Success);
        }
        self.into_outcome(started.elapsed())
    }

    /// Executes atoms as they become ready, highest priority first. After a
    /// failure no new atom starts; running ones finish. True when any failed.
    fn execute_all(&mut self, exec: &mut dyn Executor) -> bool {
        let mut ready = BinaryHeap::new();
        for (atom, run) in self.atoms.iter().enumerate() {
            if run.waiting == 0 {
                ready.push((
                    self.graph.atoms[atom].priority,
                    Reverse(self.rank[atom]),
                    atom,
                ));
            }
        }
        let mut in_flight = 0;
        let mut failed = false;
        loop {
            while !failed && in_flight < exec.capacity() {
                let Some((_, _, atom)) = ready.pop() else {
                    break;
                };
                self.set_atom(atom, AtomState::Running);
                match self.args_for(atom) {
                    Ok(args) => {
                        self.atoms[atom].args = Some(args.clone());
                        exec.submit(Job {
                            atom,
                            args,
                            kind: JobKind::Execute,
                        });
                        in_flight += 1;
                    }
                    Err(failure) => {
                        self.fail(atom, failure);
                        failed = true;
                    }
                }
            }
            if in_flight == 0 {
                return failed;
            }
            let Some(Done {
                atom,
                outcome,
                elapsed,
            }) = exec.next()
            else {
                tracing::error!(flow = self.flow, "executor lost {in_flight} jobs");
                return true;
            };
            in_flight -= 1;
            self.atoms[atom].elapsed = Some(elapsed);
            let outcome = outcome.and_then(|value| {
                let value = value.unwrap_or(Value::Null);
                check_provides(&self.graph.atoms[atom].provides, &value).map(|()| value)
            });
            match outcome {
                Ok(value) => {
                    self.atoms[atom].result = Some(value);
                    self.set_atom(atom, AtomState::Success);
                    for &next in &self.graph.succs[atom] {
                        self.atoms[next].waiting -= 1;
                        if self.atoms[next].waiting == 0 {
                            ready.push((
                                self.graph.atoms[next].priority,
                                Reverse(self.rank[next]),
                                next,
                            ));
                        }
                    }
                }
                Err(failure) => {
                    self.fail(atom, failure);
                    failed = true;
                }
            }
        }
    }

    /// Reverts every atom that ran, each after all its successors, highest
    /// priority first among those ready. True when a revert failed.
    fn revert_all(&mut self, exec: &mut dyn Executor) -> bool {
        let mut ready = BinaryHeap::new();
        for atom in 0..self.atoms.len() {
            if !needs_revert(self.atoms[atom].state) {
                continue;
            }
            let waiting = self.graph.succs[atom]
                .iter()
                .filter(|&&s| needs_revert(self.atoms[s].state))
                .count();
            self.atoms[atom].waiting = waiting;
            if waiting == 0 {
                ready.push((self.graph.atoms[atom].priority, self.rank[atom], atom));
            }
        }
        let mut in_flight = 0;
        let mut revert_failed = false;
        loop {
            while in_flight < exec.capacity() {
                let Some((_, _, atom)) = ready.pop() else {
                    break;
                };
                let run = &self.atoms[atom];
                let result = (run.state == AtomState::Success)
                    .then(|| run.result.clone())
                    .flatten();
                let args = run
                    .args
                    .clone()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                self.set_atom(atom, AtomState::Reverting);
                exec.submit(Job {
                    atom,
                    args,
                    kind: JobKind::Revert {
                        result,
                        failures: self.failures.clone(),
                    },
                });
                in_flight += 1;
            }
            if in_flight == 0 {
                return revert_failed;
            }
            let Some(Done { atom, outcome, .. }) = exec.next() else {
                tracing::error!(flow = self.flow, "executor lost {in_flight} reverts");
                return true;
            };
            in_flight -= 1;
            match outcome {
                Ok(_) => {
                    self.set_atom(atom, AtomState::Reverted);
                    for &prev in &self.graph.preds[atom] {
                        if needs_revert(self.atoms[prev].state) {
                            self.atoms[prev].waiting -= 1;
                            if self.atoms[prev].waiting == 0 {
                                ready.push((
                                    self.graph.atoms[prev].priority,
                                    self.rank[prev],
                                    prev,
                                ));
                            }
                        }
                    }
                }
                Err(failure) => {
                    // As in TaskFlow, atoms before a failed revert stay as they are.
                    self.atoms[atom].revert_failure = Some(failure);
                    self.set_atom(atom, AtomState::RevertFailure);
                    revert_failed = true;
                }
            }
        }
    }

    fn into_outcome(self, elapsed: Duration) -> Outcome {
        let mut values = self.store.clone();
        for &atom in &self.graph.topo {
            let run = &self.atoms[atom];
            if let (AtomState::Success, Some(result)) = (run.state, &run.result) {
                let provides = &self.graph.atoms[atom].provides;
                for name in provides.names() {
                    if let Some(value) = extract(provides, result, name) {
                        values.insert(name.to_string(), value.clone());
                    }
                }
            }
        }
        let atoms = self
            .graph
            .atoms
            .iter()
            .zip(self.atoms)
            .map(|(node, run)| AtomReport {
                name: node.name.clone(),
                plugin: node.plugin.clone(),
                plugin_hash: String::new(),
                state: run.state,
                result: run.result,
                failure: run.failure,
                revert_failure: run.revert_failure,
                elapsed: run.elapsed,
            })
            .collect();
        Outcome {
            flow: self.flow.to_string(),
            state: self.state,
            atoms,
            failures: self.failures,
            values,
            elapsed,
        }
    }
}
