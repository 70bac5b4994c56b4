//! The demand cache of prefetch mode: an LRU over block ids whose entries remember whether
//! they were prefetched and not yet demanded, and since when. `cache::Lru` answers only
//! "hit or miss"; prefetch accounting needs the victim of every eviction and a per-entry
//! tag, so this list keeps both. Memory is O(capacity): nodes live in a pre-sized arena,
//! and an insert into a full cache reuses the victim's node.

use rustc_hash::FxHashMap;

const NIL: u32 = u32::MAX;
/// `issued_at` of an entry that was demanded (or never prefetched).
const DEMANDED: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    block: u64,
    prev: u32,
    next: u32,
    issued_at: u64,
}

/// What a demand access found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Demand {
    Miss,
    Hit,
    /// The first demand of a prefetched block, prefetched at access index `issued_at`.
    PrefetchHit {
        issued_at: u64,
    },
}

/// A block pushed out by an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evicted {
    pub(crate) block: u64,
    /// It had been prefetched and never demanded: a wasted prefetch.
    pub(crate) unused_prefetch: bool,
}

#[derive(Debug)]
pub(crate) struct PrefetchCache {
    capacity: usize,
    nodes: Vec<Node>,
    index: FxHashMap<u64, u32>,
    head: u32,
    tail: u32,
    unused_prefetches: u64,
}

impl PrefetchCache {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, (NIL - 1) as usize);
        let mut index = FxHashMap::default();
        index.reserve(capacity);
        Self {
            capacity,
            nodes: Vec::with_capacity(capacity),
            index,
            head: NIL,
            tail: NIL,
            unused_prefetches: 0,
        }
    }

    /// Prefetched blocks resident and not yet demanded.
    pub(crate) fn unused_prefetches(&self) -> u64 {
        self.unused_prefetches
    }

    pub(crate) fn contains(&self, block: u64) -> bool {
        self.index.contains_key(&block)
    }

    /// A demand access: a hit moves the block to the front; a miss inserts it.
    pub(crate) fn demand(&mut self, block: u64) -> (Demand, Option<Evicted>) {
        if let Some(&idx) = self.index.get(&block) {
            self.unlink(idx);
            self.push_front(idx);
            let node = &mut self.nodes[idx as usize];
            if node.issued_at == DEMANDED {
                return (Demand::Hit, None);
            }
            let issued_at = node.issued_at;
            node.issued_at = DEMANDED;
            self.unused_prefetches -= 1;
            return (Demand::PrefetchHit { issued_at }, None);
        }
        (Demand::Miss, self.insert(block, DEMANDED))
    }

    /// Inserts a prefetched block at the front; `None` when it is already resident (the
    /// prefetch is not issued), else the eviction it caused, if any.
    pub(crate) fn prefetch(&mut self, block: u64, issued_at: u64) -> Option<Option<Evicted>> {
        if self.contains(block) {
            return None;
        }
        self.unused_prefetches += 1;
        Some(self.insert(block, issued_at))
    }

    fn insert(&mut self, block: u64, issued_at: u64) -> Option<Evicted> {
        let mut evicted = None;
        let idx = if self.index.len() >= self.capacity {
            let victim = self.tail;
            self.unlink(victim);
            let old = self.nodes[victim as usize];
            self.index.remove(&old.block);
            let unused_prefetch = old.issued_at != DEMANDED;
            if unused_prefetch {
                self.unused_prefetches -= 1;
            }
            evicted = Some(Evicted {
                block: old.block,
                unused_prefetch,
            });
            victim
        } else {
            self.nodes.push(Node {
                block,
                prev: NIL,
                next: NIL,
                issued_at,
            });
            (self.nodes.len() - 1) as u32
        };
        let node = &mut self.nodes[idx as usize];
        node.block = block;
        node.issued_at = issued_at;
        self.push_front(idx);
        self.index.insert(block, idx);
        evicted
    }

    fn unlink(&mut self, idx: u32) {
        let Node { prev, next, .. } = self.nodes[idx as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, idx: u32) {
        let old_head = self.head;
        {
            let node = &mut self.nodes[idx as usize];
            node.prev = NIL;
            node.next = old_head;
        }
        if old_head == NIL {
            self.tail = idx;
        } else {
            self.nodes[old_head as usize].prev = idx;
        }
        self.head = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_lru_for_demand_accesses() {
        let mut cache = PrefetchCache::new(2);
        assert_eq!(cache.demand(1).0, Demand::Miss);
        assert_eq!(cache.demand(2).0, Demand::Miss);
        assert_eq!(cache.demand(1).0, Demand::Hit);
        let (outcome, evicted) = cache.demand(3);
        assert_eq!(outcome, Demand::Miss);
        assert_eq!(evicted.map(|e| e.block), Some(2));
        assert_eq!(cache.demand(1).0, Demand::Hit);
    }

    #[test]
    fn prefetched_entries_are_tagged_until_demanded_or_evicted() {
        let mut cache = PrefetchCache::new(2);
        cache.demand(1);
        assert_eq!(
            cache.prefetch(1, 0),
            None,
            "resident blocks are not prefetched"
        );
        assert_eq!(cache.prefetch(5, 7), Some(None));
        assert_eq!(cache.unused_prefetches(), 1);
        assert_eq!(cache.demand(5).0, Demand::PrefetchHit { issued_at: 7 });
        assert_eq!(cache.demand(5).0, Demand::Hit);
        assert_eq!(
            cache.prefetch(6, 8),
            Some(Some(Evicted {
                block: 1,
                unused_prefetch: false
            }))
        );
        let evicted = cache.prefetch(7, 9).flatten();
        assert_eq!(
            evicted,
            Some(Evicted {
                block: 5,
                unused_prefetch: false
            })
        );
        let evicted = cache.demand(8).1;
        assert_eq!(
            evicted,
            Some(Evicted {
                block: 6,
                unused_prefetch: true
            })
        );
        assert_eq!(cache.unused_prefetches(), 1);
    }
}
