//! `GET /v1/servers`: the servers of the cluster. Until the control plane registers servers
//! in a shared store, that is this one server, described from what it knows of itself.

use crate::tiers::Tier;
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One Strata server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[schema(example = "strata-1")]
    pub id: String,
    /// Where NBD clients connect (`host:port`); `null` if not known to the API.
    pub nbd_address: Option<String>,
    /// Where the REST API and `/metrics` listen.
    pub api_address: Option<String>,
    /// `up` for a server answering this request.
    #[schema(example = "up")]
    pub health: String,
    pub version: String,
    pub tiers: Vec<Tier>,
}

/// Body of `GET /v1/servers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerList {
    pub servers: Vec<Server>,
}

/// List the servers of the cluster.
#[utoipa::path(
    get,
    path = "/v1/servers",
    tag = "server",
    responses((status = 200, description = "The servers", body = ServerList))
)]
pub async fn list(State(state): State<ApiState>) -> Result<Json<ServerList>, ApiError> {
    Ok(Json(ServerList {
        servers: vec![this_server(&state).await?],
    }))
}

pub(crate) async fn this_server(state: &ApiState) -> Result<Server, ApiError> {
    let engine = state.engine.clone();
    let tiers = blocking(move || engine.tiers()).await?;
    Ok(Server {
        id: state.server_id.to_string(),
        nbd_address: state.nbd_address.as_deref().map(str::to_owned),
        api_address: state.api_address.as_deref().map(str::to_owned),
        health: "up".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        tiers: tiers.iter().map(Tier::from).collect(),
    })
}
