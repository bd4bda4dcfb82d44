//! Jobs through a conductor: a daemon on a redb file (logbook and job board
//! in one database), jobs posted straight to its board or through its HTTP
//! API, and the check that every job ran once and computed the right sum.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use taskbox::{
    BoardEvent, BoardOptions, Conductor, ConductorOptions, JobBoard, JobId, JobState, NewJob,
    RedbJobBoard, RedbLogbook, Workshop,
};
use taskbox_server::Daemon;

/// The payloads of a batch of jobs, each a chain of `tasks` adds.
pub struct JobSet {
    /// One JSON payload per job, as `POST /jobs` takes it.
    pub payloads: Vec<String>,
    /// `add` tasks in each job's chain.
    pub tasks: usize,
}

impl JobSet {
    /// `jobs` jobs, job `i` a chain of `tasks` adds counting up from the
    /// store's `start = i`, so that its last task computes `i + tasks`.
    pub fn chains(jobs: usize, tasks: usize) -> JobSet {
        JobSet {
            payloads: (0..jobs).map(|i| chain_payload(i, tasks)).collect(),
            tasks,
        }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }
}

/// The payload of job `i`: a linear chain of `tasks` adds as an inline TOML
/// spec, counting up from the store's `start = i`.
fn chain_payload(i: usize, tasks: usize) -> String {
    let mut spec = format!("flow = \"chain-{tasks}\"\npattern = \"linear\"\n");
    for t in 0..tasks {
        let x = match t {
            0 => "start".to_string(),
            _ => format!("s{}", t - 1),
        };
        let _ = write!(
            spec,
            "\n[[children]]\ntask = \"t{t}\"\nplugin = \"add\"\nrebind = {{ x = \"{x}\" }}\ninject = {{ y = 1 }}\nprovides = \"s{t}\"\n"
        );
    }
    json!({ "flow": { "spec": spec }, "store": { "start": i } }).to_string()
}

/// What one run of a batch of jobs measured.
pub struct JobFigures {
    /// From the first post to the last job leaving the board.
    pub wall: Duration,
    /// Mean time from a job's post to its removal from the board.
    pub latency: Duration,
}

/// A daemon on a fresh redb file at `db` (any file there is deleted
/// first): the logbook, the board in the logbook's database, `workshop`,
/// and a concurrent conductor of `slots` already watching the board.
pub fn daemon(workshop: &Arc<Workshop>, slots: usize, db: &Path) -> anyhow::Result<Arc<Daemon>> {
    super::remove_stale(db)?;
    let logbook = Arc::new(RedbLogbook::open(db)?);
    let board: Arc<dyn JobBoard> = Arc::new(RedbJobBoard::open(
        logbook.store(),
        BoardOptions::default(),
    )?);
    let conductor = Conductor::start(
        board.clone(),
        logbook.clone(),
        workshop.clone(),
        ConductorOptions::concurrent("bench", slots),
    )?;
    Ok(Arc::new(Daemon {
        board,
        logbook,
        workshop: workshop.clone(),
        conductor,
        started: Instant::now(),
    }))
}

/// The jobs posted straight to the board, each checked first as the daemon
/// does, through a conductor of `slots` on a fresh redb file at `db`.
pub fn board_row(
    workshop: &Arc<Workshop>,
    jobs: &JobSet,
    slots: usize,
    db: &Path,
) -> anyhow::Result<JobFigures> {
    let daemon = daemon(workshop, slots, db)?;
    run_jobs(&daemon, jobs, |payload| {
        let checked = daemon.workshop.check("", payload)?;
        let job = daemon
            .board
            .post(NewJob::new(checked.name(), &checked.payload.to_json()?))?;
        Ok(job.id)
    })
}

/// The jobs posted through the daemon's HTTP API, served in this process,
/// to a conductor of `slots` on a fresh redb file at `db`.
pub fn http_row(
    workshop: &Arc<Workshop>,
    jobs: &JobSet,
    slots: usize,
    db: &Path,
) -> anyhow::Result<JobFigures> {
    let daemon = daemon(workshop, slots, db)?;
    let (runtime, url) = serve(daemon.clone())?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{url}/jobs");
    let figures = run_jobs(&daemon, jobs, |payload| {
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(payload)?;
        let text = response.body_mut().read_to_string()?;
        if response.status() != 201 {
            anyhow::bail!("POST /jobs answered {}: {text}", response.status());
        }
        let job: Value = serde_json::from_str(&text)?;
        job["id"]
            .as_u64()
            .map(JobId)
            .ok_or_else(|| anyhow::anyhow!("POST /jobs answered no job id: {text}"))
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    figures
}

/// Serves the daemon's API on 127.0.0.1 from a 2-worker tokio runtime, as
/// `taskbox serve` does; the runtime and the base URL.
fn serve(daemon: Arc<Daemon>) -> anyhow::Result<(tokio::runtime::Runtime, String)> {
    let (runtime, address) = taskbox_server::serve_on_loopback(daemon)?;
    Ok((runtime, format!("http://{address}")))
}

/// Posts every payload with `post` from this thread while the daemon's
/// conductor runs, waits for every job to leave the board, shuts the
/// conductor down and verifies the run before returning its figures.
fn run_jobs(
    daemon: &Daemon,
    jobs: &JobSet,
    mut post: impl FnMut(&str) -> anyhow::Result<JobId>,
) -> anyhow::Result<JobFigures> {
    let events = daemon.board.subscribe();
    let (posted, removed) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| removals(events, jobs.len()));
        let posted: anyhow::Result<Vec<(JobId, Instant)>> = jobs
            .payloads
            .iter()
            .map(|payload| {
                let at = Instant::now();
                post(payload).map(|id| (id, at))
            })
            .collect();
        let removed = waiter
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the waiter panicked")));
        (posted, removed)
    });
    daemon.conductor.shutdown(Duration::from_secs(5));
    let (posted, removed) = (posted?, removed?);
    verify(daemon, &posted, jobs.tasks);
    let first = posted.first().map(|(_, at)| *at);
    let last = removed.values().max().copied();
    let (Some(first), Some(last)) = (first, last) else {
        anyhow::bail!("no jobs were run");
    };
    let waited: Duration = posted.iter().map(|(id, at)| removed[id] - *at).sum();
    Ok(JobFigures {
        wall: last - first,
        latency: waited / posted.len() as u32,
    })
}

/// When each of `jobs` jobs left the board, by `events`; gives up once
/// none has left for a minute.
fn removals(events: Receiver<BoardEvent>, jobs: usize) -> anyhow::Result<HashMap<JobId, Instant>> {
    let mut removed = HashMap::with_capacity(jobs);
    while removed.len() < jobs {
        match events.recv_timeout(Duration::from_secs(60)) {
            Ok(BoardEvent::Removal(id)) => {
                removed.insert(id, Instant::now());
            }
            Ok(BoardEvent::Posted(_)) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => anyhow::bail!(
                "only {} of {jobs} jobs left the board; none for a minute",
                removed.len()
            ),
        }
    }
    Ok(removed)
}

/// Panics unless every posted job is complete after one attempt and its
/// flow's last task holds its chain's sum (`start + tasks`): a broken run
/// prints no figures.
fn verify(daemon: &Daemon, posted: &[(JobId, Instant)], tasks: usize) {
    let jobs = daemon.board.jobs(None).expect("the board lists its jobs");
    let broken: Vec<String> = jobs
        .iter()
        .filter(|job| job.state != JobState::Complete || job.attempts != 0)
        .map(|job| {
            format!(
                "job {} {} after {} attempts: {}",
                job.id,
                job.state,
                job.attempts,
                job.trash_reason
                    .as_deref()
                    .or(job.last_failure.as_deref())
                    .unwrap_or("-")
            )
        })
        .collect();
    assert!(
        broken.is_empty() && jobs.len() == posted.len(),
        "conductor bench: {} jobs on the board for {} posted; {} not complete, first: {:?}",
        jobs.len(),
        posted.len(),
        broken.len(),
        broken.first()
    );
    for (start, (id, _)) in posted.iter().enumerate() {
        let flow = daemon.board.job(*id).expect("job").flow;
        let flow = flow.unwrap_or_else(|| panic!("conductor bench: job {id} has no flow"));
        let atoms = daemon.logbook.atoms(flow).expect("the flow's atoms");
        let sum = atoms.last().and_then(|atom| atom.result.clone());
        assert_eq!(
            sum,
            Some(json!(start + tasks)),
            "conductor bench: job {id} computed the wrong sum"
        );
    }
    let consumed = daemon.conductor.status().consumed;
    assert_eq!(
        consumed,
        posted.len() as u64,
        "conductor bench: the conductor consumed {consumed} jobs for {} posted",
        posted.len()
    );
}
