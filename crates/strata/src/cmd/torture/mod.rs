//! `strata torture`: crash-consistency run against a child server.
//!
//! Rounds of: start `strata serve`, verify every block against the model, then write
//! checksummed, sequence-numbered blocks over NBD from several connections (with FLUSH,
//! FUA and WRITE_ZEROES at random moments) until a SIGKILL lands at a random moment.
//! A block must hold a version at least as new as the last one acknowledged before a
//! completed flush (or acknowledged with FUA) — anything older is *lost*; a block whose
//! bytes match no version ever written to it is *corrupt*.

mod block;
mod model;

use super::child::ChildServer;
use anyhow::{Context, bail};
use block::{BLOCK, decode, encode};
use clap::Args;
use model::{Kind, Model};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct TortureArgs {
    /// Number of SIGKILLs.
    #[arg(long, default_value_t = 100)]
    kills: u32,
    /// Data directory for the child server [default: a temp dir, removed afterwards].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
    /// Seed for every random choice (printed, so a failure can be replayed).
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent writer connections.
    #[arg(long, default_value_t = 3)]
    writers: usize,
    /// Longest time a round writes before the kill, in milliseconds.
    #[arg(long, default_value_t = 300)]
    max_round_ms: u64,
    /// Placement policy of the child server; the default keeps extents migrating between
    /// tiers all the time, so kills land mid-migration too.
    #[arg(long, default_value = "lru-promote")]
    policy: String,
}

/// Volume geometry: small extents over small tiers, so allocation, spill to slower tiers
/// and freeing (WRITE_ZEROES of whole extents) happen all the time.
const VOLUME_BYTES: u64 = 16 << 20;
const EXTENT_BYTES: u64 = 64 << 10;
const TIERS: &str = "emulation = false\n\
[[tier]]\nkind = \"nvme\"\ncapacity = \"4M\"\n\
[[tier]]\nkind = \"ssd\"\ncapacity = \"8M\"\n\
[[tier]]\nkind = \"hdd\"\ncapacity = \"64M\"\n";

/// The child's config: small tiers and a placement policy that plans often.
fn config(policy: &str) -> String {
    format!(
        "{TIERS}[placement]\npolicy = {policy:?}\nplan_interval_ms = 100\naccess_poll_ms = 20\n"
    )
}

#[derive(Debug, Default, serde::Serialize)]
struct Report {
    kills: u32,
    verified_blocks: u64,
    lost_blocks: u64,
    corrupt_blocks: u64,
    seed: u64,
    acknowledged_writes: u64,
    flushes: u64,
    policy: String,
    /// Extent migrations that completed in the child server across all rounds.
    migrations_done: u64,
}

pub fn run(args: TortureArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let temp;
    let dir = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("strata-torture-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let config_text = config(&args.policy);
    std::fs::write(dir.join("torture.toml"), &config_text)?;
    if !args.json {
        eprintln!(
            "torture: seed {seed}, {} kills, data in {}",
            args.kills,
            dir.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let blocks = VOLUME_BYTES / BLOCK as u64;
    let model = Arc::new(Mutex::new(Model::new(blocks)));
    let mut report = Report {
        seed,
        policy: args.policy.clone(),
        ..Report::default()
    };
    let mut rng = Rng(seed | 1);
    let bar = indicatif::ProgressBar::new(u64::from(args.kills));
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }

    let start = || ChildServer::start(&dir.join("torture.toml"), &dir.join("data"), "error");
    let mut child = start()?;
    child.create_volume(
        &serde_json::json!({"name": "torture", "size": VOLUME_BYTES, "extent_size": EXTENT_BYTES}),
    )?;
    for kill in 0..args.kills {
        runtime.block_on(verify(&child, &model, &mut report))?;
        let delay = Duration::from_millis(10 + rng.below(args.max_round_ms.max(11) - 10));
        let pid = child.pid();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SAFETY: signalling the child server we started; it is reaped only below.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let writers = (0..args.writers)
            .map(|w| {
                let seed = rng.next();
                writer(child.nbd, w, args.writers, model.clone(), seed)
            })
            .collect::<Vec<_>>();
        runtime.block_on(join_all(writers));
        killer.join().ok();
        child.kill();
        report.kills = kill + 1;
        bar.inc(1);
        child = start()?;
    }
    runtime.block_on(verify(&child, &model, &mut report))?;
    child.stop()?;
    bar.finish_and_clear();
    report.migrations_done = migrations_done(&config_text, &dir)?;
    {
        let model = model
            .lock()
            .map_err(|_| anyhow::anyhow!("model lock poisoned"))?;
        report.acknowledged_writes = model.acknowledged_writes;
        report.flushes = model.flushes;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "kills {}  verified blocks {}  lost {}  corrupt {}  (acknowledged writes {}, flushes {}, migrations {} under {}, seed {})",
            report.kills,
            report.verified_blocks,
            report.lost_blocks,
            report.corrupt_blocks,
            report.acknowledged_writes,
            report.flushes,
            report.migrations_done,
            report.policy,
            report.seed
        );
    }
    if report.lost_blocks > 0 || report.corrupt_blocks > 0 {
        bail!(
            "{} lost and {} corrupt blocks (seed {seed})",
            report.lost_blocks,
            report.corrupt_blocks
        );
    }
    Ok(())
}

async fn join_all(tasks: Vec<impl std::future::Future<Output = ()> + Send + 'static>) {
    let mut set = tokio::task::JoinSet::new();
    for task in tasks {
        set.spawn(task);
    }
    while set.join_next().await.is_some() {}
}

/// Counts the completed moves in the (stopped) server's durable migration log.
fn migrations_done(config_text: &str, dir: &Path) -> anyhow::Result<u64> {
    let config =
        crate::config::FileConfig::parse(config_text)?.resolve(crate::config::Overrides {
            data_dir: Some(dir.join("data")),
            ..crate::config::Overrides::default()
        })?;
    let engine = strata_engine::Engine::open(strata_engine::EngineConfig {
        data_dir: config.data_dir,
        tiers: config.tiers,
        emulation: false,
        placement: strata_engine::PlacementConfig::default(),
        prefetch: strata_engine::PrefetchConfig::default(),
    })?;
    let done = engine
        .migration_log(None, usize::MAX)?
        .iter()
        .filter(|r| r.outcome == strata_engine::MigrationOutcome::Done)
        .count();
    engine.shutdown()?;
    Ok(done as u64)
}

/// Reads every block and checks it against the model, then makes what was read the new
/// baseline (a killed process cannot lose what the kernel already has).
async fn verify(
    child: &ChildServer,
    model: &Mutex<Model>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut client = strata_nbd::NbdClient::connect_tcp(child.nbd, "torture")
        .await
        .context("verifier cannot connect")?;
    // Read the whole volume first, then judge it block by block.
    let volume_blocks = VOLUME_BYTES / BLOCK as u64;
    let chunk_blocks = 256u64;
    let mut contents = Vec::with_capacity(VOLUME_BYTES as usize);
    let mut b = 0;
    while b < volume_blocks {
        let n = chunk_blocks.min(volume_blocks - b);
        let data = client
            .read(b * BLOCK as u64, (n as usize * BLOCK) as u32)
            .await
            .context("verifier read")?;
        contents.extend_from_slice(&data);
        b += n;
    }
    client.disconnect().await.ok();
    let mut model = model
        .lock()
        .map_err(|_| anyhow::anyhow!("model lock poisoned"))?;
    for (block, bytes) in (0u64..).zip(contents.chunks_exact(BLOCK)) {
        let observed = decode(bytes, block);
        match model.check(block, observed) {
            model::Verdict::Ok => {}
            model::Verdict::Lost { want, got } => {
                report.lost_blocks += 1;
                eprintln!("LOST block {block}: want version >= {want}, found {got:?}");
            }
            model::Verdict::Corrupt => {
                report.corrupt_blocks += 1;
                eprintln!("CORRUPT block {block}: {observed:?}");
            }
        }
        report.verified_blocks += 1;
        model.rebase(block, observed);
    }
    Ok(())
}

/// One writer connection: owns the blocks `b % writers == id`, writes until the server dies.
async fn writer(addr: SocketAddr, id: usize, writers: usize, model: Arc<Mutex<Model>>, seed: u64) {
    let Ok(mut client) = strata_nbd::NbdClient::connect_tcp(addr, "torture").await else {
        return;
    };
    let mut rng = Rng(seed | 1);
    let blocks = VOLUME_BYTES / BLOCK as u64;
    let extent_blocks = EXTENT_BYTES / BLOCK as u64;
    loop {
        let roll = rng.below(100);
        let ok = if roll < 8 {
            let token = match model.lock() {
                Ok(mut m) => m.begin_flush(id),
                Err(_) => return,
            };
            let done = client.flush().await.is_ok();
            if done && let Ok(mut m) = model.lock() {
                m.end_flush(id, token);
            }
            done
        } else if roll < 12 {
            // WRITE_ZEROES of a whole extent frees it; take only our own blocks' extents by
            // zeroing one block at a time when writers share extents.
            let block = own_block(&mut rng, id, writers, blocks);
            let start = block - block % extent_blocks;
            let targets: Vec<u64> = (start..start + extent_blocks)
                .filter(|b| *b as usize % writers == id)
                .collect();
            let mut ok = true;
            for b in targets {
                let seq = match model.lock() {
                    Ok(mut m) => m.issue(b, Kind::Zero),
                    Err(_) => return,
                };
                ok = client
                    .write_zeroes(b * BLOCK as u64, BLOCK as u32, false, false)
                    .await
                    .is_ok();
                if !ok {
                    break;
                }
                if let Ok(mut m) = model.lock() {
                    m.ack(id, b, seq, false);
                }
            }
            ok
        } else {
            let block = own_block(&mut rng, id, writers, blocks);
            let fua = rng.below(20) == 0;
            let seq = match model.lock() {
                Ok(mut m) => m.issue(block, Kind::Data),
                Err(_) => return,
            };
            let data = encode(block, seq);
            let ok = client.write(block * BLOCK as u64, &data, fua).await.is_ok();
            if ok && let Ok(mut m) = model.lock() {
                m.ack(id, block, seq, fua);
            }
            ok
        };
        if !ok {
            return;
        }
    }
}

fn own_block(rng: &mut Rng, id: usize, writers: usize, blocks: u64) -> u64 {
    let per_writer = blocks / writers as u64;
    rng.below(per_writer) * writers as u64 + id as u64
}

/// xorshift64: seeded, reproducible choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}
