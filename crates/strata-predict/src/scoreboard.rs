//! Measured precision of one predictor: remembers the blocks it predicted, for a horizon
//! of accesses, and reports each one once as a hit (accessed within the horizon) or a miss
//! (expired unaccessed). Bounded: at most `capacity` outstanding predictions, pre-sized so
//! that steady-state recording and checking never allocate; when full, the oldest
//! prediction is resolved early as a miss.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

#[derive(Debug, Clone)]
pub(crate) struct Scoreboard {
    horizon: u64,
    capacity: usize,
    /// (stream, block) → the tick it was predicted at.
    outstanding: FxHashMap<(u64, u64), u64>,
    /// Predictions in the order made, for expiry.
    order: VecDeque<(u64, u64, u64)>,
}

impl Scoreboard {
    pub(crate) fn new(horizon: u64, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut outstanding = FxHashMap::default();
        outstanding.reserve(capacity);
        Self {
            horizon: horizon.max(1),
            capacity,
            outstanding,
            order: VecDeque::with_capacity(capacity),
        }
    }

    /// Records a prediction made at `tick`; a block already outstanding keeps its first
    /// tick, so repeating a prediction does not count twice.
    pub(crate) fn record(
        &mut self,
        stream: u64,
        block: u64,
        tick: u64,
        resolve: &mut impl FnMut(u64, bool),
    ) {
        if self.outstanding.contains_key(&(stream, block)) {
            return;
        }
        if self.order.len() >= self.capacity {
            self.expire_front(resolve);
        }
        self.outstanding.insert((stream, block), tick);
        self.order.push_back((stream, block, tick));
    }

    /// An access at `tick`: resolves a matching prediction as a hit and expired ones as
    /// misses, calling `resolve(stream, hit)` for each.
    pub(crate) fn observe(
        &mut self,
        stream: u64,
        block: u64,
        tick: u64,
        resolve: &mut impl FnMut(u64, bool),
    ) {
        while self
            .order
            .front()
            .is_some_and(|&(_, _, made)| made.saturating_add(self.horizon) < tick)
        {
            self.expire_front(resolve);
        }
        if self.outstanding.remove(&(stream, block)).is_some() {
            resolve(stream, true);
        }
    }

    fn expire_front(&mut self, resolve: &mut impl FnMut(u64, bool)) {
        let Some((stream, block, made)) = self.order.pop_front() else {
            return;
        };
        // A hit already removed the entry; a newer prediction of the same block owns it.
        if self.outstanding.get(&(stream, block)) == Some(&made) {
            self.outstanding.remove(&(stream, block));
            resolve(stream, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_within_the_horizon_and_expires_the_rest() {
        let mut board = Scoreboard::new(10, 100);
        let mut outcomes = Vec::new();
        let mut note = |stream: u64, hit: bool| outcomes.push((stream, hit));
        board.record(0, 5, 1, &mut note);
        board.record(0, 6, 1, &mut note);
        board.record(0, 5, 2, &mut note); // repeat: ignored
        board.observe(0, 5, 3, &mut note);
        board.observe(0, 9, 20, &mut note); // block 6 expired unaccessed
        board.observe(0, 6, 21, &mut note);
        assert_eq!(outcomes, [(0, true), (0, false)]);
    }

    #[test]
    fn full_board_resolves_its_oldest_as_a_miss() {
        let mut board = Scoreboard::new(1000, 2);
        let mut misses = 0;
        let mut note = |_: u64, hit: bool| misses += u32::from(!hit);
        for block in 0..5 {
            board.record(1, block, 0, &mut note);
        }
        assert_eq!(misses, 3);
    }
}
