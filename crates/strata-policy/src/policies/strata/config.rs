//! [`StrataConfig`]: the knobs of the `strata` policy — heat aging, admission, cool-down,
//! watermarks, the benefit margin, the copy share of device time, pins and soft
//! reservations — with defaults that are not tuned to any one trace.

use crate::{ExtentId, HeatConfig, PolicyError, PolicyErrorKind, TierId};
use std::ops::Range;

/// Keep a volume (or a range of its extents) on one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub volume: u64,
    /// Extent indices; `None` pins the whole volume.
    pub extents: Option<Range<u64>>,
    pub tier: TierId,
}

impl Pin {
    fn covers(&self, extent: ExtentId) -> bool {
        extent.volume == self.volume
            && self
                .extents
                .as_ref()
                .is_none_or(|range| range.contains(&extent.index))
    }
}

/// Capacity on a tier held for one volume: other volumes do not take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub volume: u64,
    pub tier: TierId,
    pub extents: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StrataConfig {
    pub heat: HeatConfig,
    /// Visits an extent needs before it may be promoted (admission on repeated touches).
    pub admit_touches: u8,
    /// An extent that moved is not moved again for this long (no ping-pong). 10 s by
    /// default: with 60 s, arc_P3 two-tier 5 % ran 1.38× the best baseline, at 10 s 1.00×,
    /// and the 54 tier-simulation rows migrate 1 % more in total (BENCHMARKS, "Cool-down").
    pub cooldown_ns: u64,
    /// Promotions into free slots stop at this fill (per mille of capacity); above it a
    /// promotion is a swap. New extents use free space up to capacity.
    pub high_watermark_permille: u16,
    /// A tier holding more than its capacity (it shrank) demotes its coldest extents down
    /// to this fill.
    pub low_watermark_permille: u16,
    /// A move is made only when its expected device-time saving exceeds its copy time by
    /// this factor (per cent).
    pub benefit_margin_percent: u32,
    /// Share of a planning interval's device time that copies may take on any one device.
    pub max_copy_share_percent: u8,
    /// Pins: the most specific (range before volume) wins.
    pub pins: Vec<Pin>,
    pub reservations: Vec<Reservation>,
}

impl Default for StrataConfig {
    fn default() -> Self {
        Self {
            heat: HeatConfig::default(),
            admit_touches: 2,
            cooldown_ns: 10_000_000_000,
            high_watermark_permille: 980,
            low_watermark_permille: 950,
            benefit_margin_percent: 100,
            max_copy_share_percent: 100,
            pins: Vec::new(),
            reservations: Vec::new(),
        }
    }
}

impl StrataConfig {
    pub fn with_pin(mut self, pin: Pin) -> Self {
        self.pins.push(pin);
        self
    }

    pub fn with_reservation(mut self, reservation: Reservation) -> Self {
        self.reservations.push(reservation);
        self
    }

    pub fn with_heat(mut self, heat: HeatConfig) -> Self {
        self.heat = heat;
        self
    }

    pub fn with_cooldown_ns(mut self, cooldown_ns: u64) -> Self {
        self.cooldown_ns = cooldown_ns;
        self
    }

    pub fn with_watermarks_permille(mut self, high: u16, low: u16) -> Self {
        self.high_watermark_permille = high;
        self.low_watermark_permille = low;
        self
    }

    pub fn with_admit_touches(mut self, touches: u8) -> Self {
        self.admit_touches = touches;
        self
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |message: &str| {
            Err(PolicyError::new(
                PolicyErrorKind::InvalidConfig,
                "strata",
                message,
            ))
        };
        if self.low_watermark_permille > self.high_watermark_permille
            || self.high_watermark_permille > 1000
        {
            return invalid("watermarks: low <= high <= 1000 per mille");
        }
        if self.max_copy_share_percent == 0 || self.max_copy_share_percent > 100 {
            return invalid("max_copy_share_percent must be in 1..=100");
        }
        if self.heat.tick_ns == 0 || self.heat.half_life_ns < self.heat.tick_ns {
            return invalid("heat: tick > 0 and half-life >= tick");
        }
        if let Some(pin) = self
            .pins
            .iter()
            .find(|p| p.extents.as_ref().is_some_and(|r| r.is_empty()))
        {
            return invalid(&format!("pin of volume {} has an empty range", pin.volume));
        }
        Ok(())
    }

    /// The tier `extent` is pinned to, if any.
    pub fn pin_of(&self, extent: ExtentId) -> Option<TierId> {
        let covering = |ranged: bool| {
            self.pins
                .iter()
                .find(|p| p.extents.is_some() == ranged && p.covers(extent))
                .map(|p| p.tier)
        };
        covering(true).or_else(|| covering(false))
    }

    /// Extents of `capacity` at `permille`, rounded up so a tiny tier keeps every slot.
    pub(crate) fn mark(capacity: u64, permille: u16) -> u64 {
        let marked = (u128::from(capacity) * u128::from(permille)).div_ceil(1000);
        u64::try_from(marked).unwrap_or(capacity)
    }
}
