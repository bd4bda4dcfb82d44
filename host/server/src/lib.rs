//! The taskbox daemon's HTTP API.
//!
//! redb admits one process per database file, so the daemon that holds the
//! logbook and jobboard is how other processes reach them. [`router`]
//! serves, as JSON:
//!
//! | method and path            | does                                                      |
//! |----------------------------|-----------------------------------------------------------|
//! | `GET /health`              | status, job counts by state, the conductor's work         |
//! | `GET /usage`               | per tenant: CPU time, memory high-water, calls, jobs      |
//! | `POST /jobs[?tenant=ID]`   | posts a job payload (checked first); 201 + job            |
//! | `GET /jobs?state=S`        | jobs in posting order, optionally of one state            |
//! | `GET /jobs/{id}`           | one job with its flow's detail and atoms                  |
//! | `POST /jobs/{id}/trash`    | `{"reason": …}`: moves it to the trash                    |
//! | `POST /jobs/{id}/restore`  | puts a trashed job back on the board                      |
//!
//! **Tenants.** A daemon given a tenants file ([`Daemon::tenants`])
//! authenticates every request, every route and every unknown path alike,
//! by `Authorization: Bearer <token>`: none, or a token that is nobody's,
//! is 401 with `WWW-Authenticate: Bearer`. A tenant's token sees and
//! touches only the tenant's own jobs: another tenant's job is 404 with the
//! very body of a job that does not exist; its `/health` and `/usage` show
//! its own counts only (and `/health` leaves out the conductor, whose work
//! is everyone's). The admin token sees and touches every job, and posts
//! for a tenant named by `?tenant=ID` (400 without it, 404 for a tenant
//! that is not in the file). A tenant may name itself in `?tenant=`;
//! naming another is 404, as for a tenant that does not exist. A payload
//! larger than the tenant's `limits.payload_size` is 413; posting (or
//! restoring) beyond its `limits.queued_jobs` jobs on the board is 429.
//! Without a tenants file the API is open to anyone who can reach it, and
//! every job belongs to the empty tenant `""`.
//!
//! Errors are `{"error": text}` (plus `"field"` for a refused payload)
//! with 400 (bad payload or query), 401 (no or unknown token), 404 (no such
//! job, or not the caller's), 409 (the job's state or owner forbids it),
//! 413 (payload too large), 429 (the tenant's queue is full) or 500.

mod api;
mod auth;
mod background;
mod error;

pub use api::{DEFAULT_BODY_LIMIT, Daemon, JobDetail, router};
pub use background::serve_on_loopback;
pub use error::ApiError;
