//! `strata reservation list [--volume NAME]`: soft reservations held for leased volumes.

use crate::api_client::{ApiClient, path_segment};
use clap::{Args, Subcommand};
use serde_json::Value;
use strata_core::format_size;

#[derive(Debug, Args)]
pub struct ReservationArgs {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ReservationCommand,
}

#[derive(Debug, Subcommand)]
enum ReservationCommand {
    /// List reservations, by volume.
    List {
        /// Only this volume's.
        #[arg(long)]
        volume: Option<String>,
        /// Also released ones.
        #[arg(long)]
        all: bool,
    },
}

pub fn run(args: ReservationArgs, api: &str) -> anyhow::Result<()> {
    let client = ApiClient::new(api);
    let ReservationCommand::List { volume, all } = args.command;
    let mut query = Vec::new();
    if let Some(volume) = &volume {
        query.push(format!("volume={}", path_segment(volume)));
    }
    if all {
        query.push("all=true".to_owned());
    }
    let path = if query.is_empty() {
        "/v1/reservations".to_owned()
    } else {
        format!("/v1/reservations?{}", query.join("&"))
    };
    let reply: Value = client.get(&path)?;
    if args.json {
        println!("{reply}");
        return Ok(());
    }
    println!(
        "{:<20} {:<24} {:<16} {:<6} {:>10} {:>10}  STATUS",
        "VOLUME", "LEASE", "SERVER", "TIER", "RESERVED", "IN USE"
    );
    for r in reply["reservations"].as_array().into_iter().flatten() {
        let size = |key: &str| format_size(r[key].as_u64().unwrap_or(0));
        println!(
            "{:<20} {:<24} {:<16} {:<6} {:>10} {:>10}  {}{}",
            r["volume"].as_str().unwrap_or("?"),
            r["lease_id"].as_str().unwrap_or("?"),
            r["server_id"].as_str().unwrap_or("?"),
            r["tier"].as_str().unwrap_or("?"),
            size("bytes"),
            size("in_use_bytes"),
            r["status"].as_str().unwrap_or("?"),
            if r["overcommitted"] == true {
                " (overcommitted)"
            } else {
                ""
            },
        );
    }
    Ok(())
}
