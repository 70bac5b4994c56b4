//! `/v1/volumes`: create, list, show and delete volumes, and a volume's observed profile.

use crate::extract::{VolumeName, validate_volume_name};
use crate::json::ApiJson;
use crate::telemetry::TelemetrySample;
use crate::tiers::ratio;
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_core::{TierKind, parse_size};
use strata_engine::{VolumeInfo, VolumeSpec, VolumeStats};
use utoipa::ToSchema;

/// Workload classes a volume may be created with (INTERFACE.md).
pub const WORKLOAD_CLASSES: [&str; 7] =
    ["database", "web", "file", "dev", "vdi", "backup", "unknown"];

/// A size given as a number of bytes or as a string such as `"20G"`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    #[schema(example = "20G")]
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    /// 1–64 of `[A-Za-z0-9._-]`, not starting with `.`; also the NBD export name.
    #[schema(example = "db01")]
    pub name: String,
    /// Volume size; a multiple of 4096 bytes.
    pub size: SizeValue,
    /// Workload class: database, web, file, dev, vdi, backup or unknown.
    #[serde(default)]
    #[schema(example = "database")]
    pub profile: Option<String>,
    /// A power of two from 64 KiB to 64 MiB [default: 1 MiB].
    #[serde(default)]
    pub extent_size: Option<SizeValue>,
    /// Keep every extent on this tier.
    #[serde(default)]
    #[schema(example = "nvme")]
    pub pin: Option<String>,
    /// Cut the volume into this many extent-aligned partitions (1–1024), placed on the
    /// cluster's servers by the control plane; served under its name by every server.
    /// Absent: an ordinary volume on this server only.
    #[serde(default)]
    #[schema(example = 3)]
    pub partitions: Option<u32>,
}

impl CreateVolume {
    fn into_spec(self) -> Result<(VolumeSpec, Option<u32>), ApiError> {
        validate_volume_name(&self.name)?;
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
        if let Some(partitions) = self.partitions
            && !(1..=strata_control::partitions::MAX_PARTITIONS).contains(&partitions)
        {
            return Err(ApiError::bad_request(format!(
                "partitions must be 1–{}, not {partitions}",
                strata_control::partitions::MAX_PARTITIONS
            )));
        }
        let spec = VolumeSpec {
            size_bytes: self.size.bytes("size")?,
            extent_size_bytes: match &self.extent_size {
                Some(size) => Some(size.bytes("extent_size")?),
                None => None,
            },
            name: self.name,
            profile: self.profile,
            pin,
        };
        Ok((spec, self.partitions))
    }
}

/// A volume as the API shows it (flattened into `/v1/stats` entries, hence no
/// `deny_unknown_fields`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Volume {
    pub id: u64,
    pub name: String,
    pub size_bytes: u64,
    pub extent_size_bytes: u64,
    pub block_size: u64,
    /// Workload class it was created with.
    pub profile: Option<String>,
    /// Tier every extent is kept on, if pinned.
    pub pin: Option<String>,
    /// Bytes of allocated extents (thin: grows only with writes).
    pub allocated_bytes: u64,
    /// Tier name → allocated bytes on it.
    pub bytes_per_tier: BTreeMap<String, u64>,
    pub created_unix_s: u64,
    /// Open handles (NBD connections and other users).
    pub open_handles: usize,
    /// A partitioned volume's partitions and owners (absent for an ordinary volume); the
    /// figures above are then this server's backing's (zero when it holds none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Vec<crate::partitions::PartitionEntry>>,
    /// `creating` (not served yet) or `ready`, for a partitioned volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_state: Option<String>,
}

impl From<VolumeInfo> for Volume {
    fn from(v: VolumeInfo) -> Self {
        Self {
            id: v.id,
            name: v.name,
            size_bytes: v.size_bytes,
            extent_size_bytes: v.extent_size_bytes,
            block_size: v.block_size,
            profile: v.profile,
            pin: v.pin.map(|p| p.as_str().to_owned()),
            allocated_bytes: v.allocated_bytes,
            bytes_per_tier: v.bytes_per_tier,
            created_unix_s: v.created_unix_s,
            open_handles: v.open_handles,
            partitions: None,
            partition_state: None,
        }
    }
}

/// A volume's I/O since the server started.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeIo {
    pub reads: u64,
    pub writes: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub flushes: u64,
    pub trims: u64,
    pub write_zeroes: u64,
    /// Reads of never-written extents (served as zeros, no tier touched).
    pub unallocated_reads: u64,
    /// Tier name → reads it served.
    pub read_hits_by_tier: BTreeMap<String, u64>,
    /// Tier name → share of all reads it served, 0 to 1 (0 before the first read).
    pub hit_ratio_by_tier: BTreeMap<String, f64>,
}

impl From<VolumeStats> for VolumeIo {
    fn from(s: VolumeStats) -> Self {
        let hit_ratio_by_tier = s
            .read_hits_by_tier
            .iter()
            .map(|(tier, &hits)| (tier.clone(), ratio(hits, s.reads)))
            .collect();
        Self {
            reads: s.reads,
            writes: s.writes,
            read_bytes: s.read_bytes,
            write_bytes: s.write_bytes,
            flushes: s.flushes,
            trims: s.trims,
            write_zeroes: s.write_zeroes,
            unallocated_reads: s.unallocated_reads,
            read_hits_by_tier: s.read_hits_by_tier,
            hit_ratio_by_tier,
        }
    }
}

/// What is known about a volume's workload: declared class, and from the live profiler
/// the last closed window's class, features, forecast and tier profile.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeProfile {
    pub volume: String,
    /// The class the volume was created with; `null` when none was given.
    pub declared_class: Option<String>,
    /// The class inferred from the last closed window; `null` before the first.
    pub inferred_class: Option<String>,
    /// The classifier's vote share for its top class in that window, 0 to 1.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// `classifier`, or `telemetry` when the classifier was unsure and the posted
    /// application type decided.
    #[serde(default)]
    pub class_source: Option<String>,
    /// The classifier's top class, whether or not it cleared its threshold.
    #[serde(default)]
    pub classifier_top_class: Option<String>,
    /// Bounds of the last closed window, Unix seconds.
    #[serde(default)]
    pub window_start_unix_s: Option<f64>,
    #[serde(default)]
    pub window_end_unix_s: Option<f64>,
    /// The profiler's window length, seconds; `null` where no profiler runs.
    #[serde(default)]
    pub window_s: Option<f64>,
    /// Windows closed so far.
    #[serde(default)]
    pub windows: u64,
    #[serde(default)]
    pub current_window_start_unix_s: Option<f64>,
    #[serde(default)]
    pub current_window_requests: u64,
    /// The window's features, named as in `strata profile --json`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub features: Option<serde_json::Value>,
    /// Observed demand of the window: distinct extents touched × extent size, bytes.
    #[serde(default)]
    pub demand_bytes: Option<f64>,
    /// Next window's demand in bytes, `total` and per tier, each `{point, low, high}`
    /// (outside `low..high` is a deviation).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub forecast: Option<serde_json::Value>,
    /// Wanted fraction of the working set per tier (sums to 1); empty before the first window.
    pub tier_profile: BTreeMap<String, f64>,
    #[serde(default)]
    pub deviations_total: u64,
    /// The most recent deviations, oldest first: window end, forecast band, observed
    /// bytes, ratio, whether placement re-planned.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub recent_deviations: serde_json::Value,
    /// The application type last posted as telemetry (the classifier's prior).
    #[serde(default)]
    pub telemetry_app_type: Option<String>,
    /// The forecaster in use: version, held-out score, learning rounds.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub model: serde_json::Value,
    /// Observed I/O counters of the volume.
    pub io: VolumeIo,
    /// Telemetry samples posted for this volume, oldest first (a bounded ring).
    pub telemetry: Vec<TelemetrySample>,
    /// Says which parts are not measured yet, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// List volumes.
#[utoipa::path(
    get,
    path = "/v1/volumes",
    tag = "volumes",
    responses((status = 200, description = "Every volume of this server", body = Vec<Volume>))
)]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<Volume>>, ApiError> {
    let engine = state.engine.clone();
    let volumes = blocking(move || engine.list_volumes()).await?;
    let mut by_name: BTreeMap<String, Volume> = volumes
        .into_iter()
        .map(|v| (v.name.clone(), Volume::from(v)))
        .collect();
    // A partitioned volume shows once, with its map, on every server of the cluster.
    for map in crate::partitions::all_maps(&state).await? {
        let local = by_name.remove(&map.volume);
        by_name.insert(
            map.volume.clone(),
            crate::partitions::volume_of_map(&map, local),
        );
    }
    Ok(Json(by_name.into_values().collect()))
}

/// Create a thin volume.
#[utoipa::path(
    post,
    path = "/v1/volumes",
    tag = "volumes",
    request_body = CreateVolume,
    responses(
        (status = 201, description = "Created", body = Volume),
        (status = 400, description = "Invalid body", body = crate::ErrorReply),
        (status = 409, description = "A volume of that name exists", body = crate::ErrorReply),
        (status = 502, description = "An owner of a partition failed; nothing was kept", body = crate::ErrorReply),
        (status = 413, description = "Body too large", body = crate::ErrorReply),
        (status = 415, description = "Body is not JSON", body = crate::ErrorReply),
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<CreateVolume>,
) -> Result<(StatusCode, Json<Volume>), ApiError> {
    let (spec, partitions) = body.into_spec()?;
    if let Some(partitions) = partitions {
        let name = spec.name.clone();
        let created = crate::partitions::create(&state, spec, partitions).await?;
        state.telemetry.forget(&name);
        return Ok(created);
    }
    if crate::partitions::map_of(&state, &spec.name)
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("a partitioned volume named {} exists", spec.name),
        ));
    }
    let engine = state.engine.clone();
    let info = blocking(move || engine.create_volume(spec)).await??;
    state.telemetry.forget(&info.name);
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// Show one volume.
#[utoipa::path(
    get,
    path = "/v1/volumes/{name}",
    tag = "volumes",
    params(("name" = String, Path, description = "Volume name")),
    responses(
        (status = 200, description = "The volume", body = Volume),
        (status = 400, description = "Invalid name", body = crate::ErrorReply),
        (status = 404, description = "No such volume", body = crate::ErrorReply),
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    VolumeName(name): VolumeName,
) -> Result<Json<Volume>, ApiError> {
    let map = crate::partitions::map_of(&state, &name).await?;
    let engine = state.engine.clone();
    let info = blocking(move || engine.volume_info(&name)).await?;
    Ok(Json(match map {
        Some(map) => crate::partitions::volume_of_map(&map, info.ok().map(Volume::from)),
        None => info?.into(),
    }))
}

/// Delete a volume and free its space.
#[utoipa::path(
    delete,
    path = "/v1/volumes/{name}",
    tag = "volumes",
    params(("name" = String, Path, description = "Volume name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid name", body = crate::ErrorReply),
        (status = 404, description = "No such volume", body = crate::ErrorReply),
        (status = 409, description = "The volume is in use", body = crate::ErrorReply),
        (status = 502, description = "An owner of a partition failed; the volume is kept", body = crate::ErrorReply),
    )
)]
pub async fn delete(
    State(state): State<ApiState>,
    VolumeName(name): VolumeName,
) -> Result<StatusCode, ApiError> {
    if crate::partitions::delete(&state, &name).await? {
        state.telemetry.forget(&name);
        return Ok(StatusCode::NO_CONTENT);
    }
    let engine = state.engine.clone();
    let target = name.clone();
    blocking(move || engine.delete_volume(&target)).await??;
    state.telemetry.forget(&name);
    if let Some(plane) = state.control.clone() {
        // The volume is gone either way; its lease and reservations go with it.
        let target = name.clone();
        blocking(move || plane.delete_volume(&target)).await??;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A volume's workload profile: declared class, observed I/O and posted telemetry.
#[utoipa::path(
    get,
    path = "/v1/volumes/{name}/profile",
    tag = "volumes",
    params(("name" = String, Path, description = "Volume name")),
    responses(
        (status = 200, description = "The profile", body = VolumeProfile),
        (status = 400, description = "Invalid name", body = crate::ErrorReply),
        (status = 404, description = "No such volume", body = crate::ErrorReply),
    )
)]
pub async fn profile(
    State(state): State<ApiState>,
    VolumeName(name): VolumeName,
) -> Result<Json<VolumeProfile>, ApiError> {
    let engine = state.engine.clone();
    let lookup = name.clone();
    let (info, stats) = blocking(move || {
        let info = engine.volume_info(&lookup)?;
        let stats = engine.volume_stats(&lookup)?;
        Ok::<_, strata_engine::EngineError>((info, stats))
    })
    .await??;
    let mut reply = VolumeProfile {
        telemetry: state.telemetry.samples(&name),
        volume: name,
        declared_class: info.profile,
        inferred_class: None,
        confidence: None,
        class_source: None,
        classifier_top_class: None,
        window_start_unix_s: None,
        window_end_unix_s: None,
        window_s: None,
        windows: 0,
        current_window_start_unix_s: None,
        current_window_requests: 0,
        features: None,
        demand_bytes: None,
        forecast: None,
        tier_profile: BTreeMap::new(),
        deviations_total: 0,
        recent_deviations: serde_json::Value::Array(Vec::new()),
        telemetry_app_type: None,
        model: serde_json::Value::Null,
        io: stats.into(),
        note: None,
    };
    match &state.profiler {
        Some(profiler) => crate::live_profile::fill(&mut reply, profiler.report(info.id)),
        None => {
            reply.note = Some(
                "the workload profiler is off on this server ([profile] enabled = false); \
                 inferred_class and tier_profile stay empty"
                    .into(),
            );
        }
    }
    Ok(Json(reply))
}
