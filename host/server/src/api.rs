//! Routes and handlers.

use crate::auth::{Who, authenticate};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use taskbox_conductor::{Conductor, Tenants, Workshop};
use taskbox_jobboard::{BoardError, Job, JobBoard, JobId, JobState, NewJob};
use taskbox_logbook::{AtomDetail, FlowDetail, Logbook};
use taskbox_sandbox::UsageSnapshot;

/// The largest request body of a daemon without tenants (and the least any
/// daemon accepts); tenants' own `payload_size` limits apply on top.
pub const DEFAULT_BODY_LIMIT: usize = 2 << 20;

/// What the API serves from: the board, the logbook, the workshop that
/// checks payloads, the conductor running jobs, and who may call.
#[derive(Debug)]
pub struct Daemon {
    /// Where jobs wait.
    pub board: Arc<dyn JobBoard>,
    /// Where their flows are recorded.
    pub logbook: Arc<dyn Logbook>,
    /// Checks payloads before they are posted.
    pub workshop: Arc<Workshop>,
    /// Runs the jobs.
    pub conductor: Conductor,
    /// When the daemon started.
    pub started: Instant,
}

impl Daemon {
    /// The tenants, those of the workshop. With them every call needs a
    /// token and a tenant sees only its own jobs; without them (`None`)
    /// the API is open to anyone who can reach it and every job belongs to
    /// the empty tenant.
    pub fn tenants(&self) -> Option<&Arc<Tenants>> {
        self.workshop.tenants()
    }

    /// The tenant `id`'s limit of jobs on the board, if it has one.
    fn quota(&self, tenant: &str) -> Option<usize> {
        self.tenants()?.get(tenant)?.limits.queued_jobs
    }

    /// The tenant `id`'s largest payload, if it has a limit.
    fn payload_limit(&self, tenant: &str) -> Option<u64> {
        self.tenants()?.get(tenant)?.limits.payload_size
    }

    /// The largest body any caller may send.
    fn body_limit(&self) -> usize {
        let largest_payload = self
            .tenants()
            .into_iter()
            .flat_map(|tenants| tenants.iter())
            .filter_map(|tenant| tenant.limits.payload_size)
            .max()
            .unwrap_or(0);
        usize::try_from(largest_payload)
            .unwrap_or(usize::MAX)
            .max(DEFAULT_BODY_LIMIT)
    }
}

/// One job with its flow's detail and atoms.
#[derive(Debug, Serialize)]
pub struct JobDetail {
    /// The job.
    pub job: Job,
    /// Its current flow, once a conductor recorded it.
    pub flow: Option<FlowDetail>,
    /// That flow's atoms, by index.
    pub atoms: Vec<AtomDetail>,
}

/// The API over `daemon`. Every route, and every path that is no route,
/// first authenticates the caller (see [`Daemon::tenants`]).
pub fn router(daemon: Arc<Daemon>) -> Router {
    let body_limit = daemon.body_limit();
    Router::new()
        .route("/health", get(health))
        .route("/usage", get(usage))
        .route("/jobs", get(list).post(post_job))
        .route("/jobs/{id}", get(show))
        .route("/jobs/{id}/trash", post(trash))
        .route("/jobs/{id}/restore", post(restore))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(daemon.clone(), authenticate))
        .with_state(daemon)
}

/// Runs a blocking storage call off the async workers' hot path.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a job id")))
}

/// Job `id` if `who` may see it. A job of another tenant is refused exactly
/// as a job that does not exist, so that ids tell nothing about other
/// tenants.
fn visible_job(daemon: &Daemon, who: &Who, id: JobId) -> Result<Job, ApiError> {
    let job = daemon.board.job(id)?;
    if who.sees(&job.tenant) {
        Ok(job)
    } else {
        Err(BoardError::UnknownJob(id).into())
    }
}

/// Counts by state name, in life order.
fn by_name(counts: Vec<(JobState, usize)>) -> BTreeMap<&'static str, usize> {
    counts
        .into_iter()
        .map(|(state, count)| (state.name(), count))
        .collect()
}

async fn health(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
) -> Result<Json<Value>, ApiError> {
    let uptime = daemon.started.elapsed().as_secs();
    Ok(Json(match &who {
        // A tenant learns nothing of the others: neither their jobs nor
        // the conductor's work, which is theirs too.
        Who::Tenant(tenant) => json!({
            "status": "ok",
            "uptime_s": uptime,
            "tenant": tenant,
            "plugins": daemon.workshop.plugins_of(tenant).map_or(0, |set| set.plugins.len()),
            "jobs": by_name(blocking(|| daemon.board.counts_of(tenant))?),
        }),
        Who::Open | Who::Admin => {
            let mut health = json!({
                "status": "ok",
                "uptime_s": uptime,
                "plugins": daemon.workshop.plugins().plugins.len(),
                "jobs": by_name(blocking(|| daemon.board.counts())?),
                "conductor": daemon.conductor.status(),
            });
            if let Some(tenants) = daemon.tenants() {
                health["tenants"] = json!(tenants.iter().count());
            }
            health
        }
    }))
}

/// One tenant's entry of `GET /usage`.
#[derive(Debug, Serialize)]
struct TenantUsage {
    /// CPU time of its guest calls, in microseconds.
    cpu_us: u64,
    /// The largest linear memory any one of its instances reached.
    memory_peak_bytes: u64,
    /// Guest calls made for it.
    calls: u64,
    /// Its jobs by state.
    jobs: BTreeMap<&'static str, usize>,
}

async fn usage(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
) -> Result<Json<Value>, ApiError> {
    let used = blocking(|| daemon.board.usage_by_tenant())?;
    let entry = |tenant: &str, counts: Vec<(JobState, usize)>| {
        let snapshot: UsageSnapshot = used.get(tenant).copied().unwrap_or_default();
        TenantUsage {
            cpu_us: snapshot.cpu_us,
            memory_peak_bytes: snapshot.memory_peak_bytes,
            calls: snapshot.calls,
            jobs: by_name(counts),
        }
    };
    let mut tenants: BTreeMap<String, TenantUsage> = BTreeMap::new();
    match &who {
        Who::Tenant(tenant) => {
            let counts = blocking(|| daemon.board.counts_of(tenant))?;
            tenants.insert(tenant.clone(), entry(tenant, counts));
        }
        Who::Open => {
            let counts = blocking(|| daemon.board.counts_of(""))?;
            tenants.insert(String::new(), entry("", counts));
        }
        Who::Admin => {
            // Every tenant of the file, and any other that has jobs or
            // used anything (e.g. jobs posted before the daemon had
            // tenants, which belong to the empty one).
            let mut counts = blocking(|| daemon.board.counts_by_tenant())?;
            let mut ids: Vec<String> = daemon
                .tenants()
                .into_iter()
                .flat_map(|tenants| tenants.iter().map(|tenant| tenant.id.clone()))
                .collect();
            ids.extend(counts.keys().cloned());
            ids.extend(used.keys().cloned());
            for id in ids {
                if tenants.contains_key(&id) {
                    continue;
                }
                let of = counts
                    .remove(&id)
                    .unwrap_or_else(|| JobState::ALL.iter().map(|&s| (s, 0)).collect());
                let usage = entry(&id, of);
                tenants.insert(id, usage);
            }
        }
    }
    Ok(Json(json!({ "tenants": tenants })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Job>>, ApiError> {
    let state = query
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let mut jobs = blocking(|| daemon.board.jobs(state))?;
    jobs.retain(|job| who.sees(&job.tenant));
    Ok(Json(jobs))
}

#[derive(Debug, Deserialize)]
struct PostQuery {
    tenant: Option<String>,
}

/// The tenant a `POST /jobs` posts for: the caller's own, or for the admin
/// the one named by `?tenant=`.
fn posting_tenant(daemon: &Daemon, who: &Who, named: Option<String>) -> Result<String, ApiError> {
    let unknown = |id: &str| ApiError::NotFound(format!("no tenant '{id}'"));
    match (who, named) {
        (Who::Open, None) => Ok(String::new()),
        (Who::Open, Some(_)) => Err(ApiError::BadRequest(
            "?tenant: this daemon has no tenants (start it with --tenants FILE)".into(),
        )),
        (Who::Admin, None) => Err(ApiError::BadRequest(
            "?tenant: the admin posts for a tenant, named by ?tenant=ID".into(),
        )),
        (Who::Admin, Some(id)) => match daemon.tenants().and_then(|t| t.get(&id)) {
            Some(_) => Ok(id),
            None => Err(unknown(&id)),
        },
        (Who::Tenant(own), None) => Ok(own.clone()),
        (Who::Tenant(own), Some(id)) if id == *own => Ok(id),
        // Another tenant's id is refused as one that does not exist.
        (Who::Tenant(_), Some(id)) => Err(unknown(&id)),
    }
}

/// Refuses with [`BoardError::Quota`] when `tenant` already has its limit
/// of jobs on the board: a cheap early answer before the payload is
/// checked. The board checks again, atomically, when the job is posted.
fn check_quota(daemon: &Daemon, tenant: &str) -> Result<Option<usize>, ApiError> {
    let Some(limit) = daemon.quota(tenant) else {
        return Ok(None);
    };
    let active: usize = daemon
        .board
        .counts_of(tenant)?
        .into_iter()
        .filter(|(state, _)| matches!(state, JobState::Unclaimed | JobState::Claimed))
        .map(|(_, count)| count)
        .sum();
    if active >= limit {
        return Err(BoardError::Quota {
            tenant: tenant.to_string(),
            active,
            limit,
        }
        .into());
    }
    Ok(Some(limit))
}

async fn post_job(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
    Query(query): Query<PostQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let tenant = posting_tenant(&daemon, &who, query.tenant)?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "the payload is larger than this daemon accepts ({} bytes)",
            daemon.body_limit()
        )),
        _ => ApiError::BadRequest(format!("the body: {e}")),
    })?;
    if let Some(limit) = daemon.payload_limit(&tenant)
        && u64::try_from(body.len()).unwrap_or(u64::MAX) > limit
    {
        return Err(ApiError::TooLarge(format!(
            "the payload is {} bytes; tenant '{tenant}' may post at most {limit} (limits.payload_size)",
            body.len()
        )));
    }
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body: not a JSON payload: {e}")))?;
    let text = body.to_string();
    let job = blocking(|| -> Result<Job, ApiError> {
        let quota = check_quota(&daemon, &tenant)?;
        let checked = daemon.workshop.check(&tenant, &text)?;
        let stored = checked.payload.to_json()?;
        Ok(daemon.board.post(NewJob {
            tenant: &tenant,
            name: checked.name(),
            payload: &stored,
            max_active: quota,
        })?)
    })?;
    tracing::info!(job = %job.id, tenant = %job.tenant, name = %job.name, "posted");
    Ok((StatusCode::CREATED, Json(job)))
}

async fn show(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>, ApiError> {
    let id = job_id(&id)?;
    let detail = blocking(|| -> Result<JobDetail, ApiError> {
        let job = visible_job(&daemon, &who, id)?;
        let (flow, atoms) = match job.flow.or(job.past_flows.last().copied()) {
            Some(flow) => (
                Some(daemon.logbook.flow(flow)?),
                daemon.logbook.atoms(flow)?,
            ),
            None => (None, Vec::new()),
        };
        Ok(JobDetail { job, flow, atoms })
    })?;
    Ok(Json(detail))
}

#[derive(Debug, Deserialize)]
struct TrashBody {
    reason: String,
}

async fn trash(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
    body: Result<Json<TrashBody>, JsonRejection>,
) -> Result<Json<Job>, ApiError> {
    let id = job_id(&id)?;
    let job = blocking(|| visible_job(&daemon, &who, id))?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(format!("the body: {e}")))?;
    let job = blocking(|| daemon.board.trash(job.id, "operator", &body.reason))?;
    tracing::info!(job = %id, tenant = %job.tenant, by = %who, reason = %body.reason, "trashed");
    Ok(Json(job))
}

async fn restore(
    State(daemon): State<Arc<Daemon>>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = job_id(&id)?;
    let job = blocking(|| -> Result<Job, ApiError> {
        let job = visible_job(&daemon, &who, id)?;
        Ok(daemon.board.restore(job.id, daemon.quota(&job.tenant))?)
    })?;
    tracing::info!(job = %id, tenant = %job.tenant, by = %who, "restored");
    Ok(Json(job))
}
