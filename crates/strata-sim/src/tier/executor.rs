//! [`TierExecutor`]: executes placement decisions in virtual time. It owns the placement map
//! (the contract checks live there) and one [`DeviceQueueModel`] per tier; foreground pieces
//! and migration copies go through the same device queues, so migrations delay foreground
//! requests exactly as much as the model says.

use super::{Piece, TierError};
use std::collections::HashMap;
use strata_core::{DeviceProfile, DeviceQueueModel, IoKind, TierKind};
use strata_policy::{
    ExtentId, Move, MoveRejection, PlacementMap, Slot, TierId, TierSpec, TierView,
};

/// What happened to the decisions an executor was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorCounters {
    /// Moves executed.
    pub moves: u64,
    /// Moves refused by the contract (wrong source, invalid or full target, over budget).
    pub rejected_moves: u64,
    /// `place_new` answers that named a full or non-existent tier.
    pub rejected_placements: u64,
    /// Bytes copied by executed moves (one extent each).
    pub migrated_bytes: u64,
}

/// Where and when a foreground piece was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub tier: TierId,
    pub completion_ns: u64,
}

/// Tiers, devices and the extent map of one replay.
#[derive(Debug, Clone)]
pub struct TierExecutor {
    map: PlacementMap,
    devices: Vec<DeviceQueueModel>,
    unit_bytes: u64,
    /// When the latest copy of an extent becomes readable at its new place. The map switches
    /// when a move is decided; a foreground access that arrives before the copy is done waits
    /// for it.
    copy_done_ns: HashMap<ExtentId, u64>,
    max_used_extents: Vec<u64>,
    counters: ExecutorCounters,
}

impl TierExecutor {
    pub fn new(specs: Vec<TierSpec>, unit_bytes: u64) -> Result<Self, TierError> {
        let devices = specs
            .iter()
            .map(|spec| DeviceQueueModel::new(spec.profile))
            .collect();
        let tiers = specs.len();
        let map = PlacementMap::new(specs, unit_bytes)?;
        Ok(Self {
            map,
            devices,
            unit_bytes,
            copy_done_ns: HashMap::new(),
            max_used_extents: vec![0; tiers],
            counters: ExecutorCounters::default(),
        })
    }

    pub fn map(&self) -> &PlacementMap {
        &self.map
    }

    pub fn counters(&self) -> ExecutorCounters {
        self.counters
    }

    /// The most extents each tier held at any moment of the replay.
    pub fn max_used_extents(&self) -> &[u64] {
        &self.max_used_extents
    }

    /// What the policy sees at `now_ns`.
    pub fn view(&self, now_ns: u64) -> SimView<'_> {
        SimView {
            executor: self,
            now_ns,
        }
    }

    fn note_occupancy(&mut self) {
        for (rank, max) in self.max_used_extents.iter_mut().enumerate() {
            let used = u8::try_from(rank).map_or(0, |r| self.map.used_extents(TierId(r)));
            *max = (*max).max(used);
        }
    }

    /// Places a never-placed extent on `tier`; a tier without room is a contract violation,
    /// counted, and the extent goes to the fastest slower tier with room instead (or, with
    /// every tier full, to the slowest tier with room).
    pub fn place(&mut self, extent: ExtentId, tier: TierId) -> TierId {
        let placed = match self.map.place(extent, tier) {
            Ok(slot) => slot.tier,
            Err(_) => {
                self.counters.rejected_placements += 1;
                let fallback = self
                    .map
                    .fastest_with_room(TierId(tier.0.saturating_add(1)))
                    .or_else(|| self.map.fastest_with_room(TierId::FASTEST))
                    .unwrap_or_else(|| self.map.slowest());
                match self.map.place(extent, fallback) {
                    Ok(slot) => slot.tier,
                    Err(_) => fallback,
                }
            }
        };
        self.note_occupancy();
        placed
    }

    fn device_offset(&self, slot: Slot, offset_in_extent_bytes: u64) -> u64 {
        slot.slot
            .wrapping_mul(self.unit_bytes)
            .wrapping_add(offset_in_extent_bytes)
    }

    /// Serves one foreground piece arriving at `arrival_ns` from wherever its extent lives
    /// (placing it on the slowest tier if nobody placed it).
    pub fn serve(&mut self, arrival_ns: u64, kind: IoKind, piece: &Piece) -> Served {
        let slot = match self.map.slot_of(piece.extent) {
            Some(slot) => slot,
            None => {
                let slowest = self.map.slowest();
                self.place(piece.extent, slowest);
                self.map.slot_of(piece.extent).unwrap_or(Slot {
                    tier: slowest,
                    slot: 0,
                })
            }
        };
        let start_ns = self
            .copy_done_ns
            .get(&piece.extent)
            .map_or(arrival_ns, |&done| done.max(arrival_ns));
        let offset = self.device_offset(slot, piece.offset_in_extent_bytes);
        let completion_ns = match self.devices.get_mut(slot.tier.rank()) {
            Some(device) => device.submit(start_ns, kind, offset, piece.len_bytes),
            None => start_ns,
        };
        Served {
            tier: slot.tier,
            completion_ns,
        }
    }

    /// Executes a move decided at `now_ns`: the map switches at once, and the copy (read the
    /// extent from the source device, then write it to the destination device) is queued on
    /// both devices. Returns when the copy is done.
    pub fn execute(&mut self, now_ns: u64, mv: &Move) -> Result<u64, MoveRejection> {
        let applied = match self.map.apply(mv) {
            Ok(applied) => applied,
            Err(rejection) => {
                self.counters.rejected_moves += 1;
                return Err(rejection);
            }
        };
        self.note_occupancy();
        let start_ns = self
            .copy_done_ns
            .get(&mv.extent)
            .map_or(now_ns, |&done| done.max(now_ns));
        let read_offset = self.device_offset(applied.from, 0);
        let write_offset = self.device_offset(applied.to, 0);
        let unit = self.unit_bytes;
        let read_done_ns = match self.devices.get_mut(applied.from.tier.rank()) {
            Some(device) => device.submit(start_ns, IoKind::Read, read_offset, unit),
            None => start_ns,
        };
        let done_ns = match self.devices.get_mut(applied.to.tier.rank()) {
            Some(device) => device.submit(read_done_ns, IoKind::Write, write_offset, unit),
            None => read_done_ns,
        };
        self.copy_done_ns.insert(mv.extent, done_ns);
        self.counters.moves += 1;
        self.counters.migrated_bytes += unit;
        Ok(done_ns)
    }

    /// Counts a move the replay refused before it reached the map (over budget).
    pub fn reject(&mut self) {
        self.counters.rejected_moves += 1;
    }
}

/// The executor at one instant, as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct SimView<'a> {
    executor: &'a TierExecutor,
    now_ns: u64,
}

impl TierView for SimView<'_> {
    fn tier_count(&self) -> usize {
        self.executor.map.tier_count()
    }

    fn kind(&self, tier: TierId) -> Option<&TierKind> {
        self.executor.map.kind(tier)
    }

    fn profile(&self, tier: TierId) -> Option<DeviceProfile> {
        self.executor.map.profile(tier)
    }

    fn capacity_extents(&self, tier: TierId) -> Option<u64> {
        self.executor.map.capacity_extents(tier)
    }

    fn used_extents(&self, tier: TierId) -> u64 {
        self.executor.map.used_extents(tier)
    }

    fn queue_delay_ns(&self, tier: TierId) -> u64 {
        self.executor
            .devices
            .get(tier.rank())
            .map_or(0, |d| d.queue_delay_ns(self.now_ns))
    }

    fn location(&self, extent: ExtentId) -> Option<TierId> {
        self.executor.map.location(extent)
    }

    fn extent_bytes(&self) -> u64 {
        self.executor.unit_bytes
    }
}
