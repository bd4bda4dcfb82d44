//! API errors and their HTTP form.

use axum::Json;
use axum::http::StatusCode;
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
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Payload(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Board(BoardError::UnknownJob(_))
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
        (status, Json(body)).into_response()
    }
}
