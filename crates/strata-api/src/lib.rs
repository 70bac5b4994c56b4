//! `strata-api`: the REST API of a Strata server (INTERFACE.md, "REST API").
//!
//! Routes live in one module per resource (`volumes`, `stats`); `error` owns the
//! `{"error": {"code", "message"}}` format and maps engine errors onto HTTP statuses;
//! `auth` enforces the bearer token when one is configured. Handlers never block the
//! runtime: engine calls that may touch the disk run on the blocking pool.

mod auth;
mod error;
mod json;
mod stats;
mod volumes;

pub use error::ApiError;

use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use strata_engine::Engine;

/// Everything a handler may need, shared by all requests.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub engine: Arc<Engine>,
    /// Bearer token required on every route but `/healthz`; `None` disables auth.
    pub token: Option<Arc<str>>,
    pub server_id: Arc<str>,
}

/// Builds the router with every route this server serves.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/volumes", get(volumes::list).post(volumes::create))
        .route(
            "/volumes/{name}",
            get(volumes::show).delete(volumes::delete),
        )
        .route("/stats", get(stats::stats));
    Router::new()
        .nest("/v1", v1)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/healthz", get(healthz))
        .fallback(error::not_found)
        .with_state(state)
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
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
