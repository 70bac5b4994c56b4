//! A *shadow*: one candidate policy replayed on its own idea of the placement and on its own
//! model of the devices, so `strata` can tell what the candidate's decisions would have cost
//! had it been in charge — without executing any of them.
//!
//! The shadow sees every access and planning call the real policy sees. It keeps:
//!
//! * a [`ShadowMap`]: where the candidate would have put each extent. Only extents above the
//!   slowest tier are listed (the fast tiers are the small ones), every other placed extent
//!   is on the slowest tier. A move's source keeps its room until the move's copy is done,
//!   as in the executors;
//! * the tiers' device queues ([`TierQueues`], the executors' copy model): foreground
//!   requests and the candidate's copies are submitted at their virtual times, so a candidate
//!   whose copies saturate a disk sees the queue — and the latency — they cause;
//! * the mean latency of the foreground accesses since the last planning call, folded into a
//!   smoothed score.

use crate::{
    CopyModel, DevicePlace, ExtentId, HeldSources, Move, PlacementPolicy, TierId, TierQueues,
    TierView,
};
use crate::{HashMap, HashSet};
use strata_core::{DeviceProfile, TierKind};

/// A shadow's score is the mean latency of every access so far (the n-th interval with
/// accesses weighs 1/n) until the newest interval's weight would fall below this: from then
/// on older intervals fade, over about 3,600 intervals (an hour of 1 s planning calls).
const SCORE_MIN_WEIGHT: f64 = 1.0 / 3_600.0;

/// Where a candidate would have put every extent.
#[derive(Debug, Clone, Default)]
pub(super) struct ShadowMap {
    /// Extents on tiers above the slowest one.
    upper: HashMap<ExtentId, TierId>,
    /// Extents per tier above the slowest.
    used: Vec<u64>,
    /// Per tier, the sources of moves whose copies are not done: still taking room.
    held: Vec<u64>,
}

impl ShadowMap {
    /// The candidate's tier for `extent`; `None` if the extent was never placed.
    pub(super) fn location(&self, extent: ExtentId, real: &dyn TierView) -> Option<TierId> {
        match self.upper.get(&extent) {
            Some(&tier) => Some(tier),
            None => real.location(extent).map(|_| real.slowest()),
        }
    }

    /// Extents the candidate has above the slowest tier.
    pub(super) fn upper(&self) -> impl Iterator<Item = (ExtentId, TierId)> + '_ {
        self.upper.iter().map(|(&e, &t)| (e, t))
    }

    /// Extents on `tier`, counting held sources. On the slowest tier, the count comes from
    /// the real placement's total, which counts the real placement's held sources too.
    fn used(&self, tier: TierId, real: &dyn TierView) -> u64 {
        let held = self.held.get(tier.rank()).copied().unwrap_or(0);
        if tier < real.slowest() {
            return self.used.get(tier.rank()).copied().unwrap_or(0) + held;
        }
        let placed: u64 = TierId::ranks(0..real.tier_count())
            .map(|t| real.used_extents(t))
            .sum();
        placed.saturating_sub(self.used.iter().sum()) + held
    }

    fn hold(&mut self, tier: TierId) {
        if self.held.len() <= tier.rank() {
            self.held.resize(tier.rank() + 1, 0);
        }
        self.held[tier.rank()] += 1;
    }

    fn release(&mut self, tier: TierId) {
        if let Some(n) = self.held.get_mut(tier.rank()) {
            *n = n.saturating_sub(1);
        }
    }

    fn has_room(&self, tier: TierId, real: &dyn TierView) -> bool {
        tier.rank() < real.tier_count()
            && real
                .capacity_extents(tier)
                .is_none_or(|cap| self.used(tier, real) < cap)
    }

    /// Forgets the placement of every extent of a volume `keep` refuses.
    fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool) {
        let used = &mut self.used;
        self.upper.retain(|e, tier| {
            let kept = keep(e.volume);
            if !kept && let Some(n) = used.get_mut(tier.rank()) {
                *n = n.saturating_sub(1);
            }
            kept
        });
    }

    /// Forgets the placement of `extent` (unmapped by its volume).
    fn forget(&mut self, extent: ExtentId) {
        if let Some(old) = self.upper.remove(&extent)
            && let Some(n) = self.used.get_mut(old.rank())
        {
            *n = n.saturating_sub(1);
        }
    }

    /// Records `extent` on `tier` (the slowest tier is implicit).
    pub(super) fn set(&mut self, extent: ExtentId, tier: TierId, real: &dyn TierView) {
        self.forget(extent);
        if tier < real.slowest() {
            if self.used.len() <= tier.rank() {
                self.used.resize(tier.rank() + 1, 0);
            }
            self.used[tier.rank()] += 1;
            self.upper.insert(extent, tier);
        }
    }
}

/// What a candidate policy sees: its own placement and queues, the real tiers' shapes.
struct ShadowView<'a> {
    map: &'a ShadowMap,
    queues: &'a TierQueues,
    real: &'a dyn TierView,
    now_ns: u64,
}

impl TierView for ShadowView<'_> {
    fn tier_count(&self) -> usize {
        self.real.tier_count()
    }
    fn kind(&self, tier: TierId) -> Option<&TierKind> {
        self.real.kind(tier)
    }
    fn profile(&self, tier: TierId) -> Option<DeviceProfile> {
        self.real.profile(tier)
    }
    fn capacity_extents(&self, tier: TierId) -> Option<u64> {
        self.real.capacity_extents(tier)
    }
    fn used_extents(&self, tier: TierId) -> u64 {
        self.map.used(tier, self.real)
    }
    fn queue_delay_ns(&self, tier: TierId) -> u64 {
        self.queues.queue_delay_ns(tier, self.now_ns)
    }
    fn location(&self, extent: ExtentId) -> Option<TierId> {
        self.map.location(extent, self.real)
    }
    fn extent_bytes(&self) -> u64 {
        self.real.extent_bytes()
    }
}

/// One candidate, replayed.
#[derive(Debug)]
pub(super) struct Shadow {
    policy: Box<dyn PlacementPolicy>,
    pub(super) map: ShadowMap,
    queues: TierQueues,
    /// How the candidate's copies start: as the executor's do.
    copies: CopyModel,
    /// The source tiers of the candidate's copies in flight.
    held: HeldSources<TierId>,
    /// Where the previous access ended on its device.
    last_end_offset: u64,
    latency_sum_ns: f64,
    accesses: u64,
    intervals: u64,
    smoothed_sum_ns: f64,
    smoothed_accesses: f64,
    /// Smoothed mean foreground latency, ns; `None` before the first interval with accesses.
    score_ns: Option<f64>,
    /// Moves executed in this shadow since the owner last took them.
    pub(super) executed: Vec<Move>,
}

impl Shadow {
    pub(super) fn new(policy: Box<dyn PlacementPolicy>) -> Self {
        Self {
            policy,
            map: ShadowMap::default(),
            queues: TierQueues::default(),
            copies: CopyModel::default(),
            held: HeldSources::default(),
            last_end_offset: 0,
            latency_sum_ns: 0.0,
            accesses: 0,
            intervals: 0,
            smoothed_sum_ns: 0.0,
            smoothed_accesses: 0.0,
            score_ns: None,
            executed: Vec::new(),
        }
    }

    /// Runs the candidate's copies by `copies`, and tells the candidate so (set before the
    /// first access).
    pub(super) fn set_copies(&mut self, copies: CopyModel) {
        self.copies = copies;
        self.queues = TierQueues::default();
        self.policy.set_copies(copies);
    }

    pub(super) fn name(&self) -> &str {
        self.policy.name()
    }

    pub(super) fn policy(&self) -> &dyn PlacementPolicy {
        self.policy.as_ref()
    }

    pub(super) fn policy_mut(&mut self) -> &mut dyn PlacementPolicy {
        self.policy.as_mut()
    }

    pub(super) fn score_ns(&self) -> Option<f64> {
        self.score_ns
    }

    /// Fits the device queues to the real tiers and frees the sources of the copies done by
    /// `now_ns`.
    fn catch_up(&mut self, real: &dyn TierView, now_ns: u64) {
        if self.queues.tier_count() != real.tier_count() {
            let map = &mut self.map;
            self.held.release_all(|tier| map.release(tier));
            self.queues = TierQueues::with_model(
                TierId::ranks(0..real.tier_count())
                    .map(|t| real.profile(t).unwrap_or(DeviceProfile::HDD)),
                self.copies,
            );
        }
        let map = &mut self.map;
        self.held
            .release_done(&mut self.queues, now_ns, |tier| map.release(tier));
    }

    /// Serves each device at the profile the real tier has now: the engine's view gives a
    /// disk found slower than its configured profile at its measured speed.
    fn follow_profiles(&mut self, real: &dyn TierView) {
        for t in TierId::ranks(0..self.queues.tier_count()) {
            let now = real.profile(t).unwrap_or(DeviceProfile::HDD);
            if self.queues.profile(t) != Some(&now) {
                self.queues.set_profile(t, now);
            }
        }
    }

    /// The candidate places a new extent; a pin, when there is room on it, wins.
    pub(super) fn place_new(
        &mut self,
        extent: ExtentId,
        pin: Option<TierId>,
        real: &dyn TierView,
        now_ns: u64,
    ) -> TierId {
        self.catch_up(real, now_ns);
        let view = ShadowView {
            map: &self.map,
            queues: &self.queues,
            real,
            now_ns,
        };
        let chosen = self.policy.place_new(extent, &view);
        let tier = pin
            .filter(|&p| self.map.has_room(p, real))
            .or(Some(chosen).filter(|&t| self.map.has_room(t, real)))
            .or_else(|| TierId::ranks(0..real.tier_count()).find(|&t| self.map.has_room(t, real)))
            .unwrap_or_else(|| real.slowest());
        self.map.set(extent, tier, real);
        tier
    }

    /// Takes in a resident the real placement had before this candidate began (see
    /// [`PlacementPolicy::adopt`]): the candidate has it where the real placement has it.
    pub(super) fn adopt(
        &mut self,
        extent: ExtentId,
        tier: TierId,
        real: &dyn TierView,
        now_ns: u64,
    ) {
        self.map.set(extent, tier, real);
        let view = ShadowView {
            map: &self.map,
            queues: &self.queues,
            real,
            now_ns,
        };
        self.policy.adopt(extent, tier, &view);
    }

    /// Forgets the volumes `keep` refuses: the candidate's books and its placement of them,
    /// and the copies done by `now_ns`. Copies still in flight finish on the shadow's
    /// devices as they would have, and are swept later.
    pub(super) fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool, now_ns: u64) {
        self.policy.retain_volumes(keep);
        self.map.retain_volumes(keep);
        self.executed.retain(|mv| keep(mv.extent.volume));
        self.queues.sweep_finished(now_ns);
    }

    /// Forgets `gone`, extents the real placement unmapped: the candidate's books of them,
    /// the slots the candidate had them in, and their copies done by `now_ns`. A copy still
    /// in flight runs on as it would have, and is swept later.
    pub(super) fn unmapped(&mut self, gone: &HashSet<ExtentId>, extents: &[ExtentId], now_ns: u64) {
        self.policy.unmapped(extents);
        for &extent in extents {
            self.map.forget(extent);
            self.queues.sweep_extent(extent, now_ns);
        }
        self.executed.retain(|mv| !gone.contains(&mv.extent));
    }

    /// Serves one foreground access on the candidate's placement, then lets the candidate
    /// react to it.
    pub(super) fn on_access(
        &mut self,
        access: &crate::Access,
        real: &dyn TierView,
        pin_of: &dyn Fn(ExtentId) -> Option<TierId>,
    ) {
        let now = access.time_ns;
        self.catch_up(real, now);
        // At its address, or — for an observer that does not track offsets within the
        // extent — where the previous access ended, when the access continues a run.
        let at = address(access.extent, real.extent_bytes());
        let offset = match access.offset_in_extent_bytes {
            Some(within) => at.wrapping_add(within),
            None if access.sequential => self.last_end_offset,
            None => at,
        };
        self.last_end_offset = offset.saturating_add(access.len_bytes);
        if let Some(tier) = self.map.location(access.extent, real) {
            // With a copy in flight: at its source until the copy is done.
            let tier = self
                .queues
                .in_flight_source(access.extent, now)
                .map_or(tier, |source| source.tier);
            let at = DevicePlace { tier, offset };
            let done = self.queues.submit(now, at, access.kind, access.len_bytes);
            self.latency_sum_ns += done.saturating_sub(now) as f64;
            self.accesses += 1;
        }
        let view = ShadowView {
            map: &self.map,
            queues: &self.queues,
            real,
            now_ns: now,
        };
        let moves = self.policy.on_access(access, &view);
        for mv in &moves {
            if !self.execute(mv, real, now, pin_of) {
                self.policy.refused(mv);
            }
        }
    }

    /// The candidate's planning call; moves beyond `budget_bytes` are refused, as the
    /// executor refuses them. First the devices take the profiles the real tiers have now.
    pub(super) fn plan(
        &mut self,
        now_ns: u64,
        real: &dyn TierView,
        budget_bytes: u64,
        pin_of: &dyn Fn(ExtentId) -> Option<TierId>,
    ) {
        self.catch_up(real, now_ns);
        self.follow_profiles(real);
        let view = ShadowView {
            map: &self.map,
            queues: &self.queues,
            real,
            now_ns,
        };
        let moves = self.policy.plan(now_ns, &view, budget_bytes);
        let mut left = budget_bytes / real.extent_bytes().max(1);
        for mv in &moves {
            if left > 0 && self.execute(mv, real, now_ns, pin_of) {
                left -= 1;
            } else {
                self.policy.refused(mv);
            }
        }
    }

    /// Ends a planning interval: folds its mean latency into the score. Returns the
    /// interval's accesses.
    pub(super) fn close_interval(&mut self) -> u64 {
        let accesses = self.accesses;
        if accesses > 0 {
            self.intervals += 1;
            let alpha = (1.0 / self.intervals as f64).max(SCORE_MIN_WEIGHT);
            self.smoothed_sum_ns += alpha * (self.latency_sum_ns - self.smoothed_sum_ns);
            self.smoothed_accesses += alpha * (self.accesses as f64 - self.smoothed_accesses);
            self.score_ns =
                Some(self.smoothed_sum_ns / self.smoothed_accesses.max(f64::MIN_POSITIVE));
        }
        self.latency_sum_ns = 0.0;
        self.accesses = 0;
        accesses
    }

    /// Executes `mv` by the executor contract (plus: a pinned extent only goes to its pin),
    /// charging the copy to both devices and holding the source's room until it is done.
    fn execute(
        &mut self,
        mv: &Move,
        real: &dyn TierView,
        now_ns: u64,
        pin_of: &dyn Fn(ExtentId) -> Option<TierId>,
    ) -> bool {
        let routed = self.map.location(mv.extent, real) == Some(mv.from)
            && mv.to != mv.from
            && mv.to.rank() < real.tier_count()
            && pin_of(mv.extent).is_none_or(|pin| pin == mv.to);
        if !routed || self.queues.mover_full(now_ns) {
            return false;
        }
        // Into free room, or — as the executors do — into the room an earlier move holds,
        // once that move's copy is done.
        let ready_ns = if self.map.has_room(mv.to, real) {
            now_ns
        } else {
            match self.held.take(mv.to, &mut self.queues, now_ns) {
                Some((tier, ready_ns)) => {
                    self.map.release(tier);
                    ready_ns
                }
                None => return false,
            }
        };
        // Read the source, then write the destination, as the executors copy.
        let bytes = real.extent_bytes();
        let at = address(mv.extent, bytes);
        let place = |tier| DevicePlace { tier, offset: at };
        let copy = self.queues.copy_after(
            now_ns,
            ready_ns,
            mv.extent,
            place(mv.from),
            place(mv.to),
            bytes,
        );
        self.held.hold(
            &mut self.queues,
            now_ns,
            (mv.extent, copy),
            mv.from,
            mv.from,
        );
        self.map.hold(mv.from);
        self.map.set(mv.extent, mv.to, real);
        self.executed.push(*mv);
        true
    }
}

/// A byte address for `extent` on a device that holds volumes in address order.
fn address(extent: ExtentId, extent_bytes: u64) -> u64 {
    ((extent.volume << 40).wrapping_add(extent.index)).wrapping_mul(extent_bytes)
}
