//! Tenants through the library: fair CPU between tenants at the gate and at
//! the conductor, each tenant's plugin namespace, its limits as a ceiling,
//! its CPU budget per job and cap on calls at once, grants recorded with
//! the atoms, and per-tenant accounting.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use taskbox::{
    Account, AtomDetail, BoardOptions, Conductor, ConductorOptions, CpuGate, Failure, JobBoard,
    JobId, JobState, Lane, Limits, Logbook, NewJob, NoObserver, RedbJobBoard, RedbLogbook, Tenants,
    Terms, Workshop, kinds, token_hash,
};

/// A guest call that burns CPU until its deadline.
fn burn_forever() -> Value {
    json!({"mode": "burn", "count": u64::MAX})
}

#[test]
fn the_cpu_gate_lets_a_tenant_through_while_another_saturates_it() {
    let sandbox = common::sandbox();
    let plugins = common::guests(&sandbox);
    let hostile = plugins.get("hostile").expect("hostile").clone();
    let add = plugins.get("add").expect("add").clone();
    // One token: every guest call of both tenants shares one core.
    let gate = CpuGate::new(1);
    let greedy = Account::new("greedy", gate.clone(), None);
    let modest = Account::new("modest", gate.clone(), None);
    let greedy_terms = Terms {
        lane: Lane::job(greedy.clone(), None, Duration::ZERO),
        ..Terms::new(Limits {
            timeout: Duration::from_secs(1),
            ..Limits::default()
        })
    };
    let any_greedy_ended = Arc::new(AtomicBool::new(false));
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (sandbox, hostile, terms, ended) = (
                sandbox.clone(),
                hostile.clone(),
                greedy_terms.clone(),
                any_greedy_ended.clone(),
            );
            std::thread::spawn(move || {
                let out = sandbox.execute(&hostile, &burn_forever(), &terms, Arc::new(NoObserver));
                ended.store(true, Ordering::SeqCst);
                out
            })
        })
        .collect();
    // The flood holds the token and three of its calls queue for it.
    while gate.waiting() < 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let modest_terms = Terms {
        lane: Lane::job(modest.clone(), None, Duration::ZERO),
        ..Terms::default()
    };
    for i in 0..10 {
        let sum = sandbox.execute(
            &add,
            &json!({"x": i, "y": 1}),
            &modest_terms,
            Arc::new(NoObserver),
        );
        assert_eq!(sum, Ok(json!(i + 1)));
    }
    // Ten calls of the modest tenant went through while every call of the
    // greedy one was still burning: it got turns, not the leftovers.
    assert!(
        !any_greedy_ended.load(Ordering::SeqCst),
        "a greedy call ended before the modest tenant's ten calls did"
    );
    for call in flood {
        let failure = call.join().expect("thread").expect_err("burns forever");
        assert_eq!(failure.kind, kinds::TIMEOUT, "{failure}");
    }
    // CPU time is counted while holding the token: four calls of a 1 s
    // deadline each ran about 1 s of CPU, on one token over about 4 s.
    let greedy_usage = greedy.usage();
    assert_eq!(greedy_usage.calls, 4);
    assert!(greedy_usage.cpu_ms() >= 4 * 1000, "{greedy_usage:?}");
    let modest_usage = modest.usage();
    assert_eq!(modest_usage.calls, 10);
    assert!(modest_usage.memory_peak_bytes > 0, "{modest_usage:?}");
}

/// A daemon's parts in one in-memory database, over a plugin directory of
/// its own: `add`, `multiply` and `hostile` shared (`add` and `hostile`
/// public), and tenant `a`'s own `own_add`.
struct Daemon {
    _plugins: tempfile::TempDir,
    logbook: Arc<RedbLogbook>,
    board: Arc<RedbJobBoard>,
    workshop: Arc<Workshop>,
    conductor: Conductor,
}

const TENANTS: &str = r#"
public_plugins = ["add", "hostile"]

[tenants.a]
token_sha256 = "{a}"
limits = { concurrent_atoms = 2, memory = "16MiB" }
grants = { env = { TENANT = "a" } }
plugin_grants = { hostile = { wall_clock = true } }

[tenants.b]
token_sha256 = "{b}"
limits = { job_cpu = "200ms" }

[tenants.c]
token_sha256 = "{c}"
limits = { concurrent_atoms = 1 }
"#;

fn daemon(slots: usize) -> Daemon {
    daemon_with(slots, 1)
}

/// [`daemon`], giving a job `max_attempts` attempts.
fn daemon_with(slots: usize, max_attempts: u32) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let guests = Path::new(taskbox_tests::GUEST_DIR);
    for name in ["add", "multiply", "hostile"] {
        std::fs::copy(
            guests.join(format!("{name}.wasm")),
            dir.path().join(format!("{name}.wasm")),
        )
        .expect("copy a guest");
    }
    std::fs::create_dir(dir.path().join("a")).expect("mkdir");
    std::fs::copy(guests.join("add.wasm"), dir.path().join("a/own_add.wasm")).expect("copy");
    let text = TENANTS
        .replace("{a}", &token_hash("token-a"))
        .replace("{b}", &token_hash("token-b"))
        .replace("{c}", &token_hash("token-c"));
    let tenants = Arc::new(Tenants::parse(&text).expect("tenants parse"));
    let sandbox = common::sandbox();
    let shared = sandbox
        .load_dir(dir.path(), &Limits::default())
        .expect("plugins load");
    let workshop = Arc::new(
        Workshop::new(sandbox, shared, None, 2)
            .with_tenants(tenants, dir.path(), &Limits::default())
            .expect("tenant plugins load"),
    );
    let logbook = Arc::new(RedbLogbook::in_memory().expect("logbook"));
    let board = Arc::new(
        RedbJobBoard::open(
            logbook.store(),
            BoardOptions {
                max_attempts,
                ..BoardOptions::default()
            },
        )
        .expect("board"),
    );
    let conductor = Conductor::start(
        board.clone(),
        logbook.clone(),
        workshop.clone(),
        ConductorOptions {
            poll: Duration::from_millis(20),
            cpu_tokens: Some(1),
            ..ConductorOptions::concurrent("tenancy", slots)
        },
    )
    .expect("conductor");
    Daemon {
        _plugins: dir,
        logbook,
        board,
        workshop,
        conductor,
    }
}

/// A one-task flow of `plugin` with `inject`ed arguments.
fn one_task(plugin: &str, inject: &Value) -> String {
    format!(
        "flow = \"one\"\npattern = \"linear\"\n[[children]]\ntask = \"t\"\nplugin = \"{plugin}\"\ninject = {}\nprovides = \"out\"\n",
        toml_inline(inject)
    )
}

/// `value` (a JSON object of scalars) as a TOML inline table.
fn toml_inline(value: &Value) -> String {
    let fields: Vec<String> = value
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

impl Daemon {
    fn post(&self, tenant: &str, spec: &str, limits: Value) -> JobId {
        self.post_payload(
            tenant,
            json!({ "flow": { "spec": spec }, "limits": limits }),
        )
    }

    fn post_payload(&self, tenant: &str, payload: Value) -> JobId {
        let payload = payload.to_string();
        let checked = self
            .workshop
            .check(tenant, &payload)
            .expect("payload passes");
        let stored = checked.payload.to_json().expect("encodes");
        self.board
            .post(NewJob::new(checked.name(), &stored).by(tenant))
            .expect("posts")
            .id
    }

    fn state(&self, id: JobId) -> JobState {
        self.board.job(id).expect("job").state
    }

    /// Waits for job `id` to complete or be trashed; its flow's one atom.
    fn finished(&self, id: JobId) -> AtomDetail {
        let start = Instant::now();
        while !matches!(self.state(id), JobState::Complete | JobState::Trashed) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "job {id} never ended"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let job = self.board.job(id).expect("job");
        let flow = job.flow.or(job.past_flows.last().copied()).expect("a flow");
        self.logbook.atoms(flow).expect("atoms").remove(0)
    }
}

fn failure_of(atom: &AtomDetail) -> &Failure {
    atom.failure.as_ref().expect("the atom failed")
}

#[test]
fn a_tenants_flood_does_not_hold_back_another_tenants_job() {
    let d = daemon(4);
    // Tenant a floods: twenty jobs each burning 300 ms of CPU; it may run
    // two calls at once, and there is one CPU token for everyone.
    let flood: Vec<JobId> = (0..20)
        .map(|_| {
            d.post(
                "a",
                &one_task("hostile", &burn_forever()),
                json!({"timeout": "300ms"}),
            )
        })
        .collect();
    let start = Instant::now();
    while d.conductor.status().running.len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the flood never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let modest = d.post("b", &one_task("add", &json!({"x": 2, "y": 3})), json!({}));
    let atom = d.finished(modest);
    assert_eq!(atom.result, Some(json!(5)));
    let flood_done = flood
        .iter()
        .filter(|id| matches!(d.state(**id), JobState::Complete | JobState::Trashed))
        .count();
    // First come, first served would have run all twenty (6 s of CPU)
    // before b's job; letting a fill every slot, four. It took a free slot
    // and its turn at the CPU.
    assert!(flood_done <= 2, "{flood_done} of a's jobs ended before b's");
    let first = d.finished(flood[0]);
    assert_eq!(failure_of(&first).kind, kinds::TIMEOUT);
}

#[test]
fn tenants_run_their_own_and_the_public_plugins_only() {
    let d = daemon(1);
    let own = one_task("own_add", &json!({"x": 1, "y": 1}));
    assert!(
        d.workshop
            .check("a", &json!({"flow": {"spec": own}}).to_string())
            .is_ok()
    );
    let refused = |tenant: &str, spec: &str| {
        d.workshop
            .check(tenant, &json!({"flow": {"spec": spec}}).to_string())
            .expect_err("refused")
            .to_string()
    };
    // Another tenant's plugin reads as missing; so does a shared one that
    // is not public.
    assert!(
        refused("b", &own).contains("own_add"),
        "{}",
        refused("b", &own)
    );
    let multiply = one_task("multiply", &json!({"x": 2, "y": 3}));
    for tenant in ["a", "b"] {
        assert!(refused(tenant, &multiply).contains("multiply"));
    }
    assert!(refused("nobody", &own).contains("no tenant 'nobody'"));
    let sum = d.post("a", &own, json!({}));
    assert_eq!(d.finished(sum).result, Some(json!(2)));
}

#[test]
fn a_tenants_limits_cap_its_jobs_and_its_grants_are_recorded_with_the_atoms() {
    let d = daemon(2);
    // The job asks for 1 GiB; tenant a may have 16 MiB.
    let grow = d.post(
        "a",
        &one_task("hostile", &json!({"mode": "grow"})),
        json!({"memory": "1GiB"}),
    );
    let failure = failure_of(&d.finished(grow)).clone();
    assert_eq!(failure.kind, kinds::MEMORY, "{failure}");
    assert!(
        failure.message.contains(&(16u64 << 20).to_string()),
        "{failure}"
    );
    // The grants: the tenant's environment, and the wall clock for hostile.
    let env = d.post(
        "a",
        &one_task("hostile", &json!({"mode": "env"})),
        json!({}),
    );
    let atom = d.finished(env);
    assert_eq!(
        atom.result,
        Some(json!({"vars": [["TENANT", "a"]], "args": []}))
    );
    // Recorded by name: the value is the operator's to give, not to show.
    assert_eq!(
        atom.grants.env.get("TENANT").map(String::as_str),
        Some(taskbox::REDACTED)
    );
    assert!(atom.grants.wall_clock && !atom.grants.random);
    let clock = d.post(
        "a",
        &one_task("hostile", &json!({"mode": "clock"})),
        json!({}),
    );
    let seconds = d
        .finished(clock)
        .result
        .and_then(|v| v.as_i64())
        .expect("seconds");
    assert!(seconds > 1_700_000_000, "{seconds}");
    // Tenant b has no grants: a frozen clock.
    let frozen = d.post(
        "b",
        &one_task("hostile", &json!({"mode": "clock"})),
        json!({}),
    );
    let atom = d.finished(frozen);
    assert_eq!(atom.result, Some(json!(0)));
    assert!(atom.grants.is_empty());
}

#[test]
fn a_jobs_cpu_budget_spans_its_attempts_and_the_tenants_usage_counts_it() {
    let d = daemon_with(2, 2);
    // Tenant b's jobs may use 200 ms of CPU, whatever each call may.
    let id = d.post(
        "b",
        &one_task("hostile", &burn_forever()),
        json!({"timeout": "10s"}),
    );
    let failure = failure_of(&d.finished(id)).clone();
    assert_eq!(failure.kind, kinds::JOB_CPU, "{failure}");
    assert!(failure.message.contains("200ms"), "{failure}");
    // Two attempts, and the second started with the budget spent: a
    // fresh budget would have burnt 200 ms more.
    let job = d.board.job(id).expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Trashed, 2));
    assert!((200..390).contains(&job.usage.cpu_ms()), "{:?}", job.usage);
    // The tenant's usage is the board's, kept with the jobs.
    let usage = d.board.usage_by_tenant().expect("usage");
    let b = usage.get("b").expect("b's usage");
    assert_eq!(*b, job.usage);
    assert!(b.calls >= 2 && b.memory_peak_bytes > 0, "{b:?}");
    assert!(!usage.contains_key("a"), "{usage:?}");
}

#[test]
fn the_hostile_corpus_as_one_tenant_leaves_another_tenants_jobs_untouched() {
    let d = daemon(4);
    let corpus = [
        (json!({"mode": "loop"}), kinds::TIMEOUT),
        (json!({"mode": "grow"}), kinds::MEMORY),
        (json!({"mode": "recurse"}), kinds::TRAP),
        (json!({"mode": "trap"}), kinds::TRAP),
        (json!({"mode": "big-result"}), kinds::RESULT_SIZE),
        (json!({"mode": "bad-json"}), kinds::INVALID_RESULT),
        (json!({"mode": "bad-utf8"}), kinds::INVALID_RESULT),
        (
            json!({"mode": "open-file", "path": "/etc/passwd"}),
            "io.denied",
        ),
        (
            json!({"mode": "socket", "addr": "127.0.0.1:9"}),
            "io.denied",
        ),
    ];
    let mut hostile = Vec::new();
    let mut modest = Vec::new();
    for (i, (args, kind)) in corpus.iter().enumerate() {
        let id = d.post("a", &one_task("hostile", args), json!({"timeout": "300ms"}));
        hostile.push((id, *kind));
        let x = i64::try_from(i).expect("small");
        modest.push((
            d.post("b", &one_task("add", &json!({"x": x, "y": 100})), json!({})),
            x + 100,
        ));
    }
    // A revert that panics: the second task fails, the first one's revert traps.
    let revert_trap = "flow = \"undo\"\npattern = \"linear\"\n\
        [[children]]\ntask = \"first\"\nplugin = \"hostile\"\ninject = { mode = \"revert-trap\" }\n\
        [[children]]\ntask = \"second\"\nplugin = \"hostile\"\ninject = { mode = \"fail\" }\n";
    let undo = d.post("a", revert_trap, json!({}));
    for (id, kind) in hostile {
        let atom = d.finished(id);
        assert_eq!(failure_of(&atom).kind, kind, "job {id}: {:?}", atom.failure);
        assert_eq!(d.state(id), JobState::Trashed);
    }
    d.finished(undo);
    let job = d.board.job(undo).expect("job");
    let flow = job.flow.or(job.past_flows.last().copied()).expect("flow");
    let first = &d.logbook.atoms(flow).expect("atoms")[0];
    let revert = first.revert_failure.as_ref().expect("the revert failed");
    assert_eq!(revert.kind, kinds::TRAP, "{revert}");
    for (id, sum) in modest {
        assert_eq!(d.finished(id).result, Some(json!(sum)), "b's job {id}");
        assert_eq!(d.state(id), JobState::Complete);
    }
}

#[test]
fn a_tenant_runs_at_most_its_concurrent_atoms_at_once() {
    let d = daemon(2);
    // Two 200 ms naps side by side on two workers: 200 ms for anyone
    // else, but tenant c may run one call at a time.
    let spec = "flow = \"naps\"\npattern = \"unordered\"\n\
        [[children]]\ntask = \"one\"\nplugin = \"hostile\"\ninject = { mode = \"sleep\", ms = 200 }\nprovides = \"o1\"\n\
        [[children]]\ntask = \"two\"\nplugin = \"hostile\"\ninject = { mode = \"sleep\", ms = 200 }\nprovides = \"o2\"\n";
    let naps = |tenant: &str| {
        let started = Instant::now();
        let id = d.post_payload(
            tenant,
            json!({"flow": {"spec": spec}, "engine": {"mode": "parallel", "workers": 2}}),
        );
        d.finished(id);
        assert_eq!(d.state(id), JobState::Complete);
        started.elapsed()
    };
    let one_at_a_time = naps("c");
    assert!(
        one_at_a_time >= Duration::from_millis(400),
        "{one_at_a_time:?}"
    );
    // Tenant a may run two: the naps overlap.
    let side_by_side = naps("a");
    assert!(
        side_by_side < one_at_a_time,
        "{side_by_side:?} vs {one_at_a_time:?}"
    );
}
