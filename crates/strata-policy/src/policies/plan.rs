//! [`PlanBuilder`]: a batch of moves under construction that obeys the executor contract
//! as it will be applied — moves in order, a demotion frees its slot at once, a move into a
//! full tier is never emitted, and the batch stays within the byte budget of `plan`.

use crate::{ExtentId, Move, MoveReason, TierId, TierView};

#[derive(Debug)]
pub(crate) struct PlanBuilder {
    /// Free slots per tier as the batch so far leaves them; `None` = unbounded.
    free: Vec<Option<u64>>,
    moves_left: u64,
    moves: Vec<Move>,
}

impl PlanBuilder {
    pub(crate) fn new(view: &dyn TierView, budget_bytes: u64) -> Self {
        let free = (0..view.tier_count())
            .map(|rank| view.free_extents(TierId(u8::try_from(rank).unwrap_or(u8::MAX))))
            .collect();
        Self {
            free,
            moves_left: budget_bytes / view.extent_bytes().max(1),
            moves: Vec::new(),
        }
    }

    pub(crate) fn moves_left(&self) -> u64 {
        self.moves_left
    }

    pub(crate) fn has_room(&self, tier: TierId) -> bool {
        self.free
            .get(tier.rank())
            .is_some_and(|free| *free != Some(0))
    }

    /// Free slots the batch leaves on `tier` (`u64::MAX` for an unbounded tier).
    pub(crate) fn free(&self, tier: TierId) -> u64 {
        self.free
            .get(tier.rank())
            .map_or(0, |free| free.unwrap_or(u64::MAX))
    }

    /// The fastest tier at `start` or slower with a free slot after the batch so far.
    pub(crate) fn fastest_with_room(&self, start: TierId) -> Option<TierId> {
        TierId::ranks(start.rank()..self.free.len()).find(|&tier| self.has_room(tier))
    }

    /// Adds a move if the budget and the target's room allow it.
    pub(crate) fn push(
        &mut self,
        extent: ExtentId,
        from: TierId,
        to: TierId,
        reason: MoveReason,
    ) -> bool {
        if self.moves_left == 0
            || from == to
            || !self.has_room(to)
            || from.rank() >= self.free.len()
        {
            return false;
        }
        if let Some(Some(free)) = self.free.get_mut(to.rank()) {
            *free -= 1;
        }
        if let Some(Some(free)) = self.free.get_mut(from.rank()) {
            *free += 1;
        }
        self.moves_left -= 1;
        self.moves.push(Move {
            extent,
            from,
            to,
            reason,
        });
        true
    }

    /// Extents the batch so far takes off `tier`, net of those it brings there.
    pub(crate) fn net_out(&self, tier: TierId) -> u64 {
        let (out, into) = self.moves.iter().fold((0u64, 0u64), |(out, into), m| {
            (
                out + u64::from(m.from == tier),
                into + u64::from(m.to == tier),
            )
        });
        out.saturating_sub(into)
    }

    pub(crate) fn finish(self) -> Vec<Move> {
        self.moves
    }
}
