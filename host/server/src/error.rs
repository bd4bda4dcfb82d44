//! API errors and their HTTP form.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use taskbox_conductor::PayloadError;
use taskbox_jobboard::BoardError;
use taskbox_logbook::LogbookError;

/// A request the API refused or could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The payload failed its checks.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The jobboard refused or failed.
    #[error(transparent)]
    Board(#[from] BoardError),
    /// The logbook failed.
    #[error(transparent)]
    Logbook(#[from] LogbookError),
    /// A malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or one that is nobody's (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Something other than a job that the caller may not know of, e.g. a
    /// tenant (404).
    #[error("{0}")]
    NotFound(String),
    /// The payload is larger than the caller may post (413).
    #[error("{0}")]
    TooLarge(String),
}

impl ApiError {
    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Payload(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Board(BoardError::Quota { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_)
            | ApiError::Board(BoardError::UnknownJob(_))
            | ApiError::Logbook(LogbookError::UnknownFlow(_)) => StatusCode::NOT_FOUND,
            ApiError::Board(
                BoardError::Unclaimable { .. }
                | BoardError::NotOwner { .. }
                | BoardError::WrongState { .. }
                | BoardError::Trashed { .. },
            ) => StatusCode::CONFLICT,
            ApiError::Board(_) | ApiError::Logbook(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
        }
        let body = match &self {
            ApiError::Payload(e) => json!({ "error": self.to_string(), "field": e.field }),
            _ => json!({ "error": self.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"taskbox\""),
            );
        }
        response
    }
}
