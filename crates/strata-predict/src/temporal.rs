//! Temporal streaming (address correlation; Wenisch et al., "Temporal Streaming of Shared
//! Memory", ISCA 2005, and its storage cousins): the blocks that followed a block's
//! previous occurrence are likely to follow it again. Delta predictors (stride, Leap,
//! Markov) see only the *shape* of a sequence; this one replays the sequence itself, which
//! is what a database's or a VM's recurring working set looks like at extent granularity:
//! the same irregular tour of extents, again and again.
//!
//! State: one ring of the latest `history` accesses of all streams, and an index from
//! (stream, block) to the ring position of the block's latest occurrence, a fixed 4-way
//! set-associative table. `observe` moves the stream's replay point: one step along the
//! sequence it is replaying when the access is the one the replay expected, else to right
//! after the block's previous occurrence (looked up, then the block is recorded): O(1), no
//! allocation. `predict` walks the ring forward from the replay point and emits the
//! stream's next distinct blocks. Confidence is the stream's measured rate of "the next
//! access was the replay's first block", lowered for deeper predictions.

use crate::access::{Access, AccessPredictor, Prediction, sized_entries};
use crate::streams::StreamTable;

/// Entries per index set.
const WAYS: usize = 4;
/// Weight of one outcome in a stream's match rate.
const RATE_STEP: f32 = 1.0 / 16.0;
/// Confidence shrinks by this factor per rank.
const RANK_DECAY: f32 = 0.85;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemporalConfig {
    /// Accesses remembered (rounded up to a power of two).
    pub history: usize,
    /// Index entries (rounded up to a power of two, at least one set).
    pub index_entries: usize,
    /// Ring entries `predict` looks at past the replay point, per prediction asked for.
    pub scan_per_prediction: usize,
    pub streams: usize,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self {
            history: 1 << 15,
            index_entries: 1 << 15,
            scan_per_prediction: 4,
            streams: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Recorded {
    stream: u64,
    block: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct IndexEntry {
    /// Hash of (stream, block); 0 marks an empty entry.
    tag: u64,
    /// Ring position (the count of accesses recorded before it).
    position: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    last: Option<u64>,
    /// Ring position right after the previous occurrence of `last`.
    replay: Option<u64>,
    /// What the replay said would come next, to measure the match rate, and the ring
    /// position right after it.
    expected: Option<(u64, u64)>,
    /// Moving share of accesses the replay's first block predicted.
    match_rate: f32,
}

/// The temporal-streaming predictor.
#[derive(Debug, Clone)]
pub struct Temporal {
    config: TemporalConfig,
    ring: Vec<Recorded>,
    /// Accesses recorded so far; the next one goes to `recorded % ring.len()`.
    recorded: u64,
    index: Vec<IndexEntry>,
    set_mask: usize,
    streams: StreamTable<StreamState>,
    current: Option<u64>,
}

fn tag_of(stream: u64, block: u64) -> u64 {
    // splitmix64 finaliser over both words: neighbouring blocks land in unrelated sets.
    let mut x = block ^ stream.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)).max(1)
}

impl Temporal {
    pub fn new(config: TemporalConfig) -> Self {
        let history = config.history.max(2).next_power_of_two();
        let entries = config.index_entries.max(WAYS).next_power_of_two();
        Self {
            ring: vec![Recorded::default(); history],
            recorded: 0,
            index: vec![IndexEntry::default(); entries],
            set_mask: entries / WAYS - 1,
            streams: StreamTable::new(config.streams),
            config,
            current: None,
        }
    }

    /// Bytes of the ring and the index, the bulk of the predictor's memory.
    pub fn table_bytes(&self) -> usize {
        self.ring.len() * std::mem::size_of::<Recorded>()
            + self.index.len() * std::mem::size_of::<IndexEntry>()
    }

    fn set_of(&self, tag: u64) -> std::ops::Range<usize> {
        let set = (tag as usize) & self.set_mask;
        set * WAYS..set * WAYS + WAYS
    }

    /// The ring entry at `position`, if it has not been overwritten yet.
    fn at(&self, position: u64) -> Option<Recorded> {
        let len = self.ring.len() as u64;
        (position < self.recorded && self.recorded - position <= len)
            .then(|| self.ring[(position % len) as usize])
    }

    /// The ring position of the latest occurrence of (stream, block), if still in the ring.
    fn latest(&self, stream: u64, block: u64) -> Option<u64> {
        let tag = tag_of(stream, block);
        let entry = self.index[self.set_of(tag)].iter().find(|e| e.tag == tag)?;
        let wanted = Recorded { stream, block };
        (self.at(entry.position) == Some(wanted)).then_some(entry.position)
    }

    fn remember(&mut self, stream: u64, block: u64) {
        let position = self.recorded;
        let len = self.ring.len() as u64;
        self.ring[(position % len) as usize] = Recorded { stream, block };
        self.recorded += 1;
        let tag = tag_of(stream, block);
        let range = self.set_of(tag);
        let set = &mut self.index[range];
        let slot = match set.iter().position(|e| e.tag == tag) {
            Some(slot) => slot,
            // The entry pointing furthest back is the least useful (or already stale).
            None => (0..WAYS).min_by_key(|&i| set[i].position).unwrap_or(0),
        };
        set[slot] = IndexEntry { tag, position };
    }

    /// The next block of `stream` in the ring from `position` on, and the position after it.
    fn next_of_stream(&self, stream: u64, mut position: u64, limit: u64) -> Option<(u64, u64)> {
        while position < limit {
            let entry = self.at(position)?;
            position += 1;
            if entry.stream == stream {
                return Some((entry.block, position));
            }
        }
        None
    }
}

impl Default for Temporal {
    fn default() -> Self {
        Self::new(TemporalConfig::default())
    }
}

impl AccessPredictor for Temporal {
    fn name(&self) -> &'static str {
        "temporal"
    }

    /// A stream that touches `blocks` distinct blocks mostly finds a block's previous
    /// occurrence within 16 × `blocks` accesses, so the ring and the index shrink to that
    /// ([`sized_entries`]). Only before the first access.
    fn size_for(&mut self, blocks: u64) {
        if self.recorded > 0 {
            return;
        }
        let history = sized_entries(blocks, self.ring.len());
        if history < self.ring.len() {
            self.ring = vec![Recorded::default(); history];
        }
        let entries = sized_entries(blocks, self.index.len());
        if entries < self.index.len() {
            self.index = vec![IndexEntry::default(); entries];
            self.set_mask = entries / WAYS - 1;
        }
    }

    fn observe(&mut self, access: &Access) {
        self.current = Some(access.stream);
        let state = *self.streams.get_or_insert(access.stream);
        if state.last == Some(access.block) {
            return;
        }
        let mut match_rate = state.match_rate;
        let mut continued = None;
        if let Some((expected, after)) = state.expected {
            let hit = expected == access.block;
            match_rate += RATE_STEP * (if hit { 1.0 } else { 0.0 } - match_rate);
            // While the replay holds, keep following the same old sequence.
            continued = hit.then_some(after);
        }
        // Otherwise replay from the block's previous occurrence (looked up before it is
        // recorded again).
        let replay = continued.or_else(|| {
            self.latest(access.stream, access.block)
                .map(|position| position + 1)
        });
        self.remember(access.stream, access.block);
        let limit = self.recorded - 1;
        let expected = replay.and_then(|from| self.next_of_stream(access.stream, from, limit));
        *self.streams.get_or_insert(access.stream) = StreamState {
            last: Some(access.block),
            replay,
            expected,
            match_rate,
        };
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let Some(&state) = self.streams.get(stream) else {
            return;
        };
        let (Some(current), Some(mut position)) = (state.last, state.replay) else {
            return;
        };
        // Never replay into the present: the current access is the ring's newest entry.
        let limit = self.recorded - 1;
        let scan_end = limit.min(
            position
                .saturating_add((max.saturating_mul(self.config.scan_per_prediction) + 1) as u64),
        );
        let start = out.len();
        let mut confidence = state.match_rate;
        let mut step = 1u32;
        while out.len() - start < max {
            let Some((block, next)) = self.next_of_stream(stream, position, scan_end) else {
                break;
            };
            position = next;
            if block == current || out[start..].iter().any(|p| p.block == block) {
                continue;
            }
            out.push(Prediction {
                stream,
                block,
                confidence: confidence.clamp(0.0, 1.0),
                expected_in_accesses: step,
                expected_time_ns: None,
            });
            confidence *= RANK_DECAY;
            step += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicted(temporal: &mut Temporal, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        temporal.predict(max, &mut out);
        out.iter().map(|p| p.block).collect()
    }

    #[test]
    fn replays_what_followed_the_previous_occurrence() {
        let mut temporal = Temporal::default();
        // An irregular tour, no delta repeats within it, visited three times.
        let tour = [17u64, 4, 911, 33, 250, 8, 61];
        for _ in 0..3 {
            for &block in &tour {
                temporal.observe(&Access::read(0, block));
            }
        }
        temporal.observe(&Access::read(0, 17));
        assert_eq!(predicted(&mut temporal, 3), [4, 911, 33]);
        let mut out = Vec::new();
        temporal.predict(1, &mut out);
        assert!(out[0].confidence > 0.5, "{out:?}");
    }

    #[test]
    fn follows_the_sequence_it_is_replaying() {
        let mut temporal = Temporal::default();
        // 3 is followed by 4 in the long tour and by 7 in a later, unrelated visit.
        for block in [1u64, 2, 3, 4, 5, 9, 3, 7] {
            temporal.observe(&Access::read(0, block));
        }
        for block in [1u64, 2, 3] {
            temporal.observe(&Access::read(0, block));
        }
        // Replaying 1, 2, 3 of the tour: 4 comes next, not what followed 3 last time.
        assert_eq!(predicted(&mut temporal, 2), [4, 5]);
    }

    #[test]
    fn sized_for_a_small_volume_it_shrinks_and_still_replays_a_tour_of_all_its_blocks() {
        let default_bytes = Temporal::default().table_bytes();
        assert_eq!(default_bytes, 1 << 20);
        let mut small = Temporal::default();
        small.size_for(256);
        assert_eq!(small.table_bytes(), default_bytes / 8);
        // A tour over all 256 blocks in a fixed irregular order, three times.
        let tour: Vec<u64> = (0..256u64).map(|i| (i * 97) % 256).collect();
        for _ in 0..3 {
            for &block in &tour {
                small.observe(&Access::read(0, block));
            }
        }
        small.observe(&Access::read(0, tour[0]));
        assert_eq!(predicted(&mut small, 3), tour[1..4]);
        // Sizing after the first access changes nothing; a huge volume keeps the default.
        small.size_for(1);
        assert_eq!(small.table_bytes(), default_bytes / 8);
        let mut large = Temporal::default();
        large.size_for(1 << 40);
        assert_eq!(large.table_bytes(), default_bytes);
    }

    #[test]
    fn keeps_streams_apart() {
        let mut temporal = Temporal::default();
        for round in 0..4u64 {
            temporal.observe(&Access::read(1, 100));
            temporal.observe(&Access::read(2, 5_000 + round));
            temporal.observe(&Access::read(1, 300));
            temporal.observe(&Access::read(2, 7_000 + round));
            temporal.observe(&Access::read(1, 200));
        }
        temporal.observe(&Access::read(1, 100));
        assert_eq!(predicted(&mut temporal, 2), [300, 200]);
    }

    #[test]
    fn forgets_what_left_the_ring() {
        let mut temporal = Temporal::new(TemporalConfig {
            history: 8,
            ..TemporalConfig::default()
        });
        for block in [1u64, 2, 3] {
            temporal.observe(&Access::read(0, block));
        }
        for block in 100..120u64 {
            temporal.observe(&Access::read(0, block));
        }
        temporal.observe(&Access::read(0, 1));
        assert!(predicted(&mut temporal, 4).is_empty());
    }

    #[test]
    fn a_first_visit_predicts_nothing() {
        let mut temporal = Temporal::default();
        for block in 0..50u64 {
            temporal.observe(&Access::read(0, block * 7919));
            assert!(predicted(&mut temporal, 4).is_empty());
        }
    }
}
