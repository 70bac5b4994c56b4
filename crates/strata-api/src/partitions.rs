//! Partitioned volumes over the API: `POST /v1/volumes` with `"partitions": N` records a
//! partition map in the control plane and has every owner create its backing volume, and
//! `DELETE /v1/volumes/{name}` takes the backings and the map down again.
//!
//! The server that receives the create drives it: it records the map (state `creating`,
//! which no server serves), creates its own backing directly and asks every other owner
//! over that owner's API (`POST /v1/volumes/{name}/backing`, through the [`PeerApi`] the
//! binary supplies) to create its own from the recorded map; only when all have answered
//! is the map marked `ready`. A failure removes the backings already made and the map, so a
//! volume is either whole and served or absent; if even the clean-up fails, the map stays
//! `creating` (never served) and the error says to delete the volume.

use crate::volumes::Volume;
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use strata_control::{ControlPlane, PartitionMap, PartitionMapState, PartitionedVolumeSpec};
use strata_engine::{Engine, VolumeSpec, validate_volume_geometry};
use utoipa::ToSchema;

/// Calls another server's API on behalf of this one (with this cluster's bearer token).
pub trait PeerApi: Send + Sync + std::fmt::Debug {
    /// Has the server whose API is at `api_url` (`http://host:port` or
    /// `https://host:port`) create its backing of `volume` from the map.
    fn create_backing(&self, api_url: &str, volume: &str) -> Result<(), String>;
    /// Has the server at `api_url` delete its backing of `volume` (absent is fine).
    fn delete_backing(&self, api_url: &str, volume: &str) -> Result<(), String>;
}

/// One partition as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionEntry {
    pub index: u32,
    pub start_bytes: u64,
    pub len_bytes: u64,
    /// Id of the owning server.
    pub server: String,
}

/// `creating` (not served yet) or `ready`.
fn state_name(state: PartitionMapState) -> &'static str {
    match state {
        PartitionMapState::Creating => "creating",
        PartitionMapState::Ready => "ready",
    }
}

/// The volume as shown for a map, with this server's backing's figures when it has one.
pub(crate) fn volume_of_map(map: &PartitionMap, local: Option<Volume>) -> Volume {
    let mut volume = local.unwrap_or_else(|| Volume {
        id: 0,
        name: map.volume.clone(),
        size_bytes: map.size_bytes,
        extent_size_bytes: map.extent_size_bytes,
        block_size: 4096,
        profile: map.profile.clone(),
        pin: map.pin.as_ref().map(|p| p.as_str().to_owned()),
        allocated_bytes: 0,
        bytes_per_tier: Default::default(),
        created_unix_s: map.created_at_ns / 1_000_000_000,
        open_handles: 0,
        partitions: None,
        partition_state: None,
    });
    volume.partitions = Some(
        map.partitions
            .iter()
            .map(|p| PartitionEntry {
                index: p.index,
                start_bytes: p.start_bytes,
                len_bytes: p.len_bytes,
                server: p.server.clone(),
            })
            .collect(),
    );
    volume.partition_state = Some(state_name(map.state).to_owned());
    volume
}

fn backing_spec(map: &PartitionMap) -> VolumeSpec {
    VolumeSpec {
        name: map.volume.clone(),
        size_bytes: map.size_bytes,
        extent_size_bytes: Some(map.extent_size_bytes),
        profile: map.profile.clone(),
        pin: map.pin.clone(),
    }
}

fn peer_failure(server: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "unavailable",
        format!("server {server}: {message}"),
    )
}

/// Where each owner's API is, from the registry, with its scheme (`http://` for a record
/// registered without one).
fn api_url(plane: &ControlPlane, server: &str) -> Result<String, ApiError> {
    plane
        .list_servers()?
        .into_iter()
        .find(|s| s.spec.id == server)
        .and_then(|s| s.spec.api_url())
        .ok_or_else(|| peer_failure(server, "is not registered with an API address".into()))
}

/// Context of one create or delete, run on the blocking pool.
struct Cluster<'a> {
    plane: &'a ControlPlane,
    engine: &'a Engine,
    peers: Option<&'a dyn PeerApi>,
    server_id: &'a str,
}

impl Cluster<'_> {
    fn create_backing(&self, map: &PartitionMap, owner: &str) -> Result<(), ApiError> {
        if owner == self.server_id {
            self.engine.create_volume(backing_spec(map))?;
            return Ok(());
        }
        let peers = self.peers.ok_or_else(|| {
            ApiError::not_implemented("this server cannot call other servers' APIs")
        })?;
        let url = api_url(self.plane, owner)?;
        peers
            .create_backing(&url, &map.volume)
            .map_err(|message| peer_failure(owner, message))
    }

    fn delete_backing(&self, volume: &str, owner: &str) -> Result<(), ApiError> {
        if owner == self.server_id {
            return match self.engine.delete_volume(volume) {
                Err(err) if err.kind != strata_engine::EngineErrorKind::NotFound => Err(err.into()),
                _ => Ok(()),
            };
        }
        let peers = self.peers.ok_or_else(|| {
            ApiError::not_implemented("this server cannot call other servers' APIs")
        })?;
        let url = api_url(self.plane, owner)?;
        peers
            .delete_backing(&url, volume)
            .map_err(|message| peer_failure(owner, message))
    }

    fn create(&self, spec: &PartitionedVolumeSpec) -> Result<PartitionMap, ApiError> {
        let map = self.plane.create_partitioned_volume(spec, self.server_id)?;
        let mut created: Vec<&str> = Vec::new();
        for owner in map.owners() {
            if let Err(err) = self.create_backing(&map, owner) {
                let cleanup = created
                    .iter()
                    .map(|done| self.delete_backing(&map.volume, done))
                    .chain(std::iter::once_with(|| {
                        self.plane
                            .delete_partition_map(&map.volume)
                            .map(drop)
                            .map_err(ApiError::from)
                    }))
                    .find_map(Result::err);
                return Err(match cleanup {
                    None => err,
                    Some(cleanup) => ApiError::new(
                        err.status,
                        err.code,
                        format!(
                            "{}; cleaning up also failed ({}): the volume stays in state \
                             creating and is not served; delete it",
                            err.message, cleanup.message
                        ),
                    ),
                });
            }
            created.push(owner);
        }
        Ok(self.plane.mark_partition_map_ready(&map.volume)?)
    }

    /// Deletes every backing, then the map; stops at the first failure with the map kept,
    /// so the delete can be repeated.
    fn delete(&self, map: &PartitionMap) -> Result<(), ApiError> {
        for owner in map.owners() {
            self.delete_backing(&map.volume, owner)?;
        }
        self.plane.delete_partition_map(&map.volume)?;
        Ok(())
    }
}

/// Creates a partitioned volume from a validated spec (see the module docs).
pub(crate) async fn create(
    state: &ApiState,
    spec: VolumeSpec,
    partitions: u32,
) -> Result<(StatusCode, Json<Volume>), ApiError> {
    let plane = state.control.clone().ok_or_else(|| {
        ApiError::not_implemented("partitioned volumes need the control plane on this server")
    })?;
    let extent_size_bytes = validate_volume_geometry(&spec)?;
    let engine = state.engine.clone();
    let capacity_tier = match &spec.pin {
        Some(pin) => pin.clone(),
        // The slowest tier holds a volume's bulk, so its room decides placement.
        None => engine
            .tiers()
            .last()
            .map(|t| t.kind.clone())
            .ok_or_else(|| ApiError::not_implemented("this server has no tiers"))?,
    };
    let request = PartitionedVolumeSpec {
        name: spec.name.clone(),
        size_bytes: spec.size_bytes,
        extent_size_bytes,
        partitions,
        profile: spec.profile.clone(),
        pin: spec.pin.clone(),
        capacity_tier,
    };
    let (peers, server_id) = (state.peers.clone(), state.server_id.clone());
    let (map, local) = blocking(move || {
        if engine.volume_info(&request.name).is_ok() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("a volume named {} exists on this server", request.name),
            ));
        }
        let cluster = Cluster {
            plane: &plane,
            engine: &engine,
            peers: peers.as_deref(),
            server_id: &server_id,
        };
        let map = cluster.create(&request)?;
        let local = engine.volume_info(&map.volume).ok().map(Volume::from);
        Ok((map, local))
    })
    .await??;
    Ok((StatusCode::CREATED, Json(volume_of_map(&map, local))))
}

/// Deletes a partitioned volume everywhere; `Ok(false)` when `name` is not partitioned.
pub(crate) async fn delete(state: &ApiState, name: &str) -> Result<bool, ApiError> {
    let Some(plane) = state.control.clone() else {
        return Ok(false);
    };
    let (engine, peers, server_id) = (
        state.engine.clone(),
        state.peers.clone(),
        state.server_id.clone(),
    );
    let name = name.to_owned();
    blocking(move || {
        let Some(map) = plane.partition_map(&name)? else {
            return Ok(false);
        };
        Cluster {
            plane: &plane,
            engine: &engine,
            peers: peers.as_deref(),
            server_id: &server_id,
        }
        .delete(&map)?;
        plane.delete_volume(&name)?;
        Ok(true)
    })
    .await?
}

/// The map of `name`, if partitioned (and a control plane is present).
pub(crate) async fn map_of(state: &ApiState, name: &str) -> Result<Option<PartitionMap>, ApiError> {
    let Some(plane) = state.control.clone() else {
        return Ok(None);
    };
    let name = name.to_owned();
    Ok(blocking(move || plane.partition_map(&name)).await??)
}

/// Every partition map (empty without a control plane).
pub(crate) async fn all_maps(state: &ApiState) -> Result<Vec<PartitionMap>, ApiError> {
    let Some(plane) = state.control.clone() else {
        return Ok(Vec::new());
    };
    Ok(blocking(move || plane.list_partition_maps()).await??)
}

/// Reply of the backing routes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackingReply {
    pub volume: String,
    pub server: String,
    /// The partitions of the volume this server owns.
    pub partitions: Vec<u32>,
}

/// Create this server's backing of a partitioned volume from its recorded map (internal:
/// called by the server that creates the volume). Idempotent.
#[utoipa::path(
    post,
    path = "/v1/volumes/{name}/backing",
    tag = "volumes",
    params(("name" = String, Path, description = "Volume name")),
    responses(
        (status = 201, description = "Backing created (or already there)", body = BackingReply),
        (status = 404, description = "No partition map, or no partition here", body = crate::ErrorReply),
        (status = 409, description = "A different volume of that name exists here", body = crate::ErrorReply),
    )
)]
pub async fn create_backing(
    State(state): State<ApiState>,
    crate::extract::VolumeName(name): crate::extract::VolumeName,
) -> Result<(StatusCode, Json<BackingReply>), ApiError> {
    let map = map_of(&state, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{name} has no partition map")))?;
    let owned: Vec<u32> = map.owned_by(&state.server_id).map(|p| p.index).collect();
    if owned.is_empty() {
        return Err(ApiError::not_found(format!(
            "no partition of {name} is placed on server {}",
            state.server_id
        )));
    }
    let engine = state.engine.clone();
    let spec = backing_spec(&map);
    blocking(move || match engine.volume_info(&spec.name) {
        // A retried create finds its own earlier work.
        Ok(info)
            if info.size_bytes == spec.size_bytes
                && Some(info.extent_size_bytes) == spec.extent_size_bytes =>
        {
            Ok(())
        }
        Ok(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("a different volume named {} exists here", spec.name),
        )),
        Err(_) => engine.create_volume(spec).map(drop).map_err(ApiError::from),
    })
    .await??;
    Ok((
        StatusCode::CREATED,
        Json(BackingReply {
            volume: name,
            server: state.server_id.to_string(),
            partitions: owned,
        }),
    ))
}

/// Delete this server's backing of a partitioned volume (internal; absent is fine).
#[utoipa::path(
    delete,
    path = "/v1/volumes/{name}/backing",
    tag = "volumes",
    params(("name" = String, Path, description = "Volume name")),
    responses(
        (status = 204, description = "Deleted, or there was none"),
        (status = 404, description = "No partition map", body = crate::ErrorReply),
        (status = 409, description = "The backing is in use", body = crate::ErrorReply),
    )
)]
pub async fn delete_backing(
    State(state): State<ApiState>,
    crate::extract::VolumeName(name): crate::extract::VolumeName,
) -> Result<StatusCode, ApiError> {
    // Only a partitioned volume's backing: a plain volume goes through DELETE /v1/volumes.
    if map_of(&state, &name).await?.is_none() {
        return Err(ApiError::not_found(format!("{name} has no partition map")));
    }
    let engine = state.engine.clone();
    blocking(move || match engine.delete_volume(&name) {
        Err(err) if err.kind != strata_engine::EngineErrorKind::NotFound => Err(err),
        _ => Ok(()),
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}
