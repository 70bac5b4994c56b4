//! Making room for a prefetch on a full fast tier (`[prefetch] evict_idle`).
//!
//! The placement policies keep the fastest tier full, so a prefetcher that only used free
//! room would stop once they had filled it. When no tier above a candidate has room under
//! the watermark, the prefetcher may instead swap: it demotes an extent of the fastest
//! tier that nobody has touched for `horizon_ms` (to the slowest tier with room, reason
//! `evict` in the migration log), then copies the candidate into the freed slot, so the
//! tier's occupancy does not grow. An extent idle for the horizon is colder than any
//! prefetch — a prefetch not read within the horizon is counted as wasted — so this never
//! displaces data hotter than what it brings. Pinned volumes' extents are never chosen.
//! Both copies are ordinary moves (`migrate::mover`), paced by the prefetch share of the
//! bandwidth. The victim is found by a bounded clock sweep ([`super::recency`]); when a
//! sweep finds none, no swap is tried for an epoch.

use super::exec::Ended;
use super::recency::Recency;
use crate::engine::EngineInner;
use crate::migrate::{MigrationOutcome, MoveJob};
use crate::reservation::Room;
use crate::volume::Volume;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Extent-map entries one victim search may look at, over every volume.
const SEARCH_BUDGET: u64 = 65_536;
/// Victims one prefetch may demote before its extent fits (one, unless extent sizes differ).
const MAX_VICTIMS: usize = 4;

/// Where the victim search resumes.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    /// Per volume, the last touch of each extent and the clock hand.
    pub recency: BTreeMap<u64, Recency>,
    /// The volume the last search stopped in.
    cursor: u64,
    /// No swap is tried before this (prefetcher clock), after a search found nothing.
    idle_until_ns: u64,
    /// Whether the last search found a victim (`None` before the first).
    last_found: Option<bool>,
}

impl Sweep {
    /// Whether prefetches can take the fastest tier's idle extents' slots as far as the
    /// searches so far know: then a full fastest tier is no pressure on prefetching.
    pub fn swapping(&self) -> bool {
        self.last_found != Some(false)
    }
}

impl super::Prefetcher {
    /// The tier a candidate on `current` may swap into when no tier has room under the
    /// watermark: the fastest tier, if swapping is on, the candidate is slower, the tier
    /// is healthy and open to the volume, and the last search did not just come up empty.
    pub(super) fn swap_target(
        &self,
        inner: &EngineInner,
        volume: &Volume,
        current: usize,
    ) -> Option<usize> {
        let to = 0;
        let open = self.config.evict_idle
            && current > to
            && inner
                .tiers
                .get(to)
                .is_some_and(|t| !t.degraded.load(Ordering::Relaxed))
            && inner.room_for(volume, to) == Room::Open
            && self.now_ns() >= self.sweep.lock().idle_until_ns;
        open.then_some(to)
    }

    /// Demotes idle extents of tier `to` until `volume`'s extent fits there (each counted
    /// as an eviction of `volume`'s prefetcher), or says how the prefetch ends instead.
    pub(super) fn make_room(
        &self,
        inner: &EngineInner,
        volume: &Volume,
        to: usize,
    ) -> Result<(), Ended> {
        for _ in 0..MAX_VICTIMS {
            let Some((victim, extent)) = self.idle_victim(inner, to) else {
                return Err(Ended::Skipped);
            };
            let Some(dest) = victim_destination(inner, &victim, to) else {
                return Err(Ended::Skipped);
            };
            if !self.acquire(victim.extent_size(), &inner.tiering.cancel) {
                return Err(Ended::Cancelled);
            }
            let job = MoveJob {
                volume: victim,
                extent,
                from: to,
                to: dest,
                reason: strata_policy::MoveReason::Evict.as_str(),
                for_prefetch: true,
            };
            match inner.execute_move(&job) {
                Ok(record) if record.outcome == MigrationOutcome::Done => {
                    if let Some(state) = self.volumes.lock().get_mut(&volume.record.id) {
                        state.measures.counters.evicted_extents += 1;
                    }
                }
                Ok(record) if record.outcome == MigrationOutcome::Cancelled => {
                    return Err(Ended::Cancelled);
                }
                // Moved or trimmed since the sweep saw it: look for another.
                Err(strata_policy::MoveRejection::WrongSource) => continue,
                Ok(_) | Err(_) => return Err(Ended::Failed),
            }
            if inner.tiers[to].alloc.lock().can_allocate(volume.slot_order) {
                return Ok(());
            }
        }
        Err(Ended::Skipped)
    }

    /// The next extent of tier `to` untouched for the horizon, in clock order over the
    /// volumes that are not pinned.
    fn idle_victim(&self, inner: &EngineInner, to: usize) -> Option<(Arc<Volume>, u64)> {
        let now_ns = self.now_ns();
        let idle_ns = self.config.horizon_ms.saturating_mul(1_000_000);
        let volumes = inner.volumes_by_id();
        let mut sweep = self.sweep.lock();
        let start = sweep.cursor;
        let order = volumes.range(start..).chain(volumes.range(..start));
        let mut budget = SEARCH_BUDGET;
        for (&id, volume) in order {
            if volume.pin.is_some() {
                continue;
            }
            sweep.cursor = id;
            let recency = sweep.recency.entry(id).or_default();
            let (found, looked) = recency.sweep(volume.map.len(), budget, |r, e| {
                volume.map.get(e).is_some_and(|p| p.tier == to) && r.idle(e, now_ns, idle_ns)
            });
            if let Some(extent) = found {
                sweep.last_found = Some(true);
                return Some((volume.clone(), extent));
            }
            budget -= looked;
            if budget == 0 {
                break;
            }
        }
        sweep.idle_until_ns = now_ns + self.config.epoch_ms.saturating_mul(1_000_000);
        sweep.last_found = Some(false);
        None
    }
}

/// The slowest tier below `from` that is healthy, open to the victim's volume and has a
/// slot for its extent.
fn victim_destination(inner: &EngineInner, victim: &Volume, from: usize) -> Option<usize> {
    (from + 1..inner.tiers.len()).rev().find(|&index| {
        let tier = &inner.tiers[index];
        !tier.degraded.load(Ordering::Relaxed)
            && inner.room_for(victim, index) == Room::Open
            && tier.alloc.lock().can_allocate(victim.slot_order)
    })
}
