//! `strata status [--json]`: tiers, occupancy, volumes with hit ratios per tier, and the
//! state of prefetch (precision, coverage, timeliness) and migration, from the server's
//! `GET /v1/stats`.

use crate::api_client::ApiClient;
use clap::Args;
use serde_json::Value;
use std::fmt::Write;
use strata_core::format_size;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the server's `/v1/stats` document as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs, api: &str) -> anyhow::Result<()> {
    let stats: Value = ApiClient::new(api).get("/v1/stats")?;
    if args.json {
        println!("{stats}");
    } else {
        print!("{}", render(&stats));
    }
    Ok(())
}

/// A disk's copy service ratio from which the report warns: where the mover starts charging
/// copies at the measured speed (`strata_policy::disk_time::RATIO_DEAD_BAND`).
const SLOW_DISK_RATIO: f64 = strata_policy::disk_time::RATIO_DEAD_BAND;

/// The readable report; a missing field shows as `?` or 0 rather than failing, so an
/// older or newer server still gets a useful table.
fn render(stats: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let bytes = |v: &Value| format_size(v.as_u64().unwrap_or(0));
    let percent = |v: &Value| format!("{:.1}%", v.as_f64().unwrap_or(0.0) * 100.0);
    let empty = Vec::new();
    let tiers = stats["tiers"].as_array().unwrap_or(&empty);
    let volumes = stats["volumes"].as_array().unwrap_or(&empty);
    let tier_names: Vec<String> = tiers.iter().map(|t| text(&t["kind"])).collect();

    // Writing into a String cannot fail.
    let _ = writeln!(out, "server {}\n", text(&stats["server_id"]));
    let _ = writeln!(
        out,
        "{:<8} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>12} {:>12}",
        "TIER",
        "CAPACITY",
        "USED",
        "FREE",
        "OCCUPIED",
        "READS",
        "WRITES",
        "READ p99 µs",
        "WRITE p99 µs"
    );
    for t in tiers {
        let _ = writeln!(
            out,
            "{:<8} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>12} {:>12}",
            text(&t["kind"]),
            bytes(&t["capacity_bytes"]),
            bytes(&t["used_bytes"]),
            bytes(&t["free_bytes"]),
            percent(&t["occupancy"]),
            t["io"]["reads"].as_u64().unwrap_or(0),
            t["io"]["writes"].as_u64().unwrap_or(0),
            t["io"]["read_latency_p99_us"].as_u64().unwrap_or(0),
            t["io"]["write_latency_p99_us"].as_u64().unwrap_or(0),
        );
    }
    for t in tiers {
        if let Some(ratio) = t["copy_service_ratio"]
            .as_f64()
            .filter(|&r| r >= SLOW_DISK_RATIO)
        {
            let _ = writeln!(
                out,
                "warning: {} serves copies {ratio:.1}x slower than its profile; set the tier's \
                 profile to match the disk",
                text(&t["kind"]),
            );
        }
    }

    let _ = writeln!(out);
    if volumes.is_empty() {
        let _ = writeln!(out, "no volumes");
    } else {
        let mut header = format!(
            "{:<24} {:>10} {:>10} {:<9} {:>10} {:>10}",
            "VOLUME", "SIZE", "ALLOCATED", "CLASS", "READS", "WRITES"
        );
        for tier in &tier_names {
            let _ = write!(header, " {:>9}", format!("HIT {tier}"));
        }
        let _ = writeln!(out, "{header}");
        for v in volumes {
            let mut line = format!(
                "{:<24} {:>10} {:>10} {:<9} {:>10} {:>10}",
                text(&v["name"]),
                bytes(&v["size_bytes"]),
                bytes(&v["allocated_bytes"]),
                v["profile"].as_str().unwrap_or("-"),
                v["io"]["reads"].as_u64().unwrap_or(0),
                v["io"]["writes"].as_u64().unwrap_or(0),
            );
            for tier in &tier_names {
                let _ = write!(line, " {:>9}", percent(&v["io"]["hit_ratio_by_tier"][tier]));
            }
            let _ = writeln!(out, "{line}");
        }
    }

    let _ = writeln!(out);
    let nbd = &stats["nbd"];
    if nbd.is_object() {
        let _ = writeln!(
            out,
            "nbd:        {} connections open, {} total, {} requests, {} error replies",
            nbd["connections_open"].as_u64().unwrap_or(0),
            nbd["connections_total"].as_u64().unwrap_or(0),
            nbd["requests_total"].as_u64().unwrap_or(0),
            nbd["error_replies_total"].as_u64().unwrap_or(0),
        );
    }
    for section in ["prefetch", "migrations"] {
        let s = &stats[section];
        let active = s["active"].as_bool() == Some(true);
        let state = if section == "prefetch" && active && s["prefetched_bytes"].as_u64() == Some(0)
        {
            // The server reports 0 for the precision of no copies; a share of nothing is no
            // precision at all.
            format!(
                "active: nothing prefetched yet (no precision), coverage {}",
                percent(&s["coverage"]),
            )
        } else if section == "prefetch" && active {
            format!(
                "active: precision {}, coverage {}, timeliness {}, {} prefetched, {} wasted",
                percent(&s["precision"]),
                percent(&s["coverage"]),
                percent(&s["timeliness"]),
                bytes(&s["prefetched_bytes"]),
                bytes(&s["wasted_bytes"]),
            )
        } else if active {
            match s["note"].as_str() {
                Some(note) => format!("active ({note})"),
                None => "active".to_owned(),
            }
        } else {
            match s["note"].as_str() {
                Some(note) => format!("not active ({note})"),
                None => "not active".to_owned(),
            }
        };
        let _ = writeln!(out, "{:<11} {state}", format!("{section}:"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tiers_volumes_and_inactive_sections() {
        let stats = serde_json::json!({
            "server_id": "s1",
            "tiers": [{"kind": "nvme", "capacity_bytes": 1u64 << 30, "used_bytes": 1u64 << 28,
                       "free_bytes": 3u64 << 28, "occupancy": 0.25, "io": {"reads": 7}}],
            "volumes": [{"name": "db01", "size_bytes": 1u64 << 30, "allocated_bytes": 1u64 << 20,
                         "profile": "database",
                         "io": {"reads": 10, "writes": 2, "hit_ratio_by_tier": {"nvme": 0.9}}}],
            "nbd": {"connections_open": 1, "connections_total": 3, "requests_total": 99,
                    "error_replies_total": 0},
            "prefetch": {"active": false, "note": "no prefetcher"},
            "migrations": {"active": false},
        });
        let text = render(&stats);
        assert!(text.contains("server s1"), "{text}");
        assert!(text.contains("25.0%"), "{text}");
        assert!(text.contains("HIT nvme"), "{text}");
        assert!(text.contains("90.0%"), "{text}");
        assert!(
            text.contains("prefetch:   not active (no prefetcher)"),
            "{text}"
        );
        assert!(text.contains("migrations: not active"), "{text}");
        assert!(text.contains("99 requests"), "{text}");
    }

    #[test]
    fn renders_prefetch_measures_when_active() {
        let stats = serde_json::json!({
            "server_id": "s1",
            "prefetch": {"active": true, "precision": 0.875, "coverage": 0.5, "timeliness": 1.0,
                         "prefetched_bytes": 8u64 << 20, "wasted_bytes": 1u64 << 20},
            "migrations": {"active": true},
        });
        let text = render(&stats);
        assert!(
            text.contains("prefetch:   active: precision 87.5%, coverage 50.0%, timeliness 100.0%"),
            "{text}"
        );
        assert!(text.contains("migrations: active"), "{text}");
    }

    #[test]
    fn a_prefetcher_that_copied_nothing_shows_no_precision() {
        let stats = serde_json::json!({
            "prefetch": {"active": true, "precision": 0.0, "coverage": 0.0, "timeliness": 0.0,
                         "prefetched_bytes": 0u64, "wasted_bytes": 0u64},
        });
        let text = render(&stats);
        assert!(
            text.contains(
                "prefetch:   active: nothing prefetched yet (no precision), coverage 0.0%"
            ),
            "{text}"
        );
        assert!(!text.contains("precision 0.0%"), "{text}");
    }

    #[test]
    fn warns_of_a_disk_slower_than_its_profile() {
        let tier = |kind: &str, ratio: f64| serde_json::json!({"kind": kind, "copy_service_ratio": ratio, "io": {}});
        let stats = serde_json::json!({
            "tiers": [tier("ssd", 1.02), tier("hdd", 2.04)],
        });
        let text = render(&stats);
        assert!(
            text.contains("warning: hdd serves copies 2.0x slower than its profile"),
            "{text}"
        );
        assert!(!text.contains("warning: ssd"), "{text}");
    }

    #[test]
    fn renders_the_migration_note_when_active() {
        let stats = serde_json::json!({
            "migrations": {"active": true,
                           "note": "policy strata (following arc-tier): 3 moves done (3145728 bytes)"},
        });
        let text = render(&stats);
        assert!(
            text.contains("migrations: active (policy strata (following arc-tier): 3 moves done"),
            "{text}"
        );
    }
}
