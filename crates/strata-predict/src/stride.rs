//! Per-stream stride detection, in the manner of a reference prediction table without a
//! program counter: each stream keeps a few trackers (last block, delta, confirmations).
//! An access that continues a tracker (`last + delta`) confirms it; the same delta seen
//! twice predicts the next `k` strides. An access near a tracker retrains its delta; any
//! other access starts a new tracker whose delta is the step from the stream's most
//! recent access, so one large constant stride is found as quickly as a small one, and
//! several interleaved sequential or strided readers on one volume keep their own
//! trackers.

use crate::access::{Access, AccessPredictor, Prediction, block_delta, offset_block};
use crate::streams::StreamTable;

/// Trackers per stream.
const TRACKERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrideConfig {
    /// An access within this many blocks of a tracker's last block retrains that tracker.
    pub near_blocks: u64,
    /// Strides predicted ahead at most.
    pub max_strides: u32,
    pub streams: usize,
}

impl Default for StrideConfig {
    fn default() -> Self {
        Self {
            near_blocks: 64,
            max_strides: 32,
            streams: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Tracker {
    last: u64,
    delta: i64,
    /// Times the delta repeated; predicting starts at 1.
    confirmations: u32,
    used_tick: u64,
    live: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    trackers: [Tracker; TRACKERS],
    tick: u64,
    /// The tracker the latest access updated.
    active: usize,
    last_block: Option<u64>,
}

impl StreamState {
    fn observe(&mut self, block: u64, near_blocks: u64) {
        self.tick += 1;
        let tick = self.tick;
        let continued = self
            .trackers
            .iter()
            .position(|t| t.live && t.delta != 0 && offset_block(t.last, t.delta) == Some(block));
        let index = if let Some(index) = continued {
            let tracker = &mut self.trackers[index];
            tracker.confirmations = tracker.confirmations.saturating_add(1);
            index
        } else if let Some(index) = self.nearest(block, near_blocks) {
            let tracker = &mut self.trackers[index];
            if tracker.last != block {
                tracker.delta = block_delta(tracker.last, block);
                tracker.confirmations = 0;
            }
            index
        } else {
            let index = self.least_recent();
            let delta = self.last_block.map_or(0, |last| block_delta(last, block));
            self.trackers[index] = Tracker {
                last: block,
                delta,
                confirmations: 0,
                used_tick: tick,
                live: true,
            };
            index
        };
        let tracker = &mut self.trackers[index];
        tracker.last = block;
        tracker.used_tick = tick;
        self.active = index;
        self.last_block = Some(block);
    }

    fn nearest(&self, block: u64, near_blocks: u64) -> Option<usize> {
        self.trackers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.live && t.last.abs_diff(block) <= near_blocks)
            .min_by_key(|(_, t)| t.last.abs_diff(block))
            .map(|(index, _)| index)
    }

    fn least_recent(&self) -> usize {
        self.trackers
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| (t.live, t.used_tick))
            .map_or(0, |(index, _)| index)
    }
}

/// Stride detection with several trackers per stream.
#[derive(Debug, Clone)]
pub struct Stride {
    config: StrideConfig,
    streams: StreamTable<StreamState>,
    current: Option<u64>,
}

impl Stride {
    pub fn new(config: StrideConfig) -> Self {
        Self {
            streams: StreamTable::new(config.streams),
            config,
            current: None,
        }
    }
}

impl Default for Stride {
    fn default() -> Self {
        Self::new(StrideConfig::default())
    }
}

impl AccessPredictor for Stride {
    fn name(&self) -> &'static str {
        "stride"
    }

    fn observe(&mut self, access: &Access) {
        self.current = Some(access.stream);
        self.streams
            .get_or_insert(access.stream)
            .observe(access.block, self.config.near_blocks);
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let Some(state) = self.streams.get(stream) else {
            return;
        };
        let tracker = state.trackers[state.active];
        if !tracker.live || tracker.delta == 0 || tracker.confirmations == 0 {
            return;
        }
        // Two repeats of a delta are weak evidence, many are strong.
        let base = 1.0 - 0.5f32.powi(tracker.confirmations.min(16) as i32 + 1);
        let strides = max.min(self.config.max_strides as usize);
        let mut block = tracker.last;
        for step in 1..=strides {
            let Some(next) = offset_block(block, tracker.delta) else {
                break;
            };
            block = next;
            out.push(Prediction {
                stream,
                block,
                confidence: base * 0.99f32.powi(step as i32 - 1),
                expected_in_accesses: step as u32,
                expected_time_ns: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicted(stride: &mut Stride, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        stride.predict(max, &mut out);
        out.into_iter().map(|p| p.block).collect()
    }

    #[test]
    fn same_delta_twice_predicts_the_next_strides() {
        let mut stride = Stride::default();
        stride.observe(&Access::read(0, 1000));
        stride.observe(&Access::read(0, 1010));
        assert!(
            predicted(&mut stride, 4).is_empty(),
            "one delta is not a stride"
        );
        stride.observe(&Access::read(0, 1020));
        assert_eq!(predicted(&mut stride, 3), [1030, 1040, 1050]);
    }

    #[test]
    fn large_strides_and_negative_strides_are_found() {
        let mut stride = Stride::default();
        for i in 0..3 {
            stride.observe(&Access::read(0, 1_000_000 - i * 5000));
        }
        assert_eq!(predicted(&mut stride, 2), [985_000, 980_000]);
    }

    #[test]
    fn interleaved_readers_keep_their_own_trackers() {
        let mut stride = Stride::default();
        for i in 0..10 {
            stride.observe(&Access::read(0, 10 + i));
            stride.observe(&Access::read(0, 50_000 + 4 * i));
        }
        assert_eq!(predicted(&mut stride, 2), [50_040, 50_044]);
        stride.observe(&Access::read(0, 20));
        assert_eq!(predicted(&mut stride, 2), [21, 22]);
    }
}
