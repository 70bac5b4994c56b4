//! Soft reservations as the engine enforces them: capacity of a tier held for one volume
//! that other volumes' new extents and moves leave free.
//!
//! The control plane owns reservations (`strata-control`); the binary hands this server's
//! live ones to [`crate::Engine::set_reservations`] every control round. What a tier
//! *holds* for volume V is V's reserved bytes there minus the bytes of V's extents already
//! on that tier (never below zero), read live from the volume's per-tier counts.
//!
//! The rule, for every placement policy:
//!
//! * A new extent of V goes to a tier T only if T's free bytes after it stay at or above
//!   what T holds for volumes other than V, or while T still holds unfilled room for V
//!   itself (V's claim stands even when the control plane overcommitted reservations);
//!   otherwise placement tries the next tier the policy ranks. Only when no candidate tier has unreserved room does the extent take
//!   reserved room (soft: a write the engine would have accepted without reservations is
//!   never refused because of one), and that is counted.
//! * A policy move or a prefetch of V into T is not started when it would eat into what T
//!   holds for others: it is skipped and counted. A swap (a demotion out of T queued just
//!   before the promotion into T) frees the slot the promotion then takes, so it passes the
//!   rule unless the demoted extent belonged to a reserving volume. Operator moves
//!   (`Engine::migrate_extent`) are not checked.

use crate::engine::EngineInner;
use crate::volume::Volume;
use parking_lot::RwLock;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_core::TierKind;

/// One volume's reserved bytes on one tier of this server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservationHold {
    pub volume: String,
    pub tier: TierKind,
    pub bytes: u64,
}

impl ReservationHold {
    pub fn new(volume: impl Into<String>, tier: TierKind, bytes: u64) -> Self {
        Self {
            volume: volume.into(),
            tier,
            bytes,
        }
    }
}

/// What the engine enforces now and how often reservations changed a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReservationStats {
    /// New extents placed on a later-ranked tier because the preferred one's free room was
    /// reserved for other volumes.
    pub placements_redirected: u64,
    /// New extents that took reserved room because no candidate tier had unreserved room.
    pub placements_into_reserved: u64,
    /// Policy moves and prefetches not started because they would have eaten into other
    /// volumes' reservations.
    pub moves_skipped: u64,
    /// Per tier, fastest first.
    pub tiers: Vec<TierReservation>,
}

/// Reservations on one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierReservation {
    pub kind: TierKind,
    /// Bytes reserved on the tier, summed over volumes.
    pub reserved_bytes: u64,
    /// Of those, bytes not yet filled by the reserving volumes' extents on the tier: the
    /// room other volumes leave free.
    pub held_bytes: u64,
}

/// One volume's reserved bytes on a tier, by tier index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    tier: usize,
    volume: String,
    bytes: u64,
}

/// How a tier's room looks to one volume's new extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// Not blocked by reservations (it may still be full).
    Open,
    /// The free room that is left is held for other volumes.
    Reserved,
}

#[derive(Debug, Default)]
pub(crate) struct Reservations {
    entries: RwLock<Arc<Vec<Entry>>>,
    placements_redirected: AtomicU64,
    placements_into_reserved: AtomicU64,
    moves_skipped: AtomicU64,
}

impl Reservations {
    fn entries(&self) -> Arc<Vec<Entry>> {
        self.entries.read().clone()
    }

    /// Whether any reservation is in force.
    pub fn any(&self) -> bool {
        !self.entries.read().is_empty()
    }

    pub fn count_redirected(&self) {
        self.placements_redirected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_into_reserved(&self) {
        self.placements_into_reserved
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_move_skipped(&self) {
        self.moves_skipped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The entries of `tier` (entries are sorted by tier, then volume name).
fn on_tier(entries: &[Entry], tier: usize) -> &[Entry] {
    let start = entries.partition_point(|e| e.tier < tier);
    let end = entries.partition_point(|e| e.tier <= tier);
    &entries[start..end]
}

impl EngineInner {
    /// Replaces the reservations; holds on unknown tiers are ignored, holds of one volume
    /// on one tier are summed. Returns how many (volume, tier) entries are enforced.
    pub(crate) fn set_reservations(&self, holds: &[ReservationHold]) -> usize {
        let mut entries: Vec<Entry> = Vec::new();
        for hold in holds.iter().filter(|h| h.bytes > 0) {
            let Some(tier) = self.tier_index(&hold.tier) else {
                tracing::debug!(volume = %hold.volume, tier = %hold.tier, "reservation on a tier this engine lacks");
                continue;
            };
            match entries
                .iter_mut()
                .find(|e| e.tier == tier && e.volume == hold.volume)
            {
                Some(entry) => entry.bytes = entry.bytes.saturating_add(hold.bytes),
                None => entries.push(Entry {
                    tier,
                    volume: hold.volume.clone(),
                    bytes: hold.bytes,
                }),
            }
        }
        entries.sort_by(|a, b| (a.tier, &a.volume).cmp(&(b.tier, &b.volume)));
        let count = entries.len();
        let changed = {
            let mut current = self.reservations.entries.write();
            let changed = **current != entries;
            *current = Arc::new(entries);
            changed
        };
        if changed {
            tracing::info!(entries = count, "soft reservations updated");
            self.feed_policy_reservations();
        }
        count
    }

    /// What `tier` holds in all, and for `volume` (by name) among that: each reservation on
    /// the tier minus the bytes its volume's extents already fill there. One pass over the
    /// volumes, each found among the tier's entries by binary search (entries are sorted by
    /// tier, then name), so a new extent's placement costs O(volumes × log reservations).
    fn held_on_tier(
        &self,
        entries: &[Entry],
        tier: usize,
        volumes: &crate::migrate::view::VolumesById,
        volume: Option<&str>,
    ) -> (u64, u64) {
        let on_tier = on_tier(entries, tier);
        if on_tier.is_empty() {
            return (0, 0);
        }
        let find = |name: &str| {
            on_tier
                .binary_search_by(|e| e.volume.as_str().cmp(name))
                .ok()
        };
        let mut total: u64 = on_tier.iter().map(|e| e.bytes).sum();
        let mut own = volume.and_then(find).map_or(0, |i| on_tier[i].bytes);
        for v in volumes.values() {
            let Some(i) = find(&v.record.name) else {
                continue;
            };
            let filled = v
                .extents_per_tier
                .get(tier)
                .map_or(0, |n| n.load(Ordering::Relaxed))
                .saturating_mul(v.extent_size());
            let cut = filled.min(on_tier[i].bytes);
            total -= cut;
            if volume == Some(v.record.name.as_str()) {
                own -= cut;
            }
        }
        (total, own)
    }

    /// Bytes `tier` holds for `volume` (by name) and for all other volumes.
    fn held_split(&self, volume: &str, tier: usize) -> (u64, u64) {
        let entries = self.reservations.entries();
        if entries.is_empty() {
            return (0, 0);
        }
        let (total, own) = self.held_on_tier(&entries, tier, &self.volumes_by_id(), Some(volume));
        (own, total - own)
    }

    /// Whether one more extent of `volume` may take room on `tier`: always while the tier
    /// still holds unfilled reserved room for `volume` itself (its reservation is its
    /// claim, even when reservations are overcommitted); otherwise only if the tier's free
    /// room after it stays at or above what it holds for other volumes. A tier too full
    /// for the extent anyway is `Open`: the allocator says no by itself.
    pub(crate) fn room_for(&self, volume: &Volume, tier: usize) -> Room {
        let (own, held) = self.held_split(&volume.record.name, tier);
        if held == 0 || own > 0 {
            return Room::Open;
        }
        let Some(t) = self.tiers.get(tier) else {
            return Room::Open;
        };
        let free_bytes = {
            let alloc = t.alloc.lock();
            alloc
                .capacity_granules()
                .saturating_sub(alloc.used_granules())
                .saturating_mul(crate::config::GRANULE_BYTES)
        };
        let need = volume.extent_size();
        if free_bytes < need || free_bytes - need >= held {
            Room::Open
        } else {
            Room::Reserved
        }
    }

    pub(crate) fn reservation_stats(&self) -> ReservationStats {
        let entries = self.reservations.entries();
        let volumes = self.volumes_by_id();
        let tiers = self
            .tiers
            .iter()
            .enumerate()
            .map(|(index, tier)| TierReservation {
                kind: tier.config.kind.clone(),
                reserved_bytes: on_tier(&entries, index).iter().map(|e| e.bytes).sum(),
                held_bytes: self.held_on_tier(&entries, index, &volumes, None).0,
            })
            .collect();
        let r = &self.reservations;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReservationStats {
            placements_redirected: load(&r.placements_redirected),
            placements_into_reserved: load(&r.placements_into_reserved),
            moves_skipped: load(&r.moves_skipped),
            tiers,
        }
    }

    /// Hands the reservations of volumes that exist to the placement policy, in its units
    /// (volume ids, view extents). Volumes created later are included at the next
    /// [`Self::set_reservations`] that changes anything or at [`Self::publish_volumes`].
    pub(crate) fn feed_policy_reservations(&self) {
        let entries = self.reservations.entries();
        let volumes = self.volumes_by_id();
        let extent_bytes = self.view_extent_bytes.load(Ordering::Relaxed);
        let for_policy: Vec<strata_policy::Reservation> = entries
            .iter()
            .filter_map(|e| {
                let volume = volumes.values().find(|v| v.record.name == e.volume)?;
                Some(strata_policy::Reservation {
                    volume: volume.record.id,
                    tier: strata_policy::TierId(u8::try_from(e.tier).ok()?),
                    extents: e.bytes / extent_bytes,
                })
            })
            .collect();
        self.tiering.policy.lock().set_reservations(&for_policy);
    }
}
