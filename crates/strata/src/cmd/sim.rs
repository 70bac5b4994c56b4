//! `strata sim`: offline replay of block traces (INTERFACE.md, "Offline commands").

use clap::Args;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Trace file(s) to replay.
    #[arg(long = "trace", required = true)]
    pub traces: Vec<std::path::PathBuf>,
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("strata sim is not built yet ({} traces given)", args.traces.len())
}
