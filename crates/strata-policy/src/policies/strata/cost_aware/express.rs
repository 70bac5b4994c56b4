//! The express lane of `strata`: a hot set that appears and is done within one planning
//! interval would be gone before `plan` sees it, so `on_access` may promote too — but only
//! with what the last `plan` left of its byte budget and of each device's copy allowance,
//! and only by the same rules (admission, scan bypass, cool-down, pins, reservations,
//! congestion, and the saving beating the load-weighted copy cost by the margin). No move
//! is unbudgeted: plan and express moves of one interval share one budget.

use super::plan::MIN_COPY_WEIGHT;
use super::{CostAware, visit_saving_ns};
use crate::{Access, ExtentId, Move, MoveReason, TierId, TierView};
use std::collections::VecDeque;

/// What the last plan left for this interval, and the prices it computed.
#[derive(Debug, Clone, Default)]
pub(super) struct Express {
    pub(super) moves_left: u64,
    pub(super) copy_ns_left: Vec<f64>,
    pub(super) copy_read_ns: Vec<f64>,
    pub(super) copy_write_ns: Vec<f64>,
    /// Fastest-tier residents at the last plan, coldest first.
    pub(super) victims: VecDeque<ExtentId>,
    /// Service time of one visit per tier.
    pub(super) visit_ns: Vec<f64>,
}

fn at(values: &[f64], tier: TierId) -> f64 {
    values.get(tier.rank()).copied().unwrap_or(0.0)
}

impl CostAware {
    fn cooling(&self, extent: ExtentId, now_ns: u64) -> bool {
        self.moved_at_ns
            .get(&extent)
            .is_some_and(|&at| now_ns.saturating_sub(at) < self.config.cooldown_ns)
    }

    fn copy_cost_ns(&self, from: TierId, to: TierId) -> f64 {
        let weight = |tier: TierId| {
            self.load
                .get(tier.rank())
                .copied()
                .unwrap_or(1.0)
                .clamp(MIN_COPY_WEIGHT, 1.0)
        };
        at(&self.express.copy_read_ns, from) * weight(from)
            + at(&self.express.copy_write_ns, to) * weight(to)
    }

    /// Spends the allowance of the copies, or returns false and spends nothing.
    fn take_allowance(&mut self, copies: &[(TierId, TierId)]) -> bool {
        let mut left = self.express.copy_ns_left.clone();
        for &(from, to) in copies {
            for (rank, ns) in [
                (from.rank(), at(&self.express.copy_read_ns, from)),
                (to.rank(), at(&self.express.copy_write_ns, to)),
            ] {
                match left.get_mut(rank) {
                    Some(l) if *l >= ns => *l -= ns,
                    _ => return false,
                }
            }
        }
        if self.express.moves_left < copies.len() as u64 {
            return false;
        }
        self.express.moves_left -= copies.len() as u64;
        self.express.copy_ns_left = left;
        true
    }

    /// A promotion of the accessed extent into the fastest tier, if it pays and fits.
    pub(super) fn express_promotion(&mut self, access: &Access, view: &dyn TierView) -> Vec<Move> {
        let extent = access.extent;
        let now_ns = access.time_ns;
        let target = TierId::FASTEST;
        let Some(from) = view.location(extent) else {
            return Vec::new();
        };
        if from == target || self.express.moves_left == 0 || self.cooling(extent, now_ns) {
            return Vec::new();
        }
        let Some(sample) = self.heat.sample(extent, now_ns) else {
            return Vec::new();
        };
        if sample.sequential
            || sample.touches < self.config.admit_touches
            || self.config.pin_of(extent).is_some_and(|p| p != target)
            || view.queue_delay_ns(target) > view.queue_delay_ns(from)
        {
            return Vec::new();
        }
        let score = self.shrunk_score(extent, f64::from(sample.total()));
        let gap = |slow: TierId| visit_saving_ns(view, &self.express.visit_ns, slow, target);
        let saving = score * gap(from);
        let margin = f64::from(self.config.benefit_margin_percent) / 100.0;
        let volume = extent.volume;
        let capacity = view.capacity_extents(target);
        let free = view.free_extents(target).unwrap_or(u64::MAX);
        if view.has_room(target)
            && self.admits(volume, target, view.used_extents(target), free, capacity)
        {
            if saving > margin * self.copy_cost_ns(from, target)
                && self.take_allowance(&[(from, target)])
            {
                self.moved_at_ns.insert(extent, now_ns);
                return vec![Move {
                    extent,
                    from,
                    to: target,
                    reason: MoveReason::Promote,
                }];
            }
            return Vec::new();
        }
        let reserved_out = free <= self.reserved_for_others(volume, target);
        while let Some(&victim) = self.express.victims.front() {
            if view.location(victim) == Some(target) && !self.cooling(victim, now_ns) {
                break;
            }
            self.express.victims.pop_front();
        }
        let Some(&victim) = self.express.victims.front() else {
            return Vec::new();
        };
        if reserved_out && victim.volume != volume {
            return Vec::new();
        }
        let Some(below) = view.fastest_with_room(TierId(1)) else {
            return Vec::new();
        };
        let victim_score = self.shrunk_score(
            victim,
            self.heat
                .sample(victim, now_ns)
                .map_or(0.0, |s| f64::from(s.total())),
        );
        let net = saving - victim_score * gap(below);
        let cost = self.copy_cost_ns(from, target) + self.copy_cost_ns(target, below);
        let risk = self.swap_risk_ns(score, victim_score, view.queue_delay_ns(below), gap(from));
        if net <= margin * cost + risk || !self.take_allowance(&[(target, below), (from, target)]) {
            return Vec::new();
        }
        self.express.victims.pop_front();
        self.moved_at_ns.insert(extent, now_ns);
        self.moved_at_ns.insert(victim, now_ns);
        vec![
            Move {
                extent: victim,
                from: target,
                to: below,
                reason: MoveReason::Evict,
            },
            Move {
                extent,
                from,
                to: target,
                reason: MoveReason::Promote,
            },
        ]
    }
}
