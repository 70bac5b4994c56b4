//! The API's error format: `{"error": {"code": "...", "message": "..."}}`, 4xx for the
//! caller's mistakes and 5xx only for the server's.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strata_engine::{EngineError, EngineErrorKind};

/// An error reply: status, a stable machine-readable code and a human message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let (status, code) = match err.kind {
            EngineErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            EngineErrorKind::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            EngineErrorKind::InvalidArgument | EngineErrorKind::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            EngineErrorKind::NoSpace => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
            EngineErrorKind::InUse => (StatusCode::CONFLICT, "in_use"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, err.to_string())
    }
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}
