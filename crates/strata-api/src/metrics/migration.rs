//! Background migration's families (`strata_migration_*`), read from
//! `Engine::migration_stats` at scrape time: what the policy asked for, what the executor
//! did with it and how many bytes it copied.

use super::{Exposition, MetricType};
use strata_engine::MigrationStats;

pub(super) fn write_migration(out: &mut Exposition, stats: &MigrationStats) {
    out.family(
        "strata_migration_policy_info",
        MetricType::Gauge,
        "Always 1; the label names the configured placement policy.",
    )
    .sample(
        "strata_migration_policy_info",
        &[("policy", &stats.policy)],
        1.0,
    );
    if let Some(candidate) = &stats.following {
        out.family(
            "strata_migration_policy_following_info",
            MetricType::Gauge,
            "Always 1; the label names the candidate the strata policy follows now.",
        )
        .sample(
            "strata_migration_policy_following_info",
            &[("candidate", candidate)],
            1.0,
        );
    }
    out.single(
        "strata_migration_planned_total",
        MetricType::Counter,
        "Moves the placement policy asked for, before any rejection.",
        stats.planned as f64,
    );
    out.family(
        "strata_migration_rejected_total",
        MetricType::Counter,
        "Moves the executor refused, by reason (wrong source, invalid, full or degraded target, over budget, queue full, already queued).",
    );
    for (reason, count) in &stats.rejected_by_reason {
        out.sample(
            "strata_migration_rejected_total",
            &[("reason", reason)],
            *count as f64,
        );
    }
    out.family(
        "strata_migration_moves_total",
        MetricType::Counter,
        "Moves the executor finished, by outcome.",
    );
    for (outcome, count) in [
        ("done", stats.completed),
        ("failed", stats.failed),
        ("aborted", stats.aborted),
        ("cancelled", stats.cancelled),
    ] {
        out.sample(
            "strata_migration_moves_total",
            &[("outcome", outcome)],
            count as f64,
        );
    }
    out.single(
        "strata_migration_bytes_total",
        MetricType::Counter,
        "Bytes copied by completed moves (policy moves and prefetches).",
        stats.bytes_moved as f64,
    );
    out.single(
        "strata_migration_disk_time_wait_seconds_total",
        MetricType::Counter,
        "Time copies waited for their share of a disk's time while foreground requests used it.",
        stats.disk_time_wait_ms as f64 / 1000.0,
    );
    out.single(
        "strata_migration_queue_length",
        MetricType::Gauge,
        "Moves waiting for the executor.",
        stats.queue_len as f64,
    );
    out.single(
        "strata_migration_queue_oldest_seconds",
        MetricType::Gauge,
        "How long the oldest move waiting for the executor has waited (0 with none).",
        stats.queue_oldest_ms as f64 / 1000.0,
    );
    out.single(
        "strata_migration_in_flight",
        MetricType::Gauge,
        "Moves being executed now (0 or 1).",
        stats.in_flight as f64,
    );
    out.single(
        "strata_migration_unmapped_extents_total",
        MetricType::Counter,
        "Extents volumes unmapped (trimmed or zeroed whole) that the placement policy dropped from its books.",
        stats.unmapped as f64,
    );
    out.single(
        "strata_migration_degraded_tiers",
        MetricType::Gauge,
        "Tiers no longer used as migration targets after repeated device errors.",
        stats.degraded_tiers.len() as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exposed_with_its_value() {
        let stats = MigrationStats {
            policy: "strata".to_owned(),
            following: Some("arc-tier".to_owned()),
            planned: 9,
            rejected: 2,
            rejected_by_reason: [("over_budget", 1), ("already_queued", 1)]
                .into_iter()
                .collect(),
            completed: 5,
            failed: 1,
            aborted: 3,
            cancelled: 4,
            bytes_moved: 5 << 20,
            disk_time_wait_ms: 2500,
            queue_len: 7,
            queue_oldest_ms: 1500,
            in_flight: 1,
            unmapped: 6,
            degraded_tiers: vec![strata_core::TierKind::Ssd],
        };
        let mut out = Exposition::new();
        write_migration(&mut out, &stats);
        let text = out.finish();
        for line in [
            "strata_migration_policy_info{policy=\"strata\"} 1",
            "strata_migration_policy_following_info{candidate=\"arc-tier\"} 1",
            "strata_migration_planned_total 9",
            "strata_migration_rejected_total{reason=\"over_budget\"} 1",
            "strata_migration_rejected_total{reason=\"already_queued\"} 1",
            "strata_migration_moves_total{outcome=\"done\"} 5",
            "strata_migration_moves_total{outcome=\"failed\"} 1",
            "strata_migration_moves_total{outcome=\"aborted\"} 3",
            "strata_migration_moves_total{outcome=\"cancelled\"} 4",
            "strata_migration_bytes_total 5242880",
            "strata_migration_disk_time_wait_seconds_total 2.5",
            "strata_migration_queue_length 7",
            "strata_migration_queue_oldest_seconds 1.5",
            "strata_migration_in_flight 1",
            "strata_migration_unmapped_extents_total 6",
            "strata_migration_degraded_tiers 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
