//! What each block may legally hold after a crash.
//!
//! Per block: the baseline (what the last verification read), the versions issued since,
//! and the newest version known durable — acknowledged before a flush that completed, or
//! acknowledged with FUA. After a crash the block may hold the durable version or anything
//! issued after it; with no durable version this round, also the baseline.

use super::block::Observed;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data,
    Zero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Lost { want: u64, got: Observed },
    Corrupt,
}

#[derive(Debug, Default, Clone)]
struct BlockState {
    baseline: Option<Observed>,
    /// seq → kind of every version issued since the baseline.
    issued: BTreeMap<u64, Kind>,
    last_acked: Option<u64>,
    durable: Option<u64>,
}

#[derive(Debug)]
pub struct Model {
    blocks: Vec<BlockState>,
    next_seq: u64,
    /// Per writer: blocks acknowledged since that writer's last flush began.
    pending: BTreeMap<usize, Vec<u64>>,
    pub acknowledged_writes: u64,
    pub flushes: u64,
}

/// Blocks a writer's flush covers, captured when the flush is sent.
#[derive(Debug)]
pub struct FlushToken(Vec<(u64, u64)>);

impl Model {
    pub fn new(blocks: u64) -> Self {
        let initial = BlockState {
            baseline: Some(Observed::Zeros),
            ..BlockState::default()
        };
        Self {
            blocks: vec![initial; blocks as usize],
            next_seq: 1,
            pending: BTreeMap::new(),
            acknowledged_writes: 0,
            flushes: 0,
        }
    }

    pub fn issue(&mut self, block: u64, kind: Kind) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(state) = self.blocks.get_mut(block as usize) {
            state.issued.insert(seq, kind);
        }
        seq
    }

    pub fn ack(&mut self, writer: usize, block: u64, seq: u64, fua: bool) {
        self.acknowledged_writes += 1;
        if let Some(state) = self.blocks.get_mut(block as usize) {
            state.last_acked = Some(seq);
            if fua {
                state.durable = Some(seq);
            }
        }
        self.pending.entry(writer).or_default().push(block);
    }

    pub fn begin_flush(&mut self, writer: usize) -> FlushToken {
        let blocks = self.pending.remove(&writer).unwrap_or_default();
        FlushToken(
            blocks
                .into_iter()
                .filter_map(|b| {
                    let acked = self.blocks.get(b as usize)?.last_acked?;
                    Some((b, acked))
                })
                .collect(),
        )
    }

    pub fn end_flush(&mut self, _writer: usize, token: FlushToken) {
        self.flushes += 1;
        for (block, seq) in token.0 {
            if let Some(state) = self.blocks.get_mut(block as usize) {
                state.durable = Some(state.durable.map_or(seq, |d| d.max(seq)));
            }
        }
    }

    pub fn check(&self, block: u64, observed: Observed) -> Verdict {
        let Some(state) = self.blocks.get(block as usize) else {
            return Verdict::Corrupt;
        };
        let allowed_versions = state
            .issued
            .range(state.durable.unwrap_or(0)..)
            .map(|(seq, kind)| (*seq, *kind));
        let matches = |(seq, kind): (u64, Kind)| match (observed, kind) {
            (Observed::Zeros, Kind::Zero) => true,
            (Observed::Version(s), Kind::Data) => s == seq,
            _ => false,
        };
        let baseline_allowed = state.durable.is_none();
        if allowed_versions.clone().any(matches)
            || (baseline_allowed && state.baseline == Some(observed))
        {
            return Verdict::Ok;
        }
        let known_older =
            state.baseline == Some(observed) || state.issued.iter().any(|(s, k)| matches((*s, *k)));
        match (observed, known_older) {
            (Observed::Garbage, _) | (_, false) => Verdict::Corrupt,
            (got, true) => Verdict::Lost {
                want: state.durable.unwrap_or(0),
                got,
            },
        }
    }

    /// After a verification the block holds `observed`; later rounds start from it.
    pub fn rebase(&mut self, block: u64, observed: Observed) {
        if let Some(state) = self.blocks.get_mut(block as usize) {
            *state = BlockState {
                baseline: Some(observed),
                ..BlockState::default()
            };
        }
        self.pending
            .values_mut()
            .for_each(|blocks| blocks.retain(|b| *b != block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushed_versions_must_survive() {
        let mut m = Model::new(4);
        let s1 = m.issue(1, Kind::Data);
        m.ack(0, 1, s1, false);
        let token = m.begin_flush(0);
        m.end_flush(0, token);
        let s2 = m.issue(1, Kind::Data);
        m.ack(0, 1, s2, false);
        assert_eq!(m.check(1, Observed::Version(s1)), Verdict::Ok);
        assert_eq!(m.check(1, Observed::Version(s2)), Verdict::Ok);
        assert!(matches!(m.check(1, Observed::Zeros), Verdict::Lost { .. }));
        assert_eq!(m.check(1, Observed::Version(999)), Verdict::Corrupt);
        assert_eq!(m.check(1, Observed::Garbage), Verdict::Corrupt);
        // Unflushed block: baseline or the new version.
        let s3 = m.issue(2, Kind::Data);
        m.ack(0, 2, s3, false);
        assert_eq!(m.check(2, Observed::Zeros), Verdict::Ok);
        assert_eq!(m.check(2, Observed::Version(s3)), Verdict::Ok);
    }

    #[test]
    fn fua_is_durable_at_once_and_zero_versions_count() {
        let mut m = Model::new(2);
        let s1 = m.issue(0, Kind::Data);
        m.ack(0, 0, s1, true);
        assert!(matches!(m.check(0, Observed::Zeros), Verdict::Lost { .. }));
        let z = m.issue(0, Kind::Zero);
        m.ack(0, 0, z, true);
        assert_eq!(m.check(0, Observed::Zeros), Verdict::Ok);
        assert!(matches!(
            m.check(0, Observed::Version(s1)),
            Verdict::Lost { .. }
        ));
        m.rebase(0, Observed::Zeros);
        assert_eq!(m.check(0, Observed::Zeros), Verdict::Ok);
    }
}
