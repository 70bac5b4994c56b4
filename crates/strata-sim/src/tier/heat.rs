//! The per-extent heat forecast in the replay, as the engine's live profiler makes it:
//! accesses are counted per extent over windows of virtual time; when a window closes the
//! shipped model's heat forecaster predicts every remembered extent's accesses in the next
//! window, and the policy is handed them in its unit (visits over the heat half-life).

use rustc_hash::FxHashMap;
use strata_policy::{ExtentId, Forecast, PlacementPolicy};
use strata_predict::profile::{HeatHistory, HeatMethod, HeatModel, WorkloadModel};

use super::TierError;

/// Bits of an extent index in a history key (the rest is the volume).
const INDEX_BITS: u32 = 40;

#[derive(Debug)]
pub(crate) struct HeatForecasting {
    model: HeatModel,
    history: HeatHistory,
    counts: FxHashMap<u64, u32>,
    window_ns: u64,
    window_end_ns: u64,
    /// Visits per heat half-life per forecast access in a window.
    per_window: f64,
}

impl HeatForecasting {
    /// With the shipped model, windows of `window_ns` and the policy's `half_life_ns`.
    pub fn shipped(window_ns: u64, half_life_ns: u64) -> Result<Self, TierError> {
        let model = WorkloadModel::shipped()
            .map_err(|e| TierError::invalid(e.to_string()))?
            .heat
            .ok_or_else(|| TierError::invalid("the shipped model has no heat forecaster"))?;
        let window_ns = window_ns.max(1);
        Ok(Self {
            model,
            history: HeatHistory::default(),
            counts: FxHashMap::default(),
            window_ns,
            window_end_ns: window_ns,
            per_window: half_life_ns as f64 / window_ns as f64,
        })
    }

    pub fn count(&mut self, extent: ExtentId) {
        let key = (extent.volume << INDEX_BITS) | (extent.index & ((1 << INDEX_BITS) - 1));
        let count = self.counts.entry(key).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// Closes every window that ended by `now_ns` and hands `policy` the last forecast.
    pub fn advance(&mut self, now_ns: u64, policy: &mut dyn PlacementPolicy) {
        if now_ns < self.window_end_ns {
            return;
        }
        while self.window_end_ns <= now_ns {
            let mut counts: Vec<(u64, u32)> = self.counts.drain().collect();
            counts.sort_unstable();
            self.history.push(&counts);
            self.window_end_ns = self.window_end_ns.saturating_add(self.window_ns);
        }
        let forecast: Forecast = self
            .history
            .forecast(HeatMethod::Model(&self.model))
            .into_iter()
            .map(|(key, accesses)| {
                let extent = ExtentId::new(key >> INDEX_BITS, key & ((1 << INDEX_BITS) - 1));
                (extent, (accesses * self.per_window) as f32)
            })
            .collect();
        policy.observe_forecast(&forecast);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_policy::{Access, Move, TierId, TierView};

    /// Keeps the forecasts it is handed.
    #[derive(Debug, Default)]
    struct Recording {
        forecasts: Vec<Forecast>,
    }

    impl PlacementPolicy for Recording {
        fn name(&self) -> &str {
            "recording"
        }
        fn place_new(&mut self, _: ExtentId, _: &dyn TierView) -> TierId {
            TierId(0)
        }
        fn on_access(&mut self, _: &Access, _: &dyn TierView) -> Vec<Move> {
            Vec::new()
        }
        fn observe_forecast(&mut self, forecast: &Forecast) {
            self.forecasts.push(forecast.clone());
        }
    }

    #[test]
    fn each_closed_window_hands_the_policy_a_forecast_in_visits_per_half_life() {
        let window_ns = 10_000_000_000;
        let mut heat = HeatForecasting::shipped(window_ns, 2 * window_ns).unwrap();
        let mut policy = Recording::default();
        let (hot, cold) = (ExtentId::new(3, 7), ExtentId::new(1, 2));
        heat.advance(window_ns - 1, &mut policy);
        assert!(policy.forecasts.is_empty(), "no window has closed yet");
        for window in 1..=3 {
            for _ in 0..100 {
                heat.count(hot);
            }
            heat.count(cold);
            heat.advance(window * window_ns, &mut policy);
            assert_eq!(policy.forecasts.len() as u64, window);
        }
        let last = policy.forecasts.last().unwrap();
        let (hot, cold) = (last.get(hot).unwrap(), last.get(cold).unwrap_or(0.0));
        // About 100 accesses a window, counted over a half-life of two windows.
        assert!(hot > 100.0 && hot < 400.0, "hot {hot}");
        assert!(hot > 20.0 * cold, "hot {hot}, cold {cold}");
    }
}
