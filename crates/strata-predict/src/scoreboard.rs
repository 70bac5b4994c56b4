//! Measured precision of one predictor: remembers the blocks it predicted, for a horizon
//! of accesses, and reports each one once as a hit (accessed within the horizon) or a miss
//! (expired unaccessed), with the tag it was recorded with (auto tags a prediction with
//! its rank among the member's predictions). Bounded: at most `capacity` outstanding predictions, pre-sized so
//! that steady-state recording and checking never allocate; when full, the oldest
//! prediction is resolved early as a miss.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

#[derive(Debug, Clone)]
pub(crate) struct Scoreboard {
    horizon: u64,
    capacity: usize,
    /// (stream, block) → the tick it was predicted at and its tag.
    outstanding: FxHashMap<(u64, u64), (u64, u8)>,
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
    /// tick and tag, so repeating a prediction does not count twice.
    pub(crate) fn record(
        &mut self,
        stream: u64,
        block: u64,
        tick: u64,
        tag: u8,
        resolve: &mut impl FnMut(u64, u8, bool),
    ) {
        if self.outstanding.contains_key(&(stream, block)) {
            return;
        }
        if self.order.len() >= self.capacity {
            self.expire_front(resolve);
        }
        self.outstanding.insert((stream, block), (tick, tag));
        self.order.push_back((stream, block, tick));
    }

    /// An access at `tick`: resolves a matching prediction as a hit and expired ones as
    /// misses, calling `resolve(stream, tag, hit)` for each.
    pub(crate) fn observe(
        &mut self,
        stream: u64,
        block: u64,
        tick: u64,
        resolve: &mut impl FnMut(u64, u8, bool),
    ) {
        while self
            .order
            .front()
            .is_some_and(|&(_, _, made)| made.saturating_add(self.horizon) < tick)
        {
            self.expire_front(resolve);
        }
        if let Some((_, tag)) = self.outstanding.remove(&(stream, block)) {
            resolve(stream, tag, true);
        }
    }

    fn expire_front(&mut self, resolve: &mut impl FnMut(u64, u8, bool)) {
        let Some((stream, block, made)) = self.order.pop_front() else {
            return;
        };
        // A hit already removed the entry; a newer prediction of the same block owns it.
        if let Some(&(tick, tag)) = self.outstanding.get(&(stream, block))
            && tick == made
        {
            self.outstanding.remove(&(stream, block));
            resolve(stream, tag, false);
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
        let mut note = |stream: u64, tag: u8, hit: bool| outcomes.push((stream, tag, hit));
        board.record(0, 5, 1, 0, &mut note);
        board.record(0, 6, 1, 1, &mut note);
        board.record(0, 5, 2, 2, &mut note); // repeat: ignored, keeps its first tag
        board.observe(0, 5, 3, &mut note);
        board.observe(0, 9, 20, &mut note); // block 6 expired unaccessed
        board.observe(0, 6, 21, &mut note);
        assert_eq!(outcomes, [(0, 0, true), (0, 1, false)]);
    }

    #[test]
    fn full_board_resolves_its_oldest_as_a_miss() {
        let mut board = Scoreboard::new(1000, 2);
        let mut misses = 0;
        let mut note = |_: u64, _: u8, hit: bool| misses += u32::from(!hit);
        for block in 0..5 {
            board.record(1, block, 0, 0, &mut note);
        }
        assert_eq!(misses, 3);
    }
}
