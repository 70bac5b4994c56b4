//! The prefetcher's families (`strata_prefetch_*`): per volume, labelled with the volume
//! and the predictor it runs, read from `Engine::prefetch_stats` at scrape time.

use super::{Exposition, MetricType};
use strata_engine::{PrefetchStats, VolumePrefetchStats};

type Field = fn(&VolumePrefetchStats) -> f64;

pub(super) fn write_prefetch(out: &mut Exposition, stats: &PrefetchStats) {
    out.single(
        "strata_prefetch_enabled",
        MetricType::Gauge,
        "1 when the prefetcher runs on this server.",
        if stats.enabled { 1.0 } else { 0.0 },
    );
    let families: [(&str, MetricType, &str, Field); 17] = [
        (
            "strata_prefetch_prefetched_extents_total",
            MetricType::Counter,
            "Prefetch moves completed (extent copied to a faster tier).",
            |v| v.counters.prefetched_extents as f64,
        ),
        (
            "strata_prefetch_prefetched_bytes_total",
            MetricType::Counter,
            "Bytes copied up by prefetch moves.",
            |v| v.counters.prefetched_bytes as f64,
        ),
        (
            "strata_prefetch_used_extents_total",
            MetricType::Counter,
            "Prefetched extents read while still on the tier prefetch put them on.",
            |v| v.counters.used_extents as f64,
        ),
        (
            "strata_prefetch_wasted_extents_total",
            MetricType::Counter,
            "Prefetched extents given up unread (demoted, evicted, trimmed or past the horizon).",
            |v| v.counters.wasted_extents as f64,
        ),
        (
            "strata_prefetch_wasted_bytes_total",
            MetricType::Counter,
            "Bytes of prefetched extents given up unread.",
            |v| v.counters.wasted_bytes as f64,
        ),
        (
            "strata_prefetch_demand_reads_total",
            MetricType::Counter,
            "Demand reads seen by the prefetcher (one per extent a read touched).",
            |v| v.counters.demand_reads as f64,
        ),
        (
            "strata_prefetch_covered_reads_total",
            MetricType::Counter,
            "Demand reads served from a prefetched extent.",
            |v| v.counters.covered_reads as f64,
        ),
        (
            "strata_prefetch_timely_total",
            MetricType::Counter,
            "Used prefetches that completed before their first demand read.",
            |v| v.counters.timely as f64,
        ),
        (
            "strata_prefetch_late_total",
            MetricType::Counter,
            "Predicted extents demanded while still queued or being copied.",
            |v| v.counters.late as f64,
        ),
        (
            "strata_prefetch_dropped_total",
            MetricType::Counter,
            "Prefetch candidates pushed out of a full queue.",
            |v| v.counters.dropped as f64,
        ),
        (
            "strata_prefetch_evicted_extents_total",
            MetricType::Counter,
            "Idle extents demoted from the fastest tier to make room for this volume's prefetches.",
            |v| v.counters.evicted_extents as f64,
        ),
        (
            "strata_prefetch_precision_ratio",
            MetricType::Gauge,
            "used_extents / prefetched_extents since start-up, 0 to 1.",
            |v| v.counters.precision(),
        ),
        (
            "strata_prefetch_coverage_ratio",
            MetricType::Gauge,
            "covered_reads / demand_reads since start-up, 0 to 1.",
            |v| v.counters.coverage(),
        ),
        (
            "strata_prefetch_timeliness_ratio",
            MetricType::Gauge,
            "timely / (timely + late) since start-up, 0 to 1.",
            |v| v.counters.timeliness(),
        ),
        (
            "strata_prefetch_depth",
            MetricType::Gauge,
            "Extents the self-tuner lets the predictor ask for per round (0 = off).",
            |v| v.depth as f64,
        ),
        (
            "strata_prefetch_threshold",
            MetricType::Gauge,
            "Minimum prediction confidence the self-tuner accepts now.",
            |v| f64::from(v.threshold),
        ),
        (
            "strata_prefetch_queue_length",
            MetricType::Gauge,
            "Prefetches waiting for the migration executor.",
            |v| v.queue_len as f64,
        ),
    ];
    for (name, kind, help, field) in families {
        out.family(name, kind, help);
        for v in &stats.volumes {
            out.sample(
                name,
                &[("volume", &v.volume), ("predictor", &v.predictor)],
                field(v),
            );
        }
    }
}
