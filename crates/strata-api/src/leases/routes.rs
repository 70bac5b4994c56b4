//! The lease and reservation handlers: validate, then call the control plane on the
//! blocking pool (its store calls may wait on disk or on etcd).

use super::{
    AcquireLease, AcquireReply, DEFAULT_TTL_S, Lease, LeaseList, RenewLease, RenewReply,
    Reservation, ReservationList, ReservationQuery, Retier, TierCost, complete_mix, mix_by_name,
    validate_ttl,
};
use crate::extract::{ApiQuery, LeaseId, validate_volume_name};
use crate::json::ApiJson;
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use strata_control::{AcquireOutcome, AcquireRequest, ControlPlane, ReservationStatus};
use strata_core::{Clock, TierKind, UnixClock};

const NOT_WIRED: &str =
    "leases and reservations need the control plane, which this server was started without";

fn control(state: &ApiState) -> Result<Arc<ControlPlane>, ApiError> {
    state
        .control
        .clone()
        .ok_or_else(|| ApiError::not_implemented(NOT_WIRED))
}

/// Acquire a lease on a volume, with soft reservations for the tiers it prefers.
#[utoipa::path(
    post,
    path = "/v1/leases",
    tag = "leases",
    request_body = AcquireLease,
    responses(
        (status = 201, description = "Granted, with its reservations", body = AcquireReply),
        (status = 200, description = "Not granted: tier mixes and servers that would work", body = AcquireReply),
        (status = 400, description = "Invalid body", body = crate::ErrorReply),
        (status = 404, description = "No such volume", body = crate::ErrorReply),
        (status = 409, description = "Leased by another live holder", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn acquire(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<AcquireLease>,
) -> Result<(StatusCode, Json<AcquireReply>), ApiError> {
    let engine = state.engine.clone();
    let tiers: Vec<TierKind> = blocking(move || engine.tiers())
        .await?
        .into_iter()
        .map(|t| t.kind)
        .collect();
    let prefer = body.validate(&tiers)?;
    let engine = state.engine.clone();
    let volume = body.volume.clone();
    let info = blocking(move || engine.volume_info(&volume)).await??;
    let plane = control(&state)?;
    // Tiers are listed fastest first; an engine always has at least one.
    let slowest = tiers
        .last()
        .ok_or_else(|| ApiError::internal("this server has no tiers"))?;
    let mix = complete_mix(prefer, slowest);
    let request = AcquireRequest {
        volume: body.volume,
        holder: body.holder,
        ttl: Duration::from_secs(body.ttl_s.unwrap_or(DEFAULT_TTL_S)),
        tier_preferences: mix,
        size_bytes: info.size_bytes,
        takeover: body.takeover.unwrap_or(false),
    };
    blocking(move || -> Result<(StatusCode, AcquireReply), ApiError> {
        match plane.acquire(&request)? {
            AcquireOutcome::Granted { lease } => {
                let reserved = plane.pre_allocate(
                    &lease.volume,
                    &lease.lease_id,
                    &lease.tiers_granted,
                    request.size_bytes,
                );
                let reservations = match reserved {
                    Ok(reservations) => reservations,
                    Err(err) => {
                        // All or nothing: a lease without its reservations is not granted.
                        if let Err(undo) = plane.release(&lease.lease_id) {
                            tracing::warn!("releasing {} after {err}: {undo}", lease.lease_id);
                        }
                        return Err(err.into());
                    }
                };
                Ok((
                    StatusCode::CREATED,
                    AcquireReply::Granted {
                        lease: Lease::from(&lease),
                        reservations: reservations.iter().map(Reservation::from).collect(),
                    },
                ))
            }
            AcquireOutcome::Alternative {
                reason,
                suggested_mixes,
                suggested_servers,
            } => Ok((
                StatusCode::OK,
                AcquireReply::Alternative {
                    reason,
                    suggested_mixes: suggested_mixes.iter().map(mix_by_name).collect(),
                    suggested_servers,
                },
            )),
        }
    })
    .await?
    .map(|(status, reply)| (status, Json(reply)))
}

/// Renew a lease: extends it, reports its cost so far and re-tiering advice.
#[utoipa::path(
    put,
    path = "/v1/leases/{id}",
    tag = "leases",
    params(("id" = String, Path, description = "Lease id, `<volume>:<generation>`")),
    request_body = RenewLease,
    responses(
        (status = 200, description = "Renewed", body = RenewReply),
        (status = 400, description = "Invalid body or id", body = crate::ErrorReply),
        (status = 409, description = "A newer generation holds the volume", body = crate::ErrorReply),
        (status = 410, description = "The lease expired or was released", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn renew(
    State(state): State<ApiState>,
    LeaseId(id): LeaseId,
    ApiJson(body): ApiJson<RenewLease>,
) -> Result<Json<RenewReply>, ApiError> {
    validate_ttl(body.ttl_s)?;
    let (_, generation) = strata_control::leases::parse_lease_id(&id)?;
    if let Some(claimed) = body.generation
        && claimed != generation
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "stale_generation",
            format!("lease {id} is generation {generation}, the body says {claimed}"),
        ));
    }
    let plane = control(&state)?;
    let ttl = body.ttl_s.map(Duration::from_secs);
    let report = blocking(move || plane.renew_for(&id, ttl, None)).await??;
    Ok(Json(RenewReply {
        lease: Lease::from(&report.lease),
        cost_so_far: report.cost_so_far,
        cost_by_tier: report
            .cost_by_tier
            .iter()
            .map(|c| TierCost {
                tier: c.tier.as_str().to_owned(),
                bytes: c.bytes,
                cost: c.cost,
            })
            .collect(),
        retier: report.retier.map(|r| Retier {
            suggested: mix_by_name(&r.suggested),
            reason: r.reason,
        }),
    }))
}

/// Release a lease and give its reservations back.
#[utoipa::path(
    delete,
    path = "/v1/leases/{id}",
    tag = "leases",
    params(("id" = String, Path, description = "Lease id, `<volume>:<generation>`")),
    responses(
        (status = 204, description = "Released"),
        (status = 400, description = "Invalid id", body = crate::ErrorReply),
        (status = 409, description = "A newer generation holds the volume", body = crate::ErrorReply),
        (status = 410, description = "The lease expired or was released", body = crate::ErrorReply),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn release(
    State(state): State<ApiState>,
    LeaseId(id): LeaseId,
) -> Result<StatusCode, ApiError> {
    strata_control::leases::parse_lease_id(&id)?;
    let plane = control(&state)?;
    blocking(move || plane.release(&id)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// List live leases, by volume.
#[utoipa::path(
    get,
    path = "/v1/leases",
    tag = "leases",
    responses(
        (status = 200, description = "Live leases", body = LeaseList),
        (status = 501, description = "No control plane on this server", body = crate::ErrorReply),
    )
)]
pub async fn list(State(state): State<ApiState>) -> Result<Json<LeaseList>, ApiError> {
    let plane = control(&state)?;
    let now_ms = UnixClock.now_ns() / 1_000_000;
    let records = blocking(move || plane.list_leases()).await??;
    Ok(Json(LeaseList {
        leases: records
            .iter()
            .map(Lease::from)
            // Records past their TTL wait for the expiry sweep; they are not leases.
            .filter(|lease| lease.expires_unix_ms > now_ms)
            .collect(),
    }))
}

/// List soft reservations (held ones unless `all=true`).
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
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<ReservationQuery>,
) -> Result<Json<ReservationList>, ApiError> {
    if let Some(volume) = &query.volume {
        validate_volume_name(volume)?;
    }
    let plane = control(&state)?;
    let all = query.all.unwrap_or(false);
    let found = blocking(move || plane.list_reservations(query.volume.as_deref())).await??;
    Ok(Json(ReservationList {
        reservations: found
            .iter()
            .filter(|r| all || r.status != ReservationStatus::Released)
            .map(Reservation::from)
            .collect(),
    }))
}
