//! [`TierExecutor`]: executes placement decisions in virtual time. It owns the placement map
//! (the contract checks live there) and the tiers' device queues ([`TierQueues`]); foreground
//! pieces and migration copies go through the same queues, so migrations delay foreground
//! requests exactly as much as the model says. A move's source slot stays taken until its
//! copy is done, as the engine frees it only after the copy commits. Copies start as the
//! engine's mover starts them unless the [`CopyModel`] says otherwise, and a move decided
//! while the mover's queue is full is refused ([`MoveRejection::QueueFull`]).

use super::{Piece, TierError};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use strata_core::{DeviceProfile, IoKind, TierKind};
use strata_policy::{
    AppliedMove, CopyDone, CopyModel, DevicePlace, ExtentId, HeldSources, Move, MoveReason,
    MoveRejection, PlacementMap, Slot, TierId, TierQueues, TierSpec, TierView,
};

/// One thing the executor did, for `strata sim --mode tier --events` (recorded only after
/// [`TierExecutor::record_events`]). Tiers are ranks, 0 the fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierEvent {
    /// A first-touched extent was placed on `tier`.
    Place {
        time_ns: u64,
        extent: ExtentId,
        tier: TierId,
    },
    /// A move was accepted; its copy may still wait for the mover.
    Move {
        time_ns: u64,
        extent: ExtentId,
        from: TierId,
        to: TierId,
        reason: MoveReason,
    },
    /// A move's copy was done: from then on `to` serves the extent. It ran for
    /// `latency_ns` from when the mover started it.
    Done {
        time_ns: u64,
        extent: ExtentId,
        from: TierId,
        to: TierId,
        latency_ns: u64,
    },
    /// A foreground extent piece was served from `tier` (the copy's source while a copy of
    /// the extent is in flight) and done `latency_ns` after it arrived.
    Serve {
        time_ns: u64,
        extent: ExtentId,
        tier: TierId,
        latency_ns: u64,
    },
}

impl TierEvent {
    pub fn time_ns(&self) -> u64 {
        match *self {
            Self::Place { time_ns, .. }
            | Self::Move { time_ns, .. }
            | Self::Done { time_ns, .. }
            | Self::Serve { time_ns, .. } => time_ns,
        }
    }
}

/// Merges two time-ordered lists; at equal times `first`'s events go first.
fn merge_by_time(first: Vec<TierEvent>, second: Vec<TierEvent>) -> Vec<TierEvent> {
    let mut merged = Vec::with_capacity(first.len() + second.len());
    let mut second = second.into_iter().peekable();
    for event in first {
        while let Some(next) = second.next_if(|next| next.time_ns() < event.time_ns()) {
            merged.push(next);
        }
        merged.push(event);
    }
    merged.extend(second);
    merged
}

/// What happened to the decisions an executor was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorCounters {
    /// Moves executed.
    pub moves: u64,
    /// Moves refused by the contract (wrong source, invalid or full target, over budget).
    pub rejected_moves: u64,
    /// `place_new` answers that named a full or non-existent tier.
    pub rejected_placements: u64,
    /// Bytes of the moves executed (one extent each), copied or still to copy.
    pub migrated_bytes: u64,
    /// Bytes of the copies whose write has reached its device.
    pub copied_bytes: u64,
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
    /// The devices and the copies in flight. The map switches when a move is decided (so
    /// the policy sees its decision at once); until the copy is done the extent is served
    /// from where it was, as the engine serves it.
    queues: TierQueues,
    /// The source slots of the copies in flight: taken until the copy is done.
    held: HeldSources<Slot>,
    unit_bytes: u64,
    max_used_extents: Vec<u64>,
    counters: ExecutorCounters,
    /// What happened since the last [`TierExecutor::drain_events`], when recording.
    events: Option<Vec<TierEvent>>,
    /// Copies known to be done, when recording, that end after the last drain's time.
    done: BinaryHeap<Reverse<CopyDone>>,
    /// The latest time a call took (placements take none).
    now_ns: u64,
}

impl TierExecutor {
    /// Copies run as the engine's mover runs them ([`CopyModel::default`]).
    pub fn new(specs: Vec<TierSpec>, unit_bytes: u64) -> Result<Self, TierError> {
        Self::with_copies(specs, unit_bytes, CopyModel::default())
    }

    pub fn with_copies(
        specs: Vec<TierSpec>,
        unit_bytes: u64,
        copies: CopyModel,
    ) -> Result<Self, TierError> {
        let queues = TierQueues::with_model(specs.iter().map(|spec| spec.profile), copies);
        let tiers = specs.len();
        let map = PlacementMap::new(specs, unit_bytes)?;
        Ok(Self {
            map,
            queues,
            held: HeldSources::default(),
            unit_bytes,
            max_used_extents: vec![0; tiers],
            counters: ExecutorCounters::default(),
            events: None,
            done: BinaryHeap::new(),
            now_ns: 0,
        })
    }

    /// Records every placement, accepted move, finished copy and served piece from now on.
    pub fn record_events(&mut self) {
        self.events.get_or_insert_with(Vec::new);
        self.queues.record_done();
    }

    /// The events recorded since the last call, oldest first (none when not recording),
    /// with the copies done by the latest time a call took. Call it after a
    /// [`Self::serve`] at that time: serving brings the devices up to it, so every copy
    /// done by then is known.
    pub fn drain_events(&mut self) -> Vec<TierEvent> {
        let now_ns = self.now_ns;
        self.done
            .extend(self.queues.take_done().into_iter().map(Reverse));
        let mut done = Vec::new();
        while let Some(&Reverse(copy)) = self.done.peek()
            && copy.done_ns <= now_ns
        {
            self.done.pop();
            done.push(TierEvent::Done {
                time_ns: copy.done_ns,
                extent: copy.extent,
                from: copy.from,
                to: copy.to,
                latency_ns: copy.done_ns.saturating_sub(copy.start_ns),
            });
        }
        let events = self.events.as_mut().map(std::mem::take).unwrap_or_default();
        // Both are in time order; a copy done at a request's arrival serves it, so it
        // goes first.
        merge_by_time(done, events)
    }

    fn note(&mut self, event: TierEvent) {
        if let Some(events) = self.events.as_mut() {
            events.push(event);
        }
    }

    pub fn map(&self) -> &PlacementMap {
        &self.map
    }

    /// As of the last call that took a time.
    pub fn counters(&self) -> ExecutorCounters {
        ExecutorCounters {
            copied_bytes: self.queues.copied_bytes(),
            ..self.counters
        }
    }

    /// The most extents each tier held at any moment of the replay.
    pub fn max_used_extents(&self) -> &[u64] {
        &self.max_used_extents
    }

    /// Source slots still held by copies in flight (as of the last call that took a time).
    pub fn held_slots(&self) -> usize {
        self.held.len()
    }

    /// Frees the source slots of the copies done by `now_ns`.
    fn release_done(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        let map = &mut self.map;
        self.held
            .release_done(&mut self.queues, now_ns, |slot| map.release(slot));
    }

    /// What the policy sees at `now_ns`.
    pub fn view(&mut self, now_ns: u64) -> SimView<'_> {
        self.release_done(now_ns);
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
    /// every tier full, to the slowest tier with room). Slots held by copies in flight are
    /// not free: call it after [`Self::view`] or [`Self::serve`] at the same time.
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
        self.note(TierEvent::Place {
            time_ns: self.now_ns,
            extent,
            tier: placed,
        });
        placed
    }

    fn device_place(&self, slot: Slot) -> DevicePlace {
        DevicePlace {
            tier: slot.tier,
            offset: slot.slot.wrapping_mul(self.unit_bytes),
        }
    }

    /// Serves one foreground piece arriving at `arrival_ns` from wherever its extent's data
    /// is: its slot, or — with a copy in flight — the copy's source (placing the extent on
    /// the slowest tier if nobody placed it).
    pub fn serve(&mut self, arrival_ns: u64, kind: IoKind, piece: &Piece) -> Served {
        self.release_done(arrival_ns);
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
        let place = self
            .queues
            .in_flight_source(piece.extent, arrival_ns)
            .unwrap_or_else(|| self.device_place(slot));
        let at = DevicePlace {
            offset: place.offset.wrapping_add(piece.offset_in_extent_bytes),
            ..place
        };
        let served = Served {
            tier: place.tier,
            completion_ns: self.queues.submit(arrival_ns, at, kind, piece.len_bytes),
        };
        self.note(TierEvent::Serve {
            time_ns: arrival_ns,
            extent: piece.extent,
            tier: served.tier,
            latency_ns: served.completion_ns.saturating_sub(arrival_ns),
        });
        served
    }

    /// Executes a move decided at `now_ns`: the map switches at once, and the copy (read the
    /// extent from the source device, then write it to the destination device) starts. The
    /// source slot is held until the copy is done. A move into a tier whose only room is
    /// held by earlier moves takes the slot whose copy was expected to end first, and its
    /// copy starts once that copy is done (the engine runs one move after another).
    pub fn execute(&mut self, now_ns: u64, mv: &Move) -> Result<(), MoveRejection> {
        self.release_done(now_ns);
        if self.queues.mover_full(now_ns) {
            self.counters.rejected_moves += 1;
            return Err(MoveRejection::QueueFull);
        }
        let (applied, ready_ns) = self
            .apply(now_ns, mv)
            .inspect_err(|_| self.counters.rejected_moves += 1)?;
        self.note_occupancy();
        let unit = self.unit_bytes;
        let (from, to) = (
            self.device_place(applied.from),
            self.device_place(applied.to),
        );
        let copy = self
            .queues
            .copy_after(now_ns, ready_ns, mv.extent, from, to, unit);
        self.held.hold(
            &mut self.queues,
            now_ns,
            (mv.extent, copy),
            applied.from.tier,
            applied.from,
        );
        self.counters.moves += 1;
        self.counters.migrated_bytes += unit;
        self.note(TierEvent::Move {
            time_ns: now_ns,
            extent: mv.extent,
            from: mv.from,
            to: mv.to,
            reason: mv.reason,
        });
        Ok(())
    }

    /// Applies `mv` to the map, into free room or else into a held slot; returns when the
    /// destination is free for the copy. Changes nothing if the move is refused.
    fn apply(&mut self, now_ns: u64, mv: &Move) -> Result<(AppliedMove, u64), MoveRejection> {
        match self.map.apply_holding_source(mv) {
            Err(MoveRejection::TargetFull) => {
                let (slot, ready_ns) = self
                    .held
                    .take(mv.to, &mut self.queues, now_ns)
                    .ok_or(MoveRejection::TargetFull)?;
                Ok((self.map.apply_into_held(mv, slot)?, ready_ns))
            }
            applied => applied.map(|applied| (applied, now_ns)),
        }
    }

    /// When the copy of `extent` in flight at `now_ns` is done (estimated while its write is
    /// queued); `None` when none is in flight.
    pub fn copy_done_ns(&mut self, extent: ExtentId, now_ns: u64) -> Option<u64> {
        self.queues.copy_done_ns(extent, now_ns)
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
        self.executor.queues.queue_delay_ns(tier, self.now_ns)
    }

    fn location(&self, extent: ExtentId) -> Option<TierId> {
        self.executor.map.location(extent)
    }

    fn extent_bytes(&self) -> u64 {
        self.executor.unit_bytes
    }
}
