//! Path-parameter extractors that validate before any handler runs, so a bad name such as
//! `../x` is a 400 in the API's error format and never reaches the engine.

use crate::ApiError;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Longest lease id accepted, in bytes.
pub const MAX_LEASE_ID_LEN: usize = 128;

/// The `{name}` of a volume route, checked against the engine's naming rule.
#[derive(Debug)]
pub struct VolumeName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for VolumeName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let name = single_param(parts, state).await?;
        validate_volume_name(&name)?;
        Ok(Self(name))
    }
}

/// The `{id}` of a lease route: 1–128 of `[A-Za-z0-9._:-]`.
#[derive(Debug)]
pub struct LeaseId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for LeaseId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id = single_param(parts, state).await?;
        let ok_chars = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if id.is_empty() || id.len() > MAX_LEASE_ID_LEN || !ok_chars {
            return Err(ApiError::bad_request(format!(
                "lease id {id:?} must be 1-{MAX_LEASE_ID_LEN} of [A-Za-z0-9._:-]"
            )));
        }
        Ok(Self(id))
    }
}

async fn single_param<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, ApiError> {
    Path::<String>::from_request_parts(parts, state)
        .await
        .map(|Path(value)| value)
        .map_err(|err| ApiError::bad_request(format!("invalid path parameter: {err}")))
}

/// The engine's volume-name rule, as a 400 in the API's format.
pub fn validate_volume_name(name: &str) -> Result<(), ApiError> {
    strata_engine::validate_volume_name(name).map_err(|err| ApiError::bad_request(err.to_string()))
}

/// Like `axum::extract::Query`, but a malformed query or an unknown parameter is a 400 in
/// the API's format.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|err| ApiError::bad_request(format!("invalid query: {}", err.body_text())))
    }
}
