//! Least-recently-used: one intrusive list in an arena of `u32`-indexed nodes plus an
//! id → node map with a fast hasher. Memory is O(capacity): both are pre-sized to the
//! capacity and never grow past it, and a miss on a full cache reuses the evicted node.

use super::CachePolicy;
use super::list::{Arena, List};
use rustc_hash::FxHashMap;

/// LRU over `u64` ids.
#[derive(Debug)]
pub struct Lru {
    capacity: usize,
    arena: Arena,
    list: List,
    index: FxHashMap<u64, u32>,
}

impl Lru {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut index = FxHashMap::default();
        index.reserve(capacity);
        Self {
            capacity,
            arena: Arena::with_capacity(capacity),
            list: List::default(),
            index,
        }
    }
}

impl CachePolicy for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    #[inline]
    fn access(&mut self, id: u64) -> bool {
        if let Some(&idx) = self.index.get(&id) {
            self.arena.move_to_front(&mut self.list, idx);
            return true;
        }
        let idx = if self.list.len() >= self.capacity {
            // Reuse the LRU node in place: one unlink, one relink, no allocation.
            let victim = self
                .arena
                .pop_back(&mut self.list)
                .unwrap_or_else(|| unreachable!("a full list has a tail"));
            self.index.remove(&self.arena.id(victim));
            self.arena.set_id(victim, id);
            victim
        } else {
            self.arena.alloc(id, 0)
        };
        self.arena.push_front(&mut self.list, idx, 0);
        self.index.insert(id, idx);
        false
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        assert!(!lru.access(1));
        assert!(!lru.access(2));
        assert!(lru.access(1)); // 2 is now LRU
        assert!(!lru.access(3)); // evicts 2
        assert!(lru.access(1));
        assert!(!lru.access(2));
        assert_eq!(lru.len(), 2);
    }
}
