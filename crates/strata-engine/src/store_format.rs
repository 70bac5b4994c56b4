//! How the engine's state is laid out in the [`strata_meta::MetaStore`].
//!
//! Keys (all byte strings, compared bytewise):
//!
//! | key | value |
//! |---|---|
//! | `engine/next_volume_id` | version `1`, then the next volume id as big-endian u64 |
//! | `vol/<name>` | version `1`, then the [`VolumeRecord`] as JSON |
//! | `map/` + volume id (8 bytes BE) + `/` + extent number (8 bytes BE) | version `1`, slot's first byte offset on the tier (8 bytes BE), tier kind name (UTF-8, rest of value) |
//! | `tiering/clock_ns` | version `1`, then the placement policies' clock when their state was last saved (ns, big-endian u64); it resumes from there after a restart |
//! | `tiering/policy/<policy name>` | version `1`, then what the policy saved (`PlacementPolicy::save_state`; `strata`: the candidate it follows and its heat map, in the format of `strata_policy`'s `policies/strata/state.rs`) |
//!
//! Big-endian numbers keep a volume's map entries sorted by extent, so one `list_prefix`
//! of `map/<id>/` loads a volume's map in order. Tiers are recorded by kind name, not
//! index, so reordering tiers in the config does not scramble the maps. Every value starts
//! with a version byte; a reader refuses versions it does not know instead of guessing,
//! and a new encoding gets a new version byte while readers keep accepting the old one.
//!
//! An absent `map/` key means the extent is unallocated (reads zeros). Volume create and
//! delete write the volume key, its map keys and `engine/next_volume_id` in one commit.

use crate::{EngineError, EngineErrorKind, Result};
use serde::{Deserialize, Serialize};
use strata_core::TierKind;

/// Current version byte of every value written.
pub const FORMAT_VERSION: u8 = 1;

pub const NEXT_VOLUME_ID_KEY: &[u8] = b"engine/next_volume_id";
pub const VOLUME_PREFIX: &[u8] = b"vol/";
pub const MAP_PREFIX: &[u8] = b"map/";
pub const POLICY_CLOCK_KEY: &[u8] = b"tiering/clock_ns";
pub const POLICY_STATE_PREFIX: &[u8] = b"tiering/policy/";

/// A volume's durable description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: u64,
    pub name: String,
    pub size_bytes: u64,
    pub extent_size_bytes: u64,
    pub profile: Option<String>,
    pub pin: Option<TierKind>,
    pub created_unix_s: u64,
}

/// A map entry as stored: where an extent's slot starts and on which tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapValue {
    pub tier: TierKind,
    pub slot_offset_bytes: u64,
}

fn corrupt(what: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Store, "decode", what)
}

pub fn volume_key(name: &str) -> Vec<u8> {
    [VOLUME_PREFIX, name.as_bytes()].concat()
}

pub fn map_prefix(volume_id: u64) -> Vec<u8> {
    [MAP_PREFIX, &volume_id.to_be_bytes(), b"/"].concat()
}

pub fn policy_state_key(policy: &str) -> Vec<u8> {
    [POLICY_STATE_PREFIX, policy.as_bytes()].concat()
}

pub fn encode_policy_state(state: &[u8]) -> Vec<u8> {
    versioned(state)
}

pub fn decode_policy_state(value: &[u8]) -> Result<&[u8]> {
    body(value, "policy state")
}

pub fn map_key(volume_id: u64, extent: u64) -> Vec<u8> {
    [map_prefix(volume_id).as_slice(), &extent.to_be_bytes()].concat()
}

/// The extent number of a key under `map_prefix(volume_id)`.
pub fn decode_map_key(volume_id: u64, key: &[u8]) -> Result<u64> {
    let prefix = map_prefix(volume_id);
    key.strip_prefix(prefix.as_slice())
        .and_then(|rest| <[u8; 8]>::try_from(rest).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(format!("bad map key {key:?}")))
}

fn versioned(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(body);
    out
}

/// Strips the version byte, refusing unknown versions.
fn body<'a>(value: &'a [u8], what: &str) -> Result<&'a [u8]> {
    match value.split_first() {
        Some((&FORMAT_VERSION, body)) => Ok(body),
        Some((version, _)) => Err(corrupt(format!("{what}: unknown format version {version}"))),
        None => Err(corrupt(format!("{what}: empty value"))),
    }
}

pub fn encode_volume(record: &VolumeRecord) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(record).map_err(|e| corrupt("volume record").with_source(e))?;
    Ok(versioned(&json))
}

pub fn decode_volume(value: &[u8]) -> Result<VolumeRecord> {
    serde_json::from_slice(body(value, "volume record")?)
        .map_err(|e| corrupt("volume record").with_source(e))
}

pub fn encode_map_value(value: &MapValue) -> Vec<u8> {
    let mut out = versioned(&value.slot_offset_bytes.to_be_bytes());
    out.extend_from_slice(value.tier.as_str().as_bytes());
    out
}

pub fn decode_map_value(value: &[u8]) -> Result<MapValue> {
    let body = body(value, "map entry")?;
    let (offset, tier) = body
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("map entry too short"))?;
    let tier = std::str::from_utf8(tier)
        .ok()
        .and_then(|s| s.parse::<TierKind>().ok())
        .ok_or_else(|| corrupt(format!("map entry names no valid tier: {tier:?}")))?;
    Ok(MapValue {
        tier,
        slot_offset_bytes: u64::from_be_bytes(*offset),
    })
}

pub fn encode_u64(value: u64) -> Vec<u8> {
    versioned(&value.to_be_bytes())
}

pub fn decode_u64(value: &[u8]) -> Result<u64> {
    let body = body(value, "counter")?;
    <[u8; 8]>::try_from(body)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt("counter is not 8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_entries_round_trip_and_sort_by_extent() {
        let v = MapValue {
            tier: TierKind::Ssd,
            slot_offset_bytes: 7 << 20,
        };
        assert_eq!(decode_map_value(&encode_map_value(&v)).unwrap(), v);
        assert!(map_key(3, 2) < map_key(3, 256));
        assert!(map_key(3, u64::MAX) < map_key(4, 0));
        assert_eq!(decode_map_key(3, &map_key(3, 99)).unwrap(), 99);
        assert!(decode_map_key(4, &map_key(3, 99)).is_err());
    }

    #[test]
    fn unknown_versions_and_garbage_are_refused() {
        let mut raw = encode_u64(5);
        assert_eq!(decode_u64(&raw).unwrap(), 5);
        raw[0] = 2;
        assert_eq!(decode_u64(&raw).unwrap_err().kind, EngineErrorKind::Store);
        assert!(decode_map_value(&[1, 0, 0]).is_err());
        assert!(decode_map_value(&[]).is_err());
        assert!(decode_volume(&[1, b'{']).is_err());
        let record = VolumeRecord {
            id: 1,
            name: "a".into(),
            size_bytes: 4096,
            extent_size_bytes: 1 << 20,
            profile: None,
            pin: Some(TierKind::Hdd),
            created_unix_s: 0,
        };
        assert_eq!(
            decode_volume(&encode_volume(&record).unwrap()).unwrap(),
            record
        );
    }
}
