//! `strata migration log [--volume NAME] [--limit N]`: the server's durable migration log.

use crate::api_client::ApiClient;
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct MigrationArgs {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: MigrationCommand,
}

#[derive(Debug, Subcommand)]
enum MigrationCommand {
    /// Moves of extents between tiers, newest first, with their reasons and outcomes.
    Log {
        /// Only this volume's moves.
        #[arg(long)]
        volume: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

pub fn run(args: MigrationArgs, api: &str) -> anyhow::Result<()> {
    let MigrationCommand::Log { volume, limit } = args.command;
    let mut path = format!("/v1/migrations?limit={limit}");
    if let Some(volume) = &volume {
        // Volume names are [A-Za-z0-9._-]; the server refuses anything else.
        path.push_str(&format!("&volume={volume}"));
    }
    let log: Value = ApiClient::new(api).get(&path)?;
    if args.json {
        println!("{log}");
        return Ok(());
    }
    let entries = log["migrations"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<15} {:<16} {:>8} {:<6} {:<6} {:<9} {:>9} {:<9}",
        "FINISHED_MS", "VOLUME", "EXTENT", "FROM", "TO", "REASON", "TOOK_US", "OUTCOME"
    );
    for m in &entries {
        println!(
            "{:<15} {:<16} {:>8} {:<6} {:<6} {:<9} {:>9} {:<9}",
            m["finished_unix_ms"],
            m["volume"].as_str().unwrap_or("?"),
            m["extent"],
            m["from_tier"].as_str().unwrap_or("?"),
            m["to_tier"].as_str().unwrap_or("?"),
            m["reason"].as_str().unwrap_or("?"),
            m["duration_us"],
            m["outcome"].as_str().unwrap_or("?"),
        );
    }
    if entries.is_empty() {
        println!("(no migrations)");
    }
    Ok(())
}
