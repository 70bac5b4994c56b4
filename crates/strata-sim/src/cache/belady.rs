//! Belady's MIN as a demand cache: every miss inserts; when full, the resident id whose
//! next use lies farthest in the future is evicted. The future comes from a next-use array
//! computed once over the whole stream; a max-heap keyed by next use finds the victim, with
//! entries made stale by a later access skipped lazily (and the heap rebuilt when stale
//! entries pile up, so memory stays O(capacity) beyond the next-use array).

use super::CachePolicy;
use rustc_hash::FxHashMap;
use std::collections::BinaryHeap;

/// Next use of an id that is never accessed again.
const NEVER: usize = usize::MAX;

/// For each position `i` of `stream`, the position of the next access to the same id, or
/// [`NEVER`].
pub fn next_uses(stream: &[u64]) -> Vec<usize> {
    let mut next = vec![NEVER; stream.len()];
    let mut last_seen: FxHashMap<u64, usize> = FxHashMap::default();
    for (pos, &id) in stream.iter().enumerate().rev() {
        if let Some(later) = last_seen.insert(id, pos) {
            next[pos] = later;
        }
    }
    next
}

/// Belady/MIN for one stream. It must be fed exactly the stream it was built with, in
/// order; an access that does not match the stream is still served, as if never reused.
#[derive(Debug)]
pub struct Belady {
    capacity: usize,
    stream: Vec<u64>,
    next_use: Vec<usize>,
    pos: usize,
    /// Resident id → its next use.
    resident: FxHashMap<u64, usize>,
    heap: BinaryHeap<(usize, u64)>,
}

impl Belady {
    pub fn new(capacity: usize, stream: &[u64]) -> Self {
        let capacity = capacity.max(1);
        let mut resident = FxHashMap::default();
        resident.reserve(capacity);
        Self {
            capacity,
            stream: stream.to_vec(),
            next_use: next_uses(stream),
            pos: 0,
            resident,
            heap: BinaryHeap::with_capacity(2 * capacity),
        }
    }

    fn next_use_of_current(&mut self, id: u64) -> usize {
        let next = match self.stream.get(self.pos) {
            Some(&expected) if expected == id => self.next_use[self.pos],
            _ => NEVER,
        };
        self.pos += 1;
        next
    }

    fn evict_farthest(&mut self) {
        while let Some((next, id)) = self.heap.pop() {
            if self.resident.get(&id) == Some(&next) {
                self.resident.remove(&id);
                return;
            }
        }
    }

    fn compact_heap(&mut self) {
        self.heap = self
            .resident
            .iter()
            .map(|(&id, &next)| (next, id))
            .collect();
    }
}

impl CachePolicy for Belady {
    fn name(&self) -> &'static str {
        "belady"
    }

    fn access(&mut self, id: u64) -> bool {
        let next = self.next_use_of_current(id);
        let hit = self.resident.contains_key(&id);
        if !hit && self.resident.len() >= self.capacity {
            self.evict_farthest();
        }
        self.resident.insert(id, next);
        self.heap.push((next, id));
        if self.heap.len() > 4 * self.capacity + 64 {
            self.compact_heap();
        }
        hit
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
    fn next_uses_point_forward() {
        assert_eq!(next_uses(&[1, 2, 1, 1]), [2, NEVER, 3, NEVER]);
    }

    #[test]
    fn evicts_the_id_used_farthest_ahead() {
        // c = 2: at the access to 3, 1 is needed next and 2 much later, so 2 goes.
        let stream = [1, 2, 3, 1, 3, 2];
        let mut min = Belady::new(2, &stream);
        let hits: Vec<bool> = stream.iter().map(|&id| min.access(id)).collect();
        assert_eq!(hits, [false, false, false, true, true, false]);
    }
}
