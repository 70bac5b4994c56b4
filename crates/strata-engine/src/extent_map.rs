//! The in-memory extent map of one volume: extent number → (tier, slot) or unallocated.
//!
//! One `AtomicU64` per extent, so the I/O path looks an extent up with atomic loads and no
//! lock. Entries live in chunks of 4096 created on the first allocation inside them, so a
//! thin 64 TiB volume costs a few MiB of chunk pointers, not gigabytes of empty entries. Entries change only under the volume's allocation mutex (allocate, free), so
//! a writer that finds an extent unallocated re-checks under that mutex before allocating.
//!
//! Packing: bit 63 = allocated, bits 56..=62 = tier index, bits 0..=55 = first granule of
//! the slot. Zero means unallocated, so a fresh map is all zeros.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::alloc::Slot;

const ALLOCATED: u64 = 1 << 63;
const TIER_SHIFT: u32 = 56;
const TIER_MASK: u64 = 0x7f;
const GRANULE_MASK: u64 = (1 << TIER_SHIFT) - 1;

/// Where an allocated extent lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placement {
    /// Index into the engine's tier list (0 = fastest).
    pub tier: usize,
    /// First 64 KiB granule of the slot on that tier.
    pub granule: u64,
}

impl Placement {
    fn pack(self) -> u64 {
        ALLOCATED | ((self.tier as u64 & TIER_MASK) << TIER_SHIFT) | (self.granule & GRANULE_MASK)
    }

    fn unpack(raw: u64) -> Option<Self> {
        (raw & ALLOCATED != 0).then_some(Self {
            tier: ((raw >> TIER_SHIFT) & TIER_MASK) as usize,
            granule: raw & GRANULE_MASK,
        })
    }

    /// The slot for an extent of `2^order` granules.
    pub fn slot(self, order: u32) -> Slot {
        Slot {
            granule: self.granule,
            order,
        }
    }
}

/// Entries per chunk (log2).
const CHUNK_SHIFT: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_SHIFT;

type Chunk = Box<[AtomicU64]>;

/// A fixed-length, lazily materialised array of extent entries.
#[derive(Debug)]
pub struct ExtentMap {
    len: u64,
    chunks: Box<[OnceLock<Chunk>]>,
}

impl ExtentMap {
    pub fn new(extent_count: u64) -> Self {
        let chunk_count = extent_count.div_ceil(CHUNK_LEN as u64);
        Self {
            len: extent_count,
            chunks: (0..chunk_count).map(|_| OnceLock::new()).collect(),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn locate(&self, extent: u64) -> Option<(usize, usize)> {
        if extent >= self.len {
            return None;
        }
        let chunk = usize::try_from(extent >> CHUNK_SHIFT).ok()?;
        Some((chunk, (extent as usize) & (CHUNK_LEN - 1)))
    }

    /// Lock-free lookup; `None` for unallocated or out-of-range extents.
    pub fn get(&self, extent: u64) -> Option<Placement> {
        let (chunk, index) = self.locate(extent)?;
        let entries = self.chunks[chunk].get()?;
        Placement::unpack(entries[index].load(Ordering::Acquire))
    }

    /// Points `extent` at `placement` (or unmaps it). Callers hold the volume's map lock;
    /// the release store publishes slot contents written before it.
    pub fn set(&self, extent: u64, placement: Option<Placement>) {
        let Some((chunk, index)) = self.locate(extent) else {
            return;
        };
        let raw = placement.map_or(0, Placement::pack);
        let entries = match (self.chunks[chunk].get(), raw) {
            (Some(entries), _) => entries,
            // Unmapping inside a chunk that was never created changes nothing.
            (None, 0) => return,
            (None, _) => self.chunks[chunk]
                .get_or_init(|| (0..CHUNK_LEN).map(|_| AtomicU64::new(0)).collect()),
        };
        entries[index].store(raw, Ordering::Release);
    }

    /// Every allocated extent with its placement, ascending.
    pub fn allocated(&self) -> impl Iterator<Item = (u64, Placement)> + '_ {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(c, chunk)| chunk.get().map(|entries| (c, entries)))
            .flat_map(|(c, entries)| {
                entries.iter().enumerate().filter_map(move |(i, entry)| {
                    Placement::unpack(entry.load(Ordering::Acquire))
                        .map(|p| (((c as u64) << CHUNK_SHIFT) + i as u64, p))
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_zero_is_unallocated() {
        let map = ExtentMap::new(4);
        assert_eq!(map.get(0), None);
        let p = Placement {
            tier: 126,
            granule: (1 << 55) + 3,
        };
        map.set(2, Some(p));
        assert_eq!(map.get(2), Some(p));
        let zero = Placement {
            tier: 0,
            granule: 0,
        };
        map.set(0, Some(zero));
        assert_eq!(map.get(0), Some(zero));
        assert_eq!(map.allocated().count(), 2);
        map.set(2, None);
        assert_eq!(map.get(2), None);
        assert_eq!(map.get(99), None);
        assert_eq!(map.get(4), None);
    }

    #[test]
    fn huge_maps_are_sparse_and_exact_at_the_end() {
        let extents = 1u64 << 30;
        let map = ExtentMap::new(extents);
        let p = Placement {
            tier: 1,
            granule: 5,
        };
        map.set(extents - 1, Some(p));
        map.set(extents, Some(p));
        map.set(7, None);
        assert_eq!(map.get(extents - 1), Some(p));
        assert_eq!(map.get(extents), None);
        assert_eq!(map.allocated().collect::<Vec<_>>(), [(extents - 1, p)]);
        assert_eq!(map.chunks.iter().filter(|c| c.get().is_some()).count(), 1);
    }
}
