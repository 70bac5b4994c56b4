//! A JSON body extractor whose rejections use the API's error format.

use crate::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// Middleware that reads every request body to its end (at most [`MAX_BODY_BYTES`])
/// before routing. A request refused before its handler reads the body (a missing token,
/// a bad name in the path, an unknown route) would otherwise leave unread bytes, and the
/// HTTP server would close the connection under a client that keeps it alive for its next
/// request. A larger body is refused here with 413.
pub async fn read_whole_body(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => too_large().into_response(),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

/// Like `axum::Json`, but a malformed, oversized or unknown-field body becomes a 4xx
/// `ApiError` naming what was wrong.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be application/json",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| too_large())?;
        // Every body is a JSON object: serde would also accept an array for a struct whose
        // fields are all optional, which no client means.
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::bad_request(format!("invalid request body: {err}")))?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid request body: expected a JSON object",
            ));
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|err| ApiError::bad_request(format!("invalid request body: {err}")))
    }
}
