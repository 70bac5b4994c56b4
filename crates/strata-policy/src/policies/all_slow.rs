//! `all-slow`: the lower bound of the simulator. Every extent lives on the slowest tier and
//! never moves.

use crate::{Access, ExtentId, Move, PlacementPolicy, TierId, TierView};

#[derive(Debug, Clone, Copy, Default)]
pub struct AllSlow;

impl PlacementPolicy for AllSlow {
    fn name(&self) -> &str {
        "all-slow"
    }

    fn place_new(&mut self, _extent: ExtentId, view: &dyn TierView) -> TierId {
        let slowest = view.slowest();
        if view.has_room(slowest) {
            return slowest;
        }
        // A bounded, full slowest tier: take the slowest tier that still has room.
        (0..slowest.0)
            .rev()
            .map(TierId)
            .find(|&tier| view.has_room(tier))
            .unwrap_or(slowest)
    }

    fn on_access(&mut self, _access: &Access, _view: &dyn TierView) -> Vec<Move> {
        Vec::new()
    }
}
