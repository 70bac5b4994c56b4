//! `static`: never moves anything. A new extent goes to the fastest tier with room, so the
//! fast tier holds whatever was written first and the rest spills downwards.

use crate::{Access, ExtentId, Move, PlacementPolicy, TierId, TierView};

#[derive(Debug, Clone, Copy, Default)]
pub struct StaticFill;

impl PlacementPolicy for StaticFill {
    fn name(&self) -> &str {
        "static"
    }

    fn place_new(&mut self, _extent: ExtentId, view: &dyn TierView) -> TierId {
        view.fastest_with_room(TierId::FASTEST)
            .unwrap_or_else(|| view.slowest())
    }

    fn on_access(&mut self, _access: &Access, _view: &dyn TierView) -> Vec<Move> {
        Vec::new()
    }
}
