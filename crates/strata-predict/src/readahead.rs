//! Linux-style sequential readahead, the baseline (after `mm/readahead.c`,
//! `ondemand_readahead`): an access that continues the previous one starts an initial
//! window just past it; reaching the start of the newest window issues the next one,
//! twice as large up to a maximum; any other access resets the stream to "no readahead".
//! There is one readahead state per stream (the kernel keeps one per open file).

use crate::access::{Access, AccessPredictor, Prediction};
use crate::streams::StreamTable;

/// Window sizes in blocks of the caller's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadaheadConfig {
    /// First window after a sequential step (the kernel's initial size for small reads).
    pub initial_window: u32,
    /// Largest window (the kernel's default `read_ahead_kb` of 128 KiB is 32 4-KiB blocks).
    pub max_window: u32,
    /// Streams tracked at once.
    pub streams: usize,
}

impl Default for ReadaheadConfig {
    fn default() -> Self {
        Self {
            initial_window: 4,
            max_window: 32,
            streams: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    last: Option<u64>,
    /// Size of the newest window; 0 when no readahead is running.
    window: u32,
    /// First block of the newest window: reaching it issues the next window.
    window_start: u64,
    /// One past the last block issued.
    ahead_end: u64,
    /// First issued block not yet handed out by `predict`.
    pending_start: u64,
    /// Sequential steps since the last reset, for the confidence estimate.
    run: u32,
}

/// Sequential readahead with a doubling window.
#[derive(Debug, Clone)]
pub struct Readahead {
    config: ReadaheadConfig,
    streams: StreamTable<StreamState>,
    current: Option<u64>,
}

impl Readahead {
    pub fn new(config: ReadaheadConfig) -> Self {
        let config = ReadaheadConfig {
            initial_window: config.initial_window.max(1),
            max_window: config.max_window.max(config.initial_window.max(1)),
            ..config
        };
        Self {
            streams: StreamTable::new(config.streams),
            config,
            current: None,
        }
    }

    fn issue(state: &mut StreamState, start: u64, window: u32) {
        state.window = window;
        state.window_start = start;
        state.ahead_end = start.saturating_add(u64::from(window));
        if state.pending_start < start || state.pending_start > state.ahead_end {
            state.pending_start = start;
        }
    }
}

impl Default for Readahead {
    fn default() -> Self {
        Self::new(ReadaheadConfig::default())
    }
}

impl AccessPredictor for Readahead {
    fn name(&self) -> &'static str {
        "readahead"
    }

    fn observe(&mut self, access: &Access) {
        let config = self.config;
        let state = self.streams.get_or_insert(access.stream);
        self.current = Some(access.stream);
        let block = access.block;
        if state.last == Some(block) {
            return;
        }
        let in_newest = state.window > 0 && (state.window_start..state.ahead_end).contains(&block);
        let in_older = state.window > 0
            && state.last.is_some_and(|last| block > last)
            && block < state.window_start;
        if in_newest {
            // The async marker: the reader entered the newest window, so issue the next.
            state.run = state.run.saturating_add(1);
            let next = state.window.saturating_mul(2).min(config.max_window);
            let start = state.ahead_end;
            Self::issue(state, start, next);
        } else if in_older {
            // Still reading through the previous window: nothing to do.
            state.run = state.run.saturating_add(1);
        } else if state.last.and_then(|last| last.checked_add(1)) == Some(block) {
            state.run = state.run.saturating_add(1);
            state.pending_start = block.saturating_add(1);
            Self::issue(state, block.saturating_add(1), config.initial_window);
        } else {
            // A random access: the kernel drops the readahead state.
            state.window = 0;
            state.run = 0;
            state.pending_start = 0;
            state.ahead_end = 0;
        }
        state.last = Some(block);
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let Some(state) = self.streams.get_mut(stream) else {
            return;
        };
        if state.window == 0 {
            return;
        }
        let last = state.last.unwrap_or(0);
        // Readahead has no probability model; a longer sequential run earns more trust.
        let confidence = 1.0 - 1.0 / (2.0 + state.run as f32);
        let mut emitted = 0;
        while state.pending_start < state.ahead_end && emitted < max {
            let block = state.pending_start;
            state.pending_start += 1;
            if block <= last {
                continue;
            }
            out.push(Prediction {
                stream,
                block,
                confidence,
                expected_in_accesses: u32::try_from(block - last).unwrap_or(u32::MAX),
                expected_time_ns: None,
            });
            emitted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(predictor: &mut Readahead, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        predictor.predict(max, &mut out);
        out.into_iter().map(|p| p.block).collect()
    }

    #[test]
    fn sequential_step_starts_a_window_that_doubles() {
        let mut ra = Readahead::default();
        ra.observe(&Access::read(0, 100));
        assert!(
            blocks(&mut ra, 64).is_empty(),
            "a single access is not a stream"
        );
        ra.observe(&Access::read(0, 101));
        assert_eq!(blocks(&mut ra, 64), [102, 103, 104, 105]);
        ra.observe(&Access::read(0, 102)); // enters the window: next one, doubled
        assert_eq!(blocks(&mut ra, 64), (106..114).collect::<Vec<_>>());
        ra.observe(&Access::read(0, 103));
        assert!(blocks(&mut ra, 64).is_empty());
    }

    #[test]
    fn window_is_capped_and_a_random_access_resets() {
        let mut ra = Readahead::new(ReadaheadConfig {
            initial_window: 4,
            max_window: 8,
            streams: 4,
        });
        let mut largest = 0;
        for block in 0..200 {
            ra.observe(&Access::read(0, block));
            largest = largest.max(blocks(&mut ra, 64).len());
        }
        assert_eq!(largest, 8);
        ra.observe(&Access::read(0, 10_000));
        assert!(blocks(&mut ra, 64).is_empty());
    }

    #[test]
    fn max_limits_each_call_and_the_rest_stays_pending() {
        let mut ra = Readahead::default();
        ra.observe(&Access::read(0, 0));
        ra.observe(&Access::read(0, 1));
        assert_eq!(blocks(&mut ra, 2), [2, 3]);
        assert_eq!(blocks(&mut ra, 2), [4, 5]);
    }
}
