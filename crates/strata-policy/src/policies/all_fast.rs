//! `all-fast`: the upper bound of the simulator. Every extent lives on an unlimited fastest
//! tier, so no access ever misses it.

use crate::{Access, ExtentId, Move, PlacementPolicy, TierId, TierSizing, TierView};

#[derive(Debug, Clone, Copy, Default)]
pub struct AllFast;

impl PlacementPolicy for AllFast {
    fn name(&self) -> &str {
        "all-fast"
    }

    fn tier_sizing(&self) -> TierSizing {
        TierSizing::UnboundedFastest
    }

    fn place_new(&mut self, _extent: ExtentId, view: &dyn TierView) -> TierId {
        // Under an executor that ignored the sizing request, degrade to `static` rather than
        // break the placement contract.
        view.fastest_with_room(TierId::FASTEST)
            .unwrap_or_else(|| view.slowest())
    }

    fn on_access(&mut self, _access: &Access, _view: &dyn TierView) -> Vec<Move> {
        Vec::new()
    }
}
