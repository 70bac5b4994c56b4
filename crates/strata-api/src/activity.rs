//! `GET /v1/migrations` and `GET /v1/prefetch`: the background work of the tiering loop.
//! Both read the engine: the durable migration log, and the prefetcher's per-volume
//! measures and tuner state, summed per predictor here.

use crate::extract::{ApiQuery, validate_volume_name};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_engine::{PrefetchCounters, PrefetchStats};
use utoipa::{IntoParams, ToSchema};

/// Most log entries one request may ask for.
pub const MAX_MIGRATION_LIMIT: u32 = 10_000;

/// Query of `GET /v1/migrations`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MigrationQuery {
    /// Only this volume's migrations.
    pub volume: Option<String>,
    /// At most this many entries, newest first (1 to 10000) [default: 100].
    pub limit: Option<u32>,
}

/// One move of one extent between tiers, with its reason.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    pub volume: String,
    pub extent: u64,
    pub from_tier: String,
    pub to_tier: String,
    pub bytes: u64,
    /// `promote`, `demote`, `evict`, `prefetch`, `rebalance` or `manual`.
    pub reason: String,
    pub finished_unix_ms: u64,
    pub duration_us: u64,
    /// `done`, `failed`, `aborted` or `cancelled`.
    pub outcome: String,
    /// The device or store error of a failed move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<strata_engine::MigrationRecord> for Migration {
    fn from(r: strata_engine::MigrationRecord) -> Self {
        Self {
            volume: r.volume,
            extent: r.extent,
            from_tier: r.from.to_string(),
            to_tier: r.to.to_string(),
            bytes: r.bytes,
            reason: r.reason,
            finished_unix_ms: r.time_unix_ms,
            duration_us: r.duration_us,
            outcome: format!("{:?}", r.outcome).to_lowercase(),
            error: r.error,
        }
    }
}

/// Body of `GET /v1/migrations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationLog {
    /// Newest first.
    pub migrations: Vec<Migration>,
    /// Present when no migration log exists on this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Quality of one access predictor's prefetches (summed over the volumes running it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictorStats {
    pub predictor: String,
    /// Prefetched extents read before being demoted or evicted, over all prefetched
    /// extents (0 to 1).
    pub precision: f64,
    /// Demand reads served from a prefetched extent, over all demand reads (0 to 1).
    pub coverage: f64,
    pub prefetched_bytes: u64,
    pub wasted_bytes: u64,
    /// Used prefetches that completed before the demand read, over those plus the
    /// predictions whose demand came first (0 to 1).
    #[serde(default)]
    pub timeliness: f64,
    #[serde(default)]
    pub prefetched_extents: u64,
    #[serde(default)]
    pub used_extents: u64,
    #[serde(default)]
    pub wasted_extents: u64,
    /// Demand reads seen, one per extent a read request touched.
    #[serde(default)]
    pub demand_reads: u64,
    /// Demand reads served from a prefetched extent.
    #[serde(default)]
    pub covered_reads: u64,
    /// Extents untouched for the horizon demoted from the fastest tier to make room for
    /// these prefetches (`[prefetch] evict_idle`).
    #[serde(default)]
    pub evicted_extents: u64,
    /// Volumes running this predictor.
    #[serde(default)]
    pub volumes: u64,
}

impl PredictorStats {
    fn from_counters(predictor: &str, c: &PrefetchCounters, volumes: u64) -> Self {
        Self {
            predictor: predictor.to_owned(),
            precision: c.precision(),
            coverage: c.coverage(),
            prefetched_bytes: c.prefetched_bytes,
            wasted_bytes: c.wasted_bytes,
            timeliness: c.timeliness(),
            prefetched_extents: c.prefetched_extents,
            used_extents: c.used_extents,
            wasted_extents: c.wasted_extents,
            demand_reads: c.demand_reads,
            covered_reads: c.covered_reads,
            evicted_extents: c.evicted_extents,
            volumes,
        }
    }
}

/// One volume's prefetching: its predictor, what the self-tuner chose and its measures.
/// (No `deny_unknown_fields`: serde does not support it together with `flatten`, and this
/// is a reply, not a request body.)
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VolumePrefetch {
    pub volume: String,
    /// The declared workload class the predictor was seeded with.
    pub class: String,
    /// The tuner's current depth (extents predicted ahead; 0 while it has prefetch off).
    pub depth: u64,
    /// The tuner's current confidence threshold.
    pub threshold: f64,
    pub tuner_off: bool,
    /// Prefetches waiting for the executor.
    pub queue_len: u64,
    /// Predicted extents whose demand read came before the prefetch completed.
    pub late: u64,
    /// Candidates pushed out of the full queue.
    pub dropped: u64,
    #[serde(flatten)]
    pub stats: PredictorStats,
}

/// Body of `GET /v1/prefetch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefetchStatus {
    /// Whether a prefetcher runs on this server.
    pub active: bool,
    /// One row per predictor in use.
    pub predictors: Vec<PredictorStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The configured predictor (`auto`, a predictor name, or `class`: each volume's
    /// class default).
    #[serde(default)]
    pub configured_predictor: String,
    /// Share of the migration bandwidth prefetch may use.
    #[serde(default)]
    pub bandwidth_share: f64,
    /// Highest occupancy prefetch fills a tier to.
    #[serde(default)]
    pub watermark: f64,
    /// Over every volume, including deleted ones (`predictor` is `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<PredictorStats>,
    #[serde(default)]
    pub volumes: Vec<VolumePrefetch>,
}

pub(crate) const PREFETCH_DISABLED_NOTE: &str =
    "prefetching is disabled ([prefetch] enabled = false)";

impl From<PrefetchStats> for PrefetchStatus {
    fn from(s: PrefetchStats) -> Self {
        let mut by_predictor: BTreeMap<&str, (PrefetchCounters, u64)> = BTreeMap::new();
        for v in &s.volumes {
            let row = by_predictor.entry(v.predictor.as_str()).or_default();
            row.0.add(&v.counters);
            row.1 += 1;
        }
        let predictors = by_predictor
            .iter()
            .map(|(name, (c, n))| PredictorStats::from_counters(name, c, *n))
            .collect();
        let volumes = s
            .volumes
            .iter()
            .map(|v| VolumePrefetch {
                volume: v.volume.clone(),
                class: v.class.clone(),
                depth: v.depth as u64,
                threshold: f64::from(v.threshold),
                tuner_off: v.tuner_off,
                queue_len: v.queue_len as u64,
                late: v.counters.late,
                dropped: v.counters.dropped,
                stats: PredictorStats::from_counters(&v.predictor, &v.counters, 1),
            })
            .collect();
        Self {
            active: s.enabled,
            predictors,
            note: (!s.enabled).then(|| PREFETCH_DISABLED_NOTE.to_owned()),
            configured_predictor: s.predictor,
            bandwidth_share: s.bandwidth_share,
            watermark: s.watermark,
            totals: Some(PredictorStats::from_counters(
                "all",
                &s.totals,
                s.volumes.len() as u64,
            )),
            volumes,
        }
    }
}

/// The migration log.
#[utoipa::path(
    get,
    path = "/v1/migrations",
    tag = "tiering",
    params(MigrationQuery),
    responses(
        (status = 200, description = "Recent migrations", body = MigrationLog),
        (status = 400, description = "Invalid query", body = crate::ErrorReply),
    )
)]
pub async fn migrations(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<MigrationQuery>,
) -> Result<Json<MigrationLog>, ApiError> {
    if let Some(volume) = &query.volume {
        validate_volume_name(volume)?;
    }
    if let Some(limit) = query.limit
        && !(1..=MAX_MIGRATION_LIMIT).contains(&limit)
    {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is not within 1..={MAX_MIGRATION_LIMIT}"
        )));
    }
    let engine = state.engine().clone();
    let limit = query.limit.unwrap_or(100) as usize;
    let records =
        tokio::task::spawn_blocking(move || engine.migration_log(query.volume.as_deref(), limit))
            .await
            .map_err(|err| ApiError::internal(err.to_string()))??;
    Ok(Json(MigrationLog {
        migrations: records.into_iter().map(Migration::from).collect(),
        note: None,
    }))
}

/// Prefetch precision, coverage and timeliness per predictor and per volume, with the
/// self-tuner's current depth and threshold.
#[utoipa::path(
    get,
    path = "/v1/prefetch",
    tag = "tiering",
    responses((status = 200, description = "Prefetcher status", body = PrefetchStatus))
)]
pub async fn prefetch(State(state): State<ApiState>) -> Result<Json<PrefetchStatus>, ApiError> {
    let engine = state.engine().clone();
    let stats = crate::blocking(move || engine.prefetch_stats()).await?;
    Ok(Json(stats.into()))
}
