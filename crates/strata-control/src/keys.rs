//! Where the control plane keeps its records in the [`strata_meta::MetaStore`], and the
//! JSON codec for them. Everything lives under `ctl/`.

use crate::{ControlError, ControlErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_core::TierKind;

pub const SERVERS: &str = "ctl/servers/";
pub const ALIVE: &str = "ctl/alive/";
pub const USAGE: &str = "ctl/usage/";
pub const GENERATION: &str = "ctl/gen/";
pub const LEASES: &str = "ctl/lease/";
pub const RESERVATIONS: &str = "ctl/resv/";
pub const OVERCOMMIT_EVENTS: &str = "ctl/events/overcommit/";
pub const PARTITION_MAPS: &str = "ctl/volmap/";

pub fn server(id: &str) -> Vec<u8> {
    format!("{SERVERS}{id}").into_bytes()
}

pub fn alive(id: &str) -> Vec<u8> {
    format!("{ALIVE}{id}").into_bytes()
}

pub fn usage(server: &str, tier: &TierKind) -> Vec<u8> {
    format!("{USAGE}{server}/{tier}").into_bytes()
}

pub fn generation(volume: &str) -> Vec<u8> {
    format!("{GENERATION}{volume}").into_bytes()
}

pub fn lease(volume: &str) -> Vec<u8> {
    format!("{LEASES}{volume}").into_bytes()
}

/// All reservations of a volume (every lease), or of one lease when `lease_id` is given.
pub fn reservation_prefix(volume: &str, lease_id: Option<&str>) -> Vec<u8> {
    match lease_id {
        Some(lease_id) => format!("{RESERVATIONS}{volume}/{lease_id}/").into_bytes(),
        None => format!("{RESERVATIONS}{volume}/").into_bytes(),
    }
}

pub fn reservation(volume: &str, lease_id: &str, server: &str, tier: &TierKind) -> Vec<u8> {
    format!("{RESERVATIONS}{volume}/{lease_id}/{server}/{tier}").into_bytes()
}

/// The partition map of a partitioned volume.
pub fn partition_map(volume: &str) -> Vec<u8> {
    format!("{PARTITION_MAPS}{volume}").into_bytes()
}

pub fn overcommit_event(at_ns: u64, volume: &str, server: &str) -> Vec<u8> {
    format!("{OVERCOMMIT_EVENTS}{at_ns:020}/{volume}/{server}").into_bytes()
}

/// Names (volumes, servers, holders) must not contain the key separator or be empty.
pub fn check_name(op: &'static str, what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 200
        || name.contains(['/', '#'])
        || name.contains(char::is_control)
    {
        return Err(ControlError::new(
            ControlErrorKind::InvalidArgument,
            op,
            name,
            format!("{what} names are 1–200 characters without '/', '#' or control characters"),
        ));
    }
    Ok(())
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain records of strings and numbers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub fn decode<T: DeserializeOwned>(op: &'static str, key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        ControlError::new(
            ControlErrorKind::Corrupt,
            op,
            String::from_utf8_lossy(key),
            format!("undecodable record: {e}"),
        )
    })
}
