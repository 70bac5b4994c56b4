//! `POST /v1/volumes/{name}/telemetry`: guest-side observations (CPU, memory, network,
//! application type, user activity) that a VM manager reports for a volume's VM. Each
//! sample is validated and kept in a bounded per-volume ring in memory, shown by
//! `GET /v1/volumes/{name}/profile`; a posted application type also becomes the live
//! profiler's prior for the volume's class.

use crate::extract::VolumeName;
use crate::json::ApiJson;
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};
use utoipa::ToSchema;

/// Samples kept per volume; older ones are dropped first.
pub const TELEMETRY_RING_LEN: usize = 256;
/// Largest network rate accepted, in bytes per second (10 Tbit/s).
const MAX_NET_BYTES_PER_S: f64 = 1.25e12;
/// How far in the future a sample's timestamp may lie (clock skew), in milliseconds.
const MAX_FUTURE_SKEW_MS: u64 = 24 * 3600 * 1000;

/// What kind of application the VM runs, as its manager knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    Database,
    Web,
    File,
    Dev,
    Vdi,
    Backup,
    Unknown,
}

impl AppType {
    /// The workload class of the same name.
    pub fn class_name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Web => "web",
            Self::File => "file",
            Self::Dev => "dev",
            Self::Vdi => "vdi",
            Self::Backup => "backup",
            Self::Unknown => "unknown",
        }
    }
}

/// One observation of the VM using a volume. Every field is optional, but a sample must
/// carry at least one measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySample {
    /// When it was observed; the server's receive time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_unix_ms: Option<u64>,
    /// Guest CPU use, 0 to 100 percent of the VM's vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_used_bytes: Option<u64>,
    /// Must be positive and at least `memory_used_bytes` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub net_rx_bytes_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub net_tx_bytes_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<AppType>,
    /// Whether a person is using the VM interactively right now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_active: Option<bool>,
}

impl TelemetrySample {
    /// Checks ranges and consistency; fills in the timestamp.
    fn validated(mut self, now_ms: u64) -> Result<Self, ApiError> {
        let bad = |msg: String| Err(ApiError::bad_request(msg));
        if self.cpu_percent.is_none()
            && self.memory_used_bytes.is_none()
            && self.memory_total_bytes.is_none()
            && self.net_rx_bytes_per_s.is_none()
            && self.net_tx_bytes_per_s.is_none()
            && self.app_type.is_none()
            && self.user_active.is_none()
        {
            return bad("a telemetry sample needs at least one measurement".into());
        }
        if let Some(cpu) = self.cpu_percent
            && !(0.0..=100.0).contains(&cpu)
        {
            return bad(format!("cpu_percent {cpu} is not within 0..=100"));
        }
        for (field, rate) in [
            ("net_rx_bytes_per_s", self.net_rx_bytes_per_s),
            ("net_tx_bytes_per_s", self.net_tx_bytes_per_s),
        ] {
            if let Some(rate) = rate
                && !(0.0..=MAX_NET_BYTES_PER_S).contains(&rate)
            {
                return bad(format!(
                    "{field} {rate} is not within 0..={MAX_NET_BYTES_PER_S}"
                ));
            }
        }
        if self.memory_total_bytes == Some(0) {
            return bad("memory_total_bytes must be positive".into());
        }
        if let (Some(used), Some(total)) = (self.memory_used_bytes, self.memory_total_bytes)
            && used > total
        {
            return bad(format!(
                "memory_used_bytes {used} exceeds memory_total_bytes {total}"
            ));
        }
        match self.timestamp_unix_ms {
            Some(ts) if ts > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) => {
                return bad(format!(
                    "timestamp_unix_ms {ts} lies more than a day in the future"
                ));
            }
            Some(_) => {}
            None => self.timestamp_unix_ms = Some(now_ms),
        }
        Ok(self)
    }
}

/// Reply to an accepted sample.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryAccepted {
    pub volume: String,
    /// Samples now held for this volume (at most the ring length).
    pub samples_kept: usize,
    pub ring_len: usize,
}

/// Bounded per-volume rings of samples.
#[derive(Debug, Default)]
pub(crate) struct TelemetryStore {
    rings: Mutex<HashMap<String, VecDeque<TelemetrySample>>>,
}

impl TelemetryStore {
    fn push(&self, volume: &str, sample: TelemetrySample) -> usize {
        let mut rings = self.rings.lock();
        let ring = rings.entry(volume.to_owned()).or_default();
        if ring.len() == TELEMETRY_RING_LEN {
            ring.pop_front();
        }
        ring.push_back(sample);
        ring.len()
    }

    /// Oldest first.
    pub fn samples(&self, volume: &str) -> Vec<TelemetrySample> {
        self.rings
            .lock()
            .get(volume)
            .map(|ring| ring.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A deleted volume's samples go with it, so a new volume of that name starts empty.
    pub fn forget(&self, volume: &str) {
        self.rings.lock().remove(volume);
    }
}

pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Record a telemetry sample for a volume's VM.
#[utoipa::path(
    post,
    path = "/v1/volumes/{name}/telemetry",
    tag = "volumes",
    params(("name" = String, Path, description = "Volume name")),
    request_body = TelemetrySample,
    responses(
        (status = 202, description = "Sample validated and kept", body = TelemetryAccepted),
        (status = 400, description = "Invalid sample or name", body = crate::ErrorReply),
        (status = 404, description = "No such volume", body = crate::ErrorReply),
        (status = 413, description = "Body too large", body = crate::ErrorReply),
        (status = 415, description = "Body is not JSON", body = crate::ErrorReply),
    )
)]
pub async fn post(
    State(state): State<ApiState>,
    VolumeName(name): VolumeName,
    ApiJson(sample): ApiJson<TelemetrySample>,
) -> Result<(StatusCode, Json<TelemetryAccepted>), ApiError> {
    let sample = sample.validated(now_unix_ms())?;
    let engine = state.engine.clone();
    let lookup = name.clone();
    let info = blocking(move || engine.volume_info(&lookup)).await??;
    if let (Some(profiler), Some(app)) = (&state.profiler, sample.app_type) {
        // The application type is the classifier's prior for this volume.
        profiler.set_app_hint(&info, app.class_name())?;
    }
    let samples_kept = state.telemetry.push(&name, sample);
    Ok((
        StatusCode::ACCEPTED,
        Json(TelemetryAccepted {
            volume: name,
            samples_kept,
            ring_len: TELEMETRY_RING_LEN,
        }),
    ))
}
