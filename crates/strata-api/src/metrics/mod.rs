//! `GET /metrics`: Prometheus text exposition of this server (names and meanings in
//! `docs/metrics.md`). Numbers are read at scrape time from their owners — the engine's
//! tier and volume counters, the NBD server's atomics — plus any [`Collector`] a component
//! registered on the [`ApiState`]; nothing is kept in global state.

mod migration;
mod prefetch;
mod text;

pub use text::{CONTENT_TYPE, Exposition, MetricType};

use crate::tiers::ratio;
use crate::{ApiError, ApiState, blocking};
use axum::http::header;
use axum::response::IntoResponse;
use strata_engine::{Engine, ReservationStats, TierStatus, VolumeInfo, VolumeStats};
use strata_nbd::StatsSnapshot;

/// A component that adds its own families to every scrape (migration executor,
/// prefetcher, control plane), registered with [`ApiState::with_collector`].
pub trait Collector: Send + Sync {
    /// Appends families; called on the blocking pool, so it may take locks.
    fn collect(&self, out: &mut Exposition);
}

/// Everything one scrape reports, gathered under no lock held across families.
struct Scrape {
    tiers: Vec<TierStatus>,
    volumes: Vec<(VolumeInfo, VolumeStats)>,
}

fn gather(engine: &Engine) -> Scrape {
    let volumes = engine
        .list_volumes()
        .into_iter()
        .filter_map(|info| {
            // A volume deleted mid-scrape simply drops out.
            let stats = engine.volume_stats(&info.name).ok()?;
            Some((info, stats))
        })
        .collect();
    Scrape {
        tiers: engine.tiers(),
        volumes,
    }
}

/// Renders the whole exposition for `state`.
pub fn render(state: &ApiState) -> String {
    let scrape = gather(&state.engine);
    let mut out = Exposition::new();
    out.family(
        "strata_build_info",
        MetricType::Gauge,
        "Always 1; labels name the version and server id.",
    )
    .sample(
        "strata_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("server_id", &state.server_id),
        ],
        1.0,
    );
    write_tiers(&mut out, &scrape.tiers);
    write_volumes(&mut out, &scrape.volumes);
    migration::write_migration(&mut out, &state.engine.migration_stats());
    prefetch::write_prefetch(&mut out, &state.engine.prefetch_stats());
    write_reservations(&mut out, &state.engine.reservation_stats());
    if let Some(stats) = &state.nbd_stats {
        write_nbd(&mut out, &stats.snapshot());
    }
    for collector in &state.collectors {
        collector.collect(&mut out);
    }
    out.finish()
}

type TierField = fn(&TierStatus) -> f64;

fn write_tiers(out: &mut Exposition, tiers: &[TierStatus]) {
    let families: [(&str, MetricType, &str, TierField); 15] = [
        (
            "strata_tier_capacity_bytes",
            MetricType::Gauge,
            "Allocatable bytes of the tier.",
            |t| t.capacity_bytes as f64,
        ),
        (
            "strata_tier_used_bytes",
            MetricType::Gauge,
            "Bytes of the tier held by allocated extents.",
            |t| t.used_bytes as f64,
        ),
        (
            "strata_tier_free_bytes",
            MetricType::Gauge,
            "Bytes of the tier not allocated.",
            |t| t.free_bytes as f64,
        ),
        (
            "strata_tier_occupancy_ratio",
            MetricType::Gauge,
            "used_bytes / capacity_bytes, 0 to 1.",
            |t| ratio(t.used_bytes, t.capacity_bytes),
        ),
        (
            "strata_tier_reads_total",
            MetricType::Counter,
            "Read operations sent to the tier's device.",
            |t| t.io.reads as f64,
        ),
        (
            "strata_tier_writes_total",
            MetricType::Counter,
            "Write operations sent to the tier's device.",
            |t| t.io.writes as f64,
        ),
        (
            "strata_tier_read_bytes_total",
            MetricType::Counter,
            "Bytes read from the tier's device.",
            |t| t.io.read_bytes as f64,
        ),
        (
            "strata_tier_write_bytes_total",
            MetricType::Counter,
            "Bytes written to the tier's device.",
            |t| t.io.write_bytes as f64,
        ),
        (
            "strata_tier_flushes_total",
            MetricType::Counter,
            "Flushes of the tier's device.",
            |t| t.io.flushes as f64,
        ),
        (
            "strata_tier_discards_total",
            MetricType::Counter,
            "Discards sent to the tier's device.",
            |t| t.io.discards as f64,
        ),
        (
            "strata_tier_errors_total",
            MetricType::Counter,
            "Failed operations on the tier's device.",
            |t| t.io.errors as f64,
        ),
        (
            "strata_tier_read_latency_mean_microseconds",
            MetricType::Gauge,
            "Mean device read latency since start-up.",
            |t| t.io.read_latency_mean_us,
        ),
        (
            "strata_tier_read_latency_p99_microseconds",
            MetricType::Gauge,
            "Estimated 99th-percentile device read latency since start-up (log2 bucket upper bound).",
            |t| t.io.read_latency_p99_us as f64,
        ),
        (
            "strata_tier_write_latency_mean_microseconds",
            MetricType::Gauge,
            "Mean device write latency since start-up.",
            |t| t.io.write_latency_mean_us,
        ),
        (
            "strata_tier_write_latency_p99_microseconds",
            MetricType::Gauge,
            "Estimated 99th-percentile device write latency since start-up (log2 bucket upper bound).",
            |t| t.io.write_latency_p99_us as f64,
        ),
    ];
    for (name, kind, help, field) in families {
        out.family(name, kind, help);
        for tier in tiers {
            out.sample(name, &[("tier", tier.kind.as_str())], field(tier));
        }
    }
    out.family(
        "strata_tier_cost_per_gib_month",
        MetricType::Gauge,
        "Configured cost of one GiB-month on the tier.",
    );
    for tier in tiers {
        out.sample(
            "strata_tier_cost_per_gib_month",
            &[("tier", tier.kind.as_str())],
            tier.cost_per_gib_month,
        );
    }
    out.family(
        "strata_tier_copy_service_ratio",
        MetricType::Gauge,
        "Disks only, after 16 copy requests ran alone on one: their measured time over the profile's, recent requests weighing most; from 1.25 the profile does not fit the disk.",
    );
    for tier in tiers {
        if let Some(ratio) = tier.copy_service_ratio {
            out.sample(
                "strata_tier_copy_service_ratio",
                &[("tier", tier.kind.as_str())],
                ratio,
            );
        }
    }
}

/// The soft reservations the engine enforces and how often they changed a decision.
fn write_reservations(out: &mut Exposition, stats: &ReservationStats) {
    out.family(
        "strata_tier_reservation_held_bytes",
        MetricType::Gauge,
        "Bytes of the tier reserved for volumes and not yet filled by them: the room other volumes leave free.",
    );
    for tier in &stats.tiers {
        out.sample(
            "strata_tier_reservation_held_bytes",
            &[("tier", tier.kind.as_str())],
            tier.held_bytes as f64,
        );
    }
    let counters: [(&str, &str, u64); 3] = [
        (
            "strata_reservation_placements_redirected_total",
            "New extents placed on a later-ranked tier because the preferred tier's free room was reserved for other volumes.",
            stats.placements_redirected,
        ),
        (
            "strata_reservation_placements_into_reserved_total",
            "New extents that took room reserved for other volumes because no tier had unreserved room.",
            stats.placements_into_reserved,
        ),
        (
            "strata_reservation_moves_skipped_total",
            "Policy moves and prefetches not started because they would have eaten into other volumes' reservations.",
            stats.moves_skipped,
        ),
    ];
    for (name, help, value) in counters {
        out.single(name, MetricType::Counter, help, value as f64);
    }
}

type VolumeField = fn(&VolumeInfo, &VolumeStats) -> f64;

fn write_volumes(out: &mut Exposition, volumes: &[(VolumeInfo, VolumeStats)]) {
    out.single(
        "strata_volumes",
        MetricType::Gauge,
        "Volumes on this server.",
        volumes.len() as f64,
    );
    let families: [(&str, MetricType, &str, VolumeField); 10] = [
        (
            "strata_volume_size_bytes",
            MetricType::Gauge,
            "Provisioned size of the volume.",
            |v, _| v.size_bytes as f64,
        ),
        (
            "strata_volume_allocated_bytes",
            MetricType::Gauge,
            "Bytes of the volume's allocated extents.",
            |v, _| v.allocated_bytes as f64,
        ),
        (
            "strata_volume_reads_total",
            MetricType::Counter,
            "Read requests served for the volume.",
            |_, s| s.reads as f64,
        ),
        (
            "strata_volume_writes_total",
            MetricType::Counter,
            "Write requests served for the volume.",
            |_, s| s.writes as f64,
        ),
        (
            "strata_volume_read_bytes_total",
            MetricType::Counter,
            "Bytes read from the volume.",
            |_, s| s.read_bytes as f64,
        ),
        (
            "strata_volume_write_bytes_total",
            MetricType::Counter,
            "Bytes written to the volume.",
            |_, s| s.write_bytes as f64,
        ),
        (
            "strata_volume_flushes_total",
            MetricType::Counter,
            "Flush requests for the volume.",
            |_, s| s.flushes as f64,
        ),
        (
            "strata_volume_trims_total",
            MetricType::Counter,
            "Trim requests for the volume.",
            |_, s| s.trims as f64,
        ),
        (
            "strata_volume_write_zeroes_total",
            MetricType::Counter,
            "Write-zeroes requests for the volume.",
            |_, s| s.write_zeroes as f64,
        ),
        (
            "strata_volume_unallocated_reads_total",
            MetricType::Counter,
            "Reads of never-written extents (zeros, no tier touched).",
            |_, s| s.unallocated_reads as f64,
        ),
    ];
    for (name, kind, help, field) in families {
        out.family(name, kind, help);
        for (info, stats) in volumes {
            out.sample(name, &volume_labels(info), field(info, stats));
        }
    }
    out.family(
        "strata_volume_tier_bytes",
        MetricType::Gauge,
        "Bytes of the volume's extents on each tier.",
    );
    for (info, _) in volumes {
        for (tier, bytes) in &info.bytes_per_tier {
            out.sample(
                "strata_volume_tier_bytes",
                &[("volume", &info.name), ("tier", tier)],
                *bytes as f64,
            );
        }
    }
    out.family(
        "strata_volume_read_hits_total",
        MetricType::Counter,
        "Reads of the volume served by each tier.",
    );
    for (info, stats) in volumes {
        for (tier, hits) in &stats.read_hits_by_tier {
            out.sample(
                "strata_volume_read_hits_total",
                &[("volume", &info.name), ("tier", tier)],
                *hits as f64,
            );
        }
    }
    out.family(
        "strata_volume_hit_ratio",
        MetricType::Gauge,
        "Share of the volume's reads served by each tier since start-up, 0 to 1 (0 before the first read).",
    );
    for (info, stats) in volumes {
        for (tier, hits) in &stats.read_hits_by_tier {
            out.sample(
                "strata_volume_hit_ratio",
                &[("volume", &info.name), ("tier", tier)],
                ratio(*hits, stats.reads),
            );
        }
    }
}

fn volume_labels(info: &VolumeInfo) -> [(&'static str, &str); 2] {
    [
        ("volume", &info.name),
        ("class", info.profile.as_deref().unwrap_or("unknown")),
    ]
}

fn write_nbd(out: &mut Exposition, s: &StatsSnapshot) {
    let families: [(&str, MetricType, &str, u64); 7] = [
        (
            "strata_nbd_connections_open",
            MetricType::Gauge,
            "NBD connections open now.",
            s.connections_open,
        ),
        (
            "strata_nbd_connections_total",
            MetricType::Counter,
            "NBD connections accepted since start-up.",
            s.connections_total,
        ),
        (
            "strata_nbd_requests_total",
            MetricType::Counter,
            "NBD requests received.",
            s.requests_total,
        ),
        (
            "strata_nbd_error_replies_total",
            MetricType::Counter,
            "NBD replies carrying an error.",
            s.error_replies_total,
        ),
        (
            "strata_nbd_protocol_errors_total",
            MetricType::Counter,
            "NBD connections closed because the peer broke the protocol.",
            s.protocol_errors_total,
        ),
        (
            "strata_nbd_read_bytes_total",
            MetricType::Counter,
            "Bytes sent to NBD clients by reads.",
            s.read_bytes_total,
        ),
        (
            "strata_nbd_written_bytes_total",
            MetricType::Counter,
            "Bytes received from NBD clients by writes.",
            s.written_bytes_total,
        ),
    ];
    for (name, kind, help, value) in families {
        out.single(name, kind, help, value as f64);
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"))
)]
pub async fn handler(
    axum::extract::State(state): axum::extract::State<ApiState>,
) -> Result<impl IntoResponse, ApiError> {
    let body = blocking(move || render(&state)).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body))
}
