//! 2Q, the full version of Johnson and Shasha ("2Q: A Low Overhead High Performance Buffer
//! Management Replacement Algorithm", VLDB 1994): new pages enter the FIFO A1in (Kin = 25 %
//! of the capacity); pages pushed out of A1in leave their id in the ghost FIFO A1out
//! (Kout = 50 % of the capacity); a miss that finds its id in A1out goes to the LRU Am.
//! A hit in A1in does not move the page (correlated references).

use super::CachePolicy;
use super::list::{Arena, List};
use rustc_hash::FxHashMap;

const A1IN: u8 = 0;
const A1OUT: u8 = 1;
const AM: u8 = 2;

/// 2Q over `u64` ids.
#[derive(Debug)]
pub struct TwoQ {
    capacity: usize,
    kin: usize,
    kout: usize,
    arena: Arena,
    lists: [List; 3],
    index: FxHashMap<u64, u32>,
}

impl TwoQ {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let kin = (capacity / 4).max(1);
        let kout = (capacity / 2).max(1);
        let mut index = FxHashMap::default();
        index.reserve(capacity + kout);
        Self {
            capacity,
            kin,
            kout,
            arena: Arena::with_capacity(capacity + kout),
            lists: [List::default(); 3],
            index,
        }
    }

    fn resident(&self) -> usize {
        self.lists[A1IN as usize].len() + self.lists[AM as usize].len()
    }

    fn drop_node(&mut self, idx: u32) {
        self.index.remove(&self.arena.id(idx));
        self.arena.release(idx);
    }

    /// The paper's `reclaimfor`: free a slot when the buffer is full.
    fn reclaim(&mut self) {
        if self.resident() < self.capacity {
            return;
        }
        let a1in_len = self.lists[A1IN as usize].len();
        if a1in_len > self.kin || self.lists[AM as usize].is_empty() {
            if let Some(idx) = self.arena.pop_back(&mut self.lists[A1IN as usize]) {
                self.arena
                    .push_front(&mut self.lists[A1OUT as usize], idx, A1OUT);
                if self.lists[A1OUT as usize].len() > self.kout
                    && let Some(old) = self.arena.pop_back(&mut self.lists[A1OUT as usize])
                {
                    self.drop_node(old);
                }
            }
        } else if let Some(idx) = self.arena.pop_back(&mut self.lists[AM as usize]) {
            self.drop_node(idx);
        }
    }
}

impl CachePolicy for TwoQ {
    fn name(&self) -> &'static str {
        "2q"
    }

    fn access(&mut self, id: u64) -> bool {
        match self.index.get(&id).copied() {
            Some(idx) if self.arena.tag(idx) == AM => {
                self.arena.move_to_front(&mut self.lists[AM as usize], idx);
                true
            }
            Some(idx) if self.arena.tag(idx) == A1IN => true,
            Some(idx) => {
                self.arena.unlink(&mut self.lists[A1OUT as usize], idx);
                self.reclaim();
                self.arena.push_front(&mut self.lists[AM as usize], idx, AM);
                false
            }
            None => {
                self.reclaim();
                let idx = self.arena.alloc(id, A1IN);
                self.arena
                    .push_front(&mut self.lists[A1IN as usize], idx, A1IN);
                self.index.insert(id, idx);
                false
            }
        }
    }

    fn len(&self) -> usize {
        self.resident()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_reference_after_a1in_promotes_to_am() {
        let mut q = TwoQ::new(4); // Kin = 1, Kout = 2
        for id in [1, 2, 3, 4, 5] {
            assert!(!q.access(id));
        }
        // The buffer was full at 5: A1in held 4 > Kin, so its tail 1 went to A1out.
        assert!(!q.access(1)); // found in A1out → Am
        assert_eq!(q.lists[AM as usize].len(), 1);
        assert!(q.access(1));
        assert!(q.len() <= 4);
    }
}
