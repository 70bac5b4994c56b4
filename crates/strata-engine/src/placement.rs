//! Where a newly written extent goes: the placement hook.
//!
//! The engine asks the hook for tiers in preference order and takes a slot from the first
//! that has room, spilling down the list. A pinned volume is confined to its pinned tier
//! whatever the hook says: a pin is a promise to the operator, so a full pinned tier means
//! `NoSpace`, never data on another tier. Placement policies (`strata-policy`) plug in
//! here by implementing [`PlacementHook`].

/// What the hook is told about the extent being allocated.
#[derive(Debug, Clone, Copy)]
pub struct PlacementRequest<'a> {
    pub volume_id: u64,
    pub volume: &'a str,
    pub extent: u64,
    /// The volume's workload class, if given.
    pub profile: Option<&'a str>,
    /// Index of the pinned tier, if the volume is pinned.
    pub pin: Option<usize>,
    /// Number of configured tiers; indices are `0..tier_count`, fastest first.
    pub tier_count: usize,
}

/// Chooses tiers for new extents.
pub trait PlacementHook: Send + Sync + std::fmt::Debug {
    /// Tier indices in preference order. Out-of-range indices are ignored.
    fn choose_tiers(&self, request: &PlacementRequest<'_>) -> Vec<usize>;
}

/// Today's rule: the fastest tier with room (the pinned tier only, for pinned volumes).
#[derive(Debug, Clone, Copy, Default)]
pub struct FastestFirst;

impl PlacementHook for FastestFirst {
    fn choose_tiers(&self, request: &PlacementRequest<'_>) -> Vec<usize> {
        match request.pin {
            Some(pin) => vec![pin],
            None => (0..request.tier_count).collect(),
        }
    }
}

/// Applies the engine's rules to a hook's answer: drop out-of-range and duplicate tiers,
/// and keep only the pinned tier for pinned volumes.
pub(crate) fn candidate_tiers(
    hook: &dyn PlacementHook,
    request: &PlacementRequest<'_>,
) -> Vec<usize> {
    let mut tiers = Vec::with_capacity(request.tier_count);
    for tier in hook.choose_tiers(request) {
        let allowed = tier < request.tier_count && request.pin.is_none_or(|pin| pin == tier);
        if allowed && !tiers.contains(&tier) {
            tiers.push(tier);
        }
    }
    tiers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pin: Option<usize>) -> PlacementRequest<'static> {
        PlacementRequest {
            volume_id: 1,
            volume: "v",
            extent: 0,
            profile: None,
            pin,
            tier_count: 3,
        }
    }

    #[derive(Debug)]
    struct Wild;
    impl PlacementHook for Wild {
        fn choose_tiers(&self, _: &PlacementRequest<'_>) -> Vec<usize> {
            vec![7, 2, 2, 0, 1]
        }
    }

    #[test]
    fn pin_confines_and_bad_indices_are_dropped() {
        assert_eq!(candidate_tiers(&FastestFirst, &request(None)), [0, 1, 2]);
        assert_eq!(candidate_tiers(&FastestFirst, &request(Some(1))), [1]);
        assert_eq!(candidate_tiers(&Wild, &request(None)), [2, 0, 1]);
        assert_eq!(candidate_tiers(&Wild, &request(Some(1))), [1]);
    }
}
