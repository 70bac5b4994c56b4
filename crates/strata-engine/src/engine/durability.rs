//! Making things durable: pending map changes, deferred slot frees, FLUSH and FUA.
//!
//! Map changes made by the I/O path are collected in [`Pending`] (latest change per key
//! wins) and committed in one store transaction by the next FLUSH. The order inside a
//! flush is what keeps the invariants:
//!
//! 1. take the pending changes and frees (under the flush lock, so flushes never overlap);
//! 2. flush every tier device that saw writes — every slot a taken change points at was
//!    written (data and zero fill) before its change was queued, so it is durable now;
//! 3. commit the changes in one transaction;
//! 4. only now return freed slots to the allocators: a slot is reused only after the
//!    change that unmapped it is durable, so a crash can never leave an old map entry
//!    pointing at another extent's data — and only after every request that might have
//!    looked the old mapping up has finished (see `epoch`); if that takes longer than
//!    [`DRAIN_TIMEOUT`], the slots wait for the next flush.
//!
//! If step 2 or 3 fails, the taken changes go back (behind any newer change to the same
//! key) and the frees stay deferred.

use super::EngineInner;
use crate::alloc::Slot;
use crate::tier::Tier;
use crate::{EngineError, Result};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use strata_device::TierDevice;
use strata_meta::Op;

/// How long a flush waits for in-flight requests before deferring its slot frees.
pub(crate) const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Changes waiting for the next FLUSH.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Store key → new value (`None` = delete).
    pub ops: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Slots unmapped by those changes: (tier index, slot).
    pub frees: Vec<(usize, Slot)>,
}

impl EngineInner {
    /// Queues a map change (and the slot it frees, if any). Callers hold the volume's map
    /// lock, so changes to one key are queued in map order.
    pub(crate) fn queue_change(
        &self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        freed: Option<(usize, Slot)>,
    ) {
        let mut pending = self.pending.lock();
        pending.ops.insert(key, value);
        pending.frees.extend(freed);
    }

    /// FLUSH: every tier that saw writes, then every pending map change, then deferred frees.
    pub(crate) fn flush_all(&self) -> Result<()> {
        let _flush = self.flush_lock.lock();
        self.flush_locked()
    }

    fn flush_locked(&self) -> Result<()> {
        let Pending { ops, frees } = std::mem::take(&mut *self.pending.lock());
        let result = self
            .tiers
            .iter()
            .try_for_each(Tier::flush_if_dirty)
            .and_then(|()| {
                if ops.is_empty() {
                    return Ok(());
                }
                let batch: Vec<Op> = ops
                    .iter()
                    .map(|(key, value)| match value {
                        Some(value) => Op::put(key.clone(), value.clone()),
                        None => Op::delete(key.clone()),
                    })
                    .collect();
                self.store
                    .commit(&batch)
                    .map_err(|e| EngineError::store("flush", e))
            });
        if let Err(err) = result {
            let mut pending = self.pending.lock();
            for (key, value) in ops {
                pending.ops.entry(key).or_insert(value);
            }
            pending.frees.extend(frees);
            return Err(err);
        }
        if frees.is_empty() {
            return Ok(());
        }
        if self.io_epochs.advance_and_drain(DRAIN_TIMEOUT) {
            self.release_slots(frees);
        } else {
            tracing::warn!(
                slots = frees.len(),
                "requests still in flight; slot reuse deferred"
            );
            self.pending.lock().frees.extend(frees);
        }
        Ok(())
    }

    /// Returns durably unmapped slots to their allocators, discarding their old contents.
    pub(crate) fn release_slots(&self, frees: Vec<(usize, Slot)>) {
        for (tier_index, slot) in frees {
            let Some(tier) = self.tiers.get(tier_index) else {
                continue;
            };
            let len = slot.len_granules() * crate::config::GRANULE_BYTES;
            // Discard only saves space; allocation zero-fills, so a failed discard is harmless.
            if let Err(e) = tier.device.discard(Tier::slot_offset_bytes(slot), len) {
                tracing::warn!(tier = tier.name(), error = %e, "discard of a freed slot failed");
            }
            tier.alloc.lock().free(slot);
        }
    }

    /// FUA: makes the data just written to `tiers` durable, and — when any of `keys` has a
    /// map change not yet committed — commits every pending change too.
    pub(crate) fn sync_for_fua(&self, tiers: &[usize], keys: &[Vec<u8>]) -> Result<()> {
        // Holding the flush lock also waits out a flush that took our change but has not
        // committed it yet.
        let _flush = self.flush_lock.lock();
        let uncommitted = {
            let pending = self.pending.lock();
            keys.iter().any(|key| pending.ops.contains_key(key))
        };
        if uncommitted {
            return self.flush_locked();
        }
        for &index in tiers {
            if let Some(tier) = self.tiers.get(index) {
                tier.flush_if_dirty()?;
            }
        }
        Ok(())
    }

    /// Drops queued changes of a deleted volume (their keys are deleted durably by then).
    pub(crate) fn forget_pending_with_prefix(&self, prefix: &[u8]) {
        self.pending
            .lock()
            .ops
            .retain(|key, _| !key.starts_with(prefix));
    }

    pub(crate) fn mark_dirty(&self, tier: usize) {
        if let Some(tier) = self.tiers.get(tier) {
            tier.dirty.store(true, Ordering::SeqCst);
        }
    }
}
