//! The `strata` planning pass: pins first, then watermark demotions, then cost-aware
//! promotions tier by tier, fastest target first — all through one [`PlanBuilder`] so the
//! batch keeps the executor contract, plus a per-device copy-time allowance.

use super::{CostAware, Shrink, StrataConfig, visit_ns, visit_saving_ns};
use crate::policies::plan::PlanBuilder;
use crate::{CopyModel, ExtentId, Move, MoveReason, TierId, TierView};
use strata_core::IoKind;

/// One extent as the plan sees it.
#[derive(Debug, Clone, Copy)]
struct Item {
    extent: ExtentId,
    tier: TierId,
    score: f64,
    touches: u8,
    sequential: bool,
    pin: Option<TierId>,
    cooling: bool,
}

/// A copy on an idle device still costs this share of its device time (a request may
/// arrive during it).
pub(super) const MIN_COPY_WEIGHT: f64 = 0.1;

/// The planning interval the copy allowance and the saturation test assume at the least (the
/// simulator plans every second, the engine every `plan_interval_ms`, 5 s by default).
const NOMINAL_INTERVAL_NS: f64 = 1e9;

/// The batch plus what it has spent of each device's copy allowance.
struct Batch {
    builder: PlanBuilder,
    interval_ns: f64,
    /// Foreground share of each device's time, 0 … 1.
    load: Vec<f64>,
    /// Copy time this batch already put on each device.
    planned_ns: Vec<f64>,
    copy_ns_left: Vec<f64>,
    copy_read_ns: Vec<f64>,
    copy_write_ns: Vec<f64>,
}

impl Batch {
    /// How much of a copy's device time on `tier` counts as delay to foreground requests.
    fn weight(&self, tier: TierId) -> f64 {
        let load = self.load.get(tier.rank()).copied().unwrap_or(1.0);
        let planned = self.planned_ns.get(tier.rank()).copied().unwrap_or(0.0);
        (load + planned / self.interval_ns).clamp(MIN_COPY_WEIGHT, 1.0)
    }

    /// The cost of copying one extent from `from` to `to`, in foreground-delay ns.
    fn copy_ns(&self, from: TierId, to: TierId) -> f64 {
        self.copy_read_ns.get(from.rank()).copied().unwrap_or(0.0) * self.weight(from)
            + self.copy_write_ns.get(to.rank()).copied().unwrap_or(0.0) * self.weight(to)
    }

    fn affordable(&self, copies: &[(TierId, TierId)]) -> bool {
        let mut left = self.copy_ns_left.clone();
        for &(from, to) in copies {
            for (rank, ns) in [
                (from.rank(), self.copy_read_ns.get(from.rank())),
                (to.rank(), self.copy_write_ns.get(to.rank())),
            ] {
                match (left.get_mut(rank), ns) {
                    (Some(l), Some(ns)) if *l >= *ns => *l -= ns,
                    _ => return false,
                }
            }
        }
        self.builder.moves_left() >= copies.len() as u64
    }

    fn push(&mut self, item: &mut Item, to: TierId, reason: MoveReason) -> bool {
        if !self.builder.push(item.extent, item.tier, to, reason) {
            return false;
        }
        let (from_ns, to_ns) = (
            self.copy_read_ns
                .get(item.tier.rank())
                .copied()
                .unwrap_or(0.0),
            self.copy_write_ns.get(to.rank()).copied().unwrap_or(0.0),
        );
        for (rank, ns) in [(item.tier.rank(), from_ns), (to.rank(), to_ns)] {
            if let Some(l) = self.copy_ns_left.get_mut(rank) {
                *l -= ns;
            }
            if let Some(p) = self.planned_ns.get_mut(rank) {
                *p += ns;
            }
        }
        item.tier = to;
        item.cooling = true;
        true
    }
}

fn tier(rank: usize) -> TierId {
    TierId(u8::try_from(rank).unwrap_or(u8::MAX))
}

impl CostAware {
    pub(super) fn plan_moves(
        &mut self,
        now_ns: u64,
        view: &dyn TierView,
        budget_bytes: u64,
    ) -> Vec<Move> {
        let interval_ns = now_ns.saturating_sub(self.last_plan_ns.unwrap_or(0)).max(1);
        self.last_plan_ns = Some(now_ns);
        let cooldown_ns = self.config.cooldown_ns;
        self.moved_at_ns
            .retain(|_, &mut at| now_ns.saturating_sub(at) < cooldown_ns);

        let mut items = self.items(now_ns, view);
        self.shrink = Shrink::of(items.iter().map(|item| item.score));
        for item in &mut items {
            item.score = self.shrink.apply(item.score);
        }
        self.usage.clear();
        for item in &items {
            *self
                .usage
                .entry((item.extent.volume, item.tier))
                .or_insert(0) += 1;
        }
        let tiers = view.tier_count();
        let extent_bytes = view.extent_bytes();
        let copy_ns_left = self.copy_allowance_ns(view, interval_ns as f64);
        self.update_load(view, interval_ns);
        let mut batch = Batch {
            builder: PlanBuilder::new(view, budget_bytes),
            interval_ns: interval_ns as f64,
            load: self.load.clone(),
            planned_ns: vec![0.0; tiers],
            copy_ns_left,
            copy_read_ns: (0..tiers)
                .map(|r| profile_ns(view, tier(r), IoKind::Read, extent_bytes))
                .collect(),
            copy_write_ns: (0..tiers)
                .map(|r| profile_ns(view, tier(r), IoKind::Write, extent_bytes))
                .collect(),
        };
        self.place_pins(view, &mut items, &mut batch);
        self.drain_watermarks(view, &mut items, &mut batch);
        for target in 0..tiers.saturating_sub(1) {
            self.promote_into(view, tier(target), &mut items, &mut batch);
        }
        self.express = super::express::Express {
            // What the plan left of its budget and copy allowance serves the interval's
            // express promotions.
            moves_left: batch.builder.moves_left(),
            copy_ns_left: batch.copy_ns_left.clone(),
            copy_read_ns: batch.copy_read_ns.clone(),
            copy_write_ns: batch.copy_write_ns.clone(),
            victims: Self::victims(&items, TierId::FASTEST)
                .into_iter()
                .map(|i| items[i].extent)
                .collect(),
            visit_ns: (0..tiers)
                .map(|r| visit_ns(view, tier(r), self.typical_len_bytes.max(512.0) as u64))
                .collect(),
        };
        let moves = batch.builder.finish();
        for mv in &moves {
            self.moved_at_ns.insert(mv.extent, now_ns);
        }
        moves
    }

    /// Copy time each device may take in the next interval of `interval_ns`: the configured
    /// share of it, and on a disk that served foreground requests since the last plan at most
    /// the share the executor's mover gives copies there. A plan sooner than
    /// [`NOMINAL_INTERVAL_NS`] after the last one adds that share of the time since to what
    /// the last plan and the express lane left, up to one nominal interval's worth: plans a
    /// few ms apart (`Engine::plan_now` between two periodic plans) add up to what one plan
    /// a second later would get, where each alone could afford no copy. Plans at least that
    /// far apart get exactly their interval's share. Call it before [`Self::update_load`],
    /// which consumes the interval's foreground time.
    fn copy_allowance_ns(&self, view: &dyn TierView, interval_ns: f64) -> Vec<f64> {
        let configured = f64::from(self.config.max_copy_share_percent) / 100.0;
        (0..view.tier_count())
            .map(|rank| {
                let disk_in_use = view.profile(tier(rank)).is_some_and(|p| p.seek_penalty)
                    && self
                        .foreground_busy_ns
                        .get(rank)
                        .is_some_and(|&ns| ns > 0.0);
                let share = match self.copies {
                    CopyModel::Mover {
                        disk_time_share, ..
                    } if disk_in_use => configured.min(disk_time_share),
                    _ => configured,
                };
                let left = self
                    .express
                    .copy_ns_left
                    .get(rank)
                    .copied()
                    .unwrap_or(0.0)
                    .max(0.0);
                (left + interval_ns * share).min(interval_ns.max(NOMINAL_INTERVAL_NS) * share)
            })
            .collect()
    }

    /// Folds the foreground device time seen since the last plan into the smoothed load; a
    /// tier whose queue is longer than the interval counts as saturated.
    fn update_load(&mut self, view: &dyn TierView, interval_ns: u64) {
        let tiers = view.tier_count();
        self.load.resize(tiers, 0.0);
        self.foreground_busy_ns.resize(tiers, 0.0);
        for rank in 0..tiers {
            let busy = std::mem::take(&mut self.foreground_busy_ns[rank]);
            let observed =
                if view.queue_delay_ns(tier(rank)) >= interval_ns.max(NOMINAL_INTERVAL_NS as u64) {
                    1.0
                } else {
                    (busy / interval_ns as f64).min(1.0)
                };
            self.load[rank] = (self.load[rank] + observed) / 2.0;
        }
    }

    fn items(&self, now_ns: u64, view: &dyn TierView) -> Vec<Item> {
        let write_visits_count = 1.0;
        self.heat
            .iter_at(now_ns)
            .filter_map(|(extent, sample)| {
                let tier = view.location(extent)?;
                let heat = f64::from(sample.reads) + write_visits_count * f64::from(sample.writes);
                let score = self.score(extent, heat);
                Some(Item {
                    extent,
                    tier,
                    score,
                    touches: sample.touches,
                    sequential: sample.sequential,
                    pin: self.config.pin_of(extent),
                    cooling: self.moved_at_ns.contains_key(&extent),
                })
            })
            .collect()
    }

    /// Indices of the extents on `on`, coldest first, that may be demoted from it.
    fn victims(items: &[Item], on: TierId) -> Vec<usize> {
        let mut victims: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].tier == on && !items[i].cooling && items[i].pin != Some(on))
            .collect();
        victims.sort_by(|&a, &b| {
            items[a]
                .score
                .total_cmp(&items[b].score)
                .then(items[a].extent.cmp(&items[b].extent))
        });
        victims
    }

    /// Pinned extents go to their tier, displacing its coldest unpinned extent if needed.
    fn place_pins(&self, view: &dyn TierView, items: &mut [Item], batch: &mut Batch) {
        for i in 0..items.len() {
            let Some(pin) = items[i].pin else { continue };
            if items[i].tier == pin || pin.rank() >= view.tier_count() {
                continue;
            }
            if !batch.builder.has_room(pin) {
                let victim = Self::victims(items, pin).first().copied();
                let below = batch
                    .builder
                    .fastest_with_room(TierId(pin.0.saturating_add(1)));
                let (Some(v), Some(below)) = (victim, below) else {
                    continue;
                };
                if batch.builder.moves_left() < 2
                    || !batch.push(&mut items[v], below, MoveReason::Evict)
                {
                    break;
                }
            }
            let reason = if pin < items[i].tier {
                MoveReason::Promote
            } else {
                MoveReason::Demote
            };
            batch.push(&mut items[i], pin, reason);
        }
    }

    /// A tier holding more than its capacity (it shrank) demotes its coldest extents down to
    /// the low watermark. A tier that is merely full is left alone: new data filled it, and
    /// draining it would spend slow-disk copies on headroom nobody asked for; promotions
    /// into it are swaps, priced as such.
    fn drain_watermarks(&self, view: &dyn TierView, items: &mut [Item], batch: &mut Batch) {
        for rank in 0..view.tier_count().saturating_sub(1) {
            let on = tier(rank);
            let Some(capacity) = view.capacity_extents(on) else {
                continue;
            };
            // What the batch already takes off it (pins leaving it) counts towards the drain.
            let used = view
                .used_extents(on)
                .saturating_sub(batch.builder.net_out(on));
            if used <= capacity {
                continue;
            }
            let low = StrataConfig::mark(capacity, self.config.low_watermark_permille);
            let mut excess = used - low;
            for v in Self::victims(items, on) {
                if excess == 0 {
                    break;
                }
                let Some(below) = batch.builder.fastest_with_room(tier(rank + 1)) else {
                    break;
                };
                if !batch.affordable(&[(on, below)])
                    || !batch.push(&mut items[v], below, MoveReason::Demote)
                {
                    break;
                }
                excess -= 1;
            }
        }
    }

    /// Promotes the hottest eligible extents from slower tiers into `target` while the
    /// saving beats the copy cost by the margin.
    fn promote_into(
        &self,
        view: &dyn TierView,
        target: TierId,
        items: &mut [Item],
        batch: &mut Batch,
    ) {
        let len = self.typical_len_bytes.max(512.0) as u64;
        let visit: Vec<f64> = (0..view.tier_count())
            .map(|r| visit_ns(view, tier(r), len))
            .collect();
        let gap = |from: TierId, to: TierId| visit_saving_ns(view, &visit, from, to);
        let margin = f64::from(self.config.benefit_margin_percent) / 100.0;
        let mut candidates: Vec<usize> = (0..items.len())
            .filter(|&i| {
                let it = &items[i];
                it.tier > target
                    && !it.cooling
                    && !it.sequential
                    && it.touches >= self.config.admit_touches
                    && it.pin.is_none_or(|p| p <= target)
                    && view.queue_delay_ns(target) <= view.queue_delay_ns(it.tier)
            })
            .collect();
        candidates.sort_by(|&a, &b| {
            items[b]
                .score
                .total_cmp(&items[a].score)
                .then(items[a].extent.cmp(&items[b].extent))
        });
        let mut victims = Self::victims(items, target);
        let capacity = view.capacity_extents(target);
        for c in candidates {
            if batch.builder.moves_left() == 0
                || victims.is_empty() && !batch.builder.has_room(target)
            {
                break;
            }
            let (from, volume) = (items[c].tier, items[c].extent.volume);
            let saving = items[c].score * gap(from, target);
            let used = capacity.map_or(0, |cap| cap.saturating_sub(batch.builder.free(target)));
            let free = batch.builder.free(target);
            if batch.builder.has_room(target) && self.admits(volume, target, used, free, capacity) {
                if saving > margin * batch.copy_ns(from, target)
                    && batch.affordable(&[(from, target)])
                {
                    batch.push(&mut items[c], target, MoveReason::Promote);
                }
                continue;
            }
            // Full, at its high mark, or the rest is reserved: trade places with the coldest
            // resident — of the same volume when others' reservations are what is in the way.
            let reserved_out = free <= self.reserved_for_others(volume, target);
            let Some(pick) = victims
                .iter()
                .position(|&v| !reserved_out || items[v].extent.volume == volume)
            else {
                continue;
            };
            let v = victims[pick];
            let Some(below) = batch.builder.fastest_with_room(TierId(target.0 + 1)) else {
                break;
            };
            let net = saving - items[v].score * gap(below, target);
            let cost = batch.copy_ns(from, target) + batch.copy_ns(target, below);
            let risk = self.swap_risk_ns(
                items[c].score,
                items[v].score,
                view.queue_delay_ns(below),
                gap(from, target),
            );
            if net > margin * cost + risk && batch.affordable(&[(target, below), (from, target)]) {
                victims.remove(pick);
                if batch.push(&mut items[v], below, MoveReason::Evict) {
                    batch.push(&mut items[c], target, MoveReason::Promote);
                }
            }
        }
    }
}

fn profile_ns(view: &dyn TierView, tier: TierId, kind: IoKind, len_bytes: u64) -> f64 {
    view.profile(tier)
        .map_or(0.0, |p| p.service_ns(kind, len_bytes, false) as f64)
}
