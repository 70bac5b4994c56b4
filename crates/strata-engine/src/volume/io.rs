//! The I/O path: reads, writes, TRIM and WRITE_ZEROES on one volume.
//!
//! Lookups are one atomic load per extent. A write to an unallocated extent takes the
//! volume's map lock, re-checks, asks placement for tiers, takes a slot, writes the whole
//! extent (the caller's bytes plus zeros, so a recycled slot never shows old data), and only
//! then publishes the map entry and queues its store change. Unmapping (TRIM, whole-extent
//! WRITE_ZEROES) clears the entry under the same lock and defers the slot's reuse until the
//! change is durable (see `engine::durability`).
//!
//! Writes (including the zeroing of partial extents) hold their extent's stripe read lock
//! (`crate::extent_lock`) from the map lookup to the end of the device write, so a
//! migration's final phase sees every write either before its last copy or after its map
//! switch — never in between. Reads need no lock: the slot they read stays valid until
//! their epoch ends.
//!
//! Every request runs inside an I/O epoch (`crate::epoch`) from its first map lookup to
//! its last device call, so a slot unmapped under a racing request is not reused before
//! that request is done. FUA syncs run after leaving the epoch, because a flush waits for
//! the epoch to drain.

use super::{Piece, Unmapping, Volume, pieces};
use crate::access::{AccessEvent, AccessKind};
use crate::config::GRANULE_BYTES;
use crate::engine::EngineInner;
use crate::extent_map::Placement;
use crate::placement::{PlacementRequest, candidate_tiers};
use crate::reservation::Room;
use crate::store_format::{self, MapValue};
use crate::{EngineError, EngineErrorKind, Result};
use std::sync::atomic::Ordering;

/// Source of zeros for WRITE_ZEROES on partial extents.
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

fn blocks(len_bytes: u64) -> u32 {
    u32::try_from(len_bytes.div_ceil(strata_core::BLOCK_SIZE)).unwrap_or(u32::MAX)
}

impl EngineInner {
    fn check_range(&self, volume: &Volume, op: &'static str, offset: u64, len: u64) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= volume.record.size_bytes => Ok(()),
            _ => Err(EngineError::new(
                EngineErrorKind::OutOfRange,
                op,
                format!(
                    "range {offset}+{len} exceeds volume size {}",
                    volume.record.size_bytes
                ),
            )
            .with_volume(&volume.record.name)
            .with_offset(offset)),
        }
    }

    fn check_writable(&self, volume: &Volume, op: &'static str) -> Result<()> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(
                EngineError::new(EngineErrorKind::Device, op, "the engine is shut down")
                    .with_volume(&volume.record.name),
            );
        }
        Ok(())
    }

    fn device_error(
        &self,
        volume: &Volume,
        op: &'static str,
        piece: &Piece,
        tier: usize,
        err: strata_device::DeviceError,
    ) -> EngineError {
        EngineError::device(op, err)
            .with_volume(&volume.record.name)
            .with_extent(piece.extent)
            .with_offset((piece.extent << volume.extent_shift) + piece.offset_in_extent)
            .with_tier(self.tier_names.get(tier).map_or("?", String::as_str))
    }

    fn slot_offset(&self, placement: Placement, piece: &Piece) -> u64 {
        placement.granule * GRANULE_BYTES + piece.offset_in_extent
    }

    pub(crate) fn read(&self, volume: &Volume, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_range(volume, "read", offset, buf.len() as u64)?;
        let epoch = self.io_epochs.enter();
        for piece in pieces(offset, buf.len() as u64, volume.extent_shift) {
            let out = &mut buf[piece.buf_offset..piece.buf_offset + piece.len_bytes as usize];
            let placement = volume.map.get(piece.extent);
            match placement {
                Some(p) => {
                    self.tiers[p.tier]
                        .read_at(out, self.slot_offset(p, &piece))
                        .map_err(|e| self.device_error(volume, "read", &piece, p.tier, e))?;
                    volume.counters.read_hits_by_tier[p.tier].fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    out.fill(0);
                    volume
                        .counters
                        .unallocated_reads
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            volume.access.record(AccessEvent {
                kind: AccessKind::Read,
                extent: piece.extent,
                tier: placement.map(|p| p.tier),
                blocks: blocks(piece.len_bytes),
            });
        }
        drop(epoch);
        volume.counters.count_read(buf.len() as u64);
        Ok(())
    }

    pub(crate) fn write(&self, volume: &Volume, offset: u64, data: &[u8], fua: bool) -> Result<()> {
        self.check_writable(volume, "write")?;
        self.check_range(volume, "write", offset, data.len() as u64)?;
        let mut touched_tiers = Vec::new();
        let mut keys = Vec::new();
        let epoch = self.io_epochs.enter();
        for piece in pieces(offset, data.len() as u64, volume.extent_shift) {
            let src = &data[piece.buf_offset..piece.buf_offset + piece.len_bytes as usize];
            let tier = self.write_piece(volume, &piece, src)?;
            volume.access.record(AccessEvent {
                kind: AccessKind::Write,
                extent: piece.extent,
                tier: Some(tier),
                blocks: blocks(piece.len_bytes),
            });
            if fua {
                if !touched_tiers.contains(&tier) {
                    touched_tiers.push(tier);
                }
                keys.push(store_format::map_key(volume.record.id, piece.extent));
            }
        }
        drop(epoch);
        volume.counters.count_write(data.len() as u64);
        if fua {
            self.sync_for_fua(&touched_tiers, &keys)
                .map_err(|e| e.with_volume(&volume.record.name))?;
        }
        Ok(())
    }

    /// Writes one piece, allocating its extent if needed; returns the tier written.
    fn write_piece(&self, volume: &Volume, piece: &Piece, src: &[u8]) -> Result<usize> {
        let _extent = self
            .extent_locks
            .write_access(volume.record.id, piece.extent);
        if let Some(p) = volume.map.get(piece.extent) {
            self.write_to_slot(volume, piece, p, src)?;
            return Ok(p.tier);
        }
        let _map = volume.map_lock.lock();
        if let Some(p) = volume.map.get(piece.extent) {
            // Another writer allocated it while we waited for the lock.
            self.write_to_slot(volume, piece, p, src)?;
            return Ok(p.tier);
        }
        let placement = self.allocate_slot(volume, piece.extent)?;
        let slot_start = placement.granule * GRANULE_BYTES;
        let device = &self.tiers[placement.tier];
        let written = if piece.covers_extent(volume.extent_size()) {
            device.write_at(src, slot_start)
        } else {
            let mut content = vec![0u8; volume.extent_size() as usize];
            let start = piece.offset_in_extent as usize;
            content[start..start + src.len()].copy_from_slice(src);
            device.write_at(&content, slot_start)
        };
        if let Err(e) = written {
            // Never published, so the slot can be reused at once.
            self.tiers[placement.tier]
                .alloc
                .lock()
                .free(placement.slot(volume.slot_order));
            return Err(self.device_error(volume, "write", piece, placement.tier, e));
        }
        self.mark_dirty(placement.tier);
        volume.set_placement(piece.extent, Some(placement));
        let value = MapValue {
            tier: self.tiers[placement.tier].config.kind.clone(),
            slot_offset_bytes: slot_start,
        };
        self.queue_change(
            store_format::map_key(volume.record.id, piece.extent),
            Some(store_format::encode_map_value(&value)),
            None,
        );
        Ok(placement.tier)
    }

    fn write_to_slot(
        &self,
        volume: &Volume,
        piece: &Piece,
        p: Placement,
        src: &[u8],
    ) -> Result<()> {
        self.tiers[p.tier]
            .write_at(src, self.slot_offset(p, piece))
            .map_err(|e| self.device_error(volume, "write", piece, p.tier, e))?;
        self.mark_dirty(p.tier);
        Ok(())
    }

    /// Takes a slot from the first candidate tier with room that is not held for other
    /// volumes' reservations; failing that (soft reservations), from the first candidate
    /// with any room. Callers hold the map lock.
    fn allocate_slot(&self, volume: &Volume, extent: u64) -> Result<Placement> {
        let request = PlacementRequest {
            volume_id: volume.record.id,
            volume: &volume.record.name,
            extent,
            profile: volume.record.profile.as_deref(),
            pin: volume.pin,
            tier_count: self.tiers.len(),
        };
        let hook = self.placement.read().clone();
        let candidates = candidate_tiers(hook.as_ref(), &request);
        let take = |tier: usize| {
            self.tiers[tier]
                .alloc
                .lock()
                .allocate(volume.slot_order)
                .map(|slot| Placement {
                    tier,
                    granule: slot.granule,
                })
        };
        let mut passed_reserved = false;
        for &tier in &candidates {
            if self.room_for(volume, tier) == Room::Reserved {
                passed_reserved = true;
                continue;
            }
            if let Some(placement) = take(tier) {
                if passed_reserved {
                    self.reservations.count_redirected();
                }
                return Ok(placement);
            }
        }
        if passed_reserved {
            // Soft: no candidate has unreserved room, so take reserved room rather than
            // fail a write that would succeed without reservations.
            for &tier in &candidates {
                if let Some(placement) = take(tier) {
                    self.reservations.count_into_reserved();
                    return Ok(placement);
                }
            }
        }
        let scope = if volume.pin.is_some() {
            "its pinned tier"
        } else {
            "any tier"
        };
        Err(EngineError::new(
            EngineErrorKind::NoSpace,
            "write",
            format!("no free {} byte slot on {scope}", volume.extent_size()),
        )
        .with_volume(&volume.record.name)
        .with_extent(extent))
    }

    /// TRIM (`zero_partial = false`) and WRITE_ZEROES (`true`): whole extents in the range
    /// are unmapped; with `zero_partial`, partial pieces of allocated extents are zeroed.
    pub(crate) fn unmap_range(
        &self,
        volume: &Volume,
        offset: u64,
        len: u64,
        zero_partial: bool,
        fua: bool,
    ) -> Result<()> {
        let op = if zero_partial { "write_zeroes" } else { "trim" };
        self.check_writable(volume, op)?;
        self.check_range(volume, op, offset, len)?;
        let kind = if zero_partial {
            AccessKind::WriteZeroes
        } else {
            AccessKind::Trim
        };
        let mut whole = Vec::new();
        let mut touched_tiers = Vec::new();
        let epoch = self.io_epochs.enter();
        // One event for the whole request, not one per extent: a trim of a large range
        // (mkfs, fstrim) would otherwise overwrite the ring's unread reads and writes. What
        // it unmapped reaches the planner through `volume.unmapped`, tagged with this event.
        let seq = volume.access.record(AccessEvent {
            kind,
            extent: offset >> volume.extent_shift,
            tier: None,
            blocks: blocks(len),
        });
        for piece in pieces(offset, len, volume.extent_shift) {
            if piece.covers_extent(volume.extent_size()) {
                whole.push(Unmapping {
                    extent: piece.extent,
                    seq,
                });
            } else if zero_partial && volume.map.get(piece.extent).is_some() {
                let _extent = self
                    .extent_locks
                    .write_access(volume.record.id, piece.extent);
                // Looked up again under the lock: a migration may have moved it.
                if let Some(p) = volume.map.get(piece.extent) {
                    self.zero_piece(volume, &piece, p)?;
                    if !touched_tiers.contains(&p.tier) {
                        touched_tiers.push(p.tier);
                    }
                }
            }
        }
        let mut keys = Vec::with_capacity(whole.len());
        if !whole.is_empty() {
            let _map = volume.map_lock.lock();
            let mut unmapped = volume.unmapped.lock();
            for unmapping in whole {
                let extent = unmapping.extent;
                if let Some(p) = volume.map.get(extent) {
                    volume.set_placement(extent, None);
                    let key = store_format::map_key(volume.record.id, extent);
                    self.queue_change(key.clone(), None, Some((p.tier, p.slot(volume.slot_order))));
                    keys.push(key);
                    unmapped.push(unmapping);
                }
            }
        }
        drop(epoch);
        let counter = if zero_partial {
            &volume.counters.write_zeroes
        } else {
            &volume.counters.trims
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if fua {
            self.sync_for_fua(&touched_tiers, &keys)
                .map_err(|e| e.with_volume(&volume.record.name))?;
        }
        Ok(())
    }

    fn zero_piece(&self, volume: &Volume, piece: &Piece, p: Placement) -> Result<()> {
        let device = &self.tiers[p.tier];
        let mut done = 0;
        while done < piece.len_bytes {
            let n = (piece.len_bytes - done).min(ZEROS.len() as u64);
            device
                .write_at(&ZEROS[..n as usize], self.slot_offset(p, piece) + done)
                .map_err(|e| self.device_error(volume, "write_zeroes", piece, p.tier, e))?;
            done += n;
        }
        self.mark_dirty(p.tier);
        Ok(())
    }
}
