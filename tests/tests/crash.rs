//! The SIGKILL crash harness.
//!
//! A child process (`crash-child`, `tests/src/bin/crash_child.rs`) runs a
//! recorded flow and freezes inside an event subscriber at its K-th event:
//! at a transition or a retry's decision, published before its scheduler
//! step is committed, or inside a guest's call at one of its log lines. The
//! harness SIGKILLs it there, and then:
//!
//! 1. opens the database, which must succeed, and checks the committed
//!    history is one TaskFlow allows (see [`check_history`]);
//! 2. every third kill, resumes the flow in another child and kills that one
//!    too, a few steps in (a double crash), and checks again;
//! 3. resumes the flow in this process and checks that its outcome (flow
//!    state, every atom's state, result, failures and retry history, every
//!    published value) equals an uninterrupted run's, that no atom the
//!    logbook held as SUCCESS executed again, and that the database reopens
//!    with a valid history whose records match the outcome.
//!
//! Every event of every scenario is a kill point: serial and parallel
//! engines, executing, reverting (a saga whose last step fails) and retrying
//! (`for_each` controllers that fail over, succeed, or run out). Each kill is
//! classified by what the frozen transition was doing, and the test requires
//! kills in every phase on both engines, so a scenario that stops reverting or
//! retrying fails the test instead of silently losing coverage.

mod common;

use common::durable::{
    Scenario, Setup, assert_none_rerun, essence, reference, resume, scenarios, setup, succeeded,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use taskbox::{
    AtomState, Decision, Flow, FlowId, FlowState, LogAtomKind, Logbook, Mode, Outcome, RedbLogbook,
    Retry, Task, TransitionKind,
};

/// How long a child may take to freeze or finish before the test fails: a
/// child that never answers is a hang to report, not to wait on.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// At least this many SIGKILLs in all.
const MIN_KILLS: usize = 100;

/// At least this many kills in each phase on each engine.
const MIN_PER_PHASE: usize = 5;

/// At least this many double crashes where the killed resumed run had
/// committed something of its own.
const MIN_DOUBLE_CRASHES: usize = 10;

/// How a child run stopped.
enum Stop {
    /// It froze at its K-th event (given as JSON) and was SIGKILLed.
    Killed { id: FlowId, event: Value },
    /// It finished before its K-th event.
    Done { id: FlowId },
}

/// Runs `crash-child` on `db` (`what`: `start` or `resume:ID`) and, when it
/// reports it froze at event `pause`, SIGKILLs it.
fn run_child(db: &Path, spec: &str, pause: usize, what: &str) -> Stop {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
        .arg(db)
        .arg(cache)
        .args([spec, &pause.to_string(), what])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn crash-child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(CHILD_TIMEOUT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("crash-child {what} at event {pause} said nothing for {CHILD_TIMEOUT:?}");
        }
    };
    let mut words = line.trim_end().splitn(3, ' ');
    let (word, id) = (words.next(), words.next().map(str::parse::<FlowId>));
    match (word, id) {
        (Some("PAUSED"), Some(Ok(id))) => {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            let event = serde_json::from_str(words.next().unwrap_or("null")).expect("event JSON");
            Stop::Killed { id, event }
        }
        (Some("DONE"), Some(Ok(id))) => {
            let status = child.wait().expect("reap");
            assert!(status.success(), "crash-child said {line:?} but {status}");
            Stop::Done { id }
        }
        _ => {
            let status = child.wait().expect("reap");
            panic!("crash-child {what} at event {pause} failed ({status}); it said {line:?}")
        }
    }
}

/// Opens the logbook; the test fails when it does not open.
fn open(db: &Path, context: &str) -> RedbLogbook {
    RedbLogbook::open(db).unwrap_or_else(|e| panic!("{context}: the database does not open: {e}"))
}

/// What the state an atom was committed in becomes when a run resumes it:
/// RUNNING and RETRYING run again, REVERTING goes back to what it reverts.
fn restored(committed: AtomState) -> &'static [AtomState] {
    match committed {
        AtomState::Running | AtomState::Retrying => &[AtomState::Pending],
        AtomState::Reverting => &[AtomState::Success, AtomState::Failure],
        _ => &[],
    }
}

/// Checks the committed history of flow `id`, across every process that
/// ran it: each atom's and the flow's transitions chain (a transition starts
/// where the last committed one ended, or where a resume restores that to),
/// each is one TaskFlow allows, the records hold where the history ends, and
/// no atom committed as SUCCESS went to RUNNING again without first going
/// through REVERTING or RETRYING: a SUCCESS atom never executed twice,
/// whichever process ran it. Returns how many transitions there are.
fn check_history(book: &dyn Logbook, id: FlowId, context: &str) -> usize {
    let atoms = book.atoms(id).expect("atom records");
    let flow = book.flow(id).expect("flow record");
    let history = book.transitions(id).expect("transitions");
    let mut state = vec![AtomState::Pending; atoms.len()];
    let mut done = vec![false; atoms.len()];
    let mut flow_state = FlowState::Pending;
    for (n, transition) in history.iter().enumerate() {
        match transition.kind {
            TransitionKind::Atom { atom, from, to } => {
                let i = usize::try_from(atom).expect("index");
                let name = &atoms[i].name;
                let last = state[i];
                assert!(
                    from == last || restored(last).contains(&from),
                    "{context}: transition {n}: {name} {from} -> {to}, but it was committed {last}"
                );
                let legal = if atoms[i].kind == LogAtomKind::Retry {
                    from.retry_can_become(to)
                } else {
                    from.task_can_become(to)
                };
                assert!(legal, "{context}: transition {n}: {name} {from} -> {to}");
                match to {
                    AtomState::Running => assert!(
                        !done[i],
                        "{context}: transition {n}: {name} was committed SUCCESS and executed again"
                    ),
                    AtomState::Success => done[i] = true,
                    AtomState::Reverting | AtomState::Retrying => done[i] = false,
                    _ => {}
                }
                state[i] = to;
            }
            TransitionKind::Flow { from, to } => {
                assert!(
                    from == flow_state && from.can_become(to),
                    "{context}: transition {n}: flow {from} -> {to}, but it was committed {flow_state}"
                );
                flow_state = to;
            }
            TransitionKind::Decision { .. } => {}
        }
    }
    for (record, last) in atoms.iter().zip(&state) {
        assert_eq!(
            record.state, *last,
            "{context}: {}'s record disagrees with its history",
            record.name
        );
    }
    assert_eq!(
        flow.state, flow_state,
        "{context}: the flow record disagrees with its history"
    );
    history.len()
}

/// Checks the logbook holds what a finished run reported.
fn check_records(book: &dyn Logbook, id: FlowId, outcome: &Outcome, context: &str) {
    let flow = book.flow(id).expect("flow record");
    assert_eq!(flow.state, outcome.state, "{context}: flow record");
    let records: BTreeMap<String, AtomState> = book
        .atoms(id)
        .expect("atom records")
        .into_iter()
        .map(|a| (a.name, a.state))
        .collect();
    for atom in &outcome.atoms {
        assert_eq!(
            records.get(&atom.name),
            Some(&atom.state),
            "{context}: record of {}",
            atom.name
        );
    }
}

/// What a kill interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Running the flow forward.
    Execute,
    /// Undoing: an atom or the flow reverting or reverted.
    Revert,
    /// A retry deciding or preparing another attempt, or any later attempt.
    Retry,
}

const PHASES: [Phase; 3] = [Phase::Execute, Phase::Revert, Phase::Retry];

/// Classifies a kill by its frozen event (a transition, a retry's decision,
/// or a guest's log line or progress report from inside its call) and what
/// was committed before it.
fn phase(event: &Value, book: &dyn Logbook, id: FlowId) -> Phase {
    let to = event["to"].as_str().unwrap_or_default();
    if event["event"] == "decision" || to == "RETRYING" {
        return Phase::Retry;
    }
    if matches!(to, "REVERTING" | "REVERTED" | "REVERT_FAILURE") {
        return Phase::Revert;
    }
    // A guest's log line or progress report: its atom was committed
    // REVERTING before its revert call started (write-ahead).
    if let Some(atom) = event["atom"].as_str().filter(|_| to.is_empty()) {
        let records = book.atoms(id).expect("atom records");
        if records
            .iter()
            .any(|a| a.name == atom && a.state == AtomState::Reverting)
        {
            return Phase::Revert;
        }
    }
    let retried = book.transitions(id).expect("transitions").iter().any(|t| {
        matches!(
            t.kind,
            TransitionKind::Decision {
                decision: Decision::Retry,
                ..
            }
        )
    });
    if retried {
        Phase::Retry
    } else {
        Phase::Execute
    }
}

/// A flow whose scope, retried over `divisors` by a `for_each` controller,
/// adds 3 to 40 + 2 and divides the sum by the divisor; a zero fails the
/// attempt, which reverts the scope (the add included) and tries the next.
/// `inputs` is computed by an unordered flow, for the parallel engine.
fn divisors(divisors: &[i64]) -> Flow {
    let values = divisors.iter().map(|&d| json!(d)).collect();
    let inputs = Flow::unordered("inputs")
        .task(
            Task::new("n", "add")
                .inject("x", json!(40))
                .inject("y", json!(2))
                .provides("n"),
        )
        .task(
            Task::new("k", "add")
                .inject("x", json!(1))
                .inject("y", json!(2))
                .provides("k"),
        );
    let attempt = Flow::linear("attempt")
        .retry(Retry::for_each("divisors", values).provides("d"))
        .task(
            Task::new("sum", "add")
                .rebind("x", "n")
                .rebind("y", "k")
                .provides("m"),
        )
        .task(
            Task::new("share", "divide")
                .rebind("numerator", "m")
                .rebind("denominator", "d")
                .provides("share"),
        );
    Flow::linear("division").flow(inputs).flow(attempt).task(
        Task::new("double", "multiply")
            .rebind("x", "share")
            .inject("y", json!(2))
            .provides("answer"),
    )
}

/// Ten atoms: a graph (a diamond of sums, a quotient and products, ordered
/// by what each requires) then an unordered fan-out of its result.
fn graph_mix() -> Flow {
    let add = |name: &str, x: &str, y: &str| {
        Task::new(name, "add")
            .rebind("x", x)
            .rebind("y", y)
            .provides(name)
    };
    let diamond = Flow::graph("diamond")
        .task(
            Task::new("a", "add")
                .inject("x", json!(1))
                .inject("y", json!(2))
                .provides("a"),
        )
        .task(
            Task::new("b", "add")
                .inject("x", json!(3))
                .inject("y", json!(4))
                .provides("b"),
        )
        .task(
            Task::new("q", "divide")
                .inject("numerator", json!(84))
                .inject("denominator", json!(2))
                .provides("q"),
        )
        .task(
            Task::new("ab", "multiply")
                .rebind("x", "a")
                .rebind("y", "b")
                .provides("ab"),
        )
        .task(add("aq", "a", "q"))
        .task(add("top", "ab", "aq"));
    let fan = (0..4).fold(Flow::unordered("fan"), |fan, i| {
        fan.task(
            Task::new(format!("f{i}"), "multiply")
                .rebind("x", "top")
                .inject("y", json!(i))
                .provides(format!("f{i}")),
        )
    });
    Flow::linear("mix").flow(diamond).flow(fan)
}

/// The shared durability scenarios (a chain, the saga reverting on both
/// engines, failover retries, a wide parallel flow) and three more: a
/// parallel graph, retries that succeed on the third divisor, and retries
/// that run out on the parallel engine and revert the flow.
fn all_scenarios() -> Vec<Scenario> {
    let parallel = Mode::Parallel { workers: 2 };
    let mut all = scenarios();
    all.extend([
        Scenario {
            name: "graph and fan-out, parallel",
            flow: graph_mix(),
            store: json!({}),
            mode: parallel,
        },
        Scenario {
            name: "divisors retried",
            flow: divisors(&[0, 0, 5]),
            store: json!({}),
            mode: Mode::Serial,
        },
        Scenario {
            name: "divisors run out, parallel",
            flow: divisors(&[0, 0]),
            store: json!({}),
            mode: parallel,
        },
    ]);
    all
}

/// Kills and checks counted over the whole test.
#[derive(Default)]
struct Tally {
    kills: usize,
    /// Double crashes whose second child committed something first.
    doubles: usize,
    /// First kills by engine (`serial`/`parallel`) and phase.
    phases: BTreeMap<(&'static str, Phase), usize>,
}

/// Checks that running `scenario` to the end in a child and resuming the
/// finished flow changes nothing: the last commit is as durable as the rest.
fn resume_finished(setup: &Setup, scenario: &Scenario, spec: &str, reference: &Value) {
    let context = format!("{}: resumed after it finished", scenario.name);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("book.redb");
    let Stop::Done { id } = run_child(&db, spec, 0, "start") else {
        panic!("{context}: a child that never pauses was killed");
    };
    let book = open(&db, &context);
    let committed = check_history(&book, id, &context);
    let (outcome, recorder) = resume(setup, Arc::new(book), id);
    assert_eq!(essence(&outcome), *reference, "{context}");
    assert_eq!(recorder.transitions(), Vec::<String>::new(), "{context}");
    let book = open(&db, &context);
    assert_eq!(check_history(&book, id, &context), committed, "{context}");
    check_records(&book, id, &outcome, &context);
}

/// Kills `scenario` at its event `pause` (and, every third pause, its
/// resumed run too), resumes it here and checks the result.
fn crash_and_resume(
    setup: &Setup,
    scenario: &Scenario,
    spec: &str,
    reference: &Value,
    pause: usize,
    tally: &mut Tally,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("book.redb");
    let (id, event) = match run_child(&db, spec, pause, "start") {
        Stop::Killed { id, event } => (id, event),
        // A parallel run may publish fewer events than the reference.
        Stop::Done { .. } => return,
    };
    tally.kills += 1;
    let mut context = format!("{}: killed at event {pause} ({event})", scenario.name);
    let book = open(&db, &context);
    let committed = check_history(&book, id, &context);
    let engine = match scenario.mode {
        Mode::Serial => "serial",
        Mode::Parallel { .. } => "parallel",
    };
    *tally
        .phases
        .entry((engine, phase(&event, &book, id)))
        .or_default() += 1;
    drop(book);

    if pause.is_multiple_of(3) {
        // The resumed run commits a step per event or so from its fourth
        // event on (the first three are RESUMING, the phase, and the first
        // start, committed together).
        let again = 4 + pause % 5;
        if let Stop::Killed { event, .. } = run_child(&db, spec, again, &format!("resume:{id}")) {
            tally.kills += 1;
            context = format!("{context}, and its resumed run at event {again} ({event})");
            let book = open(&db, &context);
            if check_history(&book, id, &context) > committed {
                tally.doubles += 1;
            }
        }
    }

    let book = open(&db, &context);
    let done = succeeded(&book, id);
    let (outcome, recorder) = resume(setup, Arc::new(book), id);
    assert_eq!(essence(&outcome), *reference, "{context}");
    assert_none_rerun(&done, &recorder, &context);
    let book = open(&db, &format!("{context}, reopened after the resumed run"));
    check_history(&book, id, &context);
    check_records(&book, id, &outcome, &context);
}

#[test]
fn sigkill_at_every_transition_then_resume_matches_an_uninterrupted_run() {
    let setup = setup();
    let started = Instant::now();
    let mut tally = Tally::default();
    for scenario in all_scenarios() {
        let clock = Instant::now();
        let (reference, events) = reference(&setup, &scenario);
        let spec = json!({"flow": scenario.flow, "store": scenario.store, "mode": scenario.mode})
            .to_string();
        resume_finished(&setup, &scenario, &spec, &reference);
        let before = tally.kills;
        for pause in 1..=events {
            crash_and_resume(&setup, &scenario, &spec, &reference, pause, &mut tally);
        }
        eprintln!(
            "{}: {} SIGKILLs over {events} events in {:.1?}",
            scenario.name,
            tally.kills - before,
            clock.elapsed()
        );
    }
    eprintln!(
        "{} SIGKILLs ({} double crashes past a commit) in {:.1?}; first kills by phase: {:?}",
        tally.kills,
        tally.doubles,
        started.elapsed(),
        tally.phases
    );
    assert!(tally.kills >= MIN_KILLS, "only {} kill points", tally.kills);
    assert!(
        tally.doubles >= MIN_DOUBLE_CRASHES,
        "only {} double crashes past a commit",
        tally.doubles
    );
    for engine in ["serial", "parallel"] {
        for phase in PHASES {
            let kills = tally.phases.get(&(engine, phase)).copied().unwrap_or(0);
            assert!(
                kills >= MIN_PER_PHASE,
                "only {kills} kills while {phase:?} on the {engine} engine"
            );
        }
    }
}
