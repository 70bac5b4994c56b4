//! What the policies' unit tests share: an nvme-over-hdd placement map and a random read.

use crate::{
    Access, ExtentId, IoKind, Move, MoveReason, PlacementMap, PlacementPolicy, TierId, TierSpec,
    TierView,
};
use strata_core::{DeviceProfile, TierKind};

/// An nvme tier of `fast` 1 MiB extents over an unbounded hdd.
pub(crate) fn nvme_over_hdd(fast: u64) -> PlacementMap {
    let tier = TierSpec::packed;
    PlacementMap::new(
        vec![
            tier(TierKind::Nvme, DeviceProfile::NVME, Some(fast)),
            tier(TierKind::Hdd, DeviceProfile::HDD, None),
        ],
        1 << 20,
    )
    .expect("valid")
}

/// A 4 KiB read of extent `index` of volume 0 at time 0, in a run of `run_bytes`.
pub(crate) fn read(index: u64, run_bytes: u64) -> Access {
    Access {
        extent: ExtentId::new(0, index),
        kind: IoKind::Read,
        time_ns: 0,
        len_bytes: 4096,
        offset_in_extent_bytes: None,
        sequential: run_bytes > 4096,
        run_bytes,
    }
}

/// Places extent `index` where `policy` says if it is new, then shows it a random read and
/// returns the moves the policy asks for (not applied).
pub(crate) fn observe(
    policy: &mut dyn PlacementPolicy,
    map: &mut PlacementMap,
    index: u64,
) -> Vec<Move> {
    let extent = ExtentId::new(0, index);
    if map.location(extent).is_none() {
        let tier = policy.place_new(extent, map);
        map.place(extent, tier).expect("room");
    }
    policy.on_access(&read(index, 4096), map)
}

/// The eviction of extent `index` of volume 0 from the nvme to the hdd.
pub(crate) fn evict_to_hdd(index: u64) -> Move {
    Move {
        extent: ExtentId::new(0, index),
        from: TierId::FASTEST,
        to: TierId(1),
        reason: MoveReason::Evict,
    }
}
