//! `/v1/leases` and `/v1/reservations`: a client's attachment to a volume (holder, TTL,
//! fencing generation, tier preferences) and the soft reservations that come with it.
//!
//! The control plane (`strata-control`) owns leases; this module is its wire format and
//! the input checks that make every caller mistake a 4xx before the control plane runs.
//! `routes` holds the handlers. A server built without a control plane validates input
//! and then answers 501 `not_implemented`, never a made-up success.

pub(crate) mod routes;

use crate::ApiError;
use crate::extract::validate_volume_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_control::{LeaseRecord, TierMix};
use strata_core::{TierKind, parse_fraction};
use utoipa::{IntoParams, ToSchema};

/// Longest lease holder id, in bytes.
pub const MAX_HOLDER_LEN: usize = 128;
/// Longest lease TTL, in seconds (a day).
pub const MAX_TTL_S: u64 = 86_400;
/// TTL of a lease acquired without `ttl_s`.
pub const DEFAULT_TTL_S: u64 = 30;
/// Tolerance of the "preferences sum to at most 1" check, for fractions like 1/3.
const FRACTION_SUM_SLACK: f64 = 1e-9;

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
    /// Tier name → wanted fraction of the volume; fractions sum to at most 1 and the rest
    /// goes to this server's slowest tier [default: all of it there].
    #[serde(default)]
    pub prefer: Option<BTreeMap<String, FractionValue>>,
    /// Take the volume from a live holder: its generation is fenced at once [default: false].
    #[serde(default)]
    pub takeover: Option<bool>,
}

impl AcquireLease {
    /// Checks everything that does not need the control plane; returns the preferences.
    fn validate(&self, known_tiers: &[TierKind]) -> Result<TierMix, ApiError> {
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
        let mut prefer = TierMix::new();
        for (tier, fraction) in self.prefer.iter().flatten() {
            let kind = tier
                .parse::<TierKind>()
                .map_err(|err| ApiError::bad_request(format!("prefer: {err}")))?;
            if !known_tiers.contains(&kind) {
                let names: Vec<&str> = known_tiers.iter().map(TierKind::as_str).collect();
                return Err(ApiError::bad_request(format!(
                    "prefer: this server has no tier {tier:?} (tiers: {})",
                    names.join(", ")
                )));
            }
            prefer.insert(kind, fraction.value(&format!("prefer.{tier}"))?);
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

/// The full tier mix for the control plane: the preferences, with what they leave of the
/// volume on `slowest` (the cheapest tier), so the shares sum to exactly 1.
fn complete_mix(mut mix: TierMix, slowest: &TierKind) -> TierMix {
    let rest = (1.0 - mix.values().sum::<f64>()).max(0.0);
    if rest > FRACTION_SUM_SLACK || mix.is_empty() {
        *mix.entry(slowest.clone()).or_insert(0.0) += rest;
    }
    mix.retain(|_, share| *share > 0.0);
    mix
}

/// Body of `PUT /v1/leases/{id}`: renew (extend) a lease.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewLease {
    /// New TTL in seconds from now, kept for later renewals, 1 to 86400 [default: the
    /// lease's TTL].
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
    /// `<volume>:<generation>`.
    #[schema(example = "db01:3")]
    pub id: String,
    pub volume: String,
    pub holder: String,
    /// Fencing token: writes carrying an older generation are refused.
    pub generation: u64,
    pub ttl_s: u64,
    pub granted_unix_ms: u64,
    pub expires_unix_ms: u64,
    /// Tier name → share of the volume granted on it; sums to 1.
    pub tiers_granted: BTreeMap<String, f64>,
}

impl From<&LeaseRecord> for Lease {
    fn from(record: &LeaseRecord) -> Self {
        Self {
            id: record.lease_id.clone(),
            volume: record.volume.clone(),
            holder: record.holder.clone(),
            generation: record.generation,
            ttl_s: record.ttl_ms.div_ceil(1000),
            granted_unix_ms: record.granted_at_ns / 1_000_000,
            expires_unix_ms: record.expires_at_ns / 1_000_000,
            tiers_granted: mix_by_name(&record.tiers_granted),
        }
    }
}

fn mix_by_name(mix: &TierMix) -> BTreeMap<String, f64> {
    mix.iter()
        .map(|(tier, share)| (tier.as_str().to_owned(), *share))
        .collect()
}

/// The answer to `POST /v1/leases`: a grant (201) or, when the preferences cannot be met
/// now, alternatives (200) — nothing was granted then.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum AcquireReply {
    Granted {
        lease: Lease,
        /// Capacity now held free for the volume, one per tier granted.
        reservations: Vec<Reservation>,
    },
    Alternative {
        reason: String,
        /// Tier mixes that would be granted now, best first.
        suggested_mixes: Vec<BTreeMap<String, f64>>,
        /// Healthy servers that have every preferred tier with room.
        suggested_servers: Vec<String>,
    },
}

/// What a renewal costs and advises.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewReply {
    pub lease: Lease,
    /// Reserved bytes × time held × tier price (per GiB-month), over the lease's life.
    pub cost_so_far: f64,
    pub cost_by_tier: Vec<TierCost>,
    /// Present when the observed workload no longer fits the tiers granted.
    pub retier: Option<Retier>,
}

/// Cost of one tier of a lease so far.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierCost {
    pub tier: String,
    pub bytes: u64,
    pub cost: f64,
}

/// Advice to change a lease's tier mix.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retier {
    pub suggested: BTreeMap<String, f64>,
    pub reason: String,
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
    /// Of `bytes`, how many the volume has written already.
    pub in_use_bytes: u64,
    /// `reserved`, `in_use` or `released`.
    #[schema(example = "reserved")]
    pub status: String,
    /// Granted out of other volumes' reserved space under the operator's overcommit ratio.
    pub overcommitted: bool,
}

impl From<&strata_control::Reservation> for Reservation {
    fn from(r: &strata_control::Reservation) -> Self {
        let status = match r.status {
            strata_control::ReservationStatus::Reserved => "reserved",
            strata_control::ReservationStatus::InUse => "in_use",
            strata_control::ReservationStatus::Released => "released",
        };
        Self {
            volume: r.volume.clone(),
            lease_id: r.lease_id.clone(),
            server_id: r.server.clone(),
            tier: r.tier.as_str().to_owned(),
            bytes: r.bytes,
            in_use_bytes: r.in_use_bytes,
            status: status.to_owned(),
            overcommitted: r.overcommitted,
        }
    }
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
    /// Also list released reservations [default: false].
    pub all: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_the_preferences_goes_to_the_slowest_tier() {
        let prefer = TierMix::from([(TierKind::Nvme, 0.3), (TierKind::Ssd, 0.5)]);
        let mix = complete_mix(prefer, &TierKind::Hdd);
        assert_eq!(mix.len(), 3);
        assert_eq!((mix[&TierKind::Nvme], mix[&TierKind::Ssd]), (0.3, 0.5));
        assert!((mix[&TierKind::Hdd] - 0.2).abs() < 1e-12);
        let all_slow = complete_mix(TierMix::new(), &TierKind::Hdd);
        assert_eq!(all_slow, TierMix::from([(TierKind::Hdd, 1.0)]));
        let full = TierMix::from([(TierKind::Nvme, 1.0)]);
        assert_eq!(
            complete_mix(full, &TierKind::Hdd),
            TierMix::from([(TierKind::Nvme, 1.0)])
        );
    }
}
