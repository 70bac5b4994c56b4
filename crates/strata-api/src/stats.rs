//! `GET /v1/stats`: tiers, volumes with their I/O and hit ratios, the NBD server's
//! counters, migration and the prefetcher's measures — everything `strata status` shows.

use crate::activity::PREFETCH_DISABLED_NOTE;
use crate::tiers::Tier;
use crate::volumes::{Volume, VolumeIo};
use crate::{ApiError, ApiState, blocking};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use strata_nbd::StatsSnapshot;
use utoipa::ToSchema;

/// A volume and its I/O counters. (No `deny_unknown_fields`: serde does not support it
/// together with `flatten`, and this is a reply, not a request body.)
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VolumeStatsEntry {
    #[serde(flatten)]
    pub volume: Volume,
    pub io: VolumeIo,
}

/// Counters of the NBD server since start-up.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NbdStats {
    pub connections_open: u64,
    pub connections_total: u64,
    pub requests_total: u64,
    /// Replies carrying an NBD error.
    pub error_replies_total: u64,
    /// Connections closed because the peer broke the protocol.
    pub protocol_errors_total: u64,
    pub read_bytes_total: u64,
    pub written_bytes_total: u64,
}

impl From<StatsSnapshot> for NbdStats {
    fn from(s: StatsSnapshot) -> Self {
        Self {
            connections_open: s.connections_open,
            connections_total: s.connections_total,
            requests_total: s.requests_total,
            error_replies_total: s.error_replies_total,
            protocol_errors_total: s.protocol_errors_total,
            read_bytes_total: s.read_bytes_total,
            written_bytes_total: s.written_bytes_total,
        }
    }
}

/// Whether a background activity (migration, prefetch) runs, and why not if it does not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivitySection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The prefetcher at a glance: whether it runs and its measures over every volume.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefetchSection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// See `GET /v1/prefetch` for the definitions; 0 before anything was measured.
    #[serde(default)]
    pub precision: f64,
    #[serde(default)]
    pub coverage: f64,
    #[serde(default)]
    pub timeliness: f64,
    #[serde(default)]
    pub prefetched_bytes: u64,
    #[serde(default)]
    pub wasted_bytes: u64,
}

impl From<&strata_engine::PrefetchStats> for PrefetchSection {
    fn from(s: &strata_engine::PrefetchStats) -> Self {
        let t = &s.totals;
        Self {
            active: s.enabled,
            note: Some(if s.enabled {
                format!(
                    "predictor {}: {} extents prefetched, {} used, {} wasted",
                    s.predictor, t.prefetched_extents, t.used_extents, t.wasted_extents
                )
            } else {
                PREFETCH_DISABLED_NOTE.to_owned()
            }),
            precision: t.precision(),
            coverage: t.coverage(),
            timeliness: t.timeliness(),
            prefetched_bytes: t.prefetched_bytes,
            wasted_bytes: t.wasted_bytes,
        }
    }
}

/// One line on background migration: the policy (and the candidate `strata` follows),
/// moves done, bytes, failures, the queue (with how long its oldest move has waited, and how
/// many moves expired in it, when there are any) and degraded tiers.
fn migration_note(moves: &strata_engine::MigrationStats) -> String {
    let policy = match &moves.following {
        Some(candidate) => format!("{} (following {candidate})", moves.policy),
        None => moves.policy.clone(),
    };
    let mut queue = format!("{} queued", moves.queue_len);
    if moves.queue_len > 0 {
        queue += &format!(" (oldest {} s)", moves.queue_oldest_ms / 1000);
    }
    let expired = moves
        .rejected_by_reason
        .get("expired")
        .copied()
        .unwrap_or(0);
    if expired > 0 {
        queue += &format!(", {expired} expired unrun");
    }
    format!(
        "policy {policy}: {} moves done ({} bytes), {} failed, {queue}, degraded tiers: [{}]",
        moves.completed,
        moves.bytes_moved,
        moves.failed,
        moves
            .degraded_tiers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Body of `GET /v1/stats`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsReply {
    pub server_id: String,
    /// Fastest first.
    pub tiers: Vec<Tier>,
    pub volumes: Vec<VolumeStatsEntry>,
    /// `null` when the API runs without an NBD server.
    pub nbd: Option<NbdStats>,
    pub migrations: ActivitySection,
    pub prefetch: PrefetchSection,
}

/// This server's tiers, volumes and activity at a glance.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "server",
    responses((status = 200, description = "Statistics", body = StatsReply))
)]
pub async fn stats(State(state): State<ApiState>) -> Result<Json<StatsReply>, ApiError> {
    let engine = state.engine.clone();
    let (tiers, volumes, moves, prefetch) = blocking(move || {
        let volumes = engine
            .list_volumes()
            .into_iter()
            .filter_map(|info| {
                // A volume deleted between listing and reading its counters is left out.
                let io = engine.volume_stats(&info.name).ok()?;
                Some(VolumeStatsEntry {
                    volume: info.into(),
                    io: io.into(),
                })
            })
            .collect();
        (
            engine.tiers(),
            volumes,
            engine.migration_stats(),
            engine.prefetch_stats(),
        )
    })
    .await?;
    Ok(Json(StatsReply {
        server_id: state.server_id.to_string(),
        tiers: tiers.iter().map(Tier::from).collect(),
        volumes,
        nbd: state.nbd_stats.as_ref().map(|s| s.snapshot().into()),
        migrations: ActivitySection {
            active: moves.policy != "static",
            note: Some(migration_note(&moves)),
        },
        prefetch: PrefetchSection::from(&prefetch),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_note_names_the_candidate_strata_follows() {
        let mut moves = strata_engine::MigrationStats {
            policy: "strata".to_owned(),
            following: Some("arc-tier".to_owned()),
            completed: 12,
            bytes_moved: 12 << 20,
            degraded_tiers: vec![strata_core::TierKind::Ssd],
            ..Default::default()
        };
        assert_eq!(
            migration_note(&moves),
            "policy strata (following arc-tier): 12 moves done (12582912 bytes), 0 failed, 0 queued, degraded tiers: [ssd]"
        );
        moves.following = None;
        assert!(migration_note(&moves).starts_with("policy strata: 12 moves done"));
    }

    #[test]
    fn the_migration_note_shows_how_stale_the_queue_is() {
        let moves = strata_engine::MigrationStats {
            policy: "arc-tier".to_owned(),
            queue_len: 529,
            queue_oldest_ms: 29_600,
            rejected_by_reason: [("already_queued", 7), ("expired", 1003)].into(),
            ..Default::default()
        };
        assert_eq!(
            migration_note(&moves),
            "policy arc-tier: 0 moves done (0 bytes), 0 failed, 529 queued (oldest 29 s), 1003 expired unrun, degraded tiers: []"
        );
    }
}
