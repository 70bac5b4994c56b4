//! What the servers say while the demo runs: once a second each server's `/v1/stats` is
//! read, and the reads it served from its fastest tier and the moves it completed become
//! time series; at the end the migration log and the prefetch status are read too.

use crate::api_client::ApiClient;
use std::net::SocketAddr;
use strata_api::{MigrationLog, PrefetchStatus, StatsReply};

/// Cumulative counters of one server at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tick {
    /// Since the workload started.
    pub at_s: f64,
    pub reads: u64,
    pub fast_tier_reads: u64,
    /// Completed moves, as the server reports them (`None` if it did not say).
    pub moves_done: Option<u64>,
}

/// One server's API, read by the demo.
#[derive(Debug)]
pub struct Probe {
    client: ApiClient,
}

impl Probe {
    pub fn new(api: SocketAddr) -> Self {
        Self {
            client: ApiClient::new(&format!("http://{api}")),
        }
    }

    pub fn stats(&self) -> anyhow::Result<StatsReply> {
        self.client.get("/v1/stats")
    }

    /// The newest `limit` entries of the migration log.
    pub fn migrations(&self, limit: u32) -> anyhow::Result<MigrationLog> {
        self.client.get(&format!("/v1/migrations?limit={limit}"))
    }

    pub fn prefetch(&self) -> anyhow::Result<PrefetchStatus> {
        self.client.get("/v1/prefetch")
    }

    pub fn tick(&self, at_s: f64) -> anyhow::Result<Tick> {
        Ok(tick_of(&self.stats()?, at_s))
    }
}

/// The counters of a stats reply, summed over volumes.
pub fn tick_of(stats: &StatsReply, at_s: f64) -> Tick {
    let fast = stats.tiers.first().map(|t| t.kind.as_str()).unwrap_or("");
    let reads = stats.volumes.iter().map(|v| v.io.reads).sum();
    let fast_tier_reads = stats
        .volumes
        .iter()
        .filter_map(|v| v.io.read_hits_by_tier.get(fast))
        .sum();
    let moves_done = stats
        .migrations
        .note
        .as_deref()
        .and_then(moves_done_in_note);
    Tick {
        at_s,
        reads,
        fast_tier_reads,
        moves_done,
    }
}

/// `/v1/stats` says how many moves completed only in its migration note
/// (`policy strata: 12 moves done (…`); the count is shown live, the report counts the log.
fn moves_done_in_note(note: &str) -> Option<u64> {
    let (before, _) = note.split_once(" moves done")?;
    before.rsplit(' ').next()?.parse().ok()
}

/// Share of reads served by the fastest tier between consecutive ticks, at each tick's
/// time (`None` where no read completed in between).
pub fn fast_hit_ratio_series(ticks: &[Tick]) -> Vec<(f64, Option<f64>)> {
    ticks
        .windows(2)
        .map(|w| {
            let reads = w[1].reads.saturating_sub(w[0].reads);
            let fast = w[1].fast_tier_reads.saturating_sub(w[0].fast_tier_reads);
            (w[1].at_s, (reads > 0).then(|| fast as f64 / reads as f64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_count_is_read_from_the_note() {
        assert_eq!(
            moves_done_in_note("policy strata: 12 moves done (12582912 bytes), 0 failed"),
            Some(12)
        );
        assert_eq!(
            moves_done_in_note("policy strata (following smq): 7 moves done (7340032 bytes)"),
            Some(7)
        );
        assert_eq!(moves_done_in_note("no migration runs"), None);
    }

    #[test]
    fn hit_ratio_is_taken_between_ticks() {
        let tick = |at_s, reads, fast_tier_reads| Tick {
            at_s,
            reads,
            fast_tier_reads,
            moves_done: None,
        };
        let series = fast_hit_ratio_series(&[tick(0.0, 0, 0), tick(1.0, 10, 5), tick(2.0, 10, 5)]);
        assert_eq!(series, [(1.0, Some(0.5)), (2.0, None)]);
    }
}
