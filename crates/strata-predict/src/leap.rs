//! Leap (Al Maruf and Chowdhury, USENIX ATC 2020): majority-trend prefetching.
//!
//! Each stream keeps a sliding history of its last `history` deltas. On a "fault" — an
//! access to a block Leap did not prefetch — it looks for the trend with Boyer–Moore
//! majority voting over the newest `history / split` deltas, doubling the window until a
//! delta holds a strict majority or the whole history was tried. The prefetch window
//! adapts: `roundup_pow2(hits + 1)` where `hits` counts accesses to Leap's prefetched
//! blocks since the previous fault, shrinking by at most half per fault and capped at
//! `max_window`. With a trend it prefetches along it; without one it prefetches the
//! neighbourhood of the faulting block (alternately after and before it).

use crate::access::{Access, AccessPredictor, Prediction, block_delta, offset_block};
use crate::streams::StreamTable;

/// Deltas of history kept per stream.
const HISTORY: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeapConfig {
    /// The first majority window is `HISTORY / split` deltas (Leap's `N_split`).
    pub split: usize,
    /// Largest prefetch window in blocks (`PW_max`).
    pub max_window: u32,
    pub streams: usize,
}

impl Default for LeapConfig {
    fn default() -> Self {
        Self {
            split: 8,
            max_window: 32,
            streams: 64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct StreamState {
    deltas: [i64; HISTORY],
    /// Deltas recorded so far (saturates at `HISTORY` meaning "ring full").
    len: usize,
    /// Ring position of the next delta.
    head: usize,
    last: Option<u64>,
    window: u32,
    hits: u32,
    /// Blocks of the latest prefetch, to recognise hits.
    issued: [u64; MAX_ISSUED],
    issued_len: usize,
    /// Prefix of `issued` already handed out by `predict`.
    emitted: usize,
    /// Share of the majority delta in its window, the confidence of a trend prefetch.
    trend_share: f32,
}

/// Upper bound of `max_window`, so the issued set is a fixed array.
const MAX_ISSUED: usize = 64;

impl Default for StreamState {
    fn default() -> Self {
        Self {
            deltas: [0; HISTORY],
            len: 0,
            head: 0,
            last: None,
            window: 1,
            hits: 0,
            issued: [0; MAX_ISSUED],
            issued_len: 0,
            emitted: 0,
            trend_share: 0.0,
        }
    }
}

impl StreamState {
    fn push_delta(&mut self, delta: i64) {
        self.deltas[self.head] = delta;
        self.head = (self.head + 1) % HISTORY;
        self.len = (self.len + 1).min(HISTORY);
    }

    /// The `age`-th newest delta (0 = newest).
    fn delta_back(&self, age: usize) -> i64 {
        self.deltas[(self.head + HISTORY - 1 - age) % HISTORY]
    }

    /// Boyer–Moore majority over windows growing from `len / split` to the whole history.
    fn find_trend(&self, split: usize) -> Option<(i64, f32)> {
        if self.len == 0 {
            return None;
        }
        let mut window = (HISTORY / split.max(1)).clamp(1, self.len);
        loop {
            let mut candidate = 0i64;
            let mut count = 0usize;
            for age in 0..window {
                let delta = self.delta_back(age);
                if count == 0 {
                    candidate = delta;
                    count = 1;
                } else if delta == candidate {
                    count += 1;
                } else {
                    count -= 1;
                }
            }
            let votes = (0..window)
                .filter(|&age| self.delta_back(age) == candidate)
                .count();
            if votes * 2 > window && candidate != 0 {
                return Some((candidate, votes as f32 / window as f32));
            }
            if window >= self.len {
                return None;
            }
            window = (window * 2).min(self.len);
        }
    }

    fn was_issued(&self, block: u64) -> bool {
        self.issued[..self.issued_len].contains(&block)
    }

    fn on_fault(&mut self, block: u64, config: &LeapConfig) {
        let grown = (self.hits + 1).next_power_of_two();
        let window = grown.max(self.window / 2).clamp(1, config.max_window);
        self.window = window;
        self.hits = 0;
        self.issued_len = 0;
        self.emitted = 0;
        let window = window as usize;
        if let Some((trend, share)) = self.find_trend(config.split) {
            self.trend_share = share;
            let mut next = block;
            while self.issued_len < window {
                let Some(ahead) = offset_block(next, trend) else {
                    break;
                };
                next = ahead;
                self.issued[self.issued_len] = next;
                self.issued_len += 1;
            }
        } else {
            self.trend_share = 0.0;
            let mut distance = 1u64;
            while self.issued_len < window {
                let after = block.checked_add(distance);
                let before = block.checked_sub(distance);
                for neighbour in [after, before].into_iter().flatten() {
                    if self.issued_len < window {
                        self.issued[self.issued_len] = neighbour;
                        self.issued_len += 1;
                    }
                }
                if after.is_none() && before.is_none() {
                    break;
                }
                distance += 1;
            }
        }
    }
}

/// Leap's majority-trend prefetcher.
#[derive(Debug, Clone)]
pub struct Leap {
    config: LeapConfig,
    streams: StreamTable<StreamState>,
    current: Option<u64>,
}

impl Leap {
    pub fn new(config: LeapConfig) -> Self {
        let config = LeapConfig {
            max_window: config.max_window.clamp(1, MAX_ISSUED as u32),
            ..config
        };
        Self {
            streams: StreamTable::new(config.streams),
            config,
            current: None,
        }
    }
}

impl Default for Leap {
    fn default() -> Self {
        Self::new(LeapConfig::default())
    }
}

impl AccessPredictor for Leap {
    fn name(&self) -> &'static str {
        "leap"
    }

    fn observe(&mut self, access: &Access) {
        let config = self.config;
        self.current = Some(access.stream);
        let state = self.streams.get_or_insert(access.stream);
        let block = access.block;
        if let Some(last) = state.last {
            if last == block {
                return;
            }
            state.push_delta(block_delta(last, block));
        }
        state.last = Some(block);
        if state.was_issued(block) {
            state.hits = state.hits.saturating_add(1);
        } else {
            state.on_fault(block, &config);
        }
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let Some(state) = self.streams.get_mut(stream) else {
            return;
        };
        // Neighbourhood prefetches are a guess; trend prefetches carry the majority share.
        let confidence = if state.trend_share > 0.0 {
            state.trend_share
        } else {
            0.25
        };
        let last = state.last.unwrap_or(0);
        let mut pushed = 0;
        while state.emitted < state.issued_len && pushed < max {
            let rank = state.emitted;
            let block = state.issued[rank];
            state.emitted += 1;
            // Blocks of this window the stream already reached are no longer predictions.
            if block == last {
                continue;
            }
            pushed += 1;
            out.push(Prediction {
                stream,
                block,
                confidence,
                expected_in_accesses: if state.trend_share > 0.0 {
                    (rank + 1) as u32
                } else {
                    u32::try_from(block.abs_diff(last)).unwrap_or(u32::MAX)
                },
                expected_time_ns: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicted(leap: &mut Leap) -> Vec<u64> {
        let mut out = Vec::new();
        leap.predict(64, &mut out);
        out.into_iter().map(|p| p.block).collect()
    }

    #[test]
    fn majority_trend_survives_noise() {
        let mut leap = Leap::default();
        // Stride 3 with one interruption: the majority is still +3.
        for block in [0, 3, 6, 9, 500, 12, 15, 18, 21] {
            leap.observe(&Access::read(0, block));
        }
        let blocks = predicted(&mut leap);
        assert!(!blocks.is_empty());
        assert!(
            blocks.iter().all(|b| (b - 21) % 3 == 0 && *b > 21),
            "{blocks:?}"
        );
    }

    #[test]
    fn window_grows_with_hits_and_no_trend_means_neighbourhood() {
        let mut leap = Leap::default();
        let mut largest = 0;
        for block in 0..300 {
            leap.observe(&Access::read(0, block));
            largest = largest.max(predicted(&mut leap).len());
        }
        assert!(largest >= 16, "window reached {largest}");
        let mut fresh = Leap::default();
        fresh.observe(&Access::read(0, 1000));
        let around = predicted(&mut fresh);
        assert_eq!(around, [1001], "a cold stream guesses the next block");
        fresh.observe(&Access::read(0, 1001));
        fresh.observe(&Access::read(0, 7000));
        let around = predicted(&mut fresh);
        assert_eq!(around, [7001, 6999], "deltas 1 and 5999 have no majority");
    }
}
