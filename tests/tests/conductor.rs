//! Conductors through the library: consume on success, abandon on failure,
//! trash at the attempt limit, take over a lapsed lease and resume the flow
//! from the logbook, shut down gracefully, and carry a thousand jobs
//! through a concurrent conductor with none lost or run twice. Also the
//! payload checks, each naming the field at fault.

mod common;

use common::durable::{setup, suspend_after};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{
    AtomState, BoardEvent, BoardOptions, Conductor, ConductorOptions, Engine, FlowId, FlowState,
    JobBoard, JobId, JobState, Logbook, ManualClock, NewJob, RedbJobBoard, RedbLogbook,
    TransitionKind, Workshop,
};

/// A two-step sum: `answer = a + b + 1`.
const SUM: &str = r#"
flow = "sum"
pattern = "linear"

[[children]]
task = "first"
plugin = "add"
rebind = { x = "a", y = "b" }
provides = "partial"

[[children]]
task = "second"
plugin = "add"
rebind = { x = "partial" }
inject = { y = 1 }
provides = "answer"
"#;

/// One task that always fails.
const FAILING: &str = r#"
flow = "failing"
pattern = "linear"

[[children]]
task = "doomed"
plugin = "hostile"
inject = { mode = "fail" }
"#;

/// Four tasks of `ms` each, in a line.
fn sleepy(ms: u64) -> String {
    let mut spec = String::from("flow = \"sleepy\"\npattern = \"linear\"\n");
    for i in 0..4 {
        spec.push_str(&format!(
            "\n[[children]]\ntask = \"nap{i}\"\nplugin = \"hostile\"\ninject = {{ mode = \"sleep\", ms = {ms}, value = {i} }}\nprovides = \"n{i}\"\n"
        ));
    }
    spec
}

fn payload(spec: &str, store: Value) -> String {
    json!({ "flow": { "spec": spec }, "store": store }).to_string()
}

/// A board and logbook in one in-memory database, and a workshop over the
/// test guests.
struct World {
    logbook: Arc<RedbLogbook>,
    board: Arc<RedbJobBoard>,
    workshop: Arc<Workshop>,
}

fn world(options: BoardOptions) -> World {
    let setup = setup();
    let logbook = Arc::new(RedbLogbook::in_memory().expect("logbook"));
    let board = Arc::new(RedbJobBoard::open(logbook.store(), options).expect("board"));
    let workshop = Arc::new(Workshop::new(setup.sandbox, setup.plugins, None, 2));
    World {
        logbook,
        board,
        workshop,
    }
}

impl World {
    fn conductor(&self, options: ConductorOptions) -> Conductor {
        Conductor::start(
            self.board.clone(),
            self.logbook.clone(),
            self.workshop.clone(),
            options,
        )
        .expect("conductor starts")
    }

    fn post(&self, spec: &str, store: Value) -> JobId {
        let checked = self
            .workshop
            .check("", &payload(spec, store))
            .expect("payload passes");
        let stored = checked.payload.to_json().expect("payload encodes");
        self.board
            .post(NewJob::new(checked.name(), &stored))
            .expect("posts")
            .id
    }

    fn flow_of(&self, id: JobId) -> FlowId {
        self.board
            .job(id)
            .expect("job")
            .flow
            .expect("a linked flow")
    }
}

fn quick(name: &str, slots: usize) -> ConductorOptions {
    ConductorOptions {
        poll: Duration::from_millis(20),
        ..ConductorOptions::concurrent(name, slots)
    }
}

/// Polls `done` until it holds or `limit` passes.
fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every atom of the flow reached SUCCESS exactly once and never ran again
/// after it, by the flow's persisted transitions.
fn assert_each_succeeded_once(logbook: &dyn Logbook, flow: FlowId) {
    let atoms = logbook.atoms(flow).expect("atoms");
    let transitions = logbook.transitions(flow).expect("transitions");
    for atom in &atoms {
        let mut successes = 0;
        for step in &transitions {
            if let TransitionKind::Atom {
                atom: index, to, ..
            } = step.kind
            {
                if index != atom.index {
                    continue;
                }
                match to {
                    AtomState::Success => successes += 1,
                    AtomState::Running => assert_eq!(
                        successes, 0,
                        "flow {flow}: {} ran again after it succeeded",
                        atom.name
                    ),
                    _ => {}
                }
            }
        }
        assert_eq!(
            successes, 1,
            "flow {flow}: {} succeeded {successes} times",
            atom.name
        );
    }
}

#[test]
fn consumes_on_success_abandons_on_failure_and_trashes_at_the_limit() {
    let world = world(BoardOptions::default());
    let events = world.board.subscribe();
    let good = world.post(SUM, json!({"a": 2, "b": 3}));
    let bad = world.post(FAILING, json!({}));
    let conductor = world.conductor(quick("solo", 1));
    eventually(
        "both jobs to leave the board",
        Duration::from_secs(60),
        || world.board.job_count().expect("count") == 0,
    );
    conductor.shutdown(Duration::from_secs(5));

    let job = world.board.job(good).expect("good job");
    assert_eq!(job.state, JobState::Complete);
    assert_eq!((job.attempts, job.past_flows.len()), (0, 0));
    let flow = world.flow_of(good);
    assert_eq!(
        world.logbook.flow(flow).expect("flow").state,
        FlowState::Success
    );
    let answer = world.logbook.atoms(flow).expect("atoms")[1].result.clone();
    assert_eq!(answer, Some(json!(6)));

    let job = world.board.job(bad).expect("bad job");
    assert_eq!(job.state, JobState::Trashed);
    assert_eq!(job.attempts, 3);
    // Every attempt ran afresh in its own flow.
    assert_eq!(job.past_flows.len(), 3);
    assert_eq!(job.flow, None);
    let reason = job.trash_reason.expect("a reason");
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(reason.contains("doomed: test.failed"), "{reason}");
    for flow in &job.past_flows {
        assert_eq!(
            world.logbook.flow(*flow).expect("flow").state,
            FlowState::Reverted
        );
    }

    let status = conductor.status();
    assert_eq!(
        (
            status.consumed,
            status.abandoned,
            status.trashed,
            status.released
        ),
        (1, 2, 1, 0)
    );
    let heard: Vec<BoardEvent> = events.try_iter().collect();
    assert_eq!(
        heard,
        vec![
            BoardEvent::Posted(good),
            BoardEvent::Posted(bad),
            BoardEvent::Removal(good),
            BoardEvent::Posted(bad),
            BoardEvent::Posted(bad),
            BoardEvent::Removal(bad),
        ]
    );
}

#[test]
fn a_lapsed_lease_is_taken_over_and_the_flow_resumes_from_the_logbook() {
    let clock = ManualClock::at(1_000_000);
    let world = world(BoardOptions {
        max_attempts: 3,
        clock: Arc::new(clock.clone()),
    });
    let id = world.post(&sleepy(1), json!({}));

    // A conductor claims the job, records and links its flow, gets two
    // atoms done and dies without a word.
    let lease = Duration::from_secs(10);
    let job = world.board.claim(id, "ghost", lease).expect("claims");
    let checked = world.workshop.check("", &job.payload).expect("checks");
    let engine: Engine = world
        .workshop
        .engine(&checked, taskbox::Lane::default())
        .expect("builds")
        .record(world.logbook.clone(), "jobs", Default::default())
        .expect("records");
    let flow = engine.flow_id().expect("recorded");
    world.board.link_flow(id, "ghost", flow).expect("links");
    suspend_after(&engine, "nap1");
    assert_eq!(engine.run().expect("runs").state, FlowState::Suspended);
    drop(engine);

    // Another conductor leaves it alone while the lease runs...
    let heir = world.conductor(quick("heir", 1));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        world.board.find_owner(id).expect("owner").as_deref(),
        Some("ghost")
    );
    // ...and takes it over once it has run out.
    clock.advance(11_000);
    eventually(
        "the heir to finish the job",
        Duration::from_secs(60),
        || world.board.job(id).expect("job").state == JobState::Complete,
    );
    heir.shutdown(Duration::from_secs(5));

    let job = world.board.job(id).expect("job");
    assert_eq!(job.flow, Some(flow), "the same flow was resumed");
    assert!(job.past_flows.is_empty());
    assert_eq!(job.attempts, 1);
    let failure = job.last_failure.expect("the lapse is recorded");
    assert!(failure.contains("lease of ghost ran out"), "{failure}");
    assert_eq!(
        world.logbook.flow(flow).expect("flow").state,
        FlowState::Success
    );
    assert_each_succeeded_once(world.logbook.as_ref(), flow);
}

#[test]
fn shutdown_suspends_running_jobs_and_hands_them_back() {
    let world = world(BoardOptions::default());
    let id = world.post(&sleepy(150), json!({}));
    let first = world.conductor(quick("first", 1));
    eventually("the first nap to finish", Duration::from_secs(60), || {
        world.board.job(id).expect("job").flow.is_some_and(|flow| {
            world.logbook.atoms(flow).expect("atoms")[0].state == AtomState::Success
        })
    });
    first.shutdown(Duration::ZERO);
    let job = world.board.job(id).expect("job");
    assert_eq!(job.state, JobState::Unclaimed);
    assert_eq!(job.attempts, 0, "a hand-back is not an attempt");
    let flow = job.flow.expect("the flow stays linked");
    assert_eq!(
        world.logbook.flow(flow).expect("flow").state,
        FlowState::Suspended
    );
    assert_eq!(first.status().released, 1);

    let second = world.conductor(quick("second", 1));
    eventually(
        "the second conductor to finish it",
        Duration::from_secs(60),
        || world.board.job(id).expect("job").state == JobState::Complete,
    );
    second.shutdown(Duration::from_secs(5));
    assert_eq!(world.board.job(id).expect("job").flow, Some(flow));
    assert_each_succeeded_once(world.logbook.as_ref(), flow);
}

#[test]
fn a_thousand_jobs_through_a_concurrent_conductor_none_lost_or_run_twice() {
    const JOBS: u64 = 1000;
    let world = world(BoardOptions::default());
    let events = world.board.subscribe();
    let conductor = world.conductor(quick("many", 4));
    let ids: Vec<JobId> = (0..JOBS)
        .map(|i| world.post(SUM, json!({"a": i, "b": 1000})))
        .collect();
    eventually("every job to be consumed", Duration::from_secs(300), || {
        world.board.job_count().expect("count") == 0
    });
    conductor.shutdown(Duration::from_secs(5));

    let complete = world.board.jobs(Some(JobState::Complete)).expect("jobs");
    assert_eq!(complete.len(), ids.len());
    let mut flows = BTreeSet::new();
    for (i, id) in (0..JOBS).zip(&ids) {
        let job = world.board.job(*id).expect("job");
        assert_eq!(job.state, JobState::Complete, "job {id}");
        assert_eq!((job.attempts, job.past_flows.len()), (0, 0), "job {id}");
        let flow = job.flow.expect("flow");
        assert!(flows.insert(flow), "job {id} shares flow {flow}");
        let atoms = world.logbook.atoms(flow).expect("atoms");
        assert_eq!(
            atoms[1].result,
            Some(json!(i + 1001)),
            "job {id} got another job's store"
        );
    }
    assert_eq!(
        world.logbook.flows().expect("flows").len(),
        ids.len(),
        "a job ran twice"
    );
    let removed: Vec<JobId> = events
        .try_iter()
        .filter_map(|event| match event {
            BoardEvent::Removal(id) => Some(id),
            BoardEvent::Posted(_) => None,
        })
        .collect();
    assert_eq!(removed.len(), ids.len());
    assert_eq!(removed.iter().collect::<BTreeSet<_>>().len(), ids.len());
    assert_eq!(conductor.status().consumed, JOBS);
}

#[test]
fn payloads_are_refused_naming_the_field() {
    let world = world(BoardOptions::default());
    let add_hash = world
        .workshop
        .plugins()
        .get("add")
        .expect("add")
        .hash()
        .to_string();
    let spec = SUM;
    let cases = [
        (
            json!({"flow": {"spec": spec}, "colour": 1}),
            "colour",
            "unknown field",
        ),
        (json!({"store": {}}), "flow", "missing"),
        (
            json!({"flow": {"spec": spec, "file": "x"}}),
            "flow",
            "not both",
        ),
        (json!({"flow": {"spec": "flow = ["}}), "flow.spec", ""),
        (
            json!({"flow": {"spec": spec, "format": "yaml"}}),
            "flow.format",
            "yaml",
        ),
        (
            json!({"flow": {"file": "sum.toml"}}),
            "flow.file",
            "--flows",
        ),
        (
            json!({"flow": {"spec": spec}, "engine": {"mode": "sideways"}}),
            "engine.mode",
            "sideways",
        ),
        (
            json!({"flow": {"spec": spec}, "engine": {"mode": "parallel", "workers": 0}}),
            "engine.workers",
            "between 1 and 2",
        ),
        (
            json!({"flow": {"spec": spec}, "limits": {"memory": "lots"}}),
            "limits.memory",
            "",
        ),
        (
            json!({"flow": {"spec": spec}, "plugins": [{"name": "nope"}]}),
            "plugins[0].name",
            "no plugin 'nope'",
        ),
        (
            json!({"flow": {"spec": spec}, "plugins": [{"name": "add", "hash": "abc"}]}),
            "plugins[0].hash",
            "pinned to abc",
        ),
        (
            json!({"flow": {"spec": spec}, "plugins": [{"name": "multiply"}]}),
            "plugins",
            "does not name",
        ),
        (
            json!({"flow": {"spec": FAILING.replace("hostile", "ghost")}}),
            "flow",
            "plugin 'ghost'",
        ),
        (
            json!({"flow": {"spec": spec}, "store": {"a": 1}}),
            "flow",
            "b",
        ),
    ];
    for (payload, field, needle) in cases {
        let error = world
            .workshop
            .check("", &payload.to_string())
            .expect_err(&format!("{payload} must be refused"));
        assert_eq!(error.field, field, "{payload}: {error}");
        assert!(error.to_string().contains(needle), "{payload}: {error}");
    }
    let pinned = json!({"flow": {"spec": spec}, "store": {"a": 1, "b": 2}, "plugins": [{"name": "add", "hash": add_hash}]});
    assert!(world.workshop.check("", &pinned.to_string()).is_ok());
}
