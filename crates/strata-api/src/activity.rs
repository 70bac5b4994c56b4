//! `GET /v1/migrations` and `GET /v1/prefetch`: the background work of the tiering loop.
//! The types are what the migration executor and the prefetcher will fill; until they run
//! on this server the routes say so instead of inventing numbers.

use crate::extract::{ApiQuery, validate_volume_name};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
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

/// Quality of one access predictor's prefetches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictorStats {
    pub predictor: String,
    /// Prefetched bytes later read, over all prefetched bytes (0 to 1).
    pub precision: f64,
    /// Reads served from prefetched data, over all reads (0 to 1).
    pub coverage: f64,
    pub prefetched_bytes: u64,
    pub wasted_bytes: u64,
}

/// Body of `GET /v1/prefetch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefetchStatus {
    /// Whether a prefetcher runs on this server.
    pub active: bool,
    pub predictors: Vec<PredictorStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub(crate) const PREFETCH_NOTE: &str = "no prefetcher runs on this server yet";

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

/// Prefetch accuracy per predictor.
#[utoipa::path(
    get,
    path = "/v1/prefetch",
    tag = "tiering",
    responses((status = 200, description = "Prefetcher status", body = PrefetchStatus))
)]
pub async fn prefetch(State(_state): State<ApiState>) -> Json<PrefetchStatus> {
    Json(PrefetchStatus {
        active: false,
        predictors: Vec::new(),
        note: Some(PREFETCH_NOTE.into()),
    })
}
