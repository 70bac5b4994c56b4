//! Start-up: loads volumes and extent maps from the store and rebuilds every tier's
//! allocator from the maps (the allocators themselves are never stored).

use super::EngineInner;
use crate::alloc::{BuddyAllocator, Slot};
use crate::config::GRANULE_BYTES;
use crate::extent_map::Placement;
use crate::store_format;
use crate::volume::{Volume, VolumeSpec, validate_volume_geometry, validate_volume_name};
use crate::{EngineError, EngineErrorKind, Result};
use std::sync::Arc;

fn corrupt(msg: String) -> EngineError {
    EngineError::new(EngineErrorKind::Store, "load", msg)
}

impl EngineInner {
    pub(crate) fn load(&self) -> Result<()> {
        let store_err = |e| EngineError::store("load", e);
        if let Some(raw) = self
            .store
            .get(store_format::NEXT_VOLUME_ID_KEY)
            .map_err(store_err)?
        {
            *self.next_volume_id.lock() = store_format::decode_u64(&raw)?;
        }
        let mut slots_per_tier: Vec<Vec<Slot>> = vec![Vec::new(); self.tiers.len()];
        let mut volumes = self.volumes.write();
        for (_key, raw) in self
            .store
            .list_prefix(store_format::VOLUME_PREFIX)
            .map_err(store_err)?
        {
            let record = store_format::decode_volume(&raw)?;
            let name = record.name.clone();
            // Geometry from disk is checked like user input: a bad record must not panic.
            let spec = VolumeSpec::new(name.clone(), record.size_bytes)
                .with_extent_size(record.extent_size_bytes);
            validate_volume_name(&name)
                .and_then(|()| validate_volume_geometry(&spec))
                .map_err(|e| corrupt(format!("volume record {name:?}: {}", e.message())))?;
            let pin = match &record.pin {
                Some(kind) => Some(self.tier_index(kind).ok_or_else(|| {
                    corrupt(format!(
                        "volume {name} is pinned to unconfigured tier {kind}"
                    ))
                })?),
                None => None,
            };
            let volume = Volume::new(record, pin, self.tiers.len());
            let prefix = store_format::map_prefix(volume.record.id);
            let entries = self.store.list_prefix(&prefix).map_err(store_err)?;
            {
                let _map = volume.map_lock.lock();
                for (key, value) in entries {
                    let extent = store_format::decode_map_key(volume.record.id, &key)?;
                    let value = store_format::decode_map_value(&value)?;
                    let tier = self.tier_index(&value.tier).ok_or_else(|| {
                        corrupt(format!(
                            "volume {name} extent {extent} is on unconfigured tier {}",
                            value.tier
                        ))
                    })?;
                    if extent >= volume.map.len()
                        || !value.slot_offset_bytes.is_multiple_of(GRANULE_BYTES)
                    {
                        return Err(corrupt(format!(
                            "volume {name} has a bad map entry for extent {extent}"
                        )));
                    }
                    let placement = Placement {
                        tier,
                        granule: value.slot_offset_bytes / GRANULE_BYTES,
                    };
                    slots_per_tier[tier].push(placement.slot(volume.slot_order));
                    volume.set_placement(extent, Some(placement));
                }
            }
            let next_id = *self.next_volume_id.lock();
            if volume.record.id >= next_id {
                *self.next_volume_id.lock() = volume.record.id + 1;
            }
            volumes.insert(name, Arc::new(volume));
        }
        self.publish_volumes(&volumes);
        for (tier, slots) in self.tiers.iter().zip(slots_per_tier) {
            let capacity = tier.capacity_granules();
            let rebuilt = BuddyAllocator::from_allocated(capacity, slots).map_err(|bad| {
                corrupt(format!(
                    "tier {}: slot at granule {} (order {}) overlaps another or lies outside the tier",
                    tier.name(),
                    bad.0.granule,
                    bad.0.order
                ))
                .with_tier(tier.name())
            })?;
            *tier.alloc.lock() = rebuilt;
        }
        Ok(())
    }
}
