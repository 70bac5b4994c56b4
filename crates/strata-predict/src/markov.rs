//! Delta-correlation (Markov) prediction: a bounded table maps the previous delta
//! (order 1) and the previous two deltas (order 2) of a stream to a small histogram of the
//! delta that followed. Prediction looks up the order-2 context, falling back to order 1,
//! emits the likeliest next deltas with their empirical probabilities (add-one smoothed),
//! and follows the likeliest one to predict further ahead (probabilities multiply along
//! the chain).
//!
//! The table is a fixed, 4-way set-associative array shared by all streams, so patterns
//! learnt on one volume help another and memory never grows. A context that misses in a
//! full set ages the set's weakest entry (halving its counts) and replaces it only once
//! it is nearly empty, so a burst of random deltas cannot flush learnt patterns.

use crate::access::{
    Access, AccessPredictor, Prediction, block_delta, offset_block, sized_entries,
};
use crate::streams::StreamTable;

/// Next-delta slots per context.
const SLOTS: usize = 4;
/// Entries per set.
const WAYS: usize = 4;
/// Counts halve when a slot reaches this, keeping the histogram recent.
const COUNT_LIMIT: u32 = 1 << 12;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkovConfig {
    /// Table entries (rounded up to a power of two, at least one set).
    pub entries: usize,
    /// Predictions below this probability are not emitted.
    pub min_probability: f32,
    pub streams: usize,
}

impl Default for MarkovConfig {
    fn default() -> Self {
        Self {
            entries: 1 << 16,
            min_probability: 0.05,
            streams: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Hash of the context; 0 marks an empty entry.
    tag: u64,
    deltas: [i64; SLOTS],
    counts: [u32; SLOTS],
    total: u32,
}

impl Entry {
    fn record(&mut self, delta: i64) {
        let slot = match self
            .deltas
            .iter()
            .zip(&self.counts)
            .position(|(&d, &c)| c > 0 && d == delta)
        {
            Some(slot) => slot,
            None => {
                let weakest = (0..SLOTS).min_by_key(|&i| self.counts[i]).unwrap_or(0);
                self.total -= self.counts[weakest];
                self.deltas[weakest] = delta;
                self.counts[weakest] = 0;
                weakest
            }
        };
        self.counts[slot] += 1;
        self.total += 1;
        if self.counts[slot] >= COUNT_LIMIT {
            self.halve();
        }
    }

    fn halve(&mut self) {
        for count in &mut self.counts {
            *count /= 2;
        }
        self.total = self.counts.iter().sum();
    }

    /// Empirical probability of a slot's delta, with one pseudo-observation of "something
    /// else" so that a context seen once is a guess (1/2), not a certainty.
    fn probability(&self, slot: usize) -> f32 {
        self.counts[slot] as f32 / (self.total as f32 + 1.0)
    }

    /// The likeliest delta and its probability.
    fn best(&self) -> Option<(i64, f32)> {
        let slot = (0..SLOTS).max_by_key(|&i| self.counts[i])?;
        (self.counts[slot] > 0).then(|| (self.deltas[slot], self.probability(slot)))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    last: Option<u64>,
    /// Newest delta.
    d1: Option<i64>,
    /// The delta before it.
    d2: Option<i64>,
}

/// The delta-correlation predictor.
#[derive(Debug, Clone)]
pub struct Markov {
    config: MarkovConfig,
    table: Vec<Entry>,
    set_mask: usize,
    streams: StreamTable<StreamState>,
    current: Option<u64>,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser: contexts that differ in one bit land in unrelated sets.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn context_tag(d1: i64, d2: Option<i64>) -> u64 {
    let order1 = mix(d1 as u64 ^ 0x5151_5151);
    let tag = match d2 {
        Some(d2) => mix(order1 ^ mix(d2 as u64).rotate_left(17)),
        None => order1,
    };
    tag.max(1)
}

impl Markov {
    pub fn new(config: MarkovConfig) -> Self {
        let entries = config.entries.max(WAYS).next_power_of_two();
        Self {
            table: vec![Entry::default(); entries],
            set_mask: entries / WAYS - 1,
            streams: StreamTable::new(config.streams),
            config,
            current: None,
        }
    }

    /// Bytes of the table, the bulk of the predictor's memory.
    pub fn table_bytes(&self) -> usize {
        self.table.len() * std::mem::size_of::<Entry>()
    }

    fn set_of(&self, tag: u64) -> std::ops::Range<usize> {
        let set = (tag as usize) & self.set_mask;
        set * WAYS..set * WAYS + WAYS
    }

    fn lookup(&self, tag: u64) -> Option<&Entry> {
        self.table[self.set_of(tag)]
            .iter()
            .find(|e| e.tag == tag && e.total > 0)
    }

    fn learn(&mut self, tag: u64, delta: i64) {
        let range = self.set_of(tag);
        let set = &mut self.table[range];
        if let Some(entry) = set.iter_mut().find(|e| e.tag == tag) {
            entry.record(delta);
            return;
        }
        let Some(victim) = set.iter_mut().min_by_key(|e| e.total) else {
            return;
        };
        if victim.total <= 1 {
            *victim = Entry {
                tag,
                ..Entry::default()
            };
            victim.record(delta);
        } else {
            victim.halve();
        }
    }

    /// The histogram for a stream context: order 2 when it has been seen, else order 1.
    fn context(&self, d1: i64, d2: Option<i64>) -> Option<&Entry> {
        d2.and_then(|d2| self.lookup(context_tag(d1, Some(d2))))
            .filter(|e| e.total >= 2)
            .or_else(|| self.lookup(context_tag(d1, None)))
    }
}

impl Default for Markov {
    fn default() -> Self {
        Self::new(MarkovConfig::default())
    }
}

impl AccessPredictor for Markov {
    fn name(&self) -> &'static str {
        "markov"
    }

    /// Shrinks the table to 16 entries per block ([`sized_entries`]). Only before the
    /// first access.
    fn size_for(&mut self, blocks: u64) {
        let entries = sized_entries(blocks, self.table.len());
        if self.current.is_none() && entries < self.table.len() {
            self.table = vec![Entry::default(); entries];
            self.set_mask = entries / WAYS - 1;
        }
    }

    fn observe(&mut self, access: &Access) {
        self.current = Some(access.stream);
        let state = *self.streams.get_or_insert(access.stream);
        let Some(last) = state.last else {
            *self.streams.get_or_insert(access.stream) = StreamState {
                last: Some(access.block),
                ..state
            };
            return;
        };
        if last == access.block {
            return;
        }
        let delta = block_delta(last, access.block);
        if let Some(d1) = state.d1 {
            self.learn(context_tag(d1, None), delta);
            if let Some(d2) = state.d2 {
                self.learn(context_tag(d1, Some(d2)), delta);
            }
        }
        *self.streams.get_or_insert(access.stream) = StreamState {
            last: Some(access.block),
            d1: Some(delta),
            d2: state.d1,
        };
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let Some(&state) = self.streams.get(stream) else {
            return;
        };
        let (Some(mut block), Some(mut d1)) = (state.last, state.d1) else {
            return;
        };
        let mut d2 = state.d2;
        let mut chain_probability = 1.0f32;
        let start = out.len();
        let mut step = 1u32;
        while out.len() - start < max && step <= 64 {
            let Some(entry) = self.context(d1, d2).copied() else {
                break;
            };
            let Some((best_delta, best_p)) = entry.best() else {
                break;
            };
            let mut ranked = [(0i64, 0.0f32); SLOTS];
            for (slot, rank) in ranked.iter_mut().enumerate() {
                *rank = (entry.deltas[slot], entry.probability(slot));
            }
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (delta, p) in ranked {
                let probability = chain_probability * p;
                if p <= 0.0 || probability < self.config.min_probability || out.len() - start >= max
                {
                    continue;
                }
                let Some(target) = offset_block(block, delta) else {
                    continue;
                };
                if Some(target) == state.last || out[start..].iter().any(|p| p.block == target) {
                    continue;
                }
                out.push(Prediction {
                    stream,
                    block: target,
                    confidence: probability.clamp(0.0, 1.0),
                    expected_in_accesses: step,
                    expected_time_ns: None,
                });
            }
            chain_probability *= best_p;
            if chain_probability < self.config.min_probability {
                break;
            }
            let Some(next) = offset_block(block, best_delta) else {
                break;
            };
            block = next;
            d2 = Some(d1);
            d1 = best_delta;
            step += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predictions(markov: &mut Markov, max: usize) -> Vec<Prediction> {
        let mut out = Vec::new();
        markov.predict(max, &mut out);
        out
    }

    #[test]
    fn learns_a_repeating_delta_pattern() {
        let mut markov = Markov::default();
        // Deltas +1, +1, +100 repeating: a record of two blocks then a jump.
        let mut block = 0u64;
        for i in 0..300 {
            markov.observe(&Access::read(0, block));
            block += if i % 3 == 2 { 100 } else { 1 };
        }
        // The last two deltas were +1, +1, so +100 comes next, then +1, +1.
        let predicted = predictions(&mut markov, 3);
        let blocks: Vec<u64> = predicted.iter().map(|p| p.block).collect();
        assert_eq!(blocks, [block, block + 1, block + 2], "{predicted:?}");
        assert!(predicted[0].confidence > 0.9, "{predicted:?}");
        assert_eq!(blocks.len(), 3);
    }

    #[test]
    fn sized_for_a_small_volume_it_shrinks_and_still_learns_a_tour_of_all_its_blocks() {
        let default_bytes = Markov::default().table_bytes();
        assert_eq!(default_bytes, 4 << 20);
        let mut small = Markov::default();
        small.size_for(256);
        assert_eq!(small.table_bytes(), default_bytes / 16);
        // A tour over all 256 blocks in a fixed irregular order: 256 distinct contexts of
        // each order.
        let mut tour: Vec<u64> = (0..256u64).collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..tour.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            tour.swap(i, (seed >> 33) as usize % (i + 1));
        }
        for _ in 0..4 {
            for &block in &tour {
                small.observe(&Access::read(0, block));
            }
        }
        let mut right = 0;
        for window in tour.windows(2) {
            small.observe(&Access::read(0, window[0]));
            if predictions(&mut small, 1).first().map(|p| p.block) == Some(window[1]) {
                right += 1;
            }
        }
        assert!(right > 240, "{right} of 255");
        small.size_for(1);
        assert_eq!(small.table_bytes(), default_bytes / 16);
    }

    #[test]
    fn probabilities_follow_the_histogram() {
        let mut markov = Markov::default();
        // Rounds of +5 then +7, except +9 every fourth round. After the context (+7, +5)
        // the next delta is +7 two times in three and +9 once.
        let mut block = 1000u64;
        for round in 0..41 {
            markov.observe(&Access::read(0, block));
            block += 5;
            markov.observe(&Access::read(0, block));
            block += if round % 4 == 3 { 9 } else { 7 };
        }
        markov.observe(&Access::read(0, block));
        block += 5;
        markov.observe(&Access::read(0, block));
        let predicted = predictions(&mut markov, 2);
        assert_eq!(predicted[0].block, block + 7);
        assert!(
            (predicted[0].confidence - 2.0 / 3.0).abs() < 0.1,
            "{predicted:?}"
        );
        assert_eq!(predicted[1].block, block + 9);
        assert!(
            (predicted[1].confidence - 1.0 / 3.0).abs() < 0.1,
            "{predicted:?}"
        );
    }
}
