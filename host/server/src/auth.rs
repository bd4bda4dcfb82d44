//! Who is calling: the bearer token of every request, checked against the
//! tenants file before any route runs.

use crate::api::Daemon;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt;
use std::sync::Arc;
use taskbox_conductor::Caller;

/// The caller of one request, as the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    /// A daemon without tenants: anyone, seeing everything, posting for
    /// the empty tenant.
    Open,
    /// The admin token: every tenant's jobs.
    Admin,
    /// A tenant's token: its own jobs only.
    Tenant(String),
}

impl Who {
    /// Whether the caller may see and touch jobs of `tenant`.
    pub(crate) fn sees(&self, tenant: &str) -> bool {
        match self {
            Who::Open | Who::Admin => true,
            Who::Tenant(id) => id == tenant,
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Open => f.write_str("anyone"),
            Who::Admin => f.write_str("the admin"),
            Who::Tenant(id) => write!(f, "tenant {id}"),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(request: &Request) -> Result<&str, ApiError> {
    let Some(header) = request.headers().get(AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "this daemon needs a token: send `Authorization: Bearer <token>`".into(),
        ));
    };
    let malformed =
        || ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into());
    let value = header.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

/// Who sent `request`, or why it is refused.
fn who(daemon: &Daemon, request: &Request) -> Result<Who, ApiError> {
    let Some(tenants) = daemon.tenants() else {
        return Ok(Who::Open);
    };
    match tenants.authenticate(bearer(request)?) {
        Some(Caller::Admin) => Ok(Who::Admin),
        Some(Caller::Tenant(id)) => Ok(Who::Tenant(id)),
        None => Err(ApiError::Unauthorized("unknown token".into())),
    }
}

/// The middleware in front of every route: authenticates the caller and
/// hands it to the handler, or answers 401.
pub(crate) async fn authenticate(
    State(daemon): State<Arc<Daemon>>,
    mut request: Request,
    next: Next,
) -> Response {
    match who(&daemon, &request) {
        Ok(who) => {
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Err(refused) => {
            tracing::debug!(
                method = %request.method(),
                path = %request.uri().path(),
                reason = %refused,
                "refused an unauthenticated request"
            );
            refused.into_response()
        }
    }
}
