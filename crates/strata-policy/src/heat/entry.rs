//! [`HeatEntry`]: the packed per-extent record of the heat map — two log-scaled decayed
//! counters, a coarse last-access stamp, a touch count and flags in 12 bytes.

/// Log-scale resolution: a stored counter `v` means `2^(v / LOG_STEPS) − 1` visits, so a
/// `u16` spans 0 … ≈4·10⁹ with a relative precision of about 0.03 %.
const LOG_STEPS: f32 = 2048.0;

/// Flag: the latest visit belonged to a sequential run longer than the cutoff.
pub(crate) const FLAG_SEQUENTIAL: u8 = 1;
/// Flag: the latest visit was a write.
pub(crate) const FLAG_LAST_WRITE: u8 = 2;
/// Every flag bit this version knows; a serialised entry with other bits is corrupt.
pub(crate) const KNOWN_FLAGS: u8 = FLAG_SEQUENTIAL | FLAG_LAST_WRITE;

/// One extent's heat, packed. Stamps are in coarse ticks (the map's `tick_ns`), stored
/// plus one so that 0 means "never visited".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HeatEntry {
    pub(crate) stamp_ticks: u32,
    pub(crate) read_log: u16,
    pub(crate) write_log: u16,
    /// Visits that started a new run (saturating): the admission evidence.
    pub(crate) touches: u8,
    pub(crate) flags: u8,
}

pub(crate) fn encode(count: f32) -> u16 {
    let v = (count.max(0.0) + 1.0).log2() * LOG_STEPS;
    if v >= f32::from(u16::MAX) {
        u16::MAX
    } else {
        v.round() as u16
    }
}

pub(crate) fn decode(stored: u16) -> f32 {
    (f32::from(stored) / LOG_STEPS).exp2() - 1.0
}

/// The factor a count keeps after `elapsed_ticks` with a half-life of `half_life_ticks`.
pub(crate) fn decay_factor(elapsed_ticks: u32, half_life_ticks: u32) -> f32 {
    if elapsed_ticks == 0 {
        return 1.0;
    }
    (-(elapsed_ticks as f32) / half_life_ticks.max(1) as f32).exp2()
}

impl HeatEntry {
    pub fn is_visited(&self) -> bool {
        self.stamp_ticks != 0
    }

    /// Decayed (read, write) counts at tick `now_ticks` (stored-plus-one convention).
    pub(crate) fn counts_at(&self, now_ticks: u32, half_life_ticks: u32) -> (f32, f32) {
        let factor = decay_factor(now_ticks.saturating_sub(self.stamp_ticks), half_life_ticks);
        (
            decode(self.read_log) * factor,
            decode(self.write_log) * factor,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_packs_into_twelve_bytes() {
        assert_eq!(std::mem::size_of::<HeatEntry>(), 12);
        assert!(std::mem::size_of::<HeatEntry>() <= 16);
    }

    #[test]
    fn log_scale_round_trips_within_a_tenth_of_a_percent() {
        for count in [0.0f32, 0.5, 1.0, 2.0, 7.0, 100.0, 12_345.0, 1.0e6] {
            let back = decode(encode(count));
            assert!(
                (back - count).abs() <= count * 1.0e-3 + 1.0e-3,
                "{count} -> {back}"
            );
        }
        assert_eq!(encode(f32::MAX), u16::MAX);
        assert_eq!(encode(-5.0), 0);
    }

    #[test]
    fn one_half_life_halves() {
        assert!((decay_factor(100, 100) - 0.5).abs() < 1.0e-6);
        assert_eq!(decay_factor(0, 100), 1.0);
    }
}
