//! The `strata` binary: one command-line tool for the daemon (`strata serve`), the client
//! commands that talk to its REST API, and the offline tools (`strata sim`, …).
//!
//! Exit codes follow INTERFACE.md: 0 on success, 2 on bad usage (clap's own code), 1 on
//! failure with one line on stderr saying what was wrong.

mod api_client;
mod cmd;
mod config;
mod control;
mod exports;
mod fence;
mod forward;
mod peers;
mod profiling;
mod tls;

use clap::Parser;

fn main() {
    let cli = cmd::Cli::parse();
    if let Err(err) = cmd::run(cli) {
        eprintln!("error: {}", one_line(&err));
        std::process::exit(1);
    }
}

/// Joins an error and its causes into the single line INTERFACE.md promises.
fn one_line(err: &anyhow::Error) -> String {
    err.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}
