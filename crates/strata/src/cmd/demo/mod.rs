//! `strata demo [--duration SECONDS]`: the whole loop on one machine, with a report.
//!
//! Two `strata serve` children in their own temp data dirs, identical small tiers with
//! device-model emulation on (`nvme` too small for the data, so placement matters), one
//! running `[placement] policy = "static"` without the prefetcher, the other
//! `policy = "strata"` with it. Both get the
//! same four volumes (`workload::PROFILES`), filled the same way, then the same workload
//! at the same time — fio's nbd engine when fio is installed, otherwise the built-in
//! driver (`builtin`). A bar shows the run live; at the end each server's `/v1/stats`,
//! `/v1/migrations` and `/v1/prefetch` are read, both servers are stopped, and the
//! comparison is printed (or `--json`) and written as HTML + PNG plots to `--out`.

mod builtin;
mod fio;
mod html;
mod latency;
mod report;
mod sample;
mod workload;

use super::child::ChildServer;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use report::PolicyRun;
use sample::{Probe, Tick};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use workload::PROFILES;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds the workload runs on both servers (setup and report add a few more).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration: u64,
    /// Directory for the report: index.html, PNG plots, comparison.json.
    #[arg(long, default_value = "strata-demo-report")]
    out: PathBuf,
    /// Print the comparison as one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Who issues the I/O: fio's nbd engine, Strata's built-in NBD driver, or fio when
    /// it is installed.
    #[arg(long, value_enum, default_value_t = Driver::Auto)]
    driver: Driver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Driver {
    Auto,
    Fio,
    Builtin,
}

/// The two placement policies compared, in the order they are reported.
const POLICIES: [&str; 2] = ["static", "strata"];

/// Same seed on both servers: the built-in driver sends both the same request streams.
const SEED: u64 = 0x5742_a7a0;

/// Tiers of both servers: the volumes hold 320 MiB, nvme takes 10 % of it, ssd 30 %.
/// The static baseline runs without the prefetcher; the strata server runs it.
fn server_config(policy: &str) -> String {
    let prefetch = policy != "static";
    format!(
        "emulation = true\n\
         [[tier]]\nkind = \"nvme\"\ncapacity = \"32M\"\n\
         [[tier]]\nkind = \"ssd\"\ncapacity = \"96M\"\n\
         [[tier]]\nkind = \"hdd\"\ncapacity = \"1G\"\n\
         [placement]\npolicy = \"{policy}\"\nplan_interval_ms = 1000\naccess_poll_ms = 100\n\
         migration_mbps = 50\n\
         [prefetch]\nenabled = {prefetch}\n"
    )
}

/// One policy's server while the demo runs.
struct Running {
    policy: &'static str,
    server: ChildServer,
    probe: Probe,
    ticks: Vec<Tick>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let driver = match args.driver {
        Driver::Builtin => Driver::Builtin,
        Driver::Fio | Driver::Auto if fio::available() => Driver::Fio,
        Driver::Fio => bail!("--driver fio: fio with the nbd engine is not installed"),
        Driver::Auto => Driver::Builtin,
    };
    let driver_name = if driver == Driver::Fio {
        "fio"
    } else {
        "builtin"
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    // Declared before the servers so it is removed only after they have stopped.
    let work = tempfile::Builder::new()
        .prefix("strata-demo-")
        .tempdir()
        .context("cannot create a temp dir for the demo's servers")?;
    eprintln!(
        "strata demo: two servers (static, strata), four volumes, {} s of {driver_name} I/O each",
        args.duration
    );
    let mut servers = Vec::new();
    let mut runs = POLICIES.iter().try_for_each(|policy| {
        if cancel.is_cancelled() {
            bail!("interrupted");
        }
        servers.push(start_server(work.path(), policy)?);
        anyhow::Ok(())
    });
    if runs.is_ok() {
        runs = fill_volumes(&runtime, &servers, &cancel);
    }
    let runs = runs.and_then(|()| {
        run_workload(
            &runtime,
            &mut servers,
            work.path(),
            driver,
            args.duration,
            &cancel,
        )
    });
    // Stop the servers whatever happened; a failed stop is reported after the run's error.
    let mut stopped = Ok(());
    for r in servers {
        let result = r.server.stop();
        if stopped.is_ok() {
            stopped = result.with_context(|| format!("stopping the {} server", r.policy));
        }
    }
    if cancel.is_cancelled() {
        bail!("interrupted; both servers were stopped");
    }
    let runs = runs?;
    stopped?;
    let mut comparison = report::compare(&runs, &PROFILES, args.duration, driver_name);
    let timeline = report::timeline(&runs, args.duration);
    let files = html::write_report(&args.out, &comparison, &timeline)?;
    comparison.report_files = files.iter().map(|f| f.display().to_string()).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", report::render_table(&comparison));
        println!("report: {}", args.out.join("index.html").display());
    }
    Ok(())
}

fn start_server(work: &Path, policy: &'static str) -> anyhow::Result<Running> {
    let dir = work.join(policy);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("strata.toml");
    std::fs::write(&config, server_config(policy))?;
    let server = ChildServer::start(&config, &dir.join("data"), "error")
        .with_context(|| format!("starting the {policy} server"))?;
    for p in &PROFILES {
        server
            .create_volume(&serde_json::json!({
                "name": p.name, "size": p.size_bytes, "profile": p.class,
            }))
            .with_context(|| format!("creating volume {} on the {policy} server", p.name))?;
    }
    let probe = Probe::new(server.api);
    Ok(Running {
        policy,
        server,
        probe,
        ticks: Vec::new(),
    })
}

fn fill_volumes(
    runtime: &tokio::runtime::Runtime,
    servers: &[Running],
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let chunks: u64 = PROFILES
        .iter()
        .map(|p| p.size_bytes.div_ceil(builtin::FILL_CHUNK_BYTES))
        .sum();
    let bar = bar(chunks * servers.len() as u64, "writing the volumes")?;
    let fills: Vec<_> = servers
        .iter()
        .map(|r| {
            let bar = bar.clone();
            let fill = builtin::fill(r.server.nbd, &PROFILES, cancel.clone(), move || bar.inc(1));
            runtime.spawn(fill)
        })
        .collect();
    for fill in fills {
        runtime
            .block_on(fill)
            .context("filling the volumes panicked")??;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Runs the workload on every server at once, sampling their stats once a second.
fn run_workload(
    runtime: &tokio::runtime::Runtime,
    servers: &mut [Running],
    work: &Path,
    driver: Driver,
    duration_s: u64,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<PolicyRun>> {
    let start_stats = servers
        .iter()
        .map(|r| r.probe.stats())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start_unix_ms = unix_ms();
    let started = Instant::now();
    let duration = Duration::from_secs(duration_s);
    let mut fio_runs = Vec::new();
    let mut tasks = Vec::new();
    for r in servers.iter() {
        if driver == Driver::Fio {
            let dir = work.join(format!("fio-{}", r.policy));
            fio_runs.push(fio::FioRun::start(
                r.server.nbd,
                &PROFILES,
                duration_s,
                &dir,
            )?);
        } else {
            tasks.push(runtime.spawn(builtin::drive(
                r.server.nbd,
                &PROFILES,
                duration,
                SEED,
                cancel.clone(),
            )));
        }
    }
    for (r, stats) in servers.iter_mut().zip(&start_stats) {
        r.ticks.push(sample::tick_of(stats, 0.0));
    }
    let bar = bar(duration_s, "workload")?;
    let mut next_tick = 1;
    while started.elapsed() < duration && !cancel.is_cancelled() {
        let due = started + Duration::from_secs(next_tick);
        std::thread::sleep(
            due.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        );
        if Instant::now() < due {
            continue;
        }
        for r in servers.iter_mut() {
            r.ticks.push(r.probe.tick(started.elapsed().as_secs_f64())?);
        }
        bar.set_position(next_tick.min(duration_s));
        bar.set_message(live_message(servers));
        next_tick += 1;
    }
    if cancel.is_cancelled() {
        fio_runs.into_iter().for_each(fio::FioRun::stop);
        for task in tasks {
            runtime.block_on(task).ok();
        }
        bail!("interrupted");
    }
    bar.set_message(format!(
        "{} · waiting for the clients",
        live_message(servers)
    ));
    let mut samples = Vec::new();
    for run in fio_runs {
        samples.push(run.finish()?);
    }
    for task in tasks {
        samples.push(
            runtime
                .block_on(task)
                .context("a workload driver panicked")??,
        );
    }
    for r in servers.iter_mut() {
        r.ticks.push(r.probe.tick(started.elapsed().as_secs_f64())?);
    }
    bar.finish_and_clear();
    let mut runs = Vec::new();
    for ((r, samples), start_stats) in servers.iter_mut().zip(samples).zip(start_stats) {
        runs.push(PolicyRun {
            policy: r.policy,
            nbd: r.server.nbd,
            api: r.server.api,
            samples,
            ticks: std::mem::take(&mut r.ticks),
            start_stats,
            end_stats: r.probe.stats()?,
            migrations: r
                .probe
                .migrations(10_000)
                .with_context(|| format!("reading the {} server's migration log", r.policy))?,
            prefetch: r.probe.prefetch()?,
            start_unix_ms,
        });
    }
    Ok(runs)
}

/// `static: nvme 12 % · 0 moves | strata: nvme 71 % · 38 moves`, over the last second.
fn live_message(servers: &[Running]) -> String {
    servers
        .iter()
        .map(|r| {
            let ratio = sample::fast_hit_ratio_series(&r.ticks)
                .last()
                .and_then(|(_, ratio)| *ratio)
                .map_or("–".to_owned(), |x| format!("{:.0} %", x * 100.0));
            let moves = r
                .ticks
                .last()
                .and_then(|t| t.moves_done)
                .map_or("?".to_owned(), |m| m.to_string());
            format!("{}: fast tier {ratio} · {moves} moves", r.policy)
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn bar(len: u64, phase: &str) -> anyhow::Result<ProgressBar> {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(&format!(
        "{phase:<18} [{{bar:30}}] {{pos}}/{{len}} [{{elapsed}}] {{msg}}"
    ))?);
    Ok(bar)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
