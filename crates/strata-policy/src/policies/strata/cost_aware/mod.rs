//! The cost-aware candidate of `strata`: placement over the heat map.
//!
//! * `on_access` feeds the [`HeatMap`]; moves are made by `plan`, within the byte budget and
//!   within a share of each device's time per interval, and by the express lane
//!   (`express.rs`) from what the last plan left of both.
//! * An extent's *score* is its decayed visit count — the expected visits over the next
//!   half-life — averaged with the [`Forecast`] when one predicts it, then shrunk toward the
//!   mean score by the share of the spread that counting noise explains ([`Shrink`]).
//! * A promotion is made when the latency it saves (score × what a visit saves: the
//!   service-time gap between the tiers plus the backlog of the source's queue over the
//!   target's) beats the cost of the copy by the benefit margin; when the target is full, the
//!   coldest resident's lost saving and its demotion copy are charged too. A copy costs its
//!   device time on each device weighted by how busy that device is (the foreground share
//!   observed since the last plan plus the copies already planned): on an idle disk a copy
//!   delays almost nobody, on a saturated one every queued request waits for it. That is
//!   why it does not lose to `static` where `lru-promote` does: on a saturated disk a 1 MiB
//!   copy costs as much as a few random reads. The allowance is what the executor will run:
//!   under the engine's mover ([`CopyModel::Mover`]) a disk that served foreground requests
//!   in the interval gives copies only its `disk_time_share`, so the plan asks no more of it
//!   (planning more only queues copies that run minutes later, on a placement that is gone).
//! * Admission on repeated touches, scan bypass (an extent last seen in a long sequential run
//!   is not promoted), a cool-down after every move, high/low watermarks (promotions into
//!   free slots stop at the high mark; new data uses free space to capacity), pins, soft
//!   reservations of other volumes and congestion (no promotion into a tier whose queue is
//!   longer than the source's) bound what may move.

mod express;
mod plan;

use super::{Reservation, StrataConfig};

use crate::{
    Access, CopyModel, ExtentId, Forecast, HeatMap, Move, PlacementPolicy, PolicyError,
    PolicyErrorKind, TierId, TierView,
};
use crate::{HashMap, HashSet};
use strata_core::IoKind;

#[derive(Debug, Clone)]
pub struct CostAware {
    config: StrataConfig,
    heat: HeatMap,
    forecast: Forecast,
    /// When each recently moved extent last moved; pruned after the cool-down.
    moved_at_ns: HashMap<ExtentId, u64>,
    /// Extents per (volume, tier): recounted at every plan, kept current by placements, for
    /// soft reservations.
    usage: HashMap<(u64, TierId), u64>,
    /// Moving average of a visit's request length, for service-time estimates.
    typical_len_bytes: f64,
    last_plan_ns: Option<u64>,
    /// Foreground device time observed per tier since the last plan.
    foreground_busy_ns: Vec<f64>,
    /// Smoothed share of each tier's device time foreground I/O takes (0 idle … 1 saturated).
    load: Vec<f64>,
    express: express::Express,
    /// How the last plan shrank scores; the express lane shrinks its own the same way.
    shrink: Shrink,
    /// How the executor starts copies: a disk in use gives them only its share of its time.
    copies: CopyModel,
}

impl CostAware {
    pub fn new(config: StrataConfig) -> Result<Self, PolicyError> {
        config.validate()?;
        Ok(Self::from_parts(config, None))
    }

    /// Starts warm from a heat map saved with [`HeatMap::to_bytes`].
    pub fn with_heat_map(config: StrataConfig, heat: HeatMap) -> Result<Self, PolicyError> {
        config.validate()?;
        Ok(Self::from_parts(config, Some(heat)))
    }

    fn from_parts(config: StrataConfig, heat: Option<HeatMap>) -> Self {
        let heat = heat.unwrap_or_else(|| HeatMap::new(config.heat));
        Self {
            config,
            heat,
            forecast: Forecast::new(),
            moved_at_ns: HashMap::default(),
            usage: HashMap::default(),
            typical_len_bytes: 16_384.0,
            last_plan_ns: None,
            foreground_busy_ns: Vec::new(),
            load: Vec::new(),
            express: express::Express::default(),
            shrink: Shrink::default(),
            copies: CopyModel::default(),
        }
    }

    pub fn heat_map(&self) -> &HeatMap {
        &self.heat
    }

    pub fn config(&self) -> &StrataConfig {
        &self.config
    }

    /// Capacity of `tier` held for volumes other than `volume` and not yet filled by them.
    fn reserved_for_others(&self, volume: u64, tier: TierId) -> u64 {
        self.config
            .reservations
            .iter()
            .filter(|r| r.tier == tier && r.volume != volume)
            .map(|r| {
                let used = self.usage.get(&(r.volume, tier)).copied().unwrap_or(0);
                r.extents.saturating_sub(used)
            })
            .sum()
    }

    /// Whether a new extent of `volume` may take a free slot of `tier`: new data uses free
    /// space up to capacity (an empty slot serves nobody; the headroom the high watermark
    /// keeps is for promotions), outside the reservations of other volumes.
    fn admits_new(&self, volume: u64, tier: TierId, view: &dyn TierView) -> bool {
        view.has_room(tier)
            && view
                .free_extents(tier)
                .is_none_or(|free| free > self.reserved_for_others(volume, tier))
    }

    /// Whether a promotion of an extent of `volume` may take a free slot of `tier` given
    /// `used` extents there and `free` free slots: below the high watermark and outside
    /// others' reservations. Above the mark a promotion is a swap.
    fn admits(
        &self,
        volume: u64,
        tier: TierId,
        used: u64,
        free: u64,
        capacity: Option<u64>,
    ) -> bool {
        let Some(capacity) = capacity else {
            return true;
        };
        let high = StrataConfig::mark(capacity, self.config.high_watermark_permille);
        used < high && free > self.reserved_for_others(volume, tier)
    }

    /// Expected visits over the next half-life: the heat, averaged with the forecast when
    /// one predicts this extent.
    fn score(&self, extent: ExtentId, heat: f64) -> f64 {
        match self.forecast.get(extent) {
            Some(predicted) => (heat + f64::from(predicted)) / 2.0,
            None => heat,
        }
    }

    /// The score of `extent` with `heat` visits, shrunk as the last plan shrank every score
    /// (the express lane's view between plans).
    fn shrunk_score(&self, extent: ExtentId, heat: f64) -> f64 {
        self.shrink.apply(self.score(extent, heat))
    }

    /// The extra price of a swap beyond its copies: the victim waits behind the destination
    /// queue (`queue_ns`) for its copy, and is visited about `victim_score × queue / horizon`
    /// times meanwhile; and both scores are noisy counts, so the candidate must beat the
    /// victim by two Poisson standard deviations of their sum, priced at `gap_ns` a visit.
    fn swap_risk_ns(&self, score: f64, victim_score: f64, queue_ns: u64, gap_ns: f64) -> f64 {
        let horizon_ns = self.config.heat.half_life_ns as f64 / std::f64::consts::LN_2;
        let queue_ns = queue_ns as f64;
        let waiting_ns = victim_score * queue_ns / horizon_ns.max(1.0) * queue_ns;
        let noise_ns = 2.0 * (score + victim_score).sqrt() * gap_ns;
        waiting_ns + noise_ns
    }

    fn note_placed(&mut self, volume: u64, tier: TierId) {
        *self.usage.entry((volume, tier)).or_insert(0) += 1;
    }
}

impl PlacementPolicy for CostAware {
    fn name(&self) -> &str {
        "strata-cost-aware"
    }

    fn set_reservations(&mut self, reservations: &[Reservation]) {
        self.config.reservations = reservations.to_vec();
    }

    fn set_copies(&mut self, copies: CopyModel) {
        self.copies = copies;
    }

    /// The plan sees only extents in the heat map: an adopted resident enters it unvisited,
    /// the coldest victim there is (a warm restart's map already has the visited ones).
    fn adopt(&mut self, extent: ExtentId, tier: TierId, view: &dyn TierView) {
        if tier < view.slowest() {
            self.heat.adopt(extent);
            self.note_placed(extent.volume, tier);
        }
    }

    fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool) {
        self.heat.retain_volumes(keep);
        self.moved_at_ns.retain(|e, _| keep(e.volume));
        self.usage.retain(|&(volume, _), _| keep(volume));
        self.express.victims.retain(|e| keep(e.volume));
    }

    /// Their heat goes: rewritten, an extent holds new data, which starts cold. The plan
    /// recounts per-volume usage from the view.
    fn unmapped(&mut self, extents: &[ExtentId]) {
        for &extent in extents {
            self.heat.forget(extent);
            self.moved_at_ns.remove(&extent);
        }
        let gone: HashSet<ExtentId> = extents.iter().copied().collect();
        self.express.victims.retain(|e| !gone.contains(e));
    }

    fn place_new(&mut self, extent: ExtentId, view: &dyn TierView) -> TierId {
        let pinned = self
            .config
            .pin_of(extent)
            .filter(|&tier| view.has_room(tier));
        let tier = pinned
            .or_else(|| {
                TierId::ranks(0..view.tier_count())
                    .find(|&tier| self.admits_new(extent.volume, tier, view))
            })
            .or_else(|| view.fastest_with_room(TierId::FASTEST))
            .unwrap_or_else(|| view.slowest());
        self.note_placed(extent.volume, tier);
        tier
    }

    fn on_access(&mut self, access: &Access, view: &dyn TierView) -> Vec<Move> {
        if !access.sequential {
            self.typical_len_bytes += (access.len_bytes as f64 - self.typical_len_bytes) / 64.0;
        }
        if let Some(tier) = view.location(access.extent)
            && let Some(profile) = view.profile(tier)
        {
            if self.foreground_busy_ns.len() < view.tier_count() {
                self.foreground_busy_ns.resize(view.tier_count(), 0.0);
            }
            if let Some(busy) = self.foreground_busy_ns.get_mut(tier.rank()) {
                *busy +=
                    profile.service_ns(access.kind, access.len_bytes, access.sequential) as f64;
            }
        }
        self.heat.record(access);
        self.express_promotion(access, view)
    }

    fn plan(&mut self, now_ns: u64, view: &dyn TierView, budget_bytes: u64) -> Vec<Move> {
        self.plan_moves(now_ns, view, budget_bytes)
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(self.heat.to_bytes())
    }

    /// The heat map, if it was saved with this policy's heat configuration (a changed
    /// half-life or tick would misread every count).
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), PolicyError> {
        let heat = HeatMap::from_bytes(bytes)?;
        if heat.config() != &self.config.heat {
            return Err(PolicyError::new(
                PolicyErrorKind::InvalidConfig,
                self.name(),
                format!(
                    "heat map saved with {:?}, configured {:?}",
                    heat.config(),
                    self.config.heat
                ),
            ));
        }
        self.heat = heat;
        Ok(())
    }

    fn observe_forecast(&mut self, forecast: &Forecast) {
        self.forecast = forecast.clone();
    }
}

/// Service time of one visit of `len_bytes` on a tier with `profile`, in ns.
fn visit_ns(view: &dyn TierView, tier: TierId, len_bytes: u64) -> f64 {
    view.profile(tier)
        .map_or(0.0, |p| p.service_ns(IoKind::Read, len_bytes, false) as f64)
}

/// What one visit saves on `to` instead of `from`, in ns, given the service time of a visit
/// per tier (`visit_ns`): the gap in service time plus the backlog the source's queue has
/// over the target's now. A visit to a backlogged disk waits for the whole backlog, so the
/// saving counts it; pricing promotions off such a disk by service time alone made them look
/// hardly worth their copies just when the disk most needed relief, and its backlog grew
/// (the candidate's own queue reached minutes on arc_P6, two tiers, 20 %).
fn visit_saving_ns(view: &dyn TierView, visit_ns: &[f64], from: TierId, to: TierId) -> f64 {
    let service = |tier: TierId| visit_ns.get(tier.rank()).copied().unwrap_or(0.0);
    let backlog = view
        .queue_delay_ns(from)
        .saturating_sub(view.queue_delay_ns(to));
    service(from) - service(to) + backlog as f64
}

/// Shrinkage of visit scores toward their mean (empirical Bayes, as in James–Stein).
///
/// A score is a decayed count of visits, about as noisy as a Poisson count (variance ≈ mean).
/// When scores vary across extents no more than that noise makes them, the top of thousands
/// of them is lucky rather than hot (the winner's curse), and so is the bottom: a swap
/// between them buys nothing. Each score keeps the share of its distance from the mean that
/// noise does not explain: `1 − mean / variance`. Under uniform random load that is about 0,
/// under a skewed load with a hot set about 1. It matters most on a backlogged disk, where a
/// visit's saving includes the backlog and copies look cheap next to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Shrink {
    mean: f64,
    keep: f64,
}

impl Default for Shrink {
    /// No shrinkage.
    fn default() -> Self {
        Self {
            mean: 0.0,
            keep: 1.0,
        }
    }
}

impl Shrink {
    /// Fewest scores whose variance is worth estimating.
    const MIN_SAMPLE: u32 = 32;

    /// The shrinkage that `scores` call for; none for fewer than [`Self::MIN_SAMPLE`].
    pub(super) fn of(scores: impl Iterator<Item = f64> + Clone) -> Self {
        let (n, sum) = scores
            .clone()
            .fold((0.0, 0.0), |(n, sum), s| (n + 1.0, sum + s));
        if n < f64::from(Self::MIN_SAMPLE) {
            return Self::default();
        }
        let mean = sum / n;
        let variance = scores.map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let keep = if variance > 0.0 {
            (1.0 - mean / variance).clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self { mean, keep }
    }

    pub(super) fn apply(&self, score: f64) -> f64 {
        self.mean + self.keep * (score - self.mean)
    }
}

#[cfg(test)]
mod tests;
