//! Running prefetches on the migration executor: pick the most urgent candidate of any
//! volume, re-check it against the live map and tiers, and execute it as a move with
//! reason `prefetch` through `EngineInner::execute_move` (the migration protocol, see
//! `migrate::mover`), paced by the prefetch share of the bandwidth.

use crate::engine::EngineInner;
use crate::migrate::{MigrationOutcome, MoveJob};
use crate::reservation::Room;
use crate::volume::Volume;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How a picked candidate ended.
pub(super) enum Ended {
    /// Copied up onto this tier.
    Prefetched(usize),
    /// Nothing to do any more (unallocated, already fast, no room, volume gone).
    Skipped,
    /// The move failed or was refused by the executor contract.
    Failed,
    /// Shutdown came first.
    Cancelled,
}

/// The fastest tier faster than `current` that is not degraded, whose occupancy stays at
/// or below `watermark` after taking one of the volume's extents and whose room left is
/// not held for other volumes' reservations, with the share of its room under the
/// watermark that would still be free. When reservations alone leave no such tier, the
/// prefetch counts as a move skipped because of them.
pub(crate) fn target_tier(
    inner: &EngineInner,
    volume: &Volume,
    current: usize,
    watermark: f64,
) -> Option<(usize, f32)> {
    let target = target_tier_where(inner, volume, current, watermark, |index| {
        inner.room_for(volume, index) == Room::Open
    });
    if target.is_none() && target_tier_where(inner, volume, current, watermark, |_| true).is_some()
    {
        inner.reservations.count_move_skipped();
    }
    target
}

/// [`target_tier`] with the reservation test replaced by `allowed`.
fn target_tier_where(
    inner: &EngineInner,
    volume: &Volume,
    current: usize,
    watermark: f64,
    allowed: impl Fn(usize) -> bool,
) -> Option<(usize, f32)> {
    let need_granules = volume.extent_size() / crate::config::GRANULE_BYTES;
    inner.tiers[..current.min(inner.tiers.len())]
        .iter()
        .enumerate()
        .filter(|(index, t)| !t.degraded.load(Ordering::Relaxed) && allowed(*index))
        .find_map(|(index, tier)| {
            let alloc = tier.alloc.lock();
            let limit = alloc.capacity_granules() as f64 * watermark;
            let after = (alloc.used_granules() + need_granules) as f64;
            (after <= limit && alloc.can_allocate(volume.slot_order))
                .then(|| (index, (1.0 - after / limit.max(1.0)) as f32))
        })
}

/// Fast-tier pressure for the tuner ([`strata_predict::fill_pressure`] of the fastest
/// tier's occupancy). Zero while prefetches can swap with idle extents (`swapping`):
/// then they crowd out nothing hotter than themselves, however full the tier is.
pub(crate) fn pressure(inner: &EngineInner, watermark: f64, swapping: bool) -> f32 {
    let Some(fastest) = inner.tiers.first() else {
        return 0.0;
    };
    if swapping {
        return 0.0;
    }
    let alloc = fastest.alloc.lock();
    let occupancy = alloc.used_granules() as f64 / alloc.capacity_granules().max(1) as f64;
    strata_predict::fill_pressure(occupancy, watermark)
}

impl super::Prefetcher {
    /// Runs the most urgent queued prefetch, if any (executor thread); `false` when every
    /// queue is empty.
    pub fn execute_next(&self, inner: &EngineInner) -> bool {
        if !self.config.enabled {
            return false;
        }
        let picked = {
            let mut volumes = self.volumes.lock();
            let best = volumes
                .iter()
                .filter_map(|(&id, s)| s.queue.peek_priority().map(|p| (id, p)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|(id, _)| id);
            best.and_then(|id| {
                let state = volumes.get_mut(&id)?;
                let candidate = state.queue.pop()?;
                state.in_flight = Some((candidate.extent, false));
                Some((id, candidate.extent))
            })
        };
        let Some((volume_id, extent)) = picked else {
            return false;
        };
        let ended = self.run(inner, volume_id, extent);
        let now_ns = self.now_ns();
        let mut volumes = self.volumes.lock();
        if let Some(state) = volumes.get_mut(&volume_id) {
            let late = state.in_flight.take().is_some_and(|(_, late)| late);
            let counters = &mut state.measures.counters;
            match ended {
                Ended::Prefetched(tier) => state.measures.on_prefetched(extent, tier, now_ns, late),
                Ended::Skipped => counters.skipped += 1,
                Ended::Failed => counters.failed += 1,
                Ended::Cancelled => {}
            }
        }
        true
    }

    fn run(&self, inner: &EngineInner, volume_id: u64, extent: u64) -> Ended {
        let Some(volume) = inner.volumes_by_id().get(&volume_id).cloned() else {
            return Ended::Skipped;
        };
        let Some(placement) = volume.map.get(extent) else {
            return Ended::Skipped;
        };
        if volume.pin.is_some() {
            return Ended::Skipped;
        }
        let (to, swap) = match target_tier(inner, &volume, placement.tier, self.config.watermark) {
            Some((to, _)) => (to, false),
            None => match self.swap_target(inner, &volume, placement.tier) {
                Some(to) => (to, true),
                None => return Ended::Skipped,
            },
        };
        if swap && let Err(ended) = self.make_room(inner, &volume, to) {
            return ended;
        }
        if !self.acquire(volume.extent_size(), &inner.tiering.cancel) {
            return Ended::Cancelled;
        }
        let job = MoveJob {
            volume,
            extent,
            from: placement.tier,
            to,
            reason: strata_policy::MoveReason::Prefetch.as_str(),
            for_prefetch: true,
        };
        match inner.execute_move(&job) {
            Ok(record) if record.outcome == MigrationOutcome::Done => {
                self.touch([(volume_id, extent)]);
                Ended::Prefetched(to)
            }
            Ok(record) if record.outcome == MigrationOutcome::Cancelled => Ended::Cancelled,
            // The extent moved or was trimmed since it was picked: nothing was copied.
            Err(strata_policy::MoveRejection::WrongSource) => Ended::Skipped,
            Ok(_) | Err(_) => Ended::Failed,
        }
    }

    /// Waits for the prefetch share of the bandwidth; `false` if cancelled meanwhile.
    pub(super) fn acquire(
        &self,
        len_bytes: u64,
        cancel: &crate::migrate::cancel::CancelToken,
    ) -> bool {
        let Some(bucket) = &self.bucket else {
            return true;
        };
        loop {
            let waited = bucket.lock().try_take(len_bytes, self.now_ns());
            match waited {
                Ok(()) => return true,
                Err(wait_ns) => {
                    if cancel.sleep(Duration::from_nanos(wait_ns.min(1_000_000_000))) {
                        return false;
                    }
                }
            }
        }
    }
}
