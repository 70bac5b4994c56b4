//! `/v1/volumes`: create, list, show and delete volumes.

use crate::json::ApiJson;
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use strata_core::{TierKind, parse_size};
use strata_engine::{VolumeInfo, VolumeSpec};

/// Workload classes a volume may be created with (INTERFACE.md).
pub const WORKLOAD_CLASSES: [&str; 7] =
    ["database", "web", "file", "dev", "vdi", "backup", "unknown"];

/// A size given as a number of bytes or as a string such as `"20G"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    fn bytes(&self, field: &str) -> Result<u64, ApiError> {
        match self {
            Self::Bytes(bytes) => Ok(*bytes),
            Self::Text(text) => {
                parse_size(text).map_err(|err| ApiError::bad_request(format!("{field}: {err}")))
            }
        }
    }
}

/// Body of `POST /v1/volumes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    pub name: String,
    pub size: SizeValue,
    pub profile: Option<String>,
    pub extent_size: Option<SizeValue>,
    pub pin: Option<String>,
}

impl CreateVolume {
    fn into_spec(self) -> Result<VolumeSpec, ApiError> {
        if let Some(profile) = &self.profile
            && !WORKLOAD_CLASSES.contains(&profile.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "profile {profile:?} is not one of {}",
                WORKLOAD_CLASSES.join(", ")
            )));
        }
        let pin = match &self.pin {
            Some(pin) => Some(
                pin.parse::<TierKind>()
                    .map_err(|err| ApiError::bad_request(format!("pin: {err}")))?,
            ),
            None => None,
        };
        Ok(VolumeSpec {
            size_bytes: self.size.bytes("size")?,
            extent_size_bytes: match &self.extent_size {
                Some(size) => Some(size.bytes("extent_size")?),
                None => None,
            },
            name: self.name,
            profile: self.profile,
            pin,
        })
    }
}

pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<VolumeInfo>>, ApiError> {
    let engine = state.engine.clone();
    let volumes = tokio::task::spawn_blocking(move || engine.list_volumes())
        .await
        .map_err(|err| ApiError::internal(err.to_string()))?;
    Ok(Json(volumes))
}

pub async fn create(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<CreateVolume>,
) -> Result<(StatusCode, Json<VolumeInfo>), ApiError> {
    let spec = body.into_spec()?;
    let engine = state.engine.clone();
    let info = tokio::task::spawn_blocking(move || engine.create_volume(spec))
        .await
        .map_err(|err| ApiError::internal(err.to_string()))??;
    Ok((StatusCode::CREATED, Json(info)))
}

pub async fn show(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<VolumeInfo>, ApiError> {
    let engine = state.engine.clone();
    let info = tokio::task::spawn_blocking(move || engine.volume_info(&name))
        .await
        .map_err(|err| ApiError::internal(err.to_string()))??;
    Ok(Json(info))
}

pub async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || engine.delete_volume(&name))
        .await
        .map_err(|err| ApiError::internal(err.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}
