//! `strata server list`: the servers of the cluster with health and capacity per tier.

use crate::api_client::ApiClient;
use clap::{Args, Subcommand};
use serde_json::Value;
use strata_core::format_size;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ServerCommand,
}

#[derive(Debug, Subcommand)]
enum ServerCommand {
    /// List servers: health, addresses, and free / reserved / capacity per tier.
    List,
}

pub fn run(args: ServerArgs, api: &str) -> anyhow::Result<()> {
    let ServerCommand::List = args.command;
    let reply: Value = ApiClient::new(api).get("/v1/servers")?;
    if args.json {
        println!("{reply}");
        return Ok(());
    }
    println!(
        "{:<16} {:<6} {:<22} {:<30}  TIERS (free / reserved / capacity)",
        "ID", "HEALTH", "NBD", "API"
    );
    for s in reply["servers"].as_array().into_iter().flatten() {
        let tiers: Vec<String> = s["tiers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let size = |key: &str| format_size(t[key].as_u64().unwrap_or(0));
                format!(
                    "{} {} / {} / {}",
                    t["kind"].as_str().unwrap_or("?"),
                    size("free_bytes"),
                    size("reserved_bytes"),
                    size("capacity_bytes")
                )
            })
            .collect();
        println!(
            "{:<16} {:<6} {:<22} {:<30}  {}",
            s["id"].as_str().unwrap_or("?"),
            s["health"].as_str().unwrap_or("?"),
            s["nbd_address"].as_str().unwrap_or("-"),
            // The URL (with its scheme) when the server reports one.
            s["api_url"]
                .as_str()
                .or_else(|| s["api_address"].as_str())
                .unwrap_or("-"),
            tiers.join(", ")
        );
    }
    Ok(())
}
