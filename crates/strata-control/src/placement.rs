//! Server selection: a deterministic score per server for one new partition (a volume's
//! share of one tier), with the breakdown an operator reads to see why.
//!
//! The score is a weighted sum of components in [0, 1]; ties break on the server id, so the
//! same state always gives the same answer. Servers that are down, lack the tier or cannot
//! fit the bytes (even with overcommit) are listed with `eligible = false` and a reason.

use crate::{Health, ServerStatus, TierUsage, WorkloadSummary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use strata_core::{DeviceProfile, TierKind};

/// Weights of the score components; they sum to 1.
const WEIGHT_TIER_FIT: f64 = 0.20;
const WEIGHT_FREE: f64 = 0.20;
const WEIGHT_RESERVED: f64 = 0.10;
const WEIGHT_COST: f64 = 0.15;
const WEIGHT_LOAD: f64 = 0.15;
const WEIGHT_ANTI_AFFINITY: f64 = 0.20;

/// One tier of one server as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierView {
    pub tier: TierKind,
    pub profile: DeviceProfile,
    pub cost_per_gib_month: f64,
    pub load: f64,
    pub usage: TierUsage,
}

/// One server as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerView {
    pub id: String,
    pub healthy: bool,
    pub tiers: Vec<TierView>,
}

/// A snapshot of every server, taken once and scored many times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    pub servers: Vec<ServerView>,
}

impl ClusterView {
    /// Builds the view from listed servers (see [`crate::ControlPlane::list_servers`]).
    pub fn from_statuses(statuses: &[ServerStatus]) -> Self {
        let servers = statuses
            .iter()
            .map(|status| ServerView {
                id: status.spec.id.clone(),
                healthy: status.health == Health::Up,
                tiers: status
                    .spec
                    .tiers
                    .iter()
                    .map(|spec| TierView {
                        tier: spec.tier.clone(),
                        profile: spec.profile,
                        cost_per_gib_month: spec.cost_per_gib_month,
                        load: spec.load,
                        usage: status.usage.get(&spec.tier).copied().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Self { servers }
    }

    /// The tier of a server, if both exist.
    pub fn tier(&self, server: &str, tier: &TierKind) -> Option<&TierView> {
        self.servers
            .iter()
            .find(|s| s.id == server)
            .and_then(|s| s.tiers.iter().find(|t| &t.tier == tier))
    }
}

/// What is being placed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementRequest {
    pub volume: String,
    pub tier: TierKind,
    pub bytes: u64,
    /// The predicted workload of the partition, when known.
    pub predicted: Option<WorkloadSummary>,
    /// Servers already holding partitions of this volume (anti-affinity).
    pub avoid: BTreeSet<String>,
    pub overcommit_ratio: f64,
}

/// Why a server got its score; each component is in [0, 1], higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ScoreBreakdown {
    /// How well the tier's device serves the predicted IOPS.
    pub tier_fit: f64,
    /// Share of the tier still free after placing the bytes.
    pub free_capacity: f64,
    /// Share of the tier not reserved for other volumes.
    pub unreserved: f64,
    /// Cheapness: 1 / (1 + cost per GiB-month).
    pub cost: f64,
    /// Idleness of the device: 1 − load.
    pub load: f64,
    /// 1 unless the server already holds a partition of this volume.
    pub anti_affinity: f64,
}

impl ScoreBreakdown {
    pub fn total(&self) -> f64 {
        WEIGHT_TIER_FIT * self.tier_fit
            + WEIGHT_FREE * self.free_capacity
            + WEIGHT_RESERVED * self.unreserved
            + WEIGHT_COST * self.cost
            + WEIGHT_LOAD * self.load
            + WEIGHT_ANTI_AFFINITY * self.anti_affinity
    }
}

/// One server's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredServer {
    pub server: String,
    pub eligible: bool,
    /// Why an ineligible server was excluded (empty when eligible).
    pub reason: String,
    pub total: f64,
    pub breakdown: ScoreBreakdown,
}

/// IOPS a device sustains at 4 KiB: its parallelism over its mean latency, paying the
/// seek penalty on the random share.
pub fn device_iops(profile: &DeviceProfile, random_fraction: f64) -> f64 {
    let latency_us = (profile.read_latency_us + profile.write_latency_us) / 2.0;
    let per_request_us = if profile.seek_penalty {
        latency_us * random_fraction.clamp(0.0, 1.0) + 4096.0 / profile.read_mbps.max(1e-9)
    } else {
        latency_us
    };
    f64::from(profile.parallelism.max(1)) * 1e6 / per_request_us.max(1e-3)
}

fn score_tier(tier: &TierView, request: &PlacementRequest, server: &str) -> ScoredServer {
    let usage = tier.usage;
    let capacity = usage.capacity_bytes.max(1) as f64;
    let grantable = usage.grantable_bytes(request.overcommit_ratio);
    let eligible = request.bytes <= grantable;
    let tier_fit = match request.predicted {
        Some(workload) => {
            let demand = workload.read_iops + workload.write_iops;
            if demand <= 0.0 {
                1.0
            } else {
                (device_iops(&tier.profile, workload.random_fraction) / demand).min(1.0)
            }
        }
        None => 1.0,
    };
    let breakdown = ScoreBreakdown {
        tier_fit,
        free_capacity: (usage.free_bytes().saturating_sub(request.bytes) as f64 / capacity)
            .clamp(0.0, 1.0),
        unreserved: (1.0 - usage.reserved_bytes as f64 / capacity).clamp(0.0, 1.0),
        cost: 1.0 / (1.0 + tier.cost_per_gib_month.max(0.0)),
        load: (1.0 - tier.load).clamp(0.0, 1.0),
        anti_affinity: if request.avoid.contains(server) {
            0.0
        } else {
            1.0
        },
    };
    ScoredServer {
        server: server.to_owned(),
        eligible,
        reason: if eligible {
            String::new()
        } else {
            format!(
                "only {grantable} of {} bytes grantable on {}",
                request.bytes, request.tier
            )
        },
        total: breakdown.total(),
        breakdown,
    }
}

fn ineligible(server: &str, reason: String) -> ScoredServer {
    ScoredServer {
        server: server.to_owned(),
        eligible: false,
        reason,
        total: 0.0,
        breakdown: ScoreBreakdown::default(),
    }
}

/// Every server's verdict for `request`: eligible ones first, best score first, ties by id.
pub fn score_servers(view: &ClusterView, request: &PlacementRequest) -> Vec<ScoredServer> {
    let mut scored: Vec<ScoredServer> = view
        .servers
        .iter()
        .map(|server| {
            if !server.healthy {
                return ineligible(&server.id, "server is down".to_owned());
            }
            match server.tiers.iter().find(|t| t.tier == request.tier) {
                Some(tier) => score_tier(tier, request, &server.id),
                None => ineligible(&server.id, format!("no {} tier", request.tier)),
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.eligible
            .cmp(&a.eligible)
            .then(b.total.total_cmp(&a.total))
            .then_with(|| a.server.cmp(&b.server))
    });
    scored
}

/// The best eligible server for `request`, without building the full ranking: one pass,
/// no allocation per server. Same answer as the head of [`score_servers`].
pub fn place(view: &ClusterView, request: &PlacementRequest) -> Option<ScoredServer> {
    let mut best: Option<(f64, &str, &TierView)> = None;
    for server in view.servers.iter().filter(|s| s.healthy) {
        let Some(tier) = server.tiers.iter().find(|t| t.tier == request.tier) else {
            continue;
        };
        if request.bytes > tier.usage.grantable_bytes(request.overcommit_ratio) {
            continue;
        }
        let total = score_tier(tier, request, "").breakdown.total()
            - if request.avoid.contains(&server.id) {
                WEIGHT_ANTI_AFFINITY
            } else {
                0.0
            };
        let better = match best {
            None => true,
            Some((best_total, best_id, _)) => {
                total > best_total || (total == best_total && server.id.as_str() < best_id)
            }
        };
        if better {
            best = Some((total, &server.id, tier));
        }
    }
    best.map(|(_, id, tier)| score_tier(tier, request, id))
}
