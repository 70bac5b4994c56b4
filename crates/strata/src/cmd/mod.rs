//! Subcommands: one file each, each with its clap `Args` and a `run` function.

mod bench;
mod chart;
mod child;
mod demo;
mod lease;
mod load;
mod migration;
mod profile;
mod report;
mod reservation;
mod serve;
mod server;
mod sim;
mod status;
mod top;
mod torture;
mod train;
mod volume;

use clap::{Parser, Subcommand};

/// Strata: tiered block storage for virtual machines.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// URL of the server's REST API, for client commands.
    #[arg(long, global = true, default_value = "http://127.0.0.1:7800")]
    api: String,
    /// PEM CA certificate(s) to trust for an `https://` API (instead of the web roots).
    #[arg(long, global = true, env = "STRATA_API_CA")]
    api_ca: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: NBD, REST API and /metrics on an embedded store by default.
    Serve(serve::ServeArgs),
    /// Manage volumes.
    Volume(volume::VolumeArgs),
    /// Crash-consistency run: SIGKILL a child server at random moments and verify.
    Torture(torture::TortureArgs),
    /// Benchmarks against peers on this machine.
    Bench(bench::BenchArgs),
    /// The migration log: extents moved between tiers and why.
    Migration(migration::MigrationArgs),
    /// Replay block traces through cache or tiering simulators.
    Sim(sim::SimArgs),
    /// Tiers, occupancy, volumes with hit ratios, prefetch and migration state.
    Status(status::StatusArgs),
    /// Volume leases: acquire with tier preferences, renew, release, list.
    Lease(lease::LeaseArgs),
    /// Soft reservations held for leased volumes.
    Reservation(reservation::ReservationArgs),
    /// The servers of the cluster.
    Server(server::ServerArgs),
    /// Strata against static placement on two embedded servers, with a report.
    Demo(demo::DemoArgs),
    /// Live view of tiers, volumes and migrations (q quits).
    Top(top::TopArgs),
    /// HTML page with PNG plots of tiering effectiveness, sampled from a running server.
    Report(report::ReportArgs),
    /// Workload class, confidence, tier profile and features per window of a trace.
    Profile(profile::ProfileArgs),
    /// Build the workload model from labelled traces and synthetic mixes.
    Train(train::TrainArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(path) = &cli.api_ca {
        crate::api_client::trust_ca_file(path)?;
    }
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Volume(args) => volume::run(args, &cli.api),
        Command::Sim(args) => sim::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Torture(args) => torture::run(args),
        Command::Migration(args) => migration::run(args, &cli.api),
        Command::Status(args) => status::run(args, &cli.api),
        Command::Lease(args) => lease::run(args, &cli.api),
        Command::Reservation(args) => reservation::run(args, &cli.api),
        Command::Server(args) => server::run(args, &cli.api),
        Command::Demo(args) => demo::run(args),
        Command::Top(args) => top::run(args, &cli.api),
        Command::Report(args) => report::run(args, &cli.api),
        Command::Profile(args) => profile::run(args),
        Command::Train(args) => train::run(args),
    }
}
