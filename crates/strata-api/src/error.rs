//! The API's error format: `{"error": {"code": "...", "message": "..."}}`, 4xx for the
//! caller's mistakes and 5xx only for the server's.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use strata_control::{ControlError, ControlErrorKind};
use strata_engine::{EngineError, EngineErrorKind};
use utoipa::ToSchema;

/// The body of every error reply.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorReply {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code to match on and a message for people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_argument`, `not_found`, `already_exists`,
    /// `in_use`, `unauthorized`, `unsupported_media_type`, `body_too_large`,
    /// `not_implemented`, `no_space`, `lease_held`, `stale_generation`, `lease_expired`,
    /// `no_capacity`, `contended`, `unavailable`, `internal`.
    #[schema(example = "not_found")]
    pub code: String,
    #[schema(example = "no such volume")]
    pub message: String,
}

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

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The route exists and the request was valid, but the feature behind it is not
    /// running on this server yet; never answered with a made-up success instead.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", message)
    }

    /// A blocking task that died (panicked or was cancelled) is the server's fault.
    pub(crate) fn from_join(err: tokio::task::JoinError) -> Self {
        Self::internal(format!("worker task failed: {err}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorReply {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
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

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        let (status, code) = match err.kind {
            ControlErrorKind::InvalidArgument => (StatusCode::BAD_REQUEST, "invalid_argument"),
            ControlErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ControlErrorKind::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            ControlErrorKind::Held => (StatusCode::CONFLICT, "lease_held"),
            ControlErrorKind::StaleGeneration => (StatusCode::CONFLICT, "stale_generation"),
            ControlErrorKind::Expired => (StatusCode::GONE, "lease_expired"),
            // The request does not fit what is free: the caller's to change, not a fault.
            ControlErrorKind::NoCapacity => (StatusCode::CONFLICT, "no_capacity"),
            ControlErrorKind::Contended => (StatusCode::SERVICE_UNAVAILABLE, "contended"),
            ControlErrorKind::Store => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, err.to_string())
    }
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// A known path called with a method it does not serve.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not served on {}", uri.path()),
    )
}
