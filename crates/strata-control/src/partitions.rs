//! Partition maps: a volume cut into contiguous, extent-aligned byte ranges, each owned by
//! one server (DESIGN.md, "Volume"). The map is the cluster's one record of who serves
//! which range; every server reads it to route I/O, and each owner keeps the extents of its
//! ranges in its own engine volume of the same name.
//!
//! A map is born `creating` (recorded, owners not yet confirmed) and becomes `ready` once
//! every owner has created its local backing; only ready maps are served. Creation is one
//! compare-guarded put (absent → map), so two servers creating the same name at once get
//! one winner and one clear `AlreadyExists`.

use crate::keys::{self, decode, encode};
use crate::placement::{self, ClusterView, PlacementRequest};
use crate::{ControlError, ControlErrorKind, ControlPlane, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use strata_core::TierKind;
use strata_meta::{Compare, Op};

/// Most partitions one volume may have: the map stays one small record.
pub const MAX_PARTITIONS: u32 = 1024;

/// What a partitioned volume is created with.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionedVolumeSpec {
    pub name: String,
    pub size_bytes: u64,
    /// Partition boundaries fall on multiples of it (the volume's extent size).
    pub extent_size_bytes: u64,
    pub partitions: u32,
    /// Workload class, passed on to every owner's backing volume.
    pub profile: Option<String>,
    /// Pinned tier, passed on to every owner's backing volume.
    pub pin: Option<TierKind>,
    /// The tier whose free capacity placement scores (the one the data lands on first).
    pub capacity_tier: TierKind,
}

/// Whether every owner has confirmed its backing volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionMapState {
    Creating,
    Ready,
}

/// One contiguous range of a volume and its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub index: u32,
    pub start_bytes: u64,
    pub len_bytes: u64,
    pub server: String,
}

impl Partition {
    pub fn end_bytes(&self) -> u64 {
        self.start_bytes + self.len_bytes
    }
}

/// A volume's partitions in offset order; they tile `[0, size_bytes)` without gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionMap {
    pub volume: String,
    pub size_bytes: u64,
    pub extent_size_bytes: u64,
    pub profile: Option<String>,
    pub pin: Option<TierKind>,
    pub state: PartitionMapState,
    pub created_at_ns: u64,
    /// The server that recorded the map (and drives its creation).
    pub created_by: String,
    pub partitions: Vec<Partition>,
}

impl PartitionMap {
    /// Distinct owners, in id order.
    pub fn owners(&self) -> BTreeSet<&str> {
        self.partitions.iter().map(|p| p.server.as_str()).collect()
    }

    /// The partitions `server` owns.
    pub fn owned_by<'a>(&'a self, server: &'a str) -> impl Iterator<Item = &'a Partition> + 'a {
        self.partitions.iter().filter(move |p| p.server == server)
    }

    /// The index of the partition holding byte `offset` (`None` past the end).
    pub fn partition_at(&self, offset: u64) -> Option<usize> {
        let i = self.partitions.partition_point(|p| p.end_bytes() <= offset);
        (i < self.partitions.len()).then_some(i)
    }
}

/// Extent-aligned `[start, len)` ranges tiling `size_bytes`: the extents are dealt out as
/// evenly as possible, the first `extents % count` partitions taking one more.
pub fn split_ranges(size_bytes: u64, extent_size_bytes: u64, count: u32) -> Vec<(u64, u64)> {
    let extents = size_bytes.div_ceil(extent_size_bytes);
    let count = u64::from(count);
    let (base, extra) = (extents / count, extents % count);
    let mut start = 0;
    (0..count)
        .map(|i| {
            let extents_here = base + u64::from(i < extra);
            let end = (start + extents_here * extent_size_bytes).min(size_bytes);
            let range = (start, end - start);
            start = end;
            range
        })
        .collect()
}

fn invalid(op: &'static str, volume: &str, message: String) -> ControlError {
    ControlError::new(ControlErrorKind::InvalidArgument, op, volume, message)
}

fn check_spec(op: &'static str, spec: &PartitionedVolumeSpec) -> Result<()> {
    keys::check_name(op, "volume", &spec.name)?;
    if spec.partitions == 0 || spec.partitions > MAX_PARTITIONS {
        return Err(invalid(
            op,
            &spec.name,
            format!(
                "partitions must be 1–{MAX_PARTITIONS}, not {}",
                spec.partitions
            ),
        ));
    }
    if spec.extent_size_bytes == 0 || spec.size_bytes == 0 {
        return Err(invalid(
            op,
            &spec.name,
            "size and extent size must be > 0".into(),
        ));
    }
    let extents = spec.size_bytes.div_ceil(spec.extent_size_bytes);
    if u64::from(spec.partitions) > extents {
        return Err(invalid(
            op,
            &spec.name,
            format!(
                "{} partitions do not fit {extents} extents of {} bytes: each partition holds \
                 at least one extent",
                spec.partitions, spec.extent_size_bytes
            ),
        ));
    }
    Ok(())
}

impl ControlPlane {
    /// Places each partition of a new volume and records the map (state `creating`).
    /// Placement is [`placement::place`] per partition with the servers already chosen in
    /// this round avoided, so partitions spread over every healthy server before any gets
    /// a second; the same cluster state always yields the same map.
    pub fn create_partitioned_volume(
        &self,
        spec: &PartitionedVolumeSpec,
        created_by: &str,
    ) -> Result<PartitionMap> {
        const OP: &str = "create_partitioned_volume";
        check_spec(OP, spec)?;
        let view = ClusterView::from_statuses(&self.list_servers()?);
        let ranges = split_ranges(spec.size_bytes, spec.extent_size_bytes, spec.partitions);
        let mut round: BTreeSet<String> = BTreeSet::new();
        let mut partitions = Vec::with_capacity(ranges.len());
        for (index, (start_bytes, len_bytes)) in (0u32..).zip(ranges) {
            let mut request = PlacementRequest {
                volume: spec.name.clone(),
                tier: spec.capacity_tier.clone(),
                // Thin volumes hold no space up front; placement only needs the tier to
                // exist with room, so one extent stands for the partition.
                bytes: spec.extent_size_bytes.min(len_bytes),
                predicted: None,
                avoid: round.clone(),
                overcommit_ratio: self.config.overcommit_ratio,
            };
            let best = match placement::place(&view, &request) {
                Some(best) if !round.contains(&best.server) => best,
                // Every eligible server has one of this round: start the next round.
                _ => {
                    round.clear();
                    request.avoid.clear();
                    placement::place(&view, &request).ok_or_else(|| {
                        ControlError::new(
                            ControlErrorKind::NoCapacity,
                            OP,
                            &spec.name,
                            format!("no healthy server has a {} tier", spec.capacity_tier),
                        )
                    })?
                }
            };
            round.insert(best.server.clone());
            partitions.push(Partition {
                index,
                start_bytes,
                len_bytes,
                server: best.server,
            });
        }
        let map = PartitionMap {
            volume: spec.name.clone(),
            size_bytes: spec.size_bytes,
            extent_size_bytes: spec.extent_size_bytes,
            profile: spec.profile.clone(),
            pin: spec.pin.clone(),
            state: PartitionMapState::Creating,
            created_at_ns: self.now_ns(),
            created_by: created_by.to_owned(),
            partitions,
        };
        let key = keys::partition_map(&spec.name);
        let recorded = self.transact(
            OP,
            &spec.name,
            &[Compare::absent(key.clone())],
            &[Op::put(key, encode(&map))],
        )?;
        if !recorded {
            return Err(ControlError::new(
                ControlErrorKind::AlreadyExists,
                OP,
                &spec.name,
                "a partitioned volume of that name exists",
            ));
        }
        Ok(map)
    }

    /// The map of `volume`, if it is partitioned.
    pub fn partition_map(&self, volume: &str) -> Result<Option<PartitionMap>> {
        const OP: &str = "partition_map";
        keys::check_name(OP, "volume", volume)?;
        let key = keys::partition_map(volume);
        self.get_raw(OP, &key)?
            .map(|raw| decode(OP, &key, &raw))
            .transpose()
    }

    /// Every partitioned volume, by name.
    pub fn list_partition_maps(&self) -> Result<Vec<PartitionMap>> {
        const OP: &str = "list_partition_maps";
        self.list_raw(OP, keys::PARTITION_MAPS.as_bytes())?
            .into_iter()
            .map(|(key, raw)| decode(OP, &key, &raw))
            .collect()
    }

    /// Marks a `creating` map `ready` once every owner has its backing; `NotFound` if the
    /// map vanished (deleted meanwhile), `Contended` if it changed under us.
    pub fn mark_partition_map_ready(&self, volume: &str) -> Result<PartitionMap> {
        const OP: &str = "mark_partition_map_ready";
        let key = keys::partition_map(volume);
        let raw = self.get_raw(OP, &key)?.ok_or_else(|| {
            ControlError::new(ControlErrorKind::NotFound, OP, volume, "no partition map")
        })?;
        let mut map: PartitionMap = decode(OP, &key, &raw)?;
        map.state = PartitionMapState::Ready;
        let swapped = self.transact(
            OP,
            volume,
            &[Compare::value(key.clone(), raw)],
            &[Op::put(key, encode(&map))],
        )?;
        if swapped {
            Ok(map)
        } else {
            Err(self.contended(OP, volume))
        }
    }

    /// Removes the map of `volume`; returns whether there was one.
    pub fn delete_partition_map(&self, volume: &str) -> Result<bool> {
        const OP: &str = "delete_partition_map";
        keys::check_name(OP, "volume", volume)?;
        let key = keys::partition_map(volume);
        let Some(raw) = self.get_raw(OP, &key)? else {
            return Ok(false);
        };
        // Guarded so a delete never removes a map recreated after our read.
        self.transact(
            OP,
            volume,
            &[Compare::value(key.clone(), raw)],
            &[Op::delete(key)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_the_volume_on_extent_boundaries() {
        const MIB: u64 = 1 << 20;
        let ranges = split_ranges(10 * MIB, MIB, 3);
        assert_eq!(
            ranges,
            [(0, 4 * MIB), (4 * MIB, 3 * MIB), (7 * MIB, 3 * MIB)]
        );
        // A size that is not a multiple of the extent: the last range ends at the size.
        let ranges = split_ranges(2 * MIB + 4096, MIB, 3);
        assert_eq!(ranges, [(0, MIB), (MIB, MIB), (2 * MIB, 4096)]);
        assert_eq!(split_ranges(MIB, MIB, 1), [(0, MIB)]);
    }
}
