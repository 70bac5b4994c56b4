//! `/v1/leases` and `/v1/reservations`: a client's attachment to a volume (holder, TTL,
//! fencing generation, tier preferences) and the soft reservations that come with it.
//!
//! The control plane (`strata-control`) owns leases. Until it is wired into this server,
//! every route validates its input completely — so a caller learns about its own mistakes
//! with a 4xx — and then answers 501 `not_implemented`, never a made-up success. The types
//! are the wire format the control plane will fill.

use crate::extract::{ApiQuery, LeaseId, validate_volume_name};
use crate::json::ApiJson;
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_core::{TierKind, parse_fraction};
use utoipa::{IntoParams, ToSchema};

/// Longest lease holder id, in bytes.
pub const MAX_HOLDER_LEN: usize = 128;
/// Longest lease TTL, in seconds (a day).
pub const MAX_TTL_S: u64 = 86_400;
/// Tolerance of the "preferences sum to at most 1" check, for fractions like 1/3.
const FRACTION_SUM_SLACK: f64 = 1e-9;

const NOT_WIRED: &str =
    "leases and reservations need the control plane, which does not run on this server yet";

/// A fraction as a number in [0, 1] or a percentage string such as `"30%"`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FractionValue {
    Ratio(f64),
    #[schema(example = "30%")]
    Text(String),
}

impl FractionValue {
    fn value(&self, field: &str) -> Result<f64, ApiError> {
        let parsed = match self {
            Self::Ratio(r) => parse_fraction(&r.to_string()),
            Self::Text(text) => parse_fraction(text),
        };
        parsed.map_err(|err| ApiError::bad_request(format!("{field}: {err}")))
    }
}

/// Body of `POST /v1/leases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireLease {
    #[schema(example = "db01")]
    pub volume: String,
    /// Who attaches: 1–128 printable ASCII characters, e.g. a hypervisor host and VM id.
    #[schema(example = "host7/vm-42")]
    pub holder: String,
    /// Seconds until the lease expires unless renewed, 1 to 86400 [default: 30].
    #[serde(default)]
    pub ttl_s: Option<u64>,
    /// Tier name → wanted fraction of the volume's working set; fractions sum to at most 1.
    #[serde(default)]
    pub prefer: Option<BTreeMap<String, FractionValue>>,
}

impl AcquireLease {
    /// Checks everything that does not need the control plane; returns the preferences.
    fn validate(&self, known_tiers: &[String]) -> Result<BTreeMap<String, f64>, ApiError> {
        validate_volume_name(&self.volume)?;
        let printable = self
            .holder
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ');
        if self.holder.is_empty() || self.holder.len() > MAX_HOLDER_LEN || !printable {
            return Err(ApiError::bad_request(format!(
                "holder must be 1-{MAX_HOLDER_LEN} printable ASCII characters"
            )));
        }
        validate_ttl(self.ttl_s)?;
        let mut prefer = BTreeMap::new();
        for (tier, fraction) in self.prefer.iter().flatten() {
            tier.parse::<TierKind>()
                .map_err(|err| ApiError::bad_request(format!("prefer: {err}")))?;
            if !known_tiers.contains(tier) {
                return Err(ApiError::bad_request(format!(
                    "prefer: this server has no tier {tier:?} (tiers: {})",
                    known_tiers.join(", ")
                )));
            }
            prefer.insert(tier.clone(), fraction.value(&format!("prefer.{tier}"))?);
        }
        let sum: f64 = prefer.values().sum();
        if sum > 1.0 + FRACTION_SUM_SLACK {
            return Err(ApiError::bad_request(format!(
                "prefer: fractions sum to {sum}, more than 1"
            )));
        }
        Ok(prefer)
    }
}

/// Body of `PUT /v1/leases/{id}`: renew (extend) a lease.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewLease {
    /// New TTL in seconds from now, 1 to 86400 [default: the lease's TTL].
    #[serde(default)]
    pub ttl_s: Option<u64>,
    /// The generation the holder believes current; a stale one is refused (fencing).
    #[serde(default)]
    pub generation: Option<u64>,
}

fn validate_ttl(ttl_s: Option<u64>) -> Result<(), ApiError> {
    match ttl_s {
        Some(ttl) if !(1..=MAX_TTL_S).contains(&ttl) => Err(ApiError::bad_request(format!(
            "ttl_s {ttl} is not within 1..={MAX_TTL_S}"
        ))),
        _ => Ok(()),
    }
}

/// A live lease.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub id: String,
    pub volume: String,
    pub holder: String,
    /// Fencing token: writes carrying an older generation are refused.
    pub generation: u64,
    pub ttl_s: u64,
    pub expires_unix_ms: u64,
    pub prefer: BTreeMap<String, f64>,
}

/// Body of `GET /v1/leases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseList {
    pub leases: Vec<Lease>,
}

/// Capacity kept free on one tier of one server for a leased volume.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub volume: String,
    pub lease_id: String,
    pub server_id: String,
    pub tier: String,
    pub bytes: u64,
    /// `pending`, `held`, `borrowed` or `released`.
    pub status: String,
}

/// Body of `GET /v1/reservations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationList {
    pub reservations: Vec<Reservation>,
}

/// Query of `GET /v1/reservations`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationQuery {
    /// Only this volume's reservations.
    pub volume: Option<String>,
}

/// Acquire a lease on a volume.
#[utoipa::path(
    post,
    path = "/v1/leases",
    tag = "leases",
    request_body = AcquireLease,
    responses(
        (status = 201, description = "Acquired", body = Lease),
        (status = 400, description = "Invalid body", body = crate::ErrorReply),
        (status = 404, description = "No such volume", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn acquire(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<AcquireLease>,
) -> Result<(StatusCode, Json<Lease>), ApiError> {
    let engine = state.engine.clone();
    let tiers: Vec<String> = blocking(move || engine.tiers())
        .await?
        .iter()
        .map(|t| t.kind.as_str().to_owned())
        .collect();
    body.validate(&tiers)?;
    let engine = state.engine.clone();
    blocking(move || engine.volume_info(&body.volume)).await??;
    Err(ApiError::not_implemented(NOT_WIRED))
}

/// Renew a lease.
#[utoipa::path(
    put,
    path = "/v1/leases/{id}",
    tag = "leases",
    params(("id" = String, Path, description = "Lease id")),
    request_body = RenewLease,
    responses(
        (status = 200, description = "Renewed", body = Lease),
        (status = 400, description = "Invalid body or id", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn renew(
    State(_state): State<ApiState>,
    LeaseId(_id): LeaseId,
    ApiJson(body): ApiJson<RenewLease>,
) -> Result<Json<Lease>, ApiError> {
    validate_ttl(body.ttl_s)?;
    Err(ApiError::not_implemented(NOT_WIRED))
}

/// Release a lease (and its reservations).
#[utoipa::path(
    delete,
    path = "/v1/leases/{id}",
    tag = "leases",
    params(("id" = String, Path, description = "Lease id")),
    responses(
        (status = 204, description = "Released"),
        (status = 400, description = "Invalid id", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn release(
    State(_state): State<ApiState>,
    LeaseId(_id): LeaseId,
) -> Result<StatusCode, ApiError> {
    Err(ApiError::not_implemented(NOT_WIRED))
}

/// List live leases.
#[utoipa::path(
    get,
    path = "/v1/leases",
    tag = "leases",
    responses(
        (status = 200, description = "Live leases", body = LeaseList),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn list(State(_state): State<ApiState>) -> Result<Json<LeaseList>, ApiError> {
    Err(ApiError::not_implemented(NOT_WIRED))
}

/// List soft reservations.
#[utoipa::path(
    get,
    path = "/v1/reservations",
    tag = "leases",
    params(ReservationQuery),
    responses(
        (status = 200, description = "Reservations", body = ReservationList),
        (status = 400, description = "Invalid query", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn reservations(
    State(_state): State<ApiState>,
    ApiQuery(query): ApiQuery<ReservationQuery>,
) -> Result<Json<ReservationList>, ApiError> {
    if let Some(volume) = &query.volume {
        validate_volume_name(volume)?;
    }
    Err(ApiError::not_implemented(NOT_WIRED))
}
