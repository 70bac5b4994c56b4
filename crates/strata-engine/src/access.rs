//! Per-volume I/O observation: counters and a bounded, lock-free ring of access events.
//!
//! The I/O path records every request here without taking a lock or allocating: counters
//! are relaxed atomics, and the ring is a fixed array of `AtomicU64` written at
//! `head % capacity` after a `fetch_add` on `head`, so old events are overwritten when no
//! one reads. A consumer (the planner) keeps a cursor and learns from `head` how many
//! events it missed.
//!
//! A writer reserves its slot (the `fetch_add`) before it stores the event, so a reader
//! can find `head` past a slot that still holds the previous lap's event. Each event
//! carries its lap (`seq / capacity`, two bits), and the reader stops at such a slot and
//! resumes there on its next call: an event is never skipped because its writer was
//! preempted between the two steps. (That race lost a read from the prefetcher's count
//! about once in 20 loaded runs of `prefetch_in_engine`.) A slot a later lap has already
//! overwritten counts as lost. A reader racing a writer of the next lap on one slot may
//! still see the newer event; that is accepted rather than paid for with a lock.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Events kept per volume before the oldest are overwritten.
pub const ACCESS_RING_EVENTS: usize = 4096;

/// What an access did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AccessKind {
    Read,
    Write,
    Trim,
    WriteZeroes,
}

/// One recorded access: a read or write piece within one extent, or a whole TRIM or
/// WRITE_ZEROES request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AccessEvent {
    pub kind: AccessKind,
    /// The extent read or written; for a trim or write-zeroes, the request's first extent.
    pub extent: u64,
    /// Tier that served it; `None` for unallocated extents (reads of zeros), and for
    /// trims and write-zeroes, which may span tiers.
    pub tier: Option<usize>,
    /// Length in 4 KiB blocks rounded up (saturating at 32767): within the extent for a
    /// read or write, of the whole request for a trim or write-zeroes.
    pub blocks: u32,
}

// Packing: bit 63 = present, bits 61..=62 kind, bits 54..=60 tier + 1 (0 = none),
// bits 39..=53 blocks, bits 37..=38 the ring lap (set by `AccessLog::record`), bits 0..=36
// extent (2^37 extents; a volume has at most 2^30: 64 TiB in 64 KiB extents).
const PRESENT: u64 = 1 << 63;
const EXTENT_MASK: u64 = (1 << 37) - 1;
const LAP_SHIFT: u32 = 37;
const LAP_MASK: u64 = 3;

impl AccessEvent {
    fn pack(self) -> u64 {
        let kind = match self.kind {
            AccessKind::Read => 0,
            AccessKind::Write => 1,
            AccessKind::Trim => 2,
            AccessKind::WriteZeroes => 3,
        };
        let tier = self.tier.map_or(0, |t| (t as u64 + 1).min(0x7f));
        PRESENT
            | (kind << 61)
            | (tier << 54)
            | (u64::from(self.blocks.min(0x7fff)) << 39)
            | (self.extent & EXTENT_MASK)
    }

    fn unpack(raw: u64) -> Option<Self> {
        if raw & PRESENT == 0 {
            return None;
        }
        let kind = match (raw >> 61) & 3 {
            0 => AccessKind::Read,
            1 => AccessKind::Write,
            2 => AccessKind::Trim,
            _ => AccessKind::WriteZeroes,
        };
        let tier = ((raw >> 54) & 0x7f) as usize;
        Some(Self {
            kind,
            extent: raw & EXTENT_MASK,
            tier: tier.checked_sub(1),
            blocks: ((raw >> 39) & 0x7fff) as u32,
        })
    }
}

/// The bounded event ring.
#[derive(Debug)]
pub struct AccessLog {
    head: AtomicU64,
    slots: Box<[AtomicU64]>,
}

/// Events read from an [`AccessLog`] since a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessBatch {
    pub events: Vec<AccessEvent>,
    /// Pass this as the next cursor.
    pub next_cursor: u64,
    /// Events overwritten before they could be read.
    pub lost: u64,
}

impl AccessLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            head: AtomicU64::new(0),
            slots: (0..capacity.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records `event`; returns its sequence number (a reader's cursor passes it once the
    /// event was read or lost).
    pub fn record(&self, event: AccessEvent) -> u64 {
        let seq = self.reserve();
        self.publish(seq, event);
        seq
    }

    /// Takes the next sequence number: the writer's slot.
    fn reserve(&self) -> u64 {
        self.head.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores the event of a reserved sequence number, tagged with its lap.
    fn publish(&self, seq: u64, event: AccessEvent) {
        let index = (seq % self.slots.len() as u64) as usize;
        self.slots[index].store(event.pack() | self.lap(seq) << LAP_SHIFT, Ordering::Release);
    }

    fn lap(&self, seq: u64) -> u64 {
        (seq / self.slots.len() as u64) & LAP_MASK
    }

    /// Total events ever recorded.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The events recorded since `cursor` that are still in the ring, up to the first one
    /// whose writer has reserved its slot but not stored it yet.
    pub fn read_since(&self, cursor: u64) -> AccessBatch {
        let head = self.head();
        let capacity = self.slots.len() as u64;
        let start = cursor.max(head.saturating_sub(capacity)).min(head);
        let mut events = Vec::new();
        let mut lost = start.saturating_sub(cursor);
        let mut next_cursor = head;
        for seq in start..head {
            let raw = self.slots[(seq % capacity) as usize].load(Ordering::Acquire);
            let behind = self.lap(seq).wrapping_sub(raw >> LAP_SHIFT) & LAP_MASK;
            match (AccessEvent::unpack(raw), behind) {
                // Not stored yet (an empty slot, or one a lap or two behind): resume here.
                (None, _) | (Some(_), 1 | 2) => {
                    next_cursor = seq;
                    break;
                }
                (Some(event), 0) => events.push(event),
                // A later lap's writer got there first.
                (Some(_), _) => lost += 1,
            }
        }
        AccessBatch {
            events,
            next_cursor,
            lost,
        }
    }
}

/// Per-volume request counters.
#[derive(Debug)]
pub struct VolumeCounters {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub read_bytes: AtomicU64,
    pub write_bytes: AtomicU64,
    pub flushes: AtomicU64,
    pub trims: AtomicU64,
    pub write_zeroes: AtomicU64,
    /// Read pieces (one per extent touched) served by each tier.
    pub read_hits_by_tier: Box<[AtomicU64]>,
    /// Read pieces of unallocated extents (served as zeros, no device).
    pub unallocated_reads: AtomicU64,
}

impl VolumeCounters {
    pub fn new(tier_count: usize) -> Self {
        Self {
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            read_bytes: AtomicU64::new(0),
            write_bytes: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            trims: AtomicU64::new(0),
            write_zeroes: AtomicU64::new(0),
            read_hits_by_tier: (0..tier_count).map(|_| AtomicU64::new(0)).collect(),
            unallocated_reads: AtomicU64::new(0),
        }
    }

    pub fn count_read(&self, len_bytes: u64) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.read_bytes.fetch_add(len_bytes, Ordering::Relaxed);
    }

    pub fn count_write(&self, len_bytes: u64) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.write_bytes.fetch_add(len_bytes, Ordering::Relaxed);
    }

    pub fn snapshot(&self, tier_names: &[String]) -> VolumeStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        VolumeStats {
            reads: load(&self.reads),
            writes: load(&self.writes),
            read_bytes: load(&self.read_bytes),
            write_bytes: load(&self.write_bytes),
            flushes: load(&self.flushes),
            trims: load(&self.trims),
            write_zeroes: load(&self.write_zeroes),
            read_hits_by_tier: tier_names
                .iter()
                .zip(self.read_hits_by_tier.iter())
                .map(|(name, c)| (name.clone(), load(c)))
                .collect(),
            unallocated_reads: load(&self.unallocated_reads),
        }
    }
}

/// A point-in-time copy of a volume's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeStats {
    pub reads: u64,
    pub writes: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub flushes: u64,
    pub trims: u64,
    pub write_zeroes: u64,
    /// Tier name → read pieces served by it; divide by the sum (plus `unallocated_reads`)
    /// for per-tier hit ratios.
    pub read_hits_by_tier: BTreeMap<String, u64>,
    pub unallocated_reads: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(extent: u64) -> AccessEvent {
        AccessEvent {
            kind: AccessKind::Write,
            extent,
            tier: Some(2),
            blocks: 1,
        }
    }

    #[test]
    fn events_round_trip_through_packing() {
        for e in [
            event(0),
            AccessEvent {
                kind: AccessKind::WriteZeroes,
                extent: EXTENT_MASK,
                tier: None,
                blocks: 0x7fff,
            },
        ] {
            assert_eq!(AccessEvent::unpack(e.pack()), Some(e));
        }
        assert_eq!(AccessEvent::unpack(0), None);
    }

    #[test]
    fn ring_overwrites_oldest_and_reports_losses() {
        let log = AccessLog::new(4);
        for extent in 0..3 {
            log.record(event(extent));
        }
        let batch = log.read_since(0);
        assert_eq!(batch.events.len(), 3);
        assert_eq!((batch.next_cursor, batch.lost), (3, 0));
        for extent in 3..10 {
            log.record(event(extent));
        }
        let batch = log.read_since(3);
        let extents: Vec<u64> = batch.events.iter().map(|e| e.extent).collect();
        assert_eq!(extents, [6, 7, 8, 9]);
        assert_eq!(batch.lost, 3);
        assert!(log.read_since(10).events.is_empty());
    }

    /// A writer preempted between reserving its slot and storing its event: the reader
    /// stops there instead of moving its cursor past an event it has not seen.
    #[test]
    fn a_reserved_slot_holds_the_reader_until_it_is_written() {
        let log = AccessLog::new(4);
        log.record(event(0));
        let slow = log.reserve();
        log.record(event(2));
        let batch = log.read_since(0);
        let extents: Vec<u64> = batch.events.iter().map(|e| e.extent).collect();
        assert_eq!(extents, [0]);
        assert_eq!((batch.next_cursor, batch.lost), (1, 0));
        log.publish(slow, event(1));
        let batch = log.read_since(batch.next_cursor);
        let extents: Vec<u64> = batch.events.iter().map(|e| e.extent).collect();
        assert_eq!(extents, [1, 2]);
        assert_eq!((batch.next_cursor, batch.lost), (3, 0));

        // The same on a later lap, where the slot still holds the previous lap's event.
        for extent in 3..6 {
            log.record(event(extent));
        }
        let cursor = log.read_since(3).next_cursor;
        assert_eq!(cursor, 6);
        let slow = log.reserve(); // seq 6: the slot holds seq 2's event
        log.record(event(7));
        let batch = log.read_since(cursor);
        assert!(batch.events.is_empty(), "{batch:?}");
        assert_eq!(batch.next_cursor, 6);
        log.publish(slow, event(6));
        let batch = log.read_since(6);
        let extents: Vec<u64> = batch.events.iter().map(|e| e.extent).collect();
        assert_eq!(extents, [6, 7]);
    }
}
