//! The auto predictor: runs readahead, stride, Leap, Markov and temporal streaming side by
//! side and measures, per stream, each member's recent precision (the share of its
//! predicted blocks that were accessed within a horizon, [`Scoreboard`](crate::scoreboard))
//! separately for each *bucket* of its predictions: the rank of the prediction among the
//! member's (1st, 2nd, 3rd–4th, 5th–8th, later) and the member's own confidence in it, in
//! quarters. A candidate block scores the precision its member has shown in that bucket
//! (the noisy-OR when several members predict it), and the best-scoring candidates above a
//! floor are predicted. So auto takes from each member as deep and as sure as that member
//! has been right: a Markov table's likely first guess next to Leap's window when both
//! pay, a temporal replay only where it has matched, one member alone when the others do
//! not, (almost) nothing on streams nobody predicts. The confidence quarters calibrate
//! each member's own estimate against what happened, so a member's sure guesses are not
//! averaged with its long shots. Every member is scored on what it *would* have
//! predicted, heard or not, so auto notices when a stream becomes predictable again.
//!
//! Precision starts from a per-workload-class preference table ([`class_preference`]):
//! a classifier can tell auto a stream's class with `set_class`.

use crate::access::{Access, AccessPredictor, Prediction};
use crate::class::WorkloadClass;
use crate::leap::Leap;
use crate::markov::Markov;
use crate::readahead::Readahead;
use crate::scoreboard::Scoreboard;
use crate::streams::StreamTable;
use crate::stride::Stride;
use crate::temporal::Temporal;

/// Members, in the order of [`class_preference`] rows.
pub const AUTO_MEMBERS: [&str; 5] = ["readahead", "stride", "leap", "markov", "temporal"];
const MEMBERS: usize = AUTO_MEMBERS.len();

/// Rank buckets of a member's predictions: 1st, 2nd, 3rd–4th, 5th–8th, 9th and later.
pub const RANKS: usize = 5;

/// Confidence bands of a member's predictions: [0, ¼), [¼, ½), [½, ¾), [¾, 1].
pub const BANDS: usize = 4;

fn rank_bucket(rank: usize) -> usize {
    match rank {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=7 => 3,
        _ => 4,
    }
}

/// The confidence band of a prediction (see [`BANDS`]).
pub fn confidence_band(confidence: f32) -> usize {
    // Truncation is the binning; NaN lands in the lowest band.
    ((confidence.clamp(0.0, 1.0) * BANDS as f32) as usize).min(BANDS - 1)
}

/// Precision of one member per (rank bucket, confidence band).
pub type BucketPrecision = [[f32; BANDS]; RANKS];

/// The scoreboard tag of a prediction: its rank bucket and confidence band in one byte.
fn tag_of(rank: usize, confidence: f32) -> u8 {
    (rank_bucket(rank) * BANDS + confidence_band(confidence)) as u8
}

/// Initial precision of each member (in [`AUTO_MEMBERS`] order) for a class: sequential
/// classes trust readahead first, databases the delta-correlation and temporal tables.
pub fn class_preference(class: WorkloadClass) -> [f32; MEMBERS] {
    match class {
        WorkloadClass::Backup => [0.6, 0.3, 0.3, 0.2, 0.2],
        WorkloadClass::File => [0.5, 0.3, 0.3, 0.2, 0.2],
        WorkloadClass::Database => [0.2, 0.2, 0.2, 0.5, 0.4],
        WorkloadClass::Vdi => [0.3, 0.2, 0.3, 0.4, 0.4],
        // Below the tuner's confidence floor (0.3): no member is heard before it has been right.
        WorkloadClass::Web | WorkloadClass::Dev | WorkloadClass::Unknown => [0.2; MEMBERS],
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoConfig {
    /// A predicted block counts as used if accessed within this many accesses.
    pub horizon_accesses: u64,
    /// Outstanding predictions remembered per member.
    pub scoreboard_entries: usize,
    /// Candidates whose member's precision at their rank is below this are not predicted.
    pub min_precision: f32,
    /// Weight of one resolved prediction in the moving precision.
    pub learning_rate: f32,
    /// Class assumed for streams nobody classified.
    pub class: WorkloadClass,
    pub streams: usize,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            horizon_accesses: 256,
            scoreboard_entries: 4096,
            min_precision: 0.15,
            learning_rate: 1.0 / 32.0,
            class: WorkloadClass::Unknown,
            streams: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamScores {
    seeded: bool,
    /// Predictions resolved so far: a class hint reseeds only a stream with little history.
    resolved: u32,
    /// Each member's precision over all its predictions (what [`Auto::precision`] reports).
    precision: [f32; MEMBERS],
    /// Each member's precision per bucket (what candidates are scored by).
    by_bucket: [BucketPrecision; MEMBERS],
}

impl StreamScores {
    fn seed(&mut self, class: WorkloadClass) {
        self.seeded = true;
        self.precision = class_preference(class);
        for (buckets, &p) in self.by_bucket.iter_mut().zip(&self.precision) {
            *buckets = [[p; BANDS]; RANKS];
        }
    }

    /// One resolved prediction of `member`, tagged by [`tag_of`].
    fn resolve(&mut self, member: usize, tag: u8, hit: bool, rate: f32) {
        let target = if hit { 1.0 } else { 0.0 };
        self.precision[member] += rate * (target - self.precision[member]);
        let (rank, band) = (usize::from(tag) / BANDS, usize::from(tag) % BANDS);
        if let Some(p) = self.by_bucket[member]
            .get_mut(rank)
            .and_then(|bands| bands.get_mut(band))
        {
            *p += rate * (target - *p);
        }
        self.resolved = self.resolved.saturating_add(1);
    }
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    block: u64,
    score: f32,
    expected_in_accesses: u32,
    expected_time_ns: Option<u64>,
}

/// Picks and blends the other predictors by their measured precision.
#[derive(Debug)]
pub struct Auto {
    config: AutoConfig,
    members: [Box<dyn AccessPredictor>; MEMBERS],
    boards: [Scoreboard; MEMBERS],
    scores: StreamTable<StreamScores>,
    tick: u64,
    current: Option<u64>,
    scratch: Vec<Prediction>,
    candidates: Vec<Candidate>,
}

impl Auto {
    pub fn new(config: AutoConfig) -> Self {
        let board = Scoreboard::new(config.horizon_accesses, config.scoreboard_entries);
        Self {
            members: [
                Box::new(Readahead::default()),
                Box::new(Stride::default()),
                Box::new(Leap::default()),
                Box::new(Markov::default()),
                Box::new(Temporal::default()),
            ],
            boards: std::array::from_fn(|_| board.clone()),
            scores: StreamTable::new(config.streams),
            tick: 0,
            current: None,
            scratch: Vec::with_capacity(256),
            candidates: Vec::with_capacity(1024),
            config,
        }
    }

    /// Measured precision of each member on `stream`, in [`AUTO_MEMBERS`] order.
    pub fn precision(&self, stream: u64) -> Option<[f32; MEMBERS]> {
        self.scores
            .get(stream)
            .filter(|s| s.seeded)
            .map(|s| s.precision)
    }

    /// Measured precision of each member's predictions on `stream` by rank bucket (1st,
    /// 2nd, 3rd–4th, 5th–8th, later) and confidence band ([`confidence_band`]), members in
    /// [`AUTO_MEMBERS`] order.
    pub fn precision_by_bucket(&self, stream: u64) -> Option<[BucketPrecision; MEMBERS]> {
        self.scores
            .get(stream)
            .filter(|s| s.seeded)
            .map(|s| s.by_bucket)
    }
}

impl Default for Auto {
    fn default() -> Self {
        Self::new(AutoConfig::default())
    }
}

fn scores_of(
    scores: &mut StreamTable<StreamScores>,
    stream: u64,
    class: WorkloadClass,
) -> &mut StreamScores {
    let entry = scores.get_or_insert(stream);
    if !entry.seeded {
        entry.seed(class);
    }
    entry
}

impl AccessPredictor for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn observe(&mut self, access: &Access) {
        self.tick += 1;
        self.current = Some(access.stream);
        let rate = self.config.learning_rate;
        scores_of(&mut self.scores, access.stream, self.config.class);
        for (member, board) in self.boards.iter_mut().enumerate() {
            let scores = &mut self.scores;
            board.observe(
                access.stream,
                access.block,
                self.tick,
                &mut |stream, bucket, hit| {
                    if let Some(entry) = scores.get_mut(stream) {
                        entry.resolve(member, bucket, hit, rate);
                    }
                },
            );
        }
        for member in &mut self.members {
            member.observe(access);
        }
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let rate = self.config.learning_rate;
        let by_bucket = scores_of(&mut self.scores, stream, self.config.class).by_bucket;
        let floor = self.config.min_precision;
        self.candidates.clear();
        for (member, predictor) in self.members.iter_mut().enumerate() {
            self.scratch.clear();
            predictor.predict(max, &mut self.scratch);
            let scores = &mut self.scores;
            for (rank, prediction) in self.scratch.iter().enumerate() {
                let tag = tag_of(rank, prediction.confidence);
                // Every member is scored on what it would have prefetched, heard or not.
                self.boards[member].record(
                    prediction.stream,
                    prediction.block,
                    self.tick,
                    tag,
                    &mut |s, tag, hit| {
                        if let Some(entry) = scores.get_mut(s) {
                            entry.resolve(member, tag, hit, rate);
                        }
                    },
                );
                let band = confidence_band(prediction.confidence);
                let score = by_bucket[member][rank_bucket(rank)][band];
                if score >= floor {
                    self.candidates.push(Candidate {
                        block: prediction.block,
                        score,
                        expected_in_accesses: prediction.expected_in_accesses,
                        expected_time_ns: prediction.expected_time_ns,
                    });
                }
            }
        }
        // Blend: a block several members predict gets the noisy-OR of their scores.
        self.candidates.sort_unstable_by_key(|c| c.block);
        let mut merged = 0;
        for index in 0..self.candidates.len() {
            let candidate = self.candidates[index];
            if merged > 0 && self.candidates[merged - 1].block == candidate.block {
                let kept = &mut self.candidates[merged - 1];
                kept.score = 1.0 - (1.0 - kept.score) * (1.0 - candidate.score);
                kept.expected_in_accesses = kept
                    .expected_in_accesses
                    .min(candidate.expected_in_accesses);
                kept.expected_time_ns = kept.expected_time_ns.or(candidate.expected_time_ns);
            } else {
                self.candidates[merged] = candidate;
                merged += 1;
            }
        }
        self.candidates.truncate(merged);
        self.candidates.sort_unstable_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.expected_in_accesses.cmp(&b.expected_in_accesses))
                .then(a.block.cmp(&b.block))
        });
        out.extend(self.candidates.iter().take(max).map(|c| Prediction {
            stream,
            block: c.block,
            confidence: c.score.clamp(0.0, 1.0),
            expected_in_accesses: c.expected_in_accesses,
            expected_time_ns: c.expected_time_ns,
        }));
    }

    fn size_for(&mut self, blocks: u64) {
        for member in &mut self.members {
            member.size_for(blocks);
        }
    }

    fn set_class(&mut self, stream: u64, class: WorkloadClass) {
        let entry = self.scores.get_or_insert(stream);
        if !entry.seeded || entry.resolved < 64 {
            entry.seed(class);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_which_member_is_precise() {
        let mut auto = Auto::default();
        let mut out = Vec::new();
        // A stride of 7: stride and Leap are right, readahead never starts, Markov learns.
        for i in 0..2000u64 {
            auto.observe(&Access::read(3, 100 + 7 * i));
            out.clear();
            auto.predict(8, &mut out);
        }
        let precision = auto.precision(3).unwrap();
        assert!(precision[1] > 0.8, "stride {precision:?}");
        assert!(precision[2] > 0.8, "leap {precision:?}");
        assert!(out.iter().all(|p| (p.block - 100) % 7 == 0), "{out:?}");
        assert!(!out.is_empty());
    }

    #[test]
    fn takes_a_member_only_as_deep_as_it_has_been_right() {
        let mut auto = Auto::default();
        let mut out = Vec::new();
        // Pairs of adjacent blocks at pseudo-random places: the first block of a pair is
        // always followed by its successor, and nothing after that is predictable.
        let mut x = 12_345u64;
        let mut last = (0, Vec::new());
        for _ in 0..4000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let base = (x >> 20) % 1_000_000_000;
            for block in [base, base + 1] {
                auto.observe(&Access::read(3, block));
                out.clear();
                auto.predict(8, &mut out);
                if block == base {
                    last = (base, out.iter().map(|p| p.block).collect());
                }
            }
        }
        let by_bucket = auto.precision_by_bucket(3).unwrap();
        // Leap guesses the neighbourhood here, always at confidence 0.25.
        let leap = by_bucket[2];
        let band = confidence_band(0.25);
        assert!(leap[0][band] > 0.3, "leap's first guess {leap:?}");
        assert!(leap[1][band] < 0.05, "leap's second guess {leap:?}");
        let readahead_overall = auto.precision(3).unwrap()[0];
        assert!(readahead_overall < 0.05, "readahead {readahead_overall}");
        // Leap's first guess alone, however deep the round may go.
        assert_eq!(last.1, [last.0 + 1]);
    }

    #[test]
    fn calibrates_each_member_by_its_own_confidence() {
        let mut auto = Auto::default();
        let mut out = Vec::new();
        // Rounds of +5, +7, +11, then a random jump: Markov is sure (and right) after +5
        // and +7, and unsure (and wrong) after +11. One prediction per access, so every
        // guess is a first guess.
        let (mut block, mut x) = (1_000_000u64, 99u64);
        let mut after_five = Vec::new();
        for _ in 0..3000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for step in [5, 7, 11, 13 * (1 + (x >> 33) % 1000)] {
                block += step;
                auto.observe(&Access::read(4, block));
                out.clear();
                auto.predict(1, &mut out);
                if step == 5 {
                    after_five = out.iter().map(|p| p.block).collect();
                    after_five.insert(0, block);
                }
            }
        }
        // The same rank holds a band that is always right and one that is always wrong.
        let markov_first = auto.precision_by_bucket(4).unwrap()[3][0];
        assert!(markov_first.iter().any(|&p| p > 0.9), "{markov_first:?}");
        assert!(markov_first.iter().any(|&p| p < 0.1), "{markov_first:?}");
        assert_eq!(
            after_five.get(1),
            Some(&(after_five[0] + 7)),
            "{after_five:?}"
        );
    }

    #[test]
    fn class_seeds_the_preference() {
        let mut auto = Auto::default();
        auto.set_class(9, WorkloadClass::Backup);
        assert_eq!(
            auto.precision(9).unwrap(),
            class_preference(WorkloadClass::Backup)
        );
        assert_eq!(
            "database".parse::<WorkloadClass>().unwrap(),
            WorkloadClass::Database
        );
    }
}
