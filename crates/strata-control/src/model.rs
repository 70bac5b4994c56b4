//! The control plane's records as stored (JSON) and returned to callers: servers and their
//! tiers, per-tier capacity accounting, leases and soft reservations.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_core::{DeviceProfile, TierKind};

/// A tier mix: the fraction of a volume wanted (or granted) on each tier; sums to 1.
pub type TierMix = BTreeMap<TierKind, f64>;

/// One tier of a server as it registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub tier: TierKind,
    pub capacity_bytes: u64,
    /// Bytes already written on the tier when the server registers.
    pub used_bytes: u64,
    /// Operator's price of one GiB held for one month (30 days) on this tier.
    pub cost_per_gib_month: f64,
    pub profile: DeviceProfile,
    /// Current utilisation of the tier's device, 0 (idle) to 1 (saturated).
    #[serde(default)]
    pub load: f64,
}

/// What a server announces when it registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub id: String,
    /// Where clients and other servers reach it (`host:port`).
    pub address: String,
    /// Where its REST API listens, when it serves one: `https://host:port` for an HTTPS
    /// API, `http://host:port` otherwise. Records of older servers hold a bare
    /// `host:port`, which means plain HTTP ([`ServerSpec::api_url`]).
    #[serde(default)]
    pub api_address: Option<String>,
    pub tiers: Vec<TierSpec>,
}

impl ServerSpec {
    /// The API's base URL with its scheme ([`api_url`]).
    pub fn api_url(&self) -> Option<String> {
        self.api_address.as_deref().map(api_url)
    }

    /// The API's `host:port` ([`api_host_port`]).
    pub fn api_host_port(&self) -> Option<String> {
        self.api_address.as_deref().map(api_host_port)
    }
}

/// A registered API address as a base URL: kept when it has a scheme, `http://` put before
/// a scheme-less (older) one.
pub fn api_url(address: &str) -> String {
    if address.starts_with("http://") || address.starts_with("https://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}

/// A registered API address without its scheme: `host:port`.
pub fn api_host_port(address: &str) -> String {
    address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address)
        .to_owned()
}

/// Whether a server's heartbeat lease is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Down,
}

/// Capacity accounting of one tier of one server. `free = capacity − used − reserved`;
/// with an overcommit ratio `r`, up to `capacity × r − used − reserved` may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TierUsage {
    pub capacity_bytes: u64,
    /// Bytes written (including reservations already in use).
    pub used_bytes: u64,
    /// Bytes reserved for volumes and not yet written.
    pub reserved_bytes: u64,
}

impl TierUsage {
    pub fn free_bytes(&self) -> u64 {
        self.capacity_bytes
            .saturating_sub(self.used_bytes)
            .saturating_sub(self.reserved_bytes)
    }

    /// Bytes that may still be reserved under `overcommit_ratio` (≥ 1).
    pub fn grantable_bytes(&self, overcommit_ratio: f64) -> u64 {
        let limit = (self.capacity_bytes as f64 * overcommit_ratio.max(1.0)) as u64;
        limit
            .saturating_sub(self.used_bytes)
            .saturating_sub(self.reserved_bytes)
    }
}

/// A server as listed: what it announced, whether it is alive, and its accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub spec: ServerSpec,
    pub health: Health,
    pub usage: BTreeMap<TierKind, TierUsage>,
}

/// A client's attachment to a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// `<volume>:<generation>`: unique, because every acquire bumps the generation.
    pub lease_id: String,
    pub volume: String,
    pub holder: String,
    /// The fencing token: writes carrying an older one are refused.
    pub generation: u64,
    pub ttl_ms: u64,
    pub granted_at_ns: u64,
    pub expires_at_ns: u64,
    pub tiers_granted: TierMix,
}

/// Life of a soft reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Held free for the volume, nothing written yet.
    Reserved,
    /// Extents are being written into it.
    InUse,
    /// Given back (lease released or expired, volume deleted).
    Released,
}

/// Capacity on one tier of one server kept for one volume under one lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub volume: String,
    pub lease_id: String,
    pub server: String,
    pub tier: TierKind,
    pub bytes: u64,
    /// Of `bytes`, how many are written already.
    pub in_use_bytes: u64,
    pub status: ReservationStatus,
    pub created_at_ns: u64,
    /// True when this reservation was granted out of other volumes' reserved space under
    /// the overcommit ratio.
    pub overcommitted: bool,
}

/// A workload summary observed by the data path, passed in on renewal.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSummary {
    pub read_iops: f64,
    pub write_iops: f64,
    /// Fraction of requests that do not continue the previous one (0 sequential, 1 random).
    pub random_fraction: f64,
}

/// A logged overcommit: a reservation that ate into space reserved for others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvercommitEvent {
    pub at_ns: u64,
    pub volume: String,
    pub server: String,
    pub tier: TierKind,
    pub bytes: u64,
    /// Bytes that came out of others' reservations.
    pub borrowed_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(api_address: Option<&str>) -> ServerSpec {
        ServerSpec {
            id: "a".into(),
            address: "10.0.0.1:10809".into(),
            api_address: api_address.map(str::to_owned),
            tiers: vec![],
        }
    }

    #[test]
    fn api_urls_keep_their_scheme_and_old_records_mean_http() {
        for (registered, url, host_port) in [
            (
                "https://10.0.0.1:7800",
                "https://10.0.0.1:7800",
                "10.0.0.1:7800",
            ),
            (
                "http://10.0.0.1:7800",
                "http://10.0.0.1:7800",
                "10.0.0.1:7800",
            ),
            ("10.0.0.1:7800", "http://10.0.0.1:7800", "10.0.0.1:7800"),
        ] {
            let spec = spec(Some(registered));
            assert_eq!(spec.api_url().as_deref(), Some(url), "{registered}");
            assert_eq!(
                spec.api_host_port().as_deref(),
                Some(host_port),
                "{registered}"
            );
        }
        assert_eq!(spec(None).api_url(), None);
        assert_eq!(spec(None).api_host_port(), None);
        // A record written by an older server (no scheme) still parses.
        let old: ServerSpec =
            serde_json::from_str(r#"{"id":"b","address":"h:1","api_address":"h:2","tiers":[]}"#)
                .expect("old record");
        assert_eq!(old.api_url().as_deref(), Some("http://h:2"));
    }
}
