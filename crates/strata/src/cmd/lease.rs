//! `strata lease acquire|renew|release|list`: a client's attachment to a volume, with tier
//! preferences, through the API.

use crate::api_client::{ApiClient, path_segment};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use strata_core::{Clock, UnixClock, format_size, parse_fraction};

#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: LeaseCommand,
}

#[derive(Debug, Subcommand)]
enum LeaseCommand {
    /// Lease a volume; reserves capacity on the tiers it prefers.
    Acquire {
        volume: String,
        /// Who attaches, e.g. HOST/VM.
        #[arg(long)]
        holder: String,
        /// Seconds until the lease expires unless renewed [default: 30].
        #[arg(long)]
        ttl: Option<u64>,
        /// Wanted share per tier, e.g. nvme=30%,ssd=50%,hdd=20%; the rest goes to the
        /// slowest tier.
        #[arg(long, value_parser = parse_preferences)]
        prefer: Option<Map<String, Value>>,
        /// Take the volume from a live holder, fencing its generation.
        #[arg(long)]
        takeover: bool,
    },
    /// Extend a lease; shows its cost so far and re-tiering advice.
    Renew {
        lease_id: String,
        /// New TTL in seconds, kept for later renewals.
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// End a lease and give its reservations back.
    Release { lease_id: String },
    /// List live leases.
    List,
}

/// `nvme=30%,ssd=0.5` → `{"nvme": "30%", "ssd": "0.5"}`, checked here so a typo is a usage
/// error (exit 2) before anything is sent.
fn parse_preferences(text: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for item in text.split(',').filter(|s| !s.trim().is_empty()) {
        let (tier, share) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not TIER=FRACTION"))?;
        let (tier, share) = (tier.trim(), share.trim());
        parse_fraction(share).map_err(|e| format!("{tier}: {e}"))?;
        if out.insert(tier.to_owned(), json!(share)).is_some() {
            return Err(format!("tier {tier} is named twice"));
        }
    }
    if out.is_empty() {
        return Err("no TIER=FRACTION given".into());
    }
    Ok(out)
}

pub fn run(args: LeaseArgs, api: &str) -> anyhow::Result<()> {
    let client = ApiClient::new(api);
    match args.command {
        LeaseCommand::Acquire {
            volume,
            holder,
            ttl,
            prefer,
            takeover,
        } => {
            let mut body = json!({"volume": volume, "holder": holder});
            if let Some(ttl) = ttl {
                body["ttl_s"] = json!(ttl);
            }
            if let Some(prefer) = prefer {
                body["prefer"] = Value::Object(prefer);
            }
            if takeover {
                body["takeover"] = json!(true);
            }
            let reply: Value = client.post("/v1/leases", &body)?;
            if args.json {
                println!("{reply}");
            }
            if reply["outcome"] != "granted" {
                if !args.json {
                    print_alternative(&reply);
                }
                bail!(
                    "lease not granted: {}",
                    reply["reason"].as_str().unwrap_or("no reason given")
                );
            }
            if !args.json {
                print_grant(&reply);
            }
        }
        LeaseCommand::Renew { lease_id, ttl } => {
            let mut body = json!({});
            if let Some(ttl) = ttl {
                body["ttl_s"] = json!(ttl);
            }
            let reply: Value =
                client.put(&format!("/v1/leases/{}", path_segment(&lease_id)), &body)?;
            if args.json {
                println!("{reply}");
            } else {
                print_renewal(&reply);
            }
        }
        LeaseCommand::Release { lease_id } => {
            client.delete(&format!("/v1/leases/{}", path_segment(&lease_id)))?;
            if args.json {
                println!("{}", json!({"released": lease_id}));
            } else {
                println!("released lease {lease_id}");
            }
        }
        LeaseCommand::List => {
            let reply: Value = client.get("/v1/leases")?;
            if args.json {
                println!("{reply}");
            } else {
                print_leases(reply["leases"].as_array().map_or(&[][..], Vec::as_slice));
            }
        }
    }
    Ok(())
}

/// `(tier, percent)` pairs of a `{tier: share}` object.
fn percents(mix: &Value) -> Vec<(String, f64)> {
    mix.as_object()
        .into_iter()
        .flatten()
        .map(|(tier, share)| (tier.clone(), share.as_f64().unwrap_or(0.0) * 100.0))
        .collect()
}

/// `nvme 30%, hdd 70%` from a `{tier: share}` object.
fn mix_text(mix: &Value) -> String {
    percents(mix)
        .iter()
        .map(|(tier, pct)| format!("{tier} {pct:.0}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds from now until `unix_ms` (negative once past).
fn seconds_until(unix_ms: u64) -> i64 {
    let now_ms = UnixClock.now_ns() / 1_000_000;
    (unix_ms as i64 - now_ms as i64) / 1000
}

fn print_grant(reply: &Value) {
    let lease = &reply["lease"];
    println!(
        "lease {} granted to {} (generation {}, expires in {} s unless renewed): {}",
        lease["id"].as_str().unwrap_or("?"),
        lease["holder"].as_str().unwrap_or("?"),
        lease["generation"],
        seconds_until(lease["expires_unix_ms"].as_u64().unwrap_or(0)),
        mix_text(&lease["tiers_granted"]),
    );
    for r in reply["reservations"].as_array().into_iter().flatten() {
        println!(
            "  reserved {} on {}/{}",
            format_size(r["bytes"].as_u64().unwrap_or(0)),
            r["server_id"].as_str().unwrap_or("?"),
            r["tier"].as_str().unwrap_or("?"),
        );
    }
}

fn print_alternative(reply: &Value) {
    println!(
        "not granted: {}",
        reply["reason"].as_str().unwrap_or("no reason given")
    );
    for mix in reply["suggested_mixes"].as_array().into_iter().flatten() {
        let flag = percents(mix)
            .iter()
            .map(|(tier, pct)| format!("{tier}={pct:.0}%"))
            .collect::<Vec<_>>()
            .join(",");
        println!("  would be granted: --prefer {flag}");
    }
    for server in reply["suggested_servers"].as_array().into_iter().flatten() {
        println!("  servers with room: {}", server.as_str().unwrap_or("?"));
    }
}

fn print_renewal(reply: &Value) {
    let lease = &reply["lease"];
    println!(
        "renewed lease {} (expires in {} s); cost so far {:.6} (per GiB-month prices)",
        lease["id"].as_str().unwrap_or("?"),
        seconds_until(lease["expires_unix_ms"].as_u64().unwrap_or(0)),
        reply["cost_so_far"].as_f64().unwrap_or(0.0),
    );
    for cost in reply["cost_by_tier"].as_array().into_iter().flatten() {
        println!(
            "  {:<6} {:>10} reserved  {:.6}",
            cost["tier"].as_str().unwrap_or("?"),
            format_size(cost["bytes"].as_u64().unwrap_or(0)),
            cost["cost"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(retier) = reply["retier"].as_object() {
        println!(
            "  re-tiering advised: {} ({})",
            mix_text(&retier["suggested"]),
            retier["reason"].as_str().unwrap_or(""),
        );
    }
}

fn print_leases(leases: &[Value]) {
    println!(
        "{:<28} {:<20} {:<24} {:>4} {:>8}  TIERS",
        "ID", "VOLUME", "HOLDER", "GEN", "EXPIRES"
    );
    for lease in leases {
        println!(
            "{:<28} {:<20} {:<24} {:>4} {:>7}s  {}",
            lease["id"].as_str().unwrap_or("?"),
            lease["volume"].as_str().unwrap_or("?"),
            lease["holder"].as_str().unwrap_or("?"),
            lease["generation"],
            seconds_until(lease["expires_unix_ms"].as_u64().unwrap_or(0)),
            mix_text(&lease["tiers_granted"]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_parse_and_typos_are_refused() {
        let parsed = parse_preferences("nvme=30%, ssd=0.5").unwrap();
        assert_eq!(Value::Object(parsed), json!({"nvme": "30%", "ssd": "0.5"}));
        for bad in ["nvme", "nvme=lots", "nvme=10%,nvme=20%", ",", "ssd=150%"] {
            assert!(parse_preferences(bad).is_err(), "{bad} was accepted");
        }
    }
}
