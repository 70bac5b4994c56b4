//! [`Forecast`]: predicted heat per extent, handed to a policy by whoever predicts it
//! (`strata-predict` in the engine, a test, an oracle in the simulator) — an input type, so
//! the policy crate depends on no predictor.

use crate::ExtentId;
use crate::HashMap;

/// Predicted visits per extent over the heat map's next half-life, the unit the heat map
/// counts in. Extents without a prediction are judged by their heat alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Forecast {
    predicted_visits: HashMap<ExtentId, f32>,
}

impl Forecast {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one extent's prediction; negative or non-finite values count as 0.
    pub fn predict(&mut self, extent: ExtentId, visits: f32) {
        let visits = if visits.is_finite() {
            visits.max(0.0)
        } else {
            0.0
        };
        self.predicted_visits.insert(extent, visits);
    }

    pub fn get(&self, extent: ExtentId) -> Option<f32> {
        self.predicted_visits.get(&extent).copied()
    }

    pub fn len(&self) -> usize {
        self.predicted_visits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.predicted_visits.is_empty()
    }
}

impl FromIterator<(ExtentId, f32)> for Forecast {
    fn from_iter<I: IntoIterator<Item = (ExtentId, f32)>>(iter: I) -> Self {
        let mut forecast = Self::new();
        for (extent, visits) in iter {
            forecast.predict(extent, visits);
        }
        forecast
    }
}
