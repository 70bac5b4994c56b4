//! S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023),
//! following the paper's Algorithm 1 and libCacheSim's `S3FIFO` eviction rules:
//! - a small FIFO S of 10 % of the capacity (at least one entry) takes new ids;
//! - a main FIFO M of the rest takes ids found in the ghost queue and ids that were
//!   accessed at least twice (freq ≥ 2) while in S;
//! - a ghost FIFO G remembers as many ids as M holds, evicted from S unaccessed;
//! - each resident id has a frequency counter capped at 3; M evicts like a 2-bit CLOCK
//!   (an id with freq > 0 is reinserted with freq − 1).
//!
//! An id moved from S to M starts again at freq 0, as libCacheSim's re-insert does.

use super::CachePolicy;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

const MAX_FREQ: u8 = 3;
/// S → M promotion needs at least this many hits while in S (the paper's `freq > 1`).
const MOVE_TO_MAIN_FREQ: u8 = 2;

/// A FIFO of ids with O(1) membership; removal marks entries stale by sequence number.
#[derive(Debug, Default)]
struct GhostFifo {
    capacity: usize,
    seq: u64,
    order: VecDeque<(u64, u64)>,
    live: FxHashMap<u64, u64>,
}

impl GhostFifo {
    fn new(capacity: usize) -> Self {
        let mut live = FxHashMap::default();
        live.reserve(capacity);
        Self {
            capacity,
            seq: 0,
            order: VecDeque::with_capacity(capacity),
            live,
        }
    }

    fn insert(&mut self, id: u64) {
        if self.capacity == 0 {
            return;
        }
        self.seq += 1;
        self.live.insert(id, self.seq);
        self.order.push_back((id, self.seq));
        while self.live.len() > self.capacity || self.order.len() > 2 * self.capacity + 16 {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.live.get(&old) == Some(&seq) {
                self.live.remove(&old);
            }
        }
    }

    /// Removes `id` if present; returns whether it was.
    fn take(&mut self, id: u64) -> bool {
        self.live.remove(&id).is_some()
    }
}

/// S3-FIFO over `u64` ids.
#[derive(Debug)]
pub struct S3Fifo {
    capacity: usize,
    small_capacity: usize,
    main_capacity: usize,
    small: VecDeque<u64>,
    main: VecDeque<u64>,
    ghost: GhostFifo,
    /// Resident id → frequency counter (0..=3).
    resident: FxHashMap<u64, u8>,
}

impl S3Fifo {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let small_capacity = (capacity / 10).max(1);
        let main_capacity = capacity - small_capacity;
        let mut resident = FxHashMap::default();
        resident.reserve(capacity);
        Self {
            capacity,
            small_capacity,
            main_capacity,
            small: VecDeque::with_capacity(small_capacity + 1),
            main: VecDeque::with_capacity(capacity),
            ghost: GhostFifo::new(main_capacity),
            resident,
        }
    }

    /// Resident ids in the small and main queues, for tests.
    pub fn queue_lens(&self) -> (usize, usize) {
        (self.small.len(), self.main.len())
    }

    fn evict(&mut self) {
        if self.main.len() > self.main_capacity || self.small.is_empty() {
            self.evict_main();
        } else if self.small.len() >= self.small_capacity || self.main.is_empty() {
            self.evict_small();
        } else {
            self.evict_main();
        }
    }

    fn evict_small(&mut self) {
        while let Some(id) = self.small.pop_front() {
            let Some(freq) = self.resident.get_mut(&id) else {
                continue;
            };
            if *freq >= MOVE_TO_MAIN_FREQ {
                *freq = 0;
                self.main.push_back(id);
            } else {
                self.resident.remove(&id);
                self.ghost.insert(id);
                return;
            }
        }
    }

    fn evict_main(&mut self) {
        while let Some(id) = self.main.pop_front() {
            let Some(freq) = self.resident.get_mut(&id) else {
                continue;
            };
            if *freq > 0 {
                *freq -= 1;
                self.main.push_back(id);
            } else {
                self.resident.remove(&id);
                return;
            }
        }
    }
}

impl CachePolicy for S3Fifo {
    fn name(&self) -> &'static str {
        "s3fifo"
    }

    fn access(&mut self, id: u64) -> bool {
        if let Some(freq) = self.resident.get_mut(&id) {
            *freq = (*freq + 1).min(MAX_FREQ);
            return true;
        }
        while self.small.len() + self.main.len() >= self.capacity {
            self.evict();
        }
        if self.ghost.take(id) {
            self.main.push_back(id);
        } else {
            self.small.push_back(id);
        }
        self.resident.insert(id, 0);
        false
    }

    fn len(&self) -> usize {
        self.resident.len()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hit_wonders_leave_through_the_small_queue() {
        let mut cache = S3Fifo::new(10); // S = 1, M = 9
        for id in 0..5 {
            cache.access(id);
        }
        // Nothing is evicted before the whole cache is full, so new ids fill S past its share.
        assert_eq!(cache.queue_lens(), (5, 0));
    }

    #[test]
    fn ghost_hits_go_to_main_and_hot_ids_survive_a_scan() {
        let mut cache = S3Fifo::new(10);
        for _ in 0..3 {
            for id in 0..5 {
                cache.access(id);
            }
        }
        for id in 100..200 {
            cache.access(id);
        }
        let hot_hits = (0..5).filter(|&id| cache.access(id)).count();
        assert!(
            hot_hits >= 4,
            "hot ids were flushed by the scan: {hot_hits} hits"
        );
        assert!(cache.len() <= 10);
    }
}
