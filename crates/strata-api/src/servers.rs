//! `GET /v1/servers`: the servers of the cluster, from the control plane's registry (a
//! shared etcd, or the embedded store of a single server).

use crate::tiers::{Profile, Tier, TierIo, ratio};
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_control::{ServerSpec, TierSpec};
use strata_engine::Engine;
use utoipa::ToSchema;

/// One Strata server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[schema(example = "strata-1")]
    pub id: String,
    /// Where NBD clients connect (`host:port`); `null` if not known to the API.
    pub nbd_address: Option<String>,
    /// Where the REST API and `/metrics` listen (`host:port`).
    pub api_address: Option<String>,
    /// The same with its scheme: `https://host:port` when the API is served over TLS,
    /// else `http://host:port` (also for servers that registered without a scheme).
    #[serde(default)]
    #[schema(example = "https://10.0.0.1:7800")]
    pub api_url: Option<String>,
    /// `up` while its heartbeat lease is alive (always for the server answering), else
    /// `down`.
    #[schema(example = "up")]
    pub health: String,
    /// Software version; known for the server answering only.
    pub version: Option<String>,
    pub tiers: Vec<Tier>,
}

/// Body of `GET /v1/servers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerList {
    pub servers: Vec<Server>,
}

/// List the servers of the cluster: every server registered with the control plane (this
/// one with its live device counters, others as they registered), or this server alone
/// when it runs without one.
#[utoipa::path(
    get,
    path = "/v1/servers",
    tag = "server",
    responses((status = 200, description = "The servers", body = ServerList))
)]
pub async fn list(State(state): State<ApiState>) -> Result<Json<ServerList>, ApiError> {
    let me = this_server(&state).await?;
    let Some(plane) = state.control.clone() else {
        return Ok(Json(ServerList { servers: vec![me] }));
    };
    let registered = blocking(move || plane.list_servers()).await??;
    let mut servers: Vec<Server> = registered.iter().map(registered_server).collect();
    match servers.iter_mut().find(|s| s.id == me.id) {
        Some(entry) => {
            // This process's own view of its devices, with the registry's reservations.
            let reserved: BTreeMap<String, u64> = entry
                .tiers
                .iter()
                .map(|t| (t.kind.clone(), t.reserved_bytes))
                .collect();
            *entry = me;
            for tier in &mut entry.tiers {
                tier.reserved_bytes = reserved.get(&tier.kind).copied().unwrap_or(0);
            }
        }
        // Not registered (yet): still list the server answering.
        None => servers.insert(0, me),
    }
    Ok(Json(ServerList { servers }))
}

/// Another server, as the registry knows it: no device counters (ask its own API).
fn registered_server(status: &strata_control::ServerStatus) -> Server {
    let tiers = status
        .spec
        .tiers
        .iter()
        .map(|spec| {
            let usage = status.usage.get(&spec.tier).copied().unwrap_or_default();
            Tier {
                kind: spec.tier.as_str().to_owned(),
                capacity_bytes: usage.capacity_bytes,
                used_bytes: usage.used_bytes,
                free_bytes: usage.free_bytes(),
                reserved_bytes: usage.reserved_bytes,
                occupancy: ratio(usage.used_bytes, usage.capacity_bytes),
                slot_granule_bytes: 0,
                cost_per_gib_month: spec.cost_per_gib_month,
                profile: Profile::from(&spec.profile),
                io: TierIo::default(),
                copy_service_ratio: None,
            }
        })
        .collect();
    Server {
        id: status.spec.id.clone(),
        nbd_address: Some(status.spec.address.clone()),
        api_address: status.spec.api_host_port(),
        api_url: status.spec.api_url(),
        health: match status.health {
            strata_control::Health::Up => "up".into(),
            strata_control::Health::Down => "down".into(),
        },
        version: None,
        tiers,
    }
}

pub(crate) async fn this_server(state: &ApiState) -> Result<Server, ApiError> {
    let engine = state.engine.clone();
    let tiers = blocking(move || engine.tiers()).await?;
    Ok(Server {
        id: state.server_id.to_string(),
        nbd_address: state.nbd_address.as_deref().map(str::to_owned),
        api_address: state
            .api_address
            .as_deref()
            .map(strata_control::api_host_port),
        api_url: state.api_address.as_deref().map(strata_control::api_url),
        health: "up".into(),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        tiers: tiers.iter().map(Tier::from).collect(),
    })
}

/// What a server announces to the control plane's registry: its tiers with capacity, what
/// is written on them, price and device profile, and where its NBD and API listen (`api`
/// with its scheme, `https://host:port` or `http://host:port`, so peers know how to call
/// it).
pub fn registration(engine: &Engine, id: &str, nbd: String, api: String) -> ServerSpec {
    ServerSpec {
        id: id.to_owned(),
        address: nbd,
        api_address: Some(api),
        tiers: engine
            .tiers()
            .into_iter()
            .map(|t| TierSpec {
                tier: t.kind,
                capacity_bytes: t.capacity_bytes,
                used_bytes: t.used_bytes.min(t.capacity_bytes),
                cost_per_gib_month: t.cost_per_gib_month,
                profile: t.profile,
                load: 0.0,
            })
            .collect(),
    }
}
