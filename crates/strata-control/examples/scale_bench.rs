//! Control-plane scale benchmark (issue 7): placement decisions per second among 1,000
//! simulated servers, and reservation operations per second against a real store (redb,
//! etcd or memory), with volumes drawn from 100,000 names. Prints Markdown table rows.
//!
//! Usage: `cargo run --release -p strata-control --example scale_bench -- \
//!   [--store redb|etcd|memory] [--servers N] [--volumes N] [--threads N] [--ops N]`

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use strata_control::placement::{ClusterView, ServerView, TierView, place};
use strata_control::testing::{GIB, server, tier};
use strata_control::{ControlConfig, ControlPlane, PlacementRequest, TierUsage};
use strata_core::{SystemClock, TierKind};
use strata_meta::etcd_server::EtcdServer;
use strata_meta::{MemoryStore, MetaStore, RedbStore};

struct Args {
    store: String,
    servers: u64,
    volumes: u64,
    threads: u64,
    ops: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        store: "redb".into(),
        servers: 1_000,
        volumes: 100_000,
        threads: 8,
        ops: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--store" => args.store = value,
            "--servers" => args.servers = value.parse().expect("--servers N"),
            "--volumes" => args.volumes = value.parse().expect("--volumes N"),
            "--threads" => args.threads = value.parse().expect("--threads N"),
            "--ops" => args.ops = value.parse().expect("--ops N"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

const TIERS: [(TierKind, u64, f64); 3] = [
    (TierKind::Nvme, 2_000, 0.20),
    (TierKind::Ssd, 8_000, 0.08),
    (TierKind::Hdd, 40_000, 0.02),
];

/// A deterministic pseudo-random stream (SplitMix64), so every run places the same load.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 1,000 servers whose tiers already carry the reservations of `volumes` volumes.
fn synthetic_view(servers: u64, volumes: u64) -> ClusterView {
    let mut rng = 7;
    let mut view = ClusterView {
        servers: (0..servers)
            .map(|i| ServerView {
                id: format!("srv-{i:04}"),
                healthy: !splitmix(&mut rng).is_multiple_of(50),
                tiers: TIERS
                    .iter()
                    .map(|(kind, gib, cost)| TierView {
                        tier: kind.clone(),
                        profile: kind.default_profile().unwrap(),
                        cost_per_gib_month: cost * (0.8 + (splitmix(&mut rng) % 40) as f64 / 100.0),
                        load: (splitmix(&mut rng) % 100) as f64 / 100.0,
                        usage: TierUsage {
                            capacity_bytes: gib * GIB,
                            used_bytes: 0,
                            reserved_bytes: 0,
                        },
                    })
                    .collect(),
            })
            .collect(),
    };
    for _ in 0..volumes {
        let s = (splitmix(&mut rng) % servers) as usize;
        let t = (splitmix(&mut rng) % 3) as usize;
        let usage = &mut view.servers[s].tiers[t].usage;
        usage.used_bytes += 5 * GIB;
        usage.reserved_bytes += 3 * GIB;
    }
    view
}

fn bench_placement(args: &Args) {
    let view = synthetic_view(args.servers, args.volumes);
    let decisions = args.volumes;
    let started = Instant::now();
    let mut placed = 0u64;
    let mut latencies_ns = Vec::with_capacity(decisions as usize);
    for i in 0..decisions {
        let request = PlacementRequest {
            volume: format!("vol-{i}"),
            tier: TIERS[(i % 3) as usize].0.clone(),
            bytes: 4 * GIB,
            predicted: None,
            avoid: BTreeSet::from([format!("srv-{:04}", i % args.servers)]),
            overcommit_ratio: 1.2,
        };
        let one = Instant::now();
        if place(&view, &request).is_some() {
            placed += 1;
        }
        latencies_ns.push(one.elapsed().as_nanos() as u64);
    }
    let elapsed = started.elapsed();
    latencies_ns.sort_unstable();
    let pct = |p: f64| latencies_ns[((latencies_ns.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    println!(
        "| placement (in-memory view) | {} servers, {} volumes | {:.0} decisions/s | p50 {:.0} µs, p99 {:.0} µs, {placed} placed |",
        args.servers,
        args.volumes,
        decisions as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
}

fn bench_reservations(args: &Args, store: Arc<dyn MetaStore>) {
    let plane = Arc::new(ControlPlane::new(
        store,
        Arc::new(SystemClock::new()),
        ControlConfig::default().with_server_ttl(Duration::from_secs(600)),
    ));
    let started = Instant::now();
    for i in 0..args.servers {
        let tiers = TIERS
            .iter()
            .map(|(kind, gib, cost)| tier(kind.clone(), *gib, *cost))
            .collect();
        plane
            .register_server(&server(&format!("srv-{i:04}"), tiers))
            .unwrap();
    }
    let register_s = started.elapsed().as_secs_f64();
    let view_started = Instant::now();
    let view = ClusterView::from_statuses(&plane.list_servers().unwrap());
    let view_ms = view_started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(view.servers.len() as u64, args.servers);

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let (plane, next) = (plane.clone(), next.clone());
            let (ops, volumes, servers) = (args.ops, args.volumes, args.servers);
            std::thread::spawn(move || {
                // Each op pair: reserve a volume's share, then delete the volume (release).
                loop {
                    let i = next.fetch_add(2, Ordering::Relaxed);
                    if i >= ops {
                        return;
                    }
                    let volume = format!("vol-{}", (i / 2) % volumes);
                    let server = format!("srv-{:04}", (i / 2) % servers);
                    let lease_id = format!("{volume}:1");
                    let tier = &TIERS[((i / 2) % 3) as usize].0;
                    plane
                        .reserve(&volume, &lease_id, &server, tier, GIB)
                        .unwrap();
                    plane.delete_volume(&volume).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "| reservation ops ({}) | {} servers, volumes from {} names, {} threads | {:.0} ops/s | {} ops (reserve + release) in {:.2} s; registering servers {:.1} s; cluster view {:.0} ms |",
        args.store,
        args.servers,
        args.volumes,
        args.threads,
        args.ops as f64 / elapsed,
        args.ops,
        elapsed,
        register_s,
        view_ms
    );
}

fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut _etcd = None;
    let store: Arc<dyn MetaStore> = match args.store.as_str() {
        "redb" => Arc::new(RedbStore::open(dir.path().join("meta.redb")).expect("redb")),
        "memory" => Arc::new(MemoryStore::new()),
        "etcd" => {
            let server = EtcdServer::start().expect("etcd must be installed");
            let store = server.connect().expect("etcd client");
            _etcd = Some(server);
            Arc::new(store)
        }
        other => panic!("unknown store {other}"),
    };
    bench_placement(&args);
    bench_reservations(&args, store);
}
