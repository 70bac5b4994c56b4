//! The built-in driver of `strata demo`, used when fio is not installed (or with
//! `--driver builtin`): Strata's own NBD client issues each profile's requests
//! (`workload::Generator`), paced at the profile's target rate with one request in flight
//! per volume, as fio does with `iodepth=1` and `rate_iops`. Also the initial fill of the
//! volumes, which both drivers share.

use super::latency::Sample;
use super::workload::{Generator, Profile};
use anyhow::Context;
use std::net::SocketAddr;
use std::time::Duration;
use strata_nbd::NbdClient;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes per fill write: one extent, so the fill allocates extents in the order written.
pub const FILL_CHUNK_BYTES: u64 = 1 << 20;

/// Writes every byte of every volume, one 1 MiB chunk of each volume in turn (volumes
/// provisioned side by side), then flushes. `on_chunk` is called after every chunk;
/// `cancel` stops the fill with an error.
pub async fn fill(
    nbd: SocketAddr,
    profiles: &[Profile],
    cancel: CancellationToken,
    on_chunk: impl Fn(),
) -> anyhow::Result<()> {
    let mut clients = Vec::with_capacity(profiles.len());
    for p in profiles {
        clients.push(connect(nbd, p.name).await?);
    }
    let chunk = vec![0xa5u8; usize::try_from(FILL_CHUNK_BYTES).unwrap_or(1 << 20)];
    let rounds = profiles
        .iter()
        .map(|p| p.size_bytes.div_ceil(FILL_CHUNK_BYTES))
        .max()
        .unwrap_or(0);
    for round in 0..rounds {
        if cancel.is_cancelled() {
            anyhow::bail!("interrupted");
        }
        let offset = round * FILL_CHUNK_BYTES;
        for (p, client) in profiles.iter().zip(&mut clients) {
            if offset < p.size_bytes {
                let len = usize::try_from((p.size_bytes - offset).min(FILL_CHUNK_BYTES))?;
                client
                    .write(offset, &chunk[..len], false)
                    .await
                    .with_context(|| format!("filling volume {}", p.name))?;
                on_chunk();
            }
        }
    }
    for (p, mut client) in profiles.iter().zip(clients) {
        client
            .flush()
            .await
            .with_context(|| format!("flushing volume {}", p.name))?;
        client.disconnect().await.ok();
    }
    Ok(())
}

/// Runs every profile on its volume for `duration` (or until `cancel`), returning every
/// request's latency. The same `seed` gives the same request streams on every server.
pub async fn drive(
    nbd: SocketAddr,
    profiles: &[Profile],
    duration: Duration,
    seed: u64,
    cancel: CancellationToken,
) -> anyhow::Result<Vec<Sample>> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (volume, &profile) in profiles.iter().enumerate() {
        let cancel = cancel.clone();
        let seed = seed ^ (volume as u64).wrapping_mul(0x9e37_79b9);
        tasks.spawn(async move {
            drive_volume(nbd, volume, profile, start, duration, seed, cancel).await
        });
    }
    let mut samples = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        samples.extend(joined.context("a workload task panicked")??);
    }
    samples.sort_by_key(|s| s.at_ms);
    Ok(samples)
}

async fn drive_volume(
    nbd: SocketAddr,
    volume: usize,
    profile: Profile,
    start: Instant,
    duration: Duration,
    seed: u64,
    cancel: CancellationToken,
) -> anyhow::Result<Vec<Sample>> {
    let mut client = connect(nbd, profile.name).await?;
    let mut generator = Generator::new(profile, seed);
    let payload = vec![0x5au8; usize::try_from(profile.block_bytes)?];
    let interval = Duration::from_secs(1) / profile.target_iops.max(1);
    let end = start + duration;
    let mut next_at = start;
    let mut samples = Vec::new();
    while !cancel.is_cancelled() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if next_at > now {
            tokio::select! {
                () = tokio::time::sleep_until(next_at.min(end)) => {}
                () = cancel.cancelled() => break,
            }
            continue;
        }
        // Behind schedule by more than a second (a slow tier): do not burst to catch up.
        let floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        next_at = next_at.max(floor) + interval;
        let request = generator.next_request();
        let len = u32::try_from(request.len_bytes)?;
        let issued = Instant::now();
        let result = if request.read {
            client.read(request.offset, len).await.map(drop)
        } else {
            let data = &payload[..len as usize];
            client.write(request.offset, data, false).await
        };
        result.with_context(|| format!("I/O on volume {}", profile.name))?;
        let done = Instant::now();
        samples.push(Sample {
            at_ms: u64::try_from(done.duration_since(start).as_millis()).unwrap_or(u64::MAX),
            latency_us: done.duration_since(issued).as_secs_f64() * 1e6,
            read: request.read,
            volume,
        });
    }
    client.disconnect().await.ok();
    Ok(samples)
}

async fn connect(nbd: SocketAddr, volume: &str) -> anyhow::Result<NbdClient> {
    NbdClient::connect_tcp(nbd, volume)
        .await
        .with_context(|| format!("connecting to volume {volume} over NBD at {nbd}"))
}
