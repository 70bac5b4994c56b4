//! The deviation band around a demand forecast: how far a window's observed demand may
//! stray from the forecast before the placement should re-plan at once rather than wait
//! for its next interval.
//!
//! The band is multiplicative (demand spans orders of magnitude): `point · e^±w`, where
//! `w` is the larger of a fixed floor and a multiple of the forecaster's recent mean
//! absolute log error, so a volume whose demand is noisy gets a wider band than one whose
//! demand is steady, and a band never collapses to a point after a run of good forecasts.

use std::collections::VecDeque;

use serde::Serialize;

/// Recent forecast errors remembered per volume.
pub const BAND_ERROR_WINDOWS: usize = 8;
/// Band half-width in multiples of the recent mean absolute log error.
pub const BAND_ERROR_MULTIPLE: f64 = 3.0;

/// A forecast with its band, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastBand {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

impl ForecastBand {
    /// The observed-over-forecast ratio when `observed` lies outside the band, else `None`.
    /// Both sides get one byte added so that a zero forecast still gives a finite ratio.
    pub fn deviation(&self, observed: f64) -> Option<f64> {
        (observed < self.low || observed > self.high)
            .then(|| (observed.max(0.0) + 1.0) / (self.point.max(0.0) + 1.0))
    }

    /// The band scaled by a share (a tier's fraction of the demand).
    pub fn scaled(&self, share: f64) -> Self {
        Self {
            point: self.point * share,
            low: self.low * share,
            high: self.high * share,
        }
    }
}

/// Builds bands from a volume's recent forecast errors.
#[derive(Debug, Clone, PartialEq)]
pub struct BandTracker {
    /// Smallest relative tolerance: observed within `point / (1 + t) ..= point · (1 + t)`.
    min_tolerance: f64,
    log_errors: VecDeque<f64>,
}

impl BandTracker {
    /// `min_tolerance` is clamped to at least 0.01 (a band is never a single point).
    pub fn new(min_tolerance: f64) -> Self {
        Self {
            min_tolerance: if min_tolerance.is_finite() {
                min_tolerance.max(0.01)
            } else {
                1.0
            },
            log_errors: VecDeque::with_capacity(BAND_ERROR_WINDOWS),
        }
    }

    /// The band around `point` given the errors recorded so far.
    pub fn band(&self, point: f64) -> ForecastBand {
        let point = point.max(0.0);
        let floor = self.min_tolerance.ln_1p();
        let mean_error = if self.log_errors.is_empty() {
            0.0
        } else {
            self.log_errors.iter().sum::<f64>() / self.log_errors.len() as f64
        };
        let width = floor.max(BAND_ERROR_MULTIPLE * mean_error);
        ForecastBand {
            point,
            low: point * (-width).exp(),
            high: point * width.exp(),
        }
    }

    /// Remembers how far a forecast was from what was then observed.
    pub fn record(&mut self, forecast: f64, observed: f64) {
        let error = ((observed.max(0.0) + 1.0) / (forecast.max(0.0) + 1.0))
            .ln()
            .abs();
        if self.log_errors.len() == BAND_ERROR_WINDOWS {
            self.log_errors.pop_front();
        }
        self.log_errors.push_back(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_band_is_the_floor_tolerance_both_ways() {
        let band = BandTracker::new(0.5).band(1000.0);
        assert!((band.high - 1500.0).abs() < 1e-6, "{band:?}");
        assert!((band.low - 1000.0 / 1.5).abs() < 1e-6, "{band:?}");
        assert_eq!(band.deviation(1400.0), None);
        assert_eq!(band.deviation(700.0), None);
        let up = band.deviation(1600.0).unwrap_or(0.0);
        assert!((up - 1601.0 / 1001.0).abs() < 1e-12, "{up}");
        assert!(band.deviation(600.0).is_some_and(|r| r < 1.0));
    }

    #[test]
    fn noisy_forecasts_widen_the_band_and_it_forgets_them() {
        let mut tracker = BandTracker::new(0.5);
        for _ in 0..BAND_ERROR_WINDOWS {
            // Always off by a factor of two: mean log error ln 2, width 3 ln 2 (×8).
            tracker.record(1000.0, 2001.0);
        }
        let wide = tracker.band(1000.0);
        assert!((wide.high / 1000.0 - 8.0).abs() < 0.05, "{wide:?}");
        assert_eq!(wide.deviation(5000.0), None);
        for _ in 0..BAND_ERROR_WINDOWS {
            tracker.record(1000.0, 1000.0);
        }
        assert_eq!(tracker.band(1000.0), BandTracker::new(0.5).band(1000.0));
    }

    #[test]
    fn a_zero_forecast_flags_any_demand_and_scales_per_tier() {
        let band = BandTracker::new(0.5).band(0.0);
        assert_eq!(band.deviation(0.0), None);
        assert_eq!(band.deviation(4096.0), Some(4097.0));
        let tier = BandTracker::new(1.0).band(1000.0).scaled(0.25);
        assert_eq!((tier.point, tier.low, tier.high), (250.0, 125.0, 500.0));
        assert_eq!(BandTracker::new(f64::NAN).band(10.0).high, 20.0);
    }
}
