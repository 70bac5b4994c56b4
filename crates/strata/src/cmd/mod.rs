//! Subcommands: one file each, each with its clap `Args` and a `run` function.

mod sim;

use clap::{Parser, Subcommand};

/// Strata: tiered block storage for virtual machines.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay block traces through cache or tiering simulators.
    Sim(sim::SimArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sim(args) => sim::run(args),
    }
}
