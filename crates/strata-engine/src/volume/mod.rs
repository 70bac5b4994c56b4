//! Volumes: the spec a caller asks for, the validated record, the info callers see, and
//! the in-memory state the I/O path works on (extent map, allocation mutex, counters).

pub(crate) mod io;

use crate::access::{ACCESS_RING_EVENTS, AccessLog, VolumeCounters};
use crate::extent_map::{ExtentMap, Placement};
use crate::store_format::VolumeRecord;
use crate::{EngineError, EngineErrorKind, Result};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use strata_core::{BLOCK_SIZE, DEFAULT_EXTENT_SIZE, TierKind};

/// Largest volume size accepted: 64 TiB.
pub const MAX_VOLUME_SIZE_BYTES: u64 = 64 << 40;
/// Longest volume name accepted.
pub const MAX_VOLUME_NAME_LEN: usize = 64;

/// What a caller asks for when creating a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeSpec {
    pub name: String,
    pub size_bytes: u64,
    /// Default 1 MiB; a power of two from 64 KiB to 64 MiB.
    pub extent_size_bytes: Option<u64>,
    /// Workload class (`database`, `web`, …), passed to placement.
    pub profile: Option<String>,
    /// Keep every extent on this tier only; a full pinned tier is `NoSpace`.
    pub pin: Option<TierKind>,
}

impl VolumeSpec {
    pub fn new(name: impl Into<String>, size_bytes: u64) -> Self {
        Self {
            name: name.into(),
            size_bytes,
            ..Self::default()
        }
    }

    pub fn with_extent_size(mut self, extent_size_bytes: u64) -> Self {
        self.extent_size_bytes = Some(extent_size_bytes);
        self
    }

    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    pub fn with_pin(mut self, pin: TierKind) -> Self {
        self.pin = Some(pin);
        self
    }
}

/// A volume as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeInfo {
    pub id: u64,
    pub name: String,
    pub size_bytes: u64,
    pub extent_size_bytes: u64,
    pub block_size: u64,
    pub profile: Option<String>,
    pub pin: Option<TierKind>,
    /// Bytes of allocated extents (thin: grows only with writes).
    pub allocated_bytes: u64,
    /// Tier name → allocated bytes on it.
    pub bytes_per_tier: BTreeMap<String, u64>,
    pub created_unix_s: u64,
    /// Open handles (NBD connections and other users).
    pub open_handles: usize,
}

fn invalid(op: &'static str, msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::InvalidArgument, op, msg)
}

/// Checks a volume name: 1–64 of `[A-Za-z0-9._-]`, not starting with `.`. Names become
/// NBD export names and store keys and must never be usable as a path.
pub fn validate_volume_name(name: &str) -> Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > MAX_VOLUME_NAME_LEN || !ok_chars || name.starts_with('.') {
        return Err(invalid(
            "create_volume",
            format!("volume name {name:?} must be 1-64 of [A-Za-z0-9._-], not starting with '.'"),
        )
        .with_volume(name));
    }
    Ok(())
}

/// Checks size and extent size; returns the extent size to use.
pub fn validate_volume_geometry(spec: &VolumeSpec) -> Result<u64> {
    let size = spec.size_bytes;
    if size == 0 || !size.is_multiple_of(BLOCK_SIZE) || size > MAX_VOLUME_SIZE_BYTES {
        return Err(invalid(
            "create_volume",
            format!("size {size} must be > 0, a multiple of 4096 and at most 64 TiB"),
        )
        .with_volume(&spec.name));
    }
    let extent = spec.extent_size_bytes.unwrap_or(DEFAULT_EXTENT_SIZE);
    strata_core::validate_extent_size(extent)
        .map_err(|e| invalid("create_volume", e.to_string()).with_volume(&spec.name))?;
    Ok(extent)
}

/// A volume's live state.
#[derive(Debug)]
pub(crate) struct Volume {
    pub record: VolumeRecord,
    /// Index of the pinned tier.
    pub pin: Option<usize>,
    /// log2 of the extent size in bytes.
    pub extent_shift: u32,
    /// Buddy order of the volume's slots (log2 of extent size in granules).
    pub slot_order: u32,
    pub map: ExtentMap,
    /// Held while changing the map: allocation (with its re-check) and unmapping.
    pub map_lock: Mutex<()>,
    pub open_handles: AtomicUsize,
    /// Allocated extents per tier.
    pub extents_per_tier: Box<[AtomicU64]>,
    pub counters: VolumeCounters,
    pub access: AccessLog,
    /// Extents a TRIM or WRITE_ZEROES unmapped whole, for the planner to tell the policy
    /// (`PlacementPolicy::unmapped`). Kept apart from the access ring, which overwrites
    /// its oldest events: one trim of a large volume names more extents than it holds.
    pub unmapped: Mutex<Vec<Unmapping>>,
}

/// One extent a trim unmapped, and the sequence number of the trim's event in the access
/// ring: the planner tells the policy once it has read the ring that far, so the policy
/// sees every access that came before the trim first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unmapping {
    pub extent: u64,
    pub seq: u64,
}

impl Volume {
    pub fn new(record: VolumeRecord, pin: Option<usize>, tier_count: usize) -> Self {
        let extent_shift = record.extent_size_bytes.trailing_zeros();
        let extent_count = record.size_bytes.div_ceil(record.extent_size_bytes);
        Self {
            pin,
            extent_shift,
            slot_order: extent_shift - crate::config::GRANULE_BYTES.trailing_zeros(),
            map: ExtentMap::new(extent_count),
            map_lock: Mutex::new(()),
            open_handles: AtomicUsize::new(0),
            extents_per_tier: (0..tier_count).map(|_| AtomicU64::new(0)).collect(),
            counters: VolumeCounters::new(tier_count),
            access: AccessLog::new(ACCESS_RING_EVENTS),
            unmapped: Mutex::new(Vec::new()),
            record,
        }
    }

    pub fn extent_size(&self) -> u64 {
        self.record.extent_size_bytes
    }

    /// Publishes a map change and keeps the per-tier counts in step. Callers hold
    /// `map_lock`.
    pub fn set_placement(&self, extent: u64, placement: Option<Placement>) {
        if let Some(old) = self.map.get(extent) {
            self.extents_per_tier[old.tier].fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(new) = placement {
            self.extents_per_tier[new.tier].fetch_add(1, Ordering::Relaxed);
        }
        self.map.set(extent, placement);
    }

    pub fn info(&self, tier_names: &[String]) -> VolumeInfo {
        let bytes_per_tier: BTreeMap<String, u64> = tier_names
            .iter()
            .zip(self.extents_per_tier.iter())
            .map(|(name, n)| (name.clone(), n.load(Ordering::Relaxed) * self.extent_size()))
            .collect();
        let r = &self.record;
        VolumeInfo {
            id: r.id,
            name: r.name.clone(),
            size_bytes: r.size_bytes,
            extent_size_bytes: r.extent_size_bytes,
            block_size: BLOCK_SIZE,
            profile: r.profile.clone(),
            pin: r.pin.clone(),
            allocated_bytes: bytes_per_tier.values().sum(),
            bytes_per_tier,
            created_unix_s: r.created_unix_s,
            open_handles: self.open_handles.load(Ordering::SeqCst),
        }
    }
}

/// One piece of a request that falls inside one extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub extent: u64,
    /// Offset of the piece inside the extent.
    pub offset_in_extent: u64,
    pub len_bytes: u64,
    /// Offset of the piece inside the request's buffer.
    pub buf_offset: usize,
}

impl Piece {
    pub fn covers_extent(&self, extent_size: u64) -> bool {
        self.offset_in_extent == 0 && self.len_bytes == extent_size
    }
}

/// Splits `[offset, offset + len)` at extent boundaries.
pub(crate) fn pieces(offset: u64, len: u64, extent_shift: u32) -> impl Iterator<Item = Piece> {
    let extent_size = 1u64 << extent_shift;
    let end = offset + len;
    let mut pos = offset;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let offset_in_extent = pos & (extent_size - 1);
        let len_bytes = (extent_size - offset_in_extent).min(end - pos);
        let piece = Piece {
            extent: pos >> extent_shift,
            offset_in_extent,
            len_bytes,
            buf_offset: (pos - offset) as usize,
        };
        pos += len_bytes;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for ok in ["a", "db01", "A.b_c-d", &"x".repeat(64)] {
            validate_volume_name(ok).unwrap();
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "..",
            "a b",
            "é",
            &"x".repeat(65),
            "a\0",
        ] {
            let err = validate_volume_name(bad).unwrap_err();
            assert_eq!(err.kind, EngineErrorKind::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn geometry_rules() {
        assert_eq!(
            validate_volume_geometry(&VolumeSpec::new("v", 4096)).unwrap(),
            1 << 20
        );
        for size in [0, 4095, 4097, MAX_VOLUME_SIZE_BYTES + 4096] {
            assert!(
                validate_volume_geometry(&VolumeSpec::new("v", size)).is_err(),
                "{size}"
            );
        }
        for extent in [0, 4096, 3 << 20, 128 << 20] {
            let spec = VolumeSpec::new("v", 1 << 30).with_extent_size(extent);
            assert!(validate_volume_geometry(&spec).is_err(), "{extent}");
        }
        let spec = VolumeSpec::new("v", 1 << 30).with_extent_size(64 << 10);
        assert_eq!(validate_volume_geometry(&spec).unwrap(), 64 << 10);
    }

    #[test]
    fn pieces_split_at_extent_boundaries() {
        let got: Vec<Piece> = pieces(60 << 10, 72 << 10, 16).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].extent, got[0].offset_in_extent, got[0].len_bytes),
            (0, 60 << 10, 4 << 10)
        );
        assert!(got[1].covers_extent(64 << 10));
        assert_eq!(
            (got[2].extent, got[2].len_bytes, got[2].buf_offset),
            (2, 4 << 10, 68 << 10)
        );
        assert_eq!(pieces(0, 0, 16).count(), 0);
    }
}
