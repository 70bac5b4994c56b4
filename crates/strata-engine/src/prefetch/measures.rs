//! What prefetching achieved, per volume, in extents:
//!
//! - **precision** = prefetched extents read while still on the tier they were brought to
//!   (before a demotion, eviction, trim or the `horizon_ms` ran out) / prefetched extents;
//! - **coverage** = demand reads served from a prefetched extent / demand reads (reads are
//!   counted per extent touched, as the access ring records them);
//! - **timeliness** = used prefetches that completed before their first demand read /
//!   (those + predictions whose demand arrived while they were still queued or copying);
//! - prefetched and wasted bytes (wasted = prefetched, never read, and given up).
//!
//! A prefetched extent is followed until it leaves its tier or the tracking table is full
//! (the oldest entry is forgotten first); an unread one past the horizon counts as wasted.

use serde::Serialize;
use std::collections::BTreeMap;

/// Counters of one volume or summed over several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PrefetchCounters {
    /// Prefetch moves completed (extent copied up, map switched).
    pub prefetched_extents: u64,
    pub prefetched_bytes: u64,
    /// Prefetched extents read while still where the prefetch put them.
    pub used_extents: u64,
    /// Prefetched extents given up unread.
    pub wasted_extents: u64,
    pub wasted_bytes: u64,
    /// Demand reads seen (one per extent a read request touched).
    pub demand_reads: u64,
    /// Demand reads of an extent while it sat where a prefetch had put it.
    pub covered_reads: u64,
    /// Used prefetches that completed before the first demand read.
    pub timely: u64,
    /// Predicted extents whose demand read came while they were queued or being copied.
    pub late: u64,
    /// Candidates pushed out of a full queue.
    pub dropped: u64,
    /// Candidates found, when their turn came, to be unallocated, already fast, pinned or
    /// without a target tier with room.
    pub skipped: u64,
    /// Prefetch moves that failed or were refused by the executor contract.
    pub failed: u64,
    /// Idle extents (of any volume) demoted from the fastest tier to make room for this
    /// volume's prefetches (`evict_idle`).
    pub evicted_extents: u64,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl PrefetchCounters {
    pub fn precision(&self) -> f64 {
        share(self.used_extents, self.prefetched_extents)
    }

    pub fn coverage(&self) -> f64 {
        share(self.covered_reads, self.demand_reads)
    }

    pub fn timeliness(&self) -> f64 {
        share(self.timely, self.timely + self.late)
    }

    pub fn add(&mut self, other: &PrefetchCounters) {
        let fields = [
            (&mut self.prefetched_extents, other.prefetched_extents),
            (&mut self.prefetched_bytes, other.prefetched_bytes),
            (&mut self.used_extents, other.used_extents),
            (&mut self.wasted_extents, other.wasted_extents),
            (&mut self.wasted_bytes, other.wasted_bytes),
            (&mut self.demand_reads, other.demand_reads),
            (&mut self.covered_reads, other.covered_reads),
            (&mut self.timely, other.timely),
            (&mut self.late, other.late),
            (&mut self.dropped, other.dropped),
            (&mut self.skipped, other.skipped),
            (&mut self.failed, other.failed),
            (&mut self.evicted_extents, other.evicted_extents),
        ];
        for (mine, theirs) in fields {
            *mine = mine.saturating_add(theirs);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Prefetched {
    tier: usize,
    completed_ns: u64,
    used: bool,
    /// Its demand came while it was being copied: used later, but not timely.
    late: bool,
}

/// One volume's measures and the prefetched extents it follows.
#[derive(Debug)]
pub(crate) struct Measures {
    pub counters: PrefetchCounters,
    extent_bytes: u64,
    limit: usize,
    tracked: BTreeMap<u64, Prefetched>,
    epoch_used: u64,
    epoch_wasted: u64,
}

impl Measures {
    pub fn new(extent_bytes: u64, limit: usize) -> Self {
        Self {
            counters: PrefetchCounters::default(),
            extent_bytes,
            limit: limit.max(1),
            tracked: BTreeMap::new(),
            epoch_used: 0,
            epoch_wasted: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.tracked.len()
    }

    /// Whether `extent` was prefetched onto `tier` and is followed.
    #[cfg(test)]
    pub fn holds(&self, extent: u64, tier: usize) -> bool {
        self.tracked.get(&extent).is_some_and(|p| p.tier == tier)
    }

    /// A prefetch of `extent` onto `tier` completed at `now_ns`.
    pub fn on_prefetched(&mut self, extent: u64, tier: usize, now_ns: u64, late: bool) {
        self.counters.prefetched_extents += 1;
        self.counters.prefetched_bytes += self.extent_bytes;
        if self.tracked.len() >= self.limit && !self.tracked.contains_key(&extent) {
            let oldest = self
                .tracked
                .iter()
                .min_by_key(|(_, p)| p.completed_ns)
                .map(|(&e, _)| e);
            if let Some(oldest) = oldest {
                self.forget(oldest);
            }
        }
        let entry = Prefetched {
            tier,
            completed_ns: now_ns,
            used: false,
            late,
        };
        if let Some(previous) = self.tracked.insert(extent, entry)
            && !previous.used
        {
            self.waste();
        }
    }

    /// A demand read of `extent`, which now lives on `tier` (`None`: unallocated).
    pub fn on_demand_read(&mut self, extent: u64, tier: Option<usize>) {
        self.counters.demand_reads += 1;
        let Some(entry) = self.tracked.get_mut(&extent) else {
            return;
        };
        if tier != Some(entry.tier) {
            self.forget(extent);
            return;
        }
        self.counters.covered_reads += 1;
        if !entry.used {
            entry.used = true;
            self.counters.used_extents += 1;
            self.epoch_used += 1;
            if !entry.late {
                self.counters.timely += 1;
            }
        }
    }

    /// A predicted extent was demanded before its prefetch completed.
    pub fn on_late(&mut self) {
        self.counters.late += 1;
    }

    /// Gives up extents that left their tier (`locate` says where each lives now) and
    /// unread ones older than `horizon_ns`.
    pub fn sweep(&mut self, now_ns: u64, horizon_ns: u64, locate: impl Fn(u64) -> Option<usize>) {
        let gone: Vec<u64> = self
            .tracked
            .iter()
            .filter(|&(&extent, p)| {
                locate(extent) != Some(p.tier)
                    || (!p.used && now_ns.saturating_sub(p.completed_ns) > horizon_ns)
            })
            .map(|(&extent, _)| extent)
            .collect();
        for extent in gone {
            self.forget(extent);
        }
    }

    /// Used and wasted prefetches since the last call (the tuner's epoch outcome).
    pub fn take_epoch(&mut self) -> (u64, u64) {
        let out = (self.epoch_used, self.epoch_wasted);
        self.epoch_used = 0;
        self.epoch_wasted = 0;
        out
    }

    fn forget(&mut self, extent: u64) {
        if let Some(entry) = self.tracked.remove(&extent)
            && !entry.used
        {
            self.waste();
        }
    }

    fn waste(&mut self) {
        self.counters.wasted_extents += 1;
        self.counters.wasted_bytes += self.extent_bytes;
        self.epoch_wasted += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn precision_coverage_and_timeliness() {
        let mut m = Measures::new(MIB, 16);
        m.on_prefetched(1, 0, 0, false);
        m.on_prefetched(2, 0, 0, false);
        m.on_prefetched(3, 0, 0, true);
        m.on_late();
        // Extent 1 read twice from nvme, extent 3 (late) once, extent 9 never prefetched.
        for (extent, tier) in [(1, Some(0)), (1, Some(0)), (3, Some(0)), (9, Some(2))] {
            m.on_demand_read(extent, tier);
        }
        let c = m.counters;
        assert_eq!((c.used_extents, c.prefetched_extents), (2, 3));
        assert!((c.precision() - 2.0 / 3.0).abs() < 1e-9);
        assert!((c.coverage() - 0.75).abs() < 1e-9);
        // Timely: extent 1. Late: extent 3 (the on_late call).
        assert_eq!((c.timely, c.late), (1, 1));
        assert!((c.timeliness() - 0.5).abs() < 1e-9);
        assert_eq!(m.take_epoch(), (2, 0));
        assert_eq!(m.take_epoch(), (0, 0));
        assert_eq!(c.prefetched_bytes, 3 * MIB);
    }

    #[test]
    fn demoted_and_expired_extents_are_wasted_and_no_longer_cover() {
        let mut m = Measures::new(MIB, 16);
        m.on_prefetched(1, 0, 0, false);
        m.on_prefetched(2, 0, 0, false);
        m.on_prefetched(3, 0, 100, false);
        // Extent 1 was demoted to hdd before its read: not covered, wasted.
        m.on_demand_read(1, Some(2));
        assert_eq!(m.counters.covered_reads, 0);
        assert_eq!(m.counters.wasted_extents, 1);
        // Extent 2 is still on nvme but past the horizon; extent 3 is young.
        m.sweep(1_000, 950, |_| Some(0));
        assert_eq!(m.counters.wasted_extents, 2);
        assert_eq!(m.counters.wasted_bytes, 2 * MIB);
        assert!(m.holds(3, 0) && !m.holds(2, 0));
        m.sweep(1_000, 950, |_| None);
        assert_eq!(m.tracked(), 0);
        assert_eq!(m.take_epoch(), (0, 3));
    }

    #[test]
    fn tracking_is_bounded_oldest_first() {
        let mut m = Measures::new(MIB, 2);
        m.on_prefetched(1, 0, 10, false);
        m.on_prefetched(2, 0, 20, false);
        m.on_prefetched(3, 0, 30, false);
        assert_eq!(m.tracked(), 2);
        assert!(!m.holds(1, 0));
        assert_eq!(m.counters.wasted_extents, 1);
        let mut sum = PrefetchCounters::default();
        sum.add(&m.counters);
        sum.add(&m.counters);
        assert_eq!(sum.prefetched_extents, 6);
        assert_eq!(PrefetchCounters::default().precision(), 0.0);
    }
}
