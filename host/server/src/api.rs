//! Routes and handlers.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use taskbox_conductor::{Conductor, Workshop};
use taskbox_jobboard::{Job, JobBoard, JobId, JobState};
use taskbox_logbook::{AtomDetail, FlowDetail, Logbook};

/// What the API serves from: the board, the logbook, the workshop that
/// checks payloads, and the conductor running jobs.
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

/// The API over `daemon`.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/jobs", get(list).post(post_job))
        .route("/jobs/{id}", get(show))
        .route("/jobs/{id}/trash", post(trash))
        .route("/jobs/{id}/restore", post(restore))
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

async fn health(State(daemon): State<Arc<Daemon>>) -> Result<Json<Value>, ApiError> {
    let counts: BTreeMap<&str, usize> = blocking(|| daemon.board.counts())?
        .into_iter()
        .map(|(state, count)| (state.name(), count))
        .collect();
    Ok(Json(json!({
        "status": "ok",
        "uptime_s": daemon.started.elapsed().as_secs(),
        "plugins": daemon.workshop.plugins().plugins.len(),
        "jobs": counts,
        "conductor": daemon.conductor.status(),
    })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list(
    State(daemon): State<Arc<Daemon>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Job>>, ApiError> {
    let state = query
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    Ok(Json(blocking(|| daemon.board.jobs(state))?))
}

async fn post_job(
    State(daemon): State<Arc<Daemon>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(format!("the body: {e}")))?;
    let text = body.to_string();
    let job = blocking(|| -> Result<Job, ApiError> {
        let checked = daemon.workshop.check(&text)?;
        let stored = checked.payload.to_json()?;
        Ok(daemon.board.post(checked.name(), &stored)?)
    })?;
    tracing::info!(job = %job.id, name = %job.name, "posted");
    Ok((StatusCode::CREATED, Json(job)))
}

async fn show(
    State(daemon): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>, ApiError> {
    let id = job_id(&id)?;
    let detail = blocking(|| -> Result<JobDetail, ApiError> {
        let job = daemon.board.job(id)?;
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
    Path(id): Path<String>,
    body: Result<Json<TrashBody>, JsonRejection>,
) -> Result<Json<Job>, ApiError> {
    let id = job_id(&id)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(format!("the body: {e}")))?;
    let job = blocking(|| daemon.board.trash(id, "operator", &body.reason))?;
    tracing::info!(job = %id, reason = %body.reason, "trashed");
    Ok(Json(job))
}

async fn restore(
    State(daemon): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = job_id(&id)?;
    let job = blocking(|| daemon.board.restore(id))?;
    tracing::info!(job = %id, "restored");
    Ok(Json(job))
}
