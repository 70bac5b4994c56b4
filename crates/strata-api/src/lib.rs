//! `strata-api`: the REST API of a Strata server (INTERFACE.md, "REST API").
//!
//! Routes live in one module per resource (`volumes`, `servers`, `stats`, `telemetry`,
//! `leases`, `activity`); `error` owns the `{"error": {"code", "message"}}` format and maps
//! engine errors onto HTTP statuses; `json` and `extract` turn malformed input into 4xx
//! replies in that format, and `json::read_whole_body` reads every body before routing, so
//! a refused request never costs the client its keep-alive connection; `auth` enforces the
//! bearer token when one is configured; `openapi` assembles the OpenAPI 3 document from the
//! types; `metrics` renders the Prometheus text exposition; `tls` serves the same router
//! over HTTPS. Handlers never block the runtime: engine calls that may touch the disk run
//! on the blocking pool.

mod activity;
mod auth;
mod error;
mod extract;
mod json;
mod leases;
mod live_profile;
pub mod metrics;
mod openapi;
mod partitions;
mod servers;
mod state;
mod stats;
mod telemetry;
mod tiers;
pub mod tls;
mod volumes;

pub use activity::{MigrationLog, PredictorStats, PrefetchStatus, VolumePrefetch};
pub use error::{ApiError, ErrorDetail, ErrorReply};
pub use json::MAX_BODY_BYTES;
pub use leases::{
    AcquireLease, AcquireReply, Lease, LeaseList, RenewLease, RenewReply, Reservation,
    ReservationList, Retier, TierCost,
};
pub use openapi::{ApiDoc, openapi_document};
pub use partitions::{BackingReply, PartitionEntry, PeerApi};
pub use servers::{Server, ServerList, registration};
pub use state::ApiState;
pub use stats::{ActivitySection, NbdStats, PrefetchSection, StatsReply, VolumeStatsEntry};
pub use telemetry::{AppType, TELEMETRY_RING_LEN, TelemetryAccepted, TelemetrySample};
pub use tiers::{Profile, Tier, TierIo};
pub use tls::serve_tls;
pub use volumes::{CreateVolume, SizeValue, Volume, VolumeIo, VolumeProfile, WORKLOAD_CLASSES};

use axum::Router;
use axum::routing::{get, post, put};

/// Builds the router with every route this server serves.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/servers", get(servers::list))
        .route("/stats", get(stats::stats))
        .route("/volumes", get(volumes::list).post(volumes::create))
        .route(
            "/volumes/{name}",
            get(volumes::show).delete(volumes::delete),
        )
        .route("/volumes/{name}/profile", get(volumes::profile))
        .route(
            "/volumes/{name}/backing",
            post(partitions::create_backing).delete(partitions::delete_backing),
        )
        .route("/volumes/{name}/telemetry", post(telemetry::post))
        .route(
            "/leases",
            get(leases::routes::list).post(leases::routes::acquire),
        )
        .route(
            "/leases/{id}",
            put(leases::routes::renew).delete(leases::routes::release),
        )
        .route("/reservations", get(leases::routes::reservations))
        .route("/migrations", get(activity::migrations))
        .route("/prefetch", get(activity::prefetch));
    Router::new()
        .nest("/v1", v1)
        .route("/metrics", get(metrics::handler))
        .route("/openapi.json", get(openapi::handler))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/healthz", get(healthz))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(json::read_whole_body))
        .with_state(state)
}

/// Liveness: answers without auth as long as the process serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    security(()),
    responses((status = 200, description = "The server is up", body = Health))
)]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Body of `GET /healthz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs `work` on the blocking pool; a panicked task becomes a 500 in the API's format.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::from_join)
}
