//! ARC, the Adaptive Replacement Cache of Megiddo and Modha ("ARC: A Self-Tuning, Low
//! Overhead Replacement Cache", FAST 2003), written case by case after the paper's
//! pseudocode (its Figure 4): resident lists T1 (seen once recently) and T2 (seen at least
//! twice), ghost lists B1 and B2 of ids recently evicted from them, and a target size `p`
//! for T1 that grows on B1 ghost hits and shrinks on B2 ghost hits.
//! Invariants: |T1|+|T2| ≤ c, |T1|+|B1| ≤ c, |T1|+|T2|+|B1|+|B2| ≤ 2c.

use super::CachePolicy;
use super::list::{Arena, List};
use rustc_hash::FxHashMap;

const T1: u8 = 0;
const T2: u8 = 1;
const B1: u8 = 2;
const B2: u8 = 3;

/// ARC over `u64` ids. `p` adapts with the integer deltas of the paper
/// (δ1 = max(1, |B2|/|B1|), δ2 = max(1, |B1|/|B2|), integer division).
#[derive(Debug)]
pub struct ArcCache {
    capacity: usize,
    /// Target size of T1.
    p: usize,
    arena: Arena,
    lists: [List; 4],
    index: FxHashMap<u64, u32>,
}

/// The sizes of the four lists and `p`, for invariant checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArcSizes {
    pub t1: usize,
    pub t2: usize,
    pub b1: usize,
    pub b2: usize,
    pub p: usize,
}

impl ArcCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut index = FxHashMap::default();
        index.reserve(2 * capacity);
        Self {
            capacity,
            p: 0,
            arena: Arena::with_capacity(2 * capacity),
            lists: [List::default(); 4],
            index,
        }
    }

    pub fn sizes(&self) -> ArcSizes {
        ArcSizes {
            t1: self.lists[T1 as usize].len(),
            t2: self.lists[T2 as usize].len(),
            b1: self.lists[B1 as usize].len(),
            b2: self.lists[B2 as usize].len(),
            p: self.p,
        }
    }

    fn size(&self, tag: u8) -> usize {
        self.lists[tag as usize].len()
    }

    /// Moves node `idx` from its current list to the MRU end of `to`.
    fn move_to(&mut self, idx: u32, to: u8) {
        let from = self.arena.tag(idx);
        self.arena.unlink(&mut self.lists[from as usize], idx);
        self.arena.push_front(&mut self.lists[to as usize], idx, to);
    }

    /// Drops the LRU id of a ghost list entirely.
    fn delete_lru(&mut self, tag: u8) {
        if let Some(idx) = self.arena.pop_back(&mut self.lists[tag as usize]) {
            self.index.remove(&self.arena.id(idx));
            self.arena.release(idx);
        }
    }

    /// The paper's REPLACE(x, p): demote the LRU page of T1 to B1 or of T2 to B2.
    fn replace(&mut self, hit_in_b2: bool) {
        let t1 = self.size(T1);
        let take_t1 = t1 >= 1 && ((hit_in_b2 && t1 == self.p) || t1 > self.p);
        // The other list is empty only in states the invariants rule out; fall back
        // rather than leave the cache over capacity.
        let (from, to) = if (take_t1 || self.size(T2) == 0) && t1 > 0 {
            (T1, B1)
        } else {
            (T2, B2)
        };
        if let Some(idx) = self.lists[from as usize].tail() {
            self.move_to(idx, to);
        }
    }
}

impl CachePolicy for ArcCache {
    fn name(&self) -> &'static str {
        "arc"
    }

    fn access(&mut self, id: u64) -> bool {
        let c = self.capacity;
        match self.index.get(&id).copied() {
            // Case I: a hit in T1 ∪ T2 moves x to the MRU end of T2.
            Some(idx) if matches!(self.arena.tag(idx), T1 | T2) => {
                self.move_to(idx, T2);
                true
            }
            // Case II: ghost hit in B1 — recency is winning, grow p.
            Some(idx) if self.arena.tag(idx) == B1 => {
                let (b1, b2) = (self.size(B1), self.size(B2));
                let delta = if b1 >= b2 { 1 } else { b2 / b1 };
                self.p = (self.p + delta).min(c);
                self.replace(false);
                self.move_to(idx, T2);
                false
            }
            // Case III: ghost hit in B2 — frequency is winning, shrink p.
            Some(idx) => {
                let (b1, b2) = (self.size(B1), self.size(B2));
                let delta = if b2 >= b1 { 1 } else { b1 / b2 };
                self.p = self.p.saturating_sub(delta);
                self.replace(true);
                self.move_to(idx, T2);
                false
            }
            // Case IV: a complete miss.
            None => {
                let l1 = self.size(T1) + self.size(B1);
                let l2 = self.size(T2) + self.size(B2);
                if l1 == c {
                    // Case A: L1 holds exactly c pages.
                    if self.size(T1) < c {
                        self.delete_lru(B1);
                        self.replace(false);
                    } else {
                        // B1 is empty: the LRU page of T1 leaves the cache outright.
                        self.delete_lru(T1);
                    }
                } else if l1 + l2 >= c {
                    // Case B: L1 has fewer than c pages and the directory is full.
                    if l1 + l2 == 2 * c {
                        self.delete_lru(B2);
                    }
                    self.replace(false);
                }
                let idx = self.arena.alloc(id, T1);
                self.arena.push_front(&mut self.lists[T1 as usize], idx, T1);
                self.index.insert(id, idx);
                false
            }
        }
    }

    fn len(&self) -> usize {
        self.size(T1) + self.size(T2)
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_invariants(arc: &ArcCache) {
        let s = arc.sizes();
        let c = arc.capacity;
        assert!(s.t1 + s.t2 <= c, "{s:?}");
        assert!(s.t1 + s.b1 <= c, "{s:?}");
        assert!(s.t1 + s.t2 + s.b1 + s.b2 <= 2 * c, "{s:?}");
        assert!(s.p <= c, "{s:?}");
        assert_eq!(arc.index.len(), s.t1 + s.t2 + s.b1 + s.b2);
    }

    #[test]
    fn second_access_promotes_to_t2_and_ghost_hit_grows_p() {
        let mut arc = ArcCache::new(2);
        assert!(!arc.access(1));
        assert!(!arc.access(2));
        assert_eq!(arc.sizes().t1, 2);
        assert!(arc.access(1)); // 1 → T2
        assert_eq!((arc.sizes().t1, arc.sizes().t2), (1, 1));
        assert!(!arc.access(3)); // Case IV-B: REPLACE demotes 2 (T1 LRU, |T1|=1 > p=0) to B1
        assert_eq!(arc.sizes().b1, 1);
        assert!(!arc.access(2)); // Case II: ghost hit in B1, p grows to 1
        assert_eq!(arc.sizes().p, 1);
        assert!(arc.access(2));
        check_invariants(&arc);
    }

    #[test]
    fn invariants_hold_on_a_mixed_stream() {
        let mut arc = ArcCache::new(7);
        let mut x: u64 = 12345;
        for i in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = if i % 3 == 0 {
                (x >> 33) % 5
            } else {
                (x >> 33) % 40
            };
            arc.access(id);
            check_invariants(&arc);
        }
    }
}
