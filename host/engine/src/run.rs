//! One run of a compiled flow, with TaskFlow's model: every atom has a state
//! and an intention (EXECUTE, REVERT, RETRY). Atoms whose intention is
//! EXECUTE run once their predecessors succeeded; atoms whose intention is
//! REVERT or RETRY are handled once their successors are reverted or never
//! ran. A failure is resolved by the nearest retry controller (RETRY: revert
//! its scope and run it again; REVERT: revert its scope, consulting the
//! enclosing retry; REVERT_ALL: revert everything) and, without one, by
//! reverting everything. Among atoms ready at once, higher priority goes
//! first, for execution and revert alike.

use crate::events::{Event, Notifier};
use crate::graph::{ArgSource, ExecGraph};
use crate::journal::{AtomSnapshot, Journal};
use crate::outcome::{AtomReport, Outcome};
use crate::work::{Done, Executor, Job, JobKind};
use serde_json::{Map, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use taskbox_logbook::{AtomDetail, LogbookError, now_ms};
use taskbox_model::{
    AtomFailure, AtomState, Attempt, Decision, Failure, FlowState, History, Intention, Provides,
    kinds,
};

/// Runtime state of one atom.
#[derive(Debug, Clone)]
struct AtomRun {
    state: AtomState,
    intention: Intention,
    result: Option<Value>,
    failure: Option<Failure>,
    revert_failure: Option<Failure>,
    elapsed: Option<Duration>,
    /// Retry atoms: the attempts of their scope.
    history: History,
    /// When its last execute or revert started and ended.
    started_ms: Option<u64>,
    finished_ms: Option<u64>,
}

impl AtomRun {
    /// The runtime state a record describes. An atom that was RUNNING (or
    /// RETRYING) when the process stopped runs again: execution is
    /// at-least-once. One that was REVERTING goes back to what it reverts
    /// from, and is reverted again.
    fn restored(detail: &AtomDetail) -> AtomRun {
        let state = match detail.state {
            AtomState::Running | AtomState::Retrying => AtomState::Pending,
            AtomState::Reverting if detail.result.is_some() => AtomState::Success,
            AtomState::Reverting => AtomState::Failure,
            state => state,
        };
        AtomRun {
            state,
            intention: detail.intention,
            result: detail.result.clone(),
            failure: detail.failure.clone(),
            revert_failure: detail.revert_failure.clone(),
            elapsed: detail.elapsed_us.map(Duration::from_micros),
            history: detail.history.clone().unwrap_or_default(),
            started_ms: detail.started_ms,
            finished_ms: detail.finished_ms,
        }
    }
}

impl AtomSnapshot for AtomRun {
    fn fill(&self, detail: &mut AtomDetail) {
        detail.state = self.state;
        detail.intention = self.intention;
        detail.result.clone_from(&self.result);
        detail.failure.clone_from(&self.failure);
        detail.revert_failure.clone_from(&self.revert_failure);
        if detail.history.is_some() {
            detail.history = Some(self.history.clone());
        }
        detail.started_ms = self.started_ms;
        detail.finished_ms = self.finished_ms;
        detail.elapsed_us = self
            .elapsed
            .map(|e| u64::try_from(e.as_micros()).unwrap_or(u64::MAX));
    }
}

/// How a failure is resolved (TaskFlow's resolution strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Revert the scope of this retry, then run it again.
    RetryScope(usize),
    /// Revert this retry and its scope.
    RevertScope(usize),
    /// Revert everything; `undefined` when no retry was there to decide.
    RevertAll { undefined: bool },
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

/// The run of one flow over one executor.
pub(crate) struct Run<'g> {
    graph: &'g ExecGraph,
    flow: &'g str,
    store: &'g BTreeMap<String, Value>,
    notifier: &'g Notifier,
    defer_reverts: bool,
    atoms: Vec<AtomRun>,
    /// Topological rank of each atom.
    rank: Vec<usize>,
    state: FlowState,
    /// Failures of atoms currently in FAILURE, in the order they happened.
    failures: Vec<AtomFailure>,
    /// Candidates to execute: (priority, earlier first, atom).
    to_execute: BinaryHeap<(i32, Reverse<usize>, usize)>,
    /// Candidates to revert or retry: (priority, later first, atom).
    to_revert: BinaryHeap<(i32, usize, usize)>,
    in_flight: usize,
    /// Where every change is committed before its consequences start.
    journal: Option<Journal>,
    /// Jobs started this step, submitted once the step is committed.
    outbox: Vec<Job>,
    /// Set by `Engine::suspend`: start nothing new.
    suspend: &'g AtomicBool,
    /// A commit failed: start nothing new, and report it.
    halted: Option<LogbookError>,
}

/// What a run needs besides its graph.
pub(crate) struct RunSetup<'g> {
    pub(crate) flow: &'g str,
    pub(crate) store: &'g BTreeMap<String, Value>,
    pub(crate) notifier: &'g Notifier,
    pub(crate) defer_reverts: bool,
    /// The logbook records to continue from and commit to; `None` runs in
    /// memory only.
    pub(crate) journal: Option<Journal>,
    pub(crate) suspend: &'g AtomicBool,
}

impl<'g> Run<'g> {
    pub(crate) fn new(graph: &'g ExecGraph, setup: RunSetup<'g>) -> Self {
        let mut rank = vec![0; graph.atoms.len()];
        for (position, &atom) in graph.topo.iter().enumerate() {
            rank[atom] = position;
        }
        let fresh = AtomRun {
            state: AtomState::Pending,
            intention: Intention::Execute,
            result: None,
            failure: None,
            revert_failure: None,
            elapsed: None,
            history: History::default(),
            started_ms: None,
            finished_ms: None,
        };
        let (atoms, state, failures) = match &setup.journal {
            Some(journal) => (
                journal.details().iter().map(AtomRun::restored).collect(),
                journal.flow().state,
                journal.flow().failures.clone(),
            ),
            None => (
                vec![fresh; graph.atoms.len()],
                FlowState::Pending,
                Vec::new(),
            ),
        };
        Run {
            graph,
            flow: setup.flow,
            store: setup.store,
            notifier: setup.notifier,
            defer_reverts: setup.defer_reverts,
            atoms,
            rank,
            state,
            failures,
            to_execute: BinaryHeap::new(),
            to_revert: BinaryHeap::new(),
            in_flight: 0,
            journal: setup.journal,
            outbox: Vec::new(),
            suspend: setup.suspend,
            halted: None,
        }
    }

    /// Atom `atom` changed in a way its record shows.
    fn mark(&mut self, atom: usize) {
        if let Some(journal) = &mut self.journal {
            journal.mark(atom);
        }
    }

    fn set_intention(&mut self, atom: usize, intention: Intention) {
        if self.atoms[atom].intention != intention {
            self.atoms[atom].intention = intention;
            self.mark(atom);
        }
    }

    /// Commits this step's changes; false once a commit has failed (the
    /// run is halted then).
    fn commit(&mut self) -> bool {
        if self.halted.is_some() {
            return false;
        }
        let Some(journal) = &mut self.journal else {
            return true;
        };
        if let Err(e) = journal.commit(&self.atoms, self.state, &self.failures) {
            tracing::error!(flow = self.flow, error = %e, "logbook commit failed; stopping");
            self.halted = Some(e);
            return false;
        }
        true
    }

    fn name(&self, atom: usize) -> &'g str {
        &self.graph.atoms[atom].name
    }

    fn set_flow(&mut self, to: FlowState) {
        let from = self.state;
        debug_assert!(from.can_become(to), "flow {from} -> {to}");
        self.state = to;
        if let Some(journal) = &mut self.journal {
            journal.flow_moved(from, to);
        }
        tracing::debug!(flow = self.flow, %from, %to, "flow transition");
        self.notifier.publish(Event::Flow {
            flow: self.flow.to_string(),
            from,
            to,
        });
    }

    fn set_atom(&mut self, atom: usize, to: AtomState) {
        let from = self.atoms[atom].state;
        debug_assert!(
            if self.graph.atoms[atom].is_retry() {
                from.retry_can_become(to)
            } else {
                from.task_can_become(to)
            },
            "atom {} {from} -> {to}",
            self.name(atom)
        );
        self.atoms[atom].state = to;
        if let Some(journal) = &mut self.journal {
            journal.atom_moved(atom, from, to);
        }
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
            atom: self.name(atom).to_string(),
            from,
            to,
            result,
            failure,
        });
    }

    fn ready_to_execute(&self, atom: usize) -> bool {
        let run = &self.atoms[atom];
        run.state == AtomState::Pending
            && run.intention == Intention::Execute
            && self.graph.preds[atom].iter().all(|&p| {
                let pred = &self.atoms[p];
                matches!(pred.state, AtomState::Success | AtomState::Ignore)
                    && pred.intention == Intention::Execute
            })
    }

    fn ready_to_revert(&self, atom: usize) -> bool {
        let run = &self.atoms[atom];
        matches!(run.intention, Intention::Revert | Intention::Retry)
            && matches!(run.state, AtomState::Success | AtomState::Failure)
            && self.graph.succs[atom].iter().all(|&s| {
                matches!(
                    self.atoms[s].state,
                    AtomState::Pending | AtomState::Reverted | AtomState::Ignore
                )
            })
    }

    fn offer_execute(&mut self, atom: usize) {
        if self.ready_to_execute(atom) {
            let priority = self.graph.atoms[atom].priority;
            self.to_execute
                .push((priority, Reverse(self.rank[atom]), atom));
        }
    }

    fn offer_revert(&mut self, atom: usize) {
        if self.ready_to_revert(atom) {
            let priority = self.graph.atoms[atom].priority;
            self.to_revert.push((priority, self.rank[atom], atom));
        }
    }

    /// The arguments of `atom`, assembled from injects, the store and
    /// results. Predecessors revert only after their successors, so a revert
    /// sees the same arguments its execute saw.
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

    /// Runs the flow until it ends or is suspended, continuing from the
    /// journal's records when there is one. Fails only when a commit fails: the run then starts nothing
    /// more, lets running atoms finish, and the logbook keeps its last
    /// commit, from which the flow resumes.
    pub(crate) fn run(mut self, exec: &mut dyn Executor) -> Result<Outcome, LogbookError> {
        let started = Instant::now();
        if self.state.is_final() && self.state != FlowState::Suspended {
            return Ok(self.into_outcome(started.elapsed()));
        }
        if self.state == FlowState::Pending {
            self.set_flow(FlowState::Running);
        } else {
            let phase = self
                .journal
                .as_ref()
                .map_or(FlowState::Running, |j| j.flow().phase);
            self.set_flow(FlowState::Resuming);
            self.set_flow(phase);
        }
        for atom in 0..self.atoms.len() {
            self.offer_execute(atom);
            self.offer_revert(atom);
        }
        loop {
            self.dispatch(exec);
            if self.in_flight == 0 {
                break;
            }
            let Some(done) = exec.next() else {
                tracing::error!(flow = self.flow, "executor lost {} jobs", self.in_flight);
                break;
            };
            self.in_flight -= 1;
            self.complete(done, exec);
            // Group commit: every answer already back joins this step.
            while let Some(done) = exec.try_next() {
                self.in_flight -= 1;
                self.complete(done, exec);
            }
        }
        if let Some(e) = self.halted.take() {
            return Err(e);
        }
        let end = if self.work_remains() {
            FlowState::Suspended
        } else if self
            .atoms
            .iter()
            .any(|a| a.state == AtomState::RevertFailure)
        {
            FlowState::Failure
        } else if self
            .atoms
            .iter()
            .all(|a| matches!(a.state, AtomState::Success | AtomState::Ignore))
        {
            FlowState::Success
        } else {
            FlowState::Reverted
        };
        self.set_flow(end);
        self.commit();
        if let Some(e) = self.halted.take() {
            return Err(e);
        }
        Ok(self.into_outcome(started.elapsed()))
    }

    /// True when an atom could start but a suspension kept it waiting.
    fn work_remains(&self) -> bool {
        self.to_execute
            .iter()
            .any(|&(_, _, atom)| self.ready_to_execute(atom))
            || self
                .to_revert
                .iter()
                .any(|&(_, _, atom)| self.ready_to_revert(atom))
    }

    /// Starts ready work up to capacity: reverts and retries first (they
    /// unblock everything else), then executions. Write-ahead: the step's
    /// changes are committed before any job it started is submitted, so no
    /// atom runs on a result that is not durable.
    fn dispatch(&mut self, exec: &mut dyn Executor) {
        if self.halted.is_some() {
            return;
        }
        if self.suspend.load(Ordering::Relaxed)
            && matches!(self.state, FlowState::Running | FlowState::Reverting)
        {
            self.set_flow(FlowState::Suspending);
        }
        while self.state != FlowState::Suspending && self.in_flight < exec.capacity() {
            if let Some((_, _, atom)) = self.to_revert.pop() {
                if self.ready_to_revert(atom) {
                    self.start_revert(atom, exec);
                }
                continue;
            }
            if let Some((_, _, atom)) = self.to_execute.pop() {
                if self.ready_to_execute(atom) {
                    self.start_execute(atom, exec);
                }
                continue;
            }
            break;
        }
        if !self.commit() {
            self.in_flight -= self.outbox.len();
            self.outbox.clear();
            return;
        }
        for job in self.outbox.drain(..) {
            exec.submit(job);
        }
    }

    fn start_execute(&mut self, atom: usize, exec: &mut dyn Executor) {
        self.atoms[atom].started_ms = Some(now_ms());
        self.set_atom(atom, AtomState::Running);
        self.submit_execute(atom, exec);
    }

    /// Submits `atom`'s execute job (it is RUNNING).
    fn submit_execute(&mut self, atom: usize, exec: &mut dyn Executor) {
        match self.args_for(atom) {
            Ok(args) => {
                let kind = if self.graph.atoms[atom].is_retry() {
                    JobKind::RetryExecute {
                        history: self.atoms[atom].history.clone(),
                    }
                } else {
                    JobKind::Execute
                };
                self.outbox.push(Job { atom, args, kind });
                self.in_flight += 1;
            }
            Err(failure) => self.failed(atom, failure, exec),
        }
    }

    fn start_revert(&mut self, atom: usize, exec: &mut dyn Executor) {
        if self.atoms[atom].intention == Intention::Retry {
            return self.start_retry(atom, exec);
        }
        let args = self
            .args_for(atom)
            .unwrap_or_else(|_| Value::Object(Map::new()));
        let run = &self.atoms[atom];
        let kind = if self.graph.atoms[atom].is_retry() {
            JobKind::RetryRevert {
                history: run.history.clone(),
            }
        } else {
            JobKind::Revert {
                result: (run.state == AtomState::Success)
                    .then(|| run.result.clone())
                    .flatten(),
                failures: self.failures.clone(),
            }
        };
        self.atoms[atom].started_ms = Some(now_ms());
        self.set_atom(atom, AtomState::Reverting);
        self.outbox.push(Job { atom, args, kind });
        self.in_flight += 1;
    }

    /// The scope of retry `atom` is reverted: reset it to PENDING and run
    /// the retry's `execute` again (SUCCESS → RETRYING → RUNNING).
    fn start_retry(&mut self, atom: usize, exec: &mut dyn Executor) {
        self.set_atom(atom, AtomState::Retrying);
        self.set_intention(atom, Intention::Execute);
        let scope = self.descendants(atom);
        for &d in &scope {
            let run = &mut self.atoms[d];
            run.intention = Intention::Execute;
            run.result = None;
            run.failure = None;
            self.mark(d);
            if matches!(self.atoms[d].state, AtomState::Reverted | AtomState::Ignore) {
                self.set_atom(d, AtomState::Pending);
            }
        }
        // Failures of the scope are in the retry's history now.
        let graph = self.graph;
        let reset: std::collections::HashSet<&str> = scope
            .iter()
            .map(|&d| graph.atoms[d].name.as_str())
            .collect();
        self.failures.retain(|f| !reset.contains(f.atom.as_str()));
        self.atoms[atom].started_ms = Some(now_ms());
        self.set_atom(atom, AtomState::Running);
        self.submit_execute(atom, exec);
    }

    /// Every atom after `atom` in the graph.
    fn descendants(&self, atom: usize) -> Vec<usize> {
        let mut seen = vec![false; self.atoms.len()];
        let mut stack = vec![atom];
        let mut out = Vec::new();
        while let Some(a) = stack.pop() {
            for &s in &self.graph.succs[a] {
                if !seen[s] {
                    seen[s] = true;
                    out.push(s);
                    stack.push(s);
                }
            }
        }
        out
    }

    fn complete(&mut self, done: Done, exec: &mut dyn Executor) {
        let Done {
            atom,
            outcome,
            elapsed,
        } = done;
        self.atoms[atom].finished_ms = Some(now_ms());
        match self.atoms[atom].state {
            AtomState::Running => {
                self.atoms[atom].elapsed = Some(elapsed);
                let outcome = outcome.and_then(|value| {
                    let value = value.unwrap_or(Value::Null);
                    check_provides(&self.graph.atoms[atom].provides, &value).map(|()| value)
                });
                match outcome {
                    Ok(value) => self.succeeded(atom, value),
                    Err(failure) => self.failed(atom, failure, exec),
                }
            }
            AtomState::Reverting => match outcome {
                Ok(_) => {
                    self.atoms[atom].result = None;
                    if self.graph.atoms[atom].is_retry() {
                        // A reverted retry starts afresh, as in TaskFlow.
                        self.atoms[atom].history = History::default();
                    }
                    self.set_atom(atom, AtomState::Reverted);
                    let graph = self.graph;
                    for &p in &graph.preds[atom] {
                        self.offer_revert(p);
                    }
                }
                Err(failure) => {
                    // As in TaskFlow, atoms before a failed revert stay as they are.
                    self.atoms[atom].revert_failure = Some(failure);
                    self.set_atom(atom, AtomState::RevertFailure);
                }
            },
            other => {
                tracing::error!(atom = self.name(atom), state = %other, "completion for an idle atom")
            }
        }
    }

    fn succeeded(&mut self, atom: usize, value: Value) {
        if self.graph.atoms[atom].is_retry() {
            let history = &mut self.atoms[atom].history;
            history.attempts.push(Attempt {
                value: value.clone(),
                failures: Vec::new(),
            });
            history.failure = None;
        }
        self.atoms[atom].result = Some(value);
        self.set_atom(atom, AtomState::Success);
        if self.atoms[atom].intention == Intention::Execute {
            let graph = self.graph;
            for &s in &graph.succs[atom] {
                self.offer_execute(s);
            }
        } else {
            // Its scope was sent back while it ran: undo it now.
            self.offer_revert(atom);
        }
    }

    fn failed(&mut self, atom: usize, failure: Failure, exec: &mut dyn Executor) {
        self.failures.push(AtomFailure {
            atom: self.name(atom).to_string(),
            failure: failure.clone(),
        });
        if self.graph.atoms[atom].is_retry() {
            self.atoms[atom].history.failure = Some(failure.clone());
        }
        self.atoms[atom].failure = Some(failure.clone());
        self.set_atom(atom, AtomState::Failure);
        let strategy = self.resolve(atom, atom, &failure, exec);
        self.apply(strategy);
    }

    /// Finds how to resolve `failure` of `origin`, starting with the retry
    /// that controls `atom` (TaskFlow's `_determine_resolution`).
    fn resolve(
        &mut self,
        atom: usize,
        origin: usize,
        failure: &Failure,
        exec: &mut dyn Executor,
    ) -> Strategy {
        let Some(retry) = self.graph.atoms[atom].controller else {
            return Strategy::RevertAll { undefined: true };
        };
        let record = AtomFailure {
            atom: self.name(origin).to_string(),
            failure: failure.clone(),
        };
        let args = self.args_for(retry).unwrap_or(Value::Null);
        let run = &mut self.atoms[retry];
        match run.history.attempts.last_mut() {
            Some(attempt) => attempt.failures.push(record),
            None => run.history.failure = Some(record.failure),
        }
        let decision = exec.decide(retry, &self.atoms[retry].history, &args);
        if let Some(journal) = &mut self.journal {
            journal.decided(retry, origin, decision);
        }
        self.notifier.publish(Event::Decision {
            retry: self.name(retry).to_string(),
            atom: self.name(origin).to_string(),
            decision,
        });
        match decision {
            Decision::Retry => Strategy::RetryScope(retry),
            Decision::RevertAll => Strategy::RevertAll { undefined: false },
            Decision::Revert => {
                let parent = self.resolve(retry, origin, failure, exec);
                if self.defer_reverts {
                    return parent;
                }
                match parent {
                    Strategy::RevertAll { undefined: true } | Strategy::RevertScope(_) => {
                        Strategy::RevertScope(retry)
                    }
                    parent => parent,
                }
            }
        }
    }

    /// Sets intentions as `strategy` says and offers what became ready.
    fn apply(&mut self, strategy: Strategy) {
        tracing::debug!(flow = self.flow, ?strategy, "resolving a failure");
        let tweaked = match strategy {
            Strategy::RetryScope(retry) | Strategy::RevertScope(retry) => {
                let intention = if matches!(strategy, Strategy::RetryScope(_)) {
                    Intention::Retry
                } else {
                    Intention::Revert
                };
                self.set_intention(retry, intention);
                let mut tweaked = self.descendants(retry);
                for &d in &tweaked {
                    self.set_intention(d, Intention::Revert);
                }
                tweaked.push(retry);
                tweaked
            }
            Strategy::RevertAll { .. } => {
                for atom in 0..self.atoms.len() {
                    self.set_intention(atom, Intention::Revert);
                }
                if self.state == FlowState::Running {
                    self.set_flow(FlowState::Reverting);
                }
                (0..self.atoms.len()).collect()
            }
        };
        for atom in tweaked {
            self.offer_revert(atom);
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
                plugin: node.runs(),
                plugin_hash: String::new(),
                state: run.state,
                result: run.result,
                failure: run.failure,
                revert_failure: run.revert_failure,
                elapsed: run.elapsed,
                history: node.is_retry().then_some(run.history),
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
