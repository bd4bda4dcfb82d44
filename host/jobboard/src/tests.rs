//! Unit tests of the jobboard: the verbs of [`JobBoard`] on a
//! [`RedbJobBoard`] over an in-memory redb database (or a file, where
//! reopening matters), with a [`ManualClock`] so that leases run out by
//! moving the clock rather than by sleeping.

use crate::{
    BoardError, BoardEvent, BoardOptions, Job, JobBoard, JobId, JobState, LeaseClock, ManualClock,
    NewJob, RedbJobBoard,
};
use std::error::Error;
use std::sync::Arc;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};
use taskbox_logbook::{FlowId, GroupCommit};

type TestResult = Result<(), Box<dyn Error>>;

/// Where every test clock starts (ms since the epoch).
const START_MS: u64 = 1_000_000;
/// The lease conductors take in these tests.
const LEASE: Duration = Duration::from_secs(10);
/// [`LEASE`] in the clock's unit.
const LEASE_MS: u64 = 10_000;
/// The attempt limit of boards that do not test it.
const MAX_ATTEMPTS: u32 = 3;

/// A board and the clock its leases are measured by.
struct Fixture {
    board: RedbJobBoard,
    clock: ManualClock,
}

impl Fixture {
    /// The board's current time.
    fn now(&self) -> u64 {
        self.clock.now_ms()
    }
}

fn options(max_attempts: u32, clock: &ManualClock) -> BoardOptions {
    BoardOptions {
        max_attempts,
        clock: Arc::new(clock.clone()),
    }
}

/// A board over a fresh in-memory database, giving up after `max_attempts`.
fn board_with(max_attempts: u32) -> Result<Fixture, Box<dyn Error>> {
    let db =
        redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
    let clock = ManualClock::at(START_MS);
    let board = RedbJobBoard::open(
        Arc::new(GroupCommit::start(db)?),
        options(max_attempts, &clock),
    )?;
    Ok(Fixture { board, clock })
}

/// A board with the usual attempt limit.
fn board() -> Result<Fixture, Box<dyn Error>> {
    board_with(MAX_ATTEMPTS)
}

/// A board over the redb file at `path` (created if missing).
fn file_board(path: &std::path::Path, clock: &ManualClock) -> Result<RedbJobBoard, Box<dyn Error>> {
    let db = redb::Database::create(path)?;
    Ok(RedbJobBoard::open(
        Arc::new(GroupCommit::start(db)?),
        options(MAX_ATTEMPTS, clock),
    )?)
}

fn ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|job| job.id).collect()
}

/// Asserts that `result` (of `what`) is a [`BoardError::NotOwner`] naming
/// `owner` (`None`: nobody holds the job), in the variant and in its
/// message.
#[track_caller]
fn assert_not_owner<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, BoardError>,
    owner: Option<&str>,
) {
    let err = result.expect_err(what);
    assert!(
        matches!(&err, BoardError::NotOwner { owner: found, .. } if found.as_deref() == owner),
        "{what}: expected NotOwner naming {owner:?}, got {err:?}"
    );
    let named = match owner {
        Some(owner) => format!("claimed by {owner}"),
        None => "not claimed by anyone".to_string(),
    };
    assert!(
        err.to_string().contains(&named),
        "{what}: message '{err}' should say '{named}'"
    );
}

#[test]
fn post_gives_increasing_ids_and_iterjobs_keeps_posting_order() -> TestResult {
    let f = board()?;
    assert_eq!(f.board.job_count()?, 0);
    let posted: Vec<Job> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|name| {
            f.board
                .post(NewJob::new(name, &format!("{{\"job\":\"{name}\"}}")))
        })
        .collect::<Result<_, _>>()?;
    let posted_ids = ids(&posted);
    assert!(
        posted_ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids should grow: {posted_ids:?}"
    );
    assert_eq!(posted[1].name, "b");
    assert_eq!(posted[1].payload, "{\"job\":\"b\"}");
    assert_eq!(posted[1].state, JobState::Unclaimed);
    assert_eq!(posted[1].posted_ms, START_MS);
    assert_eq!(ids(&f.board.iterjobs(false)?), posted_ids);
    assert_eq!(f.board.job_count()?, 4);

    // One stays claimed, one is consumed, one is trashed.
    let [a, b, c, d] = [posted_ids[0], posted_ids[1], posted_ids[2], posted_ids[3]];
    f.board.claim(b, "A", LEASE)?;
    f.board.claim(c, "A", LEASE)?;
    f.board.consume(c, "A")?;
    f.board.trash(d, "operator", "not wanted")?;

    assert_eq!(f.board.job_count()?, 2, "unclaimed and claimed only");
    assert_eq!(ids(&f.board.iterjobs(false)?), vec![a, b]);
    assert_eq!(ids(&f.board.iterjobs(true)?), vec![a]);
    assert_eq!(ids(&f.board.jobs(None)?), posted_ids);
    Ok(())
}

#[test]
fn a_claimed_job_is_unclaimable_by_another() -> TestResult {
    let f = board()?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;

    let job = f.board.claim(id, "A", LEASE)?;
    assert_eq!(job.state, JobState::Claimed);
    let claim = job.claim.expect("a claimed job has a claim");
    assert_eq!(claim.owner, "A");
    assert_eq!(claim.since_ms, START_MS);
    assert_eq!(claim.expires_ms, START_MS + LEASE_MS);

    let err = f
        .board
        .claim(id, "B", LEASE)
        .expect_err("B claimed A's job");
    assert!(
        matches!(&err, BoardError::Unclaimable { job, owner } if *job == id && owner == "A"),
        "expected Unclaimable by A, got {err:?}"
    );
    assert!(err.to_string().contains("claimed by A"), "message: {err}");
    assert_eq!(f.board.find_owner(id)?.as_deref(), Some("A"));
    assert!(f.board.iterjobs(true)?.is_empty());
    Ok(())
}

#[test]
fn only_the_owner_may_use_owner_verbs_and_consume_completes() -> TestResult {
    let f = board()?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;
    f.board.claim(id, "A", LEASE)?;

    let refusals = [
        ("consume", f.board.consume(id, "B")),
        ("abandon", f.board.abandon(id, "B", "meddling")),
        ("heartbeat", f.board.heartbeat(id, "B", LEASE)),
        ("release", f.board.release(id, "B")),
        ("link_flow", f.board.link_flow(id, "B", FlowId(9))),
    ];
    for (verb, result) in refusals {
        assert_not_owner(verb, result, Some("A"));
    }
    let untouched = f.board.job(id)?;
    assert_eq!(untouched.owner_at(f.now()), Some("A"));
    assert_eq!((untouched.attempts, untouched.flow), (0, None));

    let done = f.board.consume(id, "A")?;
    assert_eq!(done.state, JobState::Complete);
    assert_eq!(done.claim, None);
    assert_eq!(f.board.job(id)?, done);
    assert!(f.board.iterjobs(false)?.is_empty());
    assert_eq!(f.board.job_count()?, 0);
    assert_eq!(ids(&f.board.jobs(Some(JobState::Complete))?), vec![id]);

    assert_not_owner("consume again", f.board.consume(id, "A"), None);
    assert_eq!(f.board.job(id)?.state, JobState::Complete);
    Ok(())
}

#[test]
fn abandon_counts_an_attempt_and_retires_the_flow() -> TestResult {
    let f = board()?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;
    f.board.claim(id, "A", LEASE)?;
    assert_eq!(f.board.link_flow(id, "A", FlowId(7))?.flow, Some(FlowId(7)));

    let job = f.board.abandon(id, "A", "disk full")?;
    assert_eq!(job.state, JobState::Unclaimed);
    assert_eq!(job.claim, None);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.last_failure.as_deref(), Some("disk full"));
    assert_eq!(job.flow, None);
    assert_eq!(job.past_flows, vec![FlowId(7)]);
    assert_eq!(f.board.job(id)?, job, "the abandon is stored");
    assert_eq!(ids(&f.board.iterjobs(true)?), vec![id]);

    let job = f.board.claim(id, "B", LEASE)?;
    assert_eq!(job.owner_at(f.now()), Some("B"));
    assert_eq!(job.attempts, 1, "a claim counts no attempt");
    Ok(())
}

#[test]
fn release_keeps_the_flow_and_counts_no_attempt() -> TestResult {
    let f = board()?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;
    f.board.claim(id, "A", LEASE)?;
    f.board.link_flow(id, "A", FlowId(7))?;

    let job = f.board.release(id, "A")?;
    assert_eq!(job.state, JobState::Unclaimed);
    assert_eq!(job.claim, None);
    assert_eq!(job.attempts, 0);
    assert_eq!(job.last_failure, None);
    assert_eq!(job.flow, Some(FlowId(7)));
    assert!(job.past_flows.is_empty());

    let job = f.board.claim(id, "B", LEASE)?;
    assert_eq!(job.flow, Some(FlowId(7)), "B resumes A's flow");
    assert_eq!(job.attempts, 0);
    Ok(())
}

#[test]
fn the_attempt_limit_trashes_and_restore_resets() -> TestResult {
    let f = board_with(2)?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;

    f.board.claim(id, "A", LEASE)?;
    let job = f.board.abandon(id, "A", "first failure")?;
    assert_eq!((job.state, job.attempts), (JobState::Unclaimed, 1));

    f.board.claim(id, "A", LEASE)?;
    let job = f.board.abandon(id, "A", "second failure")?;
    assert_eq!((job.state, job.attempts), (JobState::Trashed, 2));
    let reason = job.trash_reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("second failure"),
        "trash reason: {reason:?}"
    );
    assert_eq!(ids(&f.board.jobs(Some(JobState::Trashed))?), vec![id]);
    assert!(f.board.iterjobs(false)?.is_empty());

    let job = f.board.restore(id, None)?;
    assert_eq!((job.state, job.attempts), (JobState::Unclaimed, 0));
    assert_eq!(job.trash_reason, None);
    assert_eq!(ids(&f.board.iterjobs(true)?), vec![id]);
    assert!(f.board.jobs(Some(JobState::Trashed))?.is_empty());

    let err = f
        .board
        .restore(id, None)
        .expect_err("restored a job not in the trash");
    assert!(
        matches!(
            err,
            BoardError::WrongState { job, verb: "restore", state: JobState::Unclaimed } if job == id
        ),
        "expected WrongState, got {err:?}"
    );
    Ok(())
}

#[test]
fn trash_respects_owners_and_complete_jobs() -> TestResult {
    let f = board()?;
    let unclaimed = f.board.post(NewJob::new("unclaimed", "{}"))?.id;
    let claimed = f.board.post(NewJob::new("claimed", "{}"))?.id;
    let complete = f.board.post(NewJob::new("complete", "{}"))?.id;

    let job = f.board.trash(unclaimed, "operator", "bad payload")?;
    assert_eq!(job.state, JobState::Trashed);
    assert_eq!(job.trash_reason.as_deref(), Some("bad payload"));
    assert_eq!(
        ids(&f.board.jobs(Some(JobState::Trashed))?),
        vec![unclaimed]
    );
    assert!(!ids(&f.board.iterjobs(false)?).contains(&unclaimed));

    f.board.claim(claimed, "A", LEASE)?;
    assert_not_owner(
        "operator trash",
        f.board.trash(claimed, "operator", "mine now"),
        Some("A"),
    );
    assert_eq!(f.board.find_owner(claimed)?.as_deref(), Some("A"));
    assert_eq!(
        f.board.trash(claimed, "A", "giving up")?.state,
        JobState::Trashed
    );

    f.board.claim(complete, "A", LEASE)?;
    f.board.consume(complete, "A")?;
    let err = f
        .board
        .trash(complete, "operator", "too late")
        .expect_err("trashed a complete job");
    assert!(
        matches!(
            err,
            BoardError::WrongState { job, verb: "trash", state: JobState::Complete } if job == complete
        ),
        "expected WrongState, got {err:?}"
    );
    assert_eq!(f.board.job(complete)?.state, JobState::Complete);
    assert_eq!(
        ids(&f.board.jobs(Some(JobState::Trashed))?),
        vec![unclaimed, claimed]
    );
    Ok(())
}

#[test]
fn a_lease_runs_out_unless_renewed() -> TestResult {
    let f = board()?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;
    f.board.claim(id, "A", LEASE)?;

    f.clock.advance(5_000);
    let job = f.board.heartbeat(id, "A", LEASE)?;
    let renewed_until = job.claim.map(|claim| claim.expires_ms);
    assert_eq!(renewed_until, Some(f.now() + LEASE_MS));

    f.clock.advance(6_000);
    assert_eq!(
        f.board.find_owner(id)?.as_deref(),
        Some("A"),
        "past the first lease, the renewed one still runs"
    );

    f.clock.advance(5_000);
    assert_eq!(f.board.job(id)?.owner_at(f.now()), None);
    assert_eq!(f.board.find_owner(id)?, None);
    assert_eq!(ids(&f.board.iterjobs(true)?), vec![id]);

    let job = f.board.claim(id, "B", LEASE)?;
    assert_eq!(job.owner_at(f.now()), Some("B"));
    assert_eq!(job.attempts, 1, "the lapse counts an attempt");
    let failure = job.last_failure.as_deref().unwrap_or_default();
    assert!(failure.contains(" A "), "last failure: {failure:?}");

    assert_not_owner("late consume", f.board.consume(id, "A"), Some("B"));
    Ok(())
}

#[test]
fn a_lease_lapsing_at_the_attempt_limit_trashes_the_job() -> TestResult {
    let f = board_with(1)?;
    let id = f.board.post(NewJob::new("job", "{}"))?.id;
    f.board.claim(id, "A", LEASE)?;
    f.clock.advance(LEASE_MS + 1);

    let err = f
        .board
        .claim(id, "B", LEASE)
        .expect_err("claimed a job past its limit");
    assert!(
        matches!(&err, BoardError::Trashed { job, attempts: 1, reason } if *job == id && reason.contains(" A ")),
        "expected Trashed, got {err:?}"
    );
    let job = f.board.job(id)?;
    assert_eq!(job.state, JobState::Trashed);
    assert_eq!(job.claim, None);
    assert_eq!(ids(&f.board.jobs(Some(JobState::Trashed))?), vec![id]);
    assert!(f.board.iterjobs(false)?.is_empty());
    Ok(())
}

#[test]
fn reopening_ends_orphaned_claims() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("board.redb");
    let clock = ManualClock::at(START_MS);

    let board = file_board(&path, &clock)?;
    let id = board.post(NewJob::new("job", "{}"))?.id;
    board.claim(id, "A", Duration::from_secs(3600))?;
    assert!(board.iterjobs(true)?.is_empty());
    // The board holds the only handle on the database: both close here.
    drop(board);

    let board = file_board(&path, &clock)?;
    assert_eq!(board.find_owner(id)?, None);
    assert_eq!(ids(&board.iterjobs(true)?), vec![id], "claimable at once");

    let job = board.claim(id, "B", LEASE)?;
    assert_eq!(job.owner_at(clock.now_ms()), Some("B"));
    assert_eq!(job.attempts, 1);
    Ok(())
}

#[test]
fn subscribers_hear_posts_and_removals_in_order() -> TestResult {
    let f = board()?;
    let events = f.board.subscribe();
    let next = || events.try_recv();

    let first = f.board.post(NewJob::new("first", "{}"))?.id;
    assert_eq!(next(), Ok(BoardEvent::Posted(first)));
    f.board.claim(first, "A", LEASE)?;
    assert_eq!(next(), Err(TryRecvError::Empty), "a claim is no event");
    f.board.abandon(first, "A", "flaky")?;
    assert_eq!(next(), Ok(BoardEvent::Posted(first)));
    f.board.claim(first, "A", LEASE)?;
    f.board.consume(first, "A")?;
    assert_eq!(next(), Ok(BoardEvent::Removal(first)));

    let second = f.board.post(NewJob::new("second", "{}"))?.id;
    assert_eq!(next(), Ok(BoardEvent::Posted(second)));
    f.board.trash(second, "operator", "not wanted")?;
    assert_eq!(next(), Ok(BoardEvent::Removal(second)));
    f.board.restore(second, None)?;
    assert_eq!(next(), Ok(BoardEvent::Posted(second)));
    assert_eq!(next(), Err(TryRecvError::Empty));
    Ok(())
}

#[test]
fn wait_times_out_on_an_empty_board_and_wakes_on_a_post() -> TestResult {
    let f = board()?;
    let timeout = Duration::from_millis(50);
    let started = Instant::now();
    assert!(!f.board.wait(timeout)?);
    assert!(started.elapsed() >= timeout, "returned before the timeout");

    let timeout = Duration::from_millis(200);
    let (woke, waited) = std::thread::scope(|scope| {
        let poster = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            f.board.post(NewJob::new("job", "{}"))
        });
        let started = Instant::now();
        let woke = f.board.wait(timeout);
        let waited = started.elapsed();
        let posted = poster.join().expect("the posting thread panicked");
        posted.and(woke).map(|woke| (woke, waited))
    })?;
    assert!(woke, "wait missed the post");
    assert!(waited < timeout, "wait took {waited:?}, the whole timeout");
    assert!(f.board.wait(Duration::ZERO)?, "a job is claimable now");
    Ok(())
}

#[test]
fn unknown_jobs_are_reported() -> TestResult {
    let f = board()?;
    f.board.post(NewJob::new("job", "{}"))?;
    let missing = JobId(42);

    let results = [
        ("job", f.board.job(missing)),
        ("claim", f.board.claim(missing, "A", LEASE)),
        ("restore", f.board.restore(missing, None)),
    ];
    for (verb, result) in results {
        let err = result.expect_err(verb);
        assert!(
            matches!(err, BoardError::UnknownJob(id) if id == missing),
            "{verb}: expected UnknownJob, got {err:?}"
        );
        assert_eq!(err.to_string(), "no job 42 on the board");
    }
    Ok(())
}

#[test]
fn claimable_gives_the_oldest_claimable_jobs_up_to_the_limit() -> TestResult {
    let f = board()?;
    let posted: Vec<JobId> = (0..5)
        .map(|i| {
            f.board
                .post(NewJob::new(&format!("job{i}"), "{}"))
                .map(|job| job.id)
        })
        .collect::<Result<_, _>>()?;
    f.board.claim(posted[0], "A", LEASE)?;
    f.board.claim(posted[2], "A", LEASE)?;
    assert_eq!(ids(&f.board.claimable(2)?), vec![posted[1], posted[3]]);
    assert_eq!(
        ids(&f.board.claimable(10)?),
        vec![posted[1], posted[3], posted[4]]
    );
    assert!(f.board.claimable(0)?.is_empty());
    f.clock.advance(LEASE_MS + 1);
    assert_eq!(ids(&f.board.claimable(2)?), vec![posted[0], posted[1]]);
    Ok(())
}

#[test]
fn counts_give_every_state() -> TestResult {
    let f = board()?;
    let ids: Vec<JobId> = (0..5)
        .map(|i| {
            f.board
                .post(NewJob::new(&format!("job{i}"), "{}"))
                .map(|job| job.id)
        })
        .collect::<Result<_, _>>()?;
    f.board.claim(ids[0], "A", LEASE)?;
    f.board.claim(ids[1], "A", LEASE)?;
    f.board.consume(ids[1], "A")?;
    f.board.trash(ids[2], "operator", "no")?;
    assert_eq!(
        f.board.counts()?,
        vec![
            (JobState::Unclaimed, 2),
            (JobState::Claimed, 1),
            (JobState::Complete, 1),
            (JobState::Trashed, 1),
        ]
    );
    Ok(())
}

/// `tenant`'s counts as [`JobBoard::counts_of`] gives them, and as
/// counted from the jobs themselves: the two must agree.
#[track_caller]
fn tenant_counts(board: &RedbJobBoard, tenant: &str) -> Vec<(JobState, usize)> {
    let kept = board.counts_of(tenant).expect("counts_of");
    let jobs = board.jobs(None).expect("jobs");
    let counted: Vec<(JobState, usize)> = JobState::ALL
        .into_iter()
        .map(|state| {
            let n = jobs
                .iter()
                .filter(|job| job.tenant == tenant && job.state == state)
                .count();
            (state, n)
        })
        .collect();
    assert_eq!(kept, counted, "{tenant}: kept counts differ from the jobs");
    kept
}

/// Counts in the order of [`JobState::ALL`].
fn counts(
    unclaimed: usize,
    claimed: usize,
    complete: usize,
    trashed: usize,
) -> Vec<(JobState, usize)> {
    JobState::ALL
        .into_iter()
        .zip([unclaimed, claimed, complete, trashed])
        .collect()
}

#[test]
fn jobs_keep_their_tenant_and_are_counted_per_tenant() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("board.redb");
    let clock = ManualClock::at(START_MS);
    let board = file_board(&path, &clock)?;

    let a1 = board.post(NewJob::new("a1", "{}").by("acme"))?;
    assert_eq!(a1.tenant, "acme");
    let a2 = board.post(NewJob::new("a2", "{}").by("acme"))?.id;
    let a3 = board.post(NewJob::new("a3", "{}").by("acme"))?.id;
    let g1 = board.post(NewJob::new("g1", "{}").by("globex"))?.id;
    let open = board.post(NewJob::new("open", "{}"))?.id;
    assert_eq!(board.job(a1.id)?.tenant, "acme");
    assert_eq!(board.job(g1)?.tenant, "globex");
    assert_eq!(board.job(open)?.tenant, "");

    // Every way a job changes state moves its tenant's counts.
    board.claim(a1.id, "A", LEASE)?;
    board.consume(a1.id, "A")?;
    board.claim(a2, "A", LEASE)?;
    board.abandon(a2, "A", "flaky")?;
    board.claim(a2, "A", LEASE)?;
    board.trash(a3, "operator", "no")?;
    board.restore(a3, None)?;
    board.trash(a3, "operator", "no again")?;
    board.claim(g1, "G", LEASE)?;
    assert_eq!(tenant_counts(&board, "acme"), counts(0, 1, 1, 1));
    assert_eq!(tenant_counts(&board, "globex"), counts(0, 1, 0, 0));
    assert_eq!(tenant_counts(&board, ""), counts(1, 0, 0, 0));
    assert_eq!(tenant_counts(&board, "nobody"), counts(0, 0, 0, 0));

    // A lapsed lease taken over at the attempt limit goes to the trash.
    for attempt in 2..MAX_ATTEMPTS {
        clock.advance(LEASE_MS + 1);
        let job = board.claim(a2, "B", LEASE)?;
        assert_eq!(job.attempts, attempt, "attempt {attempt}");
    }
    clock.advance(LEASE_MS + 1);
    let err = board.claim(a2, "B", LEASE).expect_err("at the limit");
    assert!(matches!(err, BoardError::Trashed { .. }), "{err:?}");
    assert_eq!(tenant_counts(&board, "acme"), counts(0, 0, 1, 2));
    drop(board);

    // Tenants and counts survive a reopen (and its orphaned claims ending).
    let board = file_board(&path, &clock)?;
    assert_eq!(board.job(g1)?.tenant, "globex");
    assert_eq!(
        board
            .jobs(None)?
            .iter()
            .map(|j| j.tenant.as_str())
            .collect::<Vec<_>>(),
        ["acme", "acme", "acme", "globex", ""]
    );
    assert_eq!(tenant_counts(&board, "acme"), counts(0, 0, 1, 2));
    assert_eq!(tenant_counts(&board, "globex"), counts(0, 1, 0, 0));
    let all = board.counts_by_tenant()?;
    assert_eq!(
        all.keys().map(String::as_str).collect::<Vec<_>>(),
        ["", "acme", "globex"]
    );
    assert_eq!(all["globex"], counts(0, 1, 0, 0));
    assert_eq!(all[""], counts(1, 0, 0, 0));
    assert_eq!(
        board.counts()?,
        counts(1, 1, 1, 2),
        "the sum of the tenants'"
    );
    Ok(())
}

#[test]
fn a_tenant_at_its_quota_is_refused_until_a_job_leaves_the_board() -> TestResult {
    let f = board()?;
    let acme = |name| NewJob::new(name, "{}").by("acme").within(Some(2));
    let first = f.board.post(acme("first"))?.id;
    let second = f.board.post(acme("second"))?.id;

    let err = f.board.post(acme("third")).expect_err("over the quota");
    assert!(
        matches!(&err, BoardError::Quota { tenant, active: 2, limit: 2 } if tenant == "acme"),
        "expected Quota, got {err:?}"
    );
    let message = err.to_string();
    for needle in ["acme", "2 jobs queued or running", "at most 2", "wait"] {
        assert!(
            message.contains(needle),
            "'{needle}' missing from '{message}'"
        );
    }
    // The refusal wrote nothing: no job, no id used up.
    assert_eq!(f.board.job_count()?, 2);
    assert_eq!(tenant_counts(&f.board, "acme"), counts(2, 0, 0, 0));

    // Another tenant, and a post without a quota, are not held back.
    let other = f
        .board
        .post(NewJob::new("other", "{}").by("globex").within(Some(2)))?;
    assert_eq!(other.id, JobId(second.0 + 1), "the refused post used an id");
    f.board.post(NewJob::new("free", "{}").by("acme"))?;
    // That one counts too: acme now has 3 on the board.
    let err = f.board.post(acme("third")).expect_err("still over");
    assert!(
        matches!(err, BoardError::Quota { active: 3, .. }),
        "{err:?}"
    );

    // A claimed job (even with its lease run out) is still on the board.
    f.board.claim(first, "A", LEASE)?;
    f.clock.advance(LEASE_MS + 1);
    assert!(f.board.post(acme("third")).is_err(), "claimed jobs count");

    // Consumed and trashed jobs leave room.
    let first = f.board.claim(first, "B", LEASE)?.id;
    f.board.consume(first, "B")?;
    f.board.trash(second, "operator", "no")?;
    let third = f
        .board
        .post(NewJob::new("third", "{}").by("acme").within(Some(3)))?;
    assert_eq!(third.tenant, "acme");
    assert_eq!(tenant_counts(&f.board, "acme"), counts(2, 0, 1, 1));

    // Restoring is held to the quota too, and a refused restore leaves the
    // job in the trash.
    let err = f
        .board
        .restore(second, Some(2))
        .expect_err("over the quota");
    assert!(
        matches!(
            err,
            BoardError::Quota {
                active: 2,
                limit: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.board.job(second)?.state, JobState::Trashed);
    assert_eq!(f.board.restore(second, Some(3))?.state, JobState::Unclaimed);
    assert_eq!(tenant_counts(&f.board, "acme"), counts(3, 0, 1, 0));
    Ok(())
}

#[test]
fn concurrent_posts_never_overshoot_a_quota() -> TestResult {
    let f = board()?;
    const LIMIT: usize = 5;
    const POSTERS: usize = 24;
    // Every post waits at the barrier so that they reach the commit thread
    // together and share transactions.
    let barrier = std::sync::Barrier::new(POSTERS);
    let results: Vec<Result<Job, BoardError>> = std::thread::scope(|scope| {
        let posters: Vec<_> = (0..POSTERS)
            .map(|i| {
                let (board, barrier) = (&f.board, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let name = format!("job{i}");
                    board.post(NewJob::new(&name, "{}").by("acme").within(Some(LIMIT)))
                })
            })
            .collect();
        posters
            .into_iter()
            .map(|poster| poster.join().expect("a posting thread panicked"))
            .collect()
    });
    let posted = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(BoardError::Quota { limit: LIMIT, .. })))
        .count();
    let outcomes: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|job| job.id.0).map_err(ToString::to_string))
        .collect();
    assert_eq!((posted, refused), (LIMIT, POSTERS - LIMIT), "{outcomes:?}");
    assert_eq!(f.board.job_count()?, LIMIT);
    assert_eq!(tenant_counts(&f.board, "acme"), counts(LIMIT, 0, 0, 0));
    Ok(())
}

#[test]
fn a_version_1_board_is_migrated_to_jobs_of_no_tenant() -> TestResult {
    use crate::redb_board::v1;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("board.redb");
    let old = |id: u64, state: JobState| v1::Job {
        id: JobId(id),
        name: format!("old{id}"),
        payload: "{}".into(),
        state,
        claim: None,
        attempts: 1,
        flow: Some(FlowId(id)),
        past_flows: Vec::new(),
        last_failure: None,
        trash_reason: None,
        posted_ms: START_MS,
        updated_ms: START_MS,
    };
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut meta =
                txn.open_table(redb::TableDefinition::<&str, u64>::new("jobboard_meta"))?;
            meta.insert("schema_version", 1)?;
            meta.insert("next_job_id", 4)?;
            for (table, job) in [
                ("jobboard_board", old(1, JobState::Unclaimed)),
                ("jobboard_done", old(2, JobState::Complete)),
                ("jobboard_trash", old(3, JobState::Trashed)),
            ] {
                let mut table = txn.open_table(redb::TableDefinition::<u64, &[u8]>::new(table))?;
                table.insert(job.id.0, postcard::to_stdvec(&job)?.as_slice())?;
            }
        }
        txn.commit()?;
    }
    let clock = ManualClock::at(START_MS);
    let board = file_board(&path, &clock)?;
    let jobs = board.jobs(None)?;
    assert_eq!(ids(&jobs), vec![JobId(1), JobId(2), JobId(3)]);
    assert!(jobs.iter().all(|job| job.tenant.is_empty()), "{jobs:?}");
    assert_eq!(jobs[1].name, "old2");
    assert_eq!(jobs[1].flow, Some(FlowId(2)));
    assert_eq!(tenant_counts(&board, ""), counts(1, 0, 1, 1));
    assert_eq!(
        board.post(NewJob::new("new", "{}").by("acme"))?.id,
        JobId(4)
    );
    drop(board);
    // Opened again, it is version 2 and left as it is.
    let board = file_board(&path, &clock)?;
    assert_eq!(tenant_counts(&board, ""), counts(1, 0, 1, 1));
    assert_eq!(tenant_counts(&board, "acme"), counts(1, 0, 0, 0));
    Ok(())
}

#[test]
fn claimable_takes_turns_between_tenants() -> TestResult {
    let f = board()?;
    let post = |tenant: &str, n: usize| -> Result<Vec<JobId>, BoardError> {
        (0..n)
            .map(|i| {
                let name = format!("{tenant}{i}");
                Ok(f.board.post(NewJob::new(&name, "{}").by(tenant))?.id)
            })
            .collect()
    };
    // A backlog of a's, then b's, then one of c.
    let a = post("a", 5)?;
    let b = post("b", 2)?;
    let c = post("c", 1)?;
    assert_eq!(
        ids(&f.board.claimable(5)?),
        vec![a[0], b[0], c[0], a[1], b[1]]
    );
    // A claimed job is no longer offered; a lapsed claim is again.
    f.board.claim(a[0], "x", Duration::from_secs(10))?;
    f.board.claim(b[0], "x", Duration::from_secs(10))?;
    assert_eq!(ids(&f.board.claimable(3)?), vec![a[1], b[1], c[0]]);
    f.clock.advance(11_000);
    assert_eq!(
        ids(&f.board.claimable(10)?),
        vec![a[0], b[0], c[0], a[1], b[1], a[2], a[3], a[4]]
    );
    // Consumed and trashed jobs leave their tenant's index.
    f.board.claim(c[0], "x", Duration::from_secs(10))?;
    f.board.consume(c[0], "x")?;
    f.board.trash(b[1], "operator", "not wanted")?;
    assert_eq!(ids(&f.board.claimable(3)?), vec![a[0], b[0], a[1]]);
    f.board.restore(b[1], None)?;
    assert_eq!(ids(&f.board.claimable(4)?), vec![a[0], b[0], a[1], b[1]]);
    Ok(())
}
