//! Slot allocation on one tier: a buddy allocator over 64 KiB granules.
//!
//! Volumes pick their own extent size (64 KiB … 64 MiB, powers of two), so one tier hands out
//! slots of several sizes. A buddy allocator keeps every slot aligned to its own size, never
//! lets two live slots overlap, and merges a freed slot with its free buddy so large slots
//! come back after small ones are freed. A tier whose capacity is not a power of two is
//! seeded with the largest aligned blocks that fit; the tail below one granule is unused.
//!
//! The allocator is in memory only: after a restart the engine rebuilds it from the extent
//! maps with [`BuddyAllocator::from_allocated`].

use std::collections::BTreeSet;

/// Largest block order: 2^10 granules = 64 MiB, the largest extent size.
pub const MAX_ORDER: u32 = 10;

/// A slot: `granule` is its first 64 KiB granule, it spans `2^order` granules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub granule: u64,
    pub order: u32,
}

impl Slot {
    pub fn len_granules(&self) -> u64 {
        1 << self.order
    }

    pub fn end_granule(&self) -> u64 {
        self.granule + self.len_granules()
    }
}

/// Free lists per order, lowest address first so allocation is deterministic.
#[derive(Debug, Clone)]
pub struct BuddyAllocator {
    capacity_granules: u64,
    free: Vec<BTreeSet<u64>>,
    used_granules: u64,
}

/// Why an allocator could not be rebuilt: two allocated slots overlap or one lies outside
/// the tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSlot(pub Slot);

impl BuddyAllocator {
    /// An empty allocator over `capacity_granules` granules.
    pub fn new(capacity_granules: u64) -> Self {
        let mut alloc = Self {
            capacity_granules,
            free: vec![BTreeSet::new(); MAX_ORDER as usize + 1],
            used_granules: 0,
        };
        alloc.seed_free(0, capacity_granules);
        alloc
    }

    /// An allocator where exactly `allocated` slots are in use. Fails on the first slot that
    /// is out of range, misaligned or overlaps another.
    pub fn from_allocated(
        capacity_granules: u64,
        allocated: impl IntoIterator<Item = Slot>,
    ) -> Result<Self, BadSlot> {
        let mut slots: Vec<Slot> = allocated.into_iter().collect();
        slots.sort();
        let mut alloc = Self {
            capacity_granules,
            free: vec![BTreeSet::new(); MAX_ORDER as usize + 1],
            used_granules: 0,
        };
        let mut pos = 0;
        for slot in slots {
            let aligned = slot.granule.is_multiple_of(slot.len_granules());
            if slot.order > MAX_ORDER
                || !aligned
                || slot.granule < pos
                || slot.end_granule() > capacity_granules
            {
                return Err(BadSlot(slot));
            }
            alloc.seed_free(pos, slot.granule);
            alloc.used_granules += slot.len_granules();
            pos = slot.end_granule();
        }
        alloc.seed_free(pos, capacity_granules);
        Ok(alloc)
    }

    /// Adds `[start, end)` to the free lists as the largest aligned blocks that fit.
    fn seed_free(&mut self, mut start: u64, end: u64) {
        while start < end {
            let mut order = MAX_ORDER;
            while order > 0 && (!start.is_multiple_of(1 << order) || start + (1 << order) > end) {
                order -= 1;
            }
            self.free[order as usize].insert(start);
            start += 1 << order;
        }
    }

    /// Takes a free slot of `2^order` granules, or `None` when no block is large enough.
    pub fn allocate(&mut self, order: u32) -> Option<Slot> {
        if order > MAX_ORDER {
            return None;
        }
        let found = (order..=MAX_ORDER).find(|&k| !self.free[k as usize].is_empty())?;
        let granule = self.free[found as usize].pop_first()?;
        // Split the block down, returning each upper half to its free list.
        for k in (order..found).rev() {
            self.free[k as usize].insert(granule + (1 << k));
        }
        self.used_granules += 1 << order;
        Some(Slot { granule, order })
    }

    /// Returns a slot previously handed out by [`Self::allocate`] (or rebuilt), merging it
    /// with free buddies.
    pub fn free(&mut self, slot: Slot) {
        self.used_granules = self.used_granules.saturating_sub(slot.len_granules());
        let mut granule = slot.granule;
        let mut order = slot.order;
        while order < MAX_ORDER {
            let buddy = granule ^ (1 << order);
            if !self.free[order as usize].remove(&buddy) {
                break;
            }
            granule = granule.min(buddy);
            order += 1;
        }
        self.free[order as usize].insert(granule);
    }

    pub fn used_granules(&self) -> u64 {
        self.used_granules
    }

    pub fn capacity_granules(&self) -> u64 {
        self.capacity_granules
    }

    /// Whether a slot of `2^order` granules could be allocated now.
    pub fn can_allocate(&self, order: u32) -> bool {
        order <= MAX_ORDER && (order..=MAX_ORDER).any(|k| !self.free[k as usize].is_empty())
    }

    /// Free granules counted from the free lists (for checks; `capacity - used` is cheaper).
    pub fn free_granules(&self) -> u64 {
        self.free
            .iter()
            .enumerate()
            .map(|(order, set)| set.len() as u64 * (1 << order))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_and_merges_back() {
        let mut alloc = BuddyAllocator::new(1024);
        let a = alloc.allocate(0).unwrap();
        let b = alloc.allocate(4).unwrap();
        assert_eq!(
            a,
            Slot {
                granule: 0,
                order: 0
            }
        );
        assert_eq!(b.granule % 16, 0);
        assert_eq!(alloc.used_granules(), 17);
        alloc.free(a);
        alloc.free(b);
        assert_eq!(alloc.used_granules(), 0);
        assert_eq!(
            alloc.allocate(10),
            Some(Slot {
                granule: 0,
                order: 10
            })
        );
        assert_eq!(alloc.allocate(0), None);
    }

    #[test]
    fn odd_capacity_uses_every_granule() {
        let mut alloc = BuddyAllocator::new(5);
        assert_eq!(alloc.free_granules(), 5);
        let slots: Vec<_> = (0..5).map(|_| alloc.allocate(0).unwrap()).collect();
        assert_eq!(slots.len(), 5);
        assert!(alloc.allocate(0).is_none());
        assert!(alloc.allocate(3).is_none());
    }

    #[test]
    fn rebuild_rejects_overlap_and_misalignment() {
        let overlap = [
            Slot {
                granule: 0,
                order: 2,
            },
            Slot {
                granule: 2,
                order: 0,
            },
        ];
        assert!(BuddyAllocator::from_allocated(64, overlap).is_err());
        assert!(
            BuddyAllocator::from_allocated(
                64,
                [Slot {
                    granule: 2,
                    order: 2
                }]
            )
            .is_err()
        );
        assert!(
            BuddyAllocator::from_allocated(
                4,
                [Slot {
                    granule: 0,
                    order: 3
                }]
            )
            .is_err()
        );
        let alloc = BuddyAllocator::from_allocated(
            64,
            [Slot {
                granule: 8,
                order: 3,
            }],
        )
        .unwrap();
        assert_eq!(alloc.used_granules(), 8);
        assert_eq!(alloc.free_granules(), 56);
    }

    proptest! {
        /// Random allocate/free sequences: live slots never overlap, stay in capacity, and
        /// after freeing everything the whole capacity is allocatable again.
        #[test]
        fn live_slots_never_overlap(
            capacity in 1u64..3000,
            ops in proptest::collection::vec((any::<bool>(), 0u32..=MAX_ORDER, any::<u16>()), 1..200),
        ) {
            let mut alloc = BuddyAllocator::new(capacity);
            let mut live: Vec<Slot> = Vec::new();
            for (is_alloc, order, pick) in ops {
                if is_alloc || live.is_empty() {
                    if let Some(slot) = alloc.allocate(order) {
                        prop_assert_eq!(slot.granule % slot.len_granules(), 0);
                        prop_assert!(slot.end_granule() <= capacity);
                        for other in &live {
                            prop_assert!(slot.end_granule() <= other.granule || other.end_granule() <= slot.granule,
                                "{:?} overlaps {:?}", slot, other);
                        }
                        live.push(slot);
                    }
                } else {
                    let slot = live.swap_remove(pick as usize % live.len());
                    alloc.free(slot);
                }
                let used: u64 = live.iter().map(Slot::len_granules).sum();
                prop_assert_eq!(alloc.used_granules(), used);
                prop_assert_eq!(alloc.free_granules() + used, capacity);
                let rebuilt = BuddyAllocator::from_allocated(capacity, live.iter().copied());
                prop_assert!(rebuilt.is_ok());
            }
            for slot in live.drain(..) {
                alloc.free(slot);
            }
            let fresh = BuddyAllocator::new(capacity);
            for order in 0..=MAX_ORDER {
                prop_assert_eq!(&alloc.free[order as usize], &fresh.free[order as usize]);
            }
        }
    }
}
