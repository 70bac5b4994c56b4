//! The control plane of a running server: where it keeps its records (the engine's
//! embedded store for a single server, a shared etcd for a cluster), this server's
//! registration and heartbeat, the lease-expiry sweep, the reserved → in-use
//! accounting of leased volumes from what the engine has really written, and handing this
//! server's live reservations to the engine, which keeps other volumes out of them.

use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strata_control::{ControlConfig, ControlPlane, Reservation, ReservationStatus};
use strata_core::{TierKind, UnixClock};
use strata_engine::{Engine, ReservationHold};
use strata_meta::{EtcdStore, MetaStore};
use tokio_util::sync::CancellationToken;

/// Opens the control plane over etcd when endpoints are given, else over the engine's own
/// store (its records live under `ctl/`, apart from the engine's).
pub fn open(
    engine: &Engine,
    etcd: &[String],
    config: ControlConfig,
) -> anyhow::Result<Arc<ControlPlane>> {
    let store: Arc<dyn MetaStore> = if etcd.is_empty() {
        engine.store()
    } else {
        Arc::new(
            EtcdStore::connect(etcd)
                .with_context(|| format!("cannot reach etcd at {}", etcd.join(",")))?,
        )
    };
    Ok(Arc::new(ControlPlane::new(
        store,
        Arc::new(UnixClock),
        config,
    )))
}

/// How often the loop heartbeats, sweeps and accounts: a third of the server TTL, so two
/// missed beats still leave the server up, and at least every second so expired leases
/// give their reservations back promptly.
fn tick(config: &ControlConfig) -> Duration {
    (config.server_ttl / 3).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Heartbeats, expires due leases and accounts written bytes until `stop`, then takes this
/// server out of the registry's `up` list. Errors are logged and retried next tick: a
/// store that is briefly away must not stop the data path.
pub async fn run(
    plane: Arc<ControlPlane>,
    engine: Arc<Engine>,
    server_id: String,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(tick(plane.config()));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let (plane, engine, id) = (plane.clone(), engine.clone(), server_id.clone());
        let done = tokio::task::spawn_blocking(move || one_round(&plane, &engine, &id)).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("control plane: {err:#}"),
            Err(err) => tracing::error!("control plane round panicked: {err}"),
        }
    }
    let id = server_id.clone();
    match tokio::task::spawn_blocking(move || plane.deregister_heartbeat(&id)).await {
        Ok(Ok(())) => tracing::info!("server {server_id} left the registry"),
        Ok(Err(err)) => tracing::warn!("deregistering {server_id}: {err}"),
        Err(err) => tracing::warn!("deregistering {server_id}: {err}"),
    }
}

fn one_round(plane: &ControlPlane, engine: &Engine, server_id: &str) -> anyhow::Result<()> {
    plane.heartbeat(server_id).context("heartbeat")?;
    for lease_id in plane.expire_due().context("expiring leases")? {
        tracing::info!("lease {lease_id} expired; its reservations were released");
    }
    // One scan of every reservation per round, for the engine and for the accounting.
    let live = live_reservations(plane, server_id).context("listing reservations")?;
    enforce(engine, &live);
    account_writes(plane, engine, &live).context("accounting reservations")
}

/// This server's reservations that are not released.
fn live_reservations(plane: &ControlPlane, server_id: &str) -> anyhow::Result<Vec<Reservation>> {
    Ok(plane
        .list_reservations(None)?
        .into_iter()
        .filter(|r| r.server == server_id && r.status != ReservationStatus::Released)
        .collect())
}

/// Hands the reservations to the engine, which keeps other volumes' new extents and moves
/// out of the room they hold.
fn enforce(engine: &Engine, live: &[Reservation]) {
    let holds: Vec<ReservationHold> = live
        .iter()
        .map(|r| ReservationHold::new(r.volume.clone(), r.tier.clone(), r.bytes))
        .collect();
    engine.set_reservations(&holds);
}

/// Start-up: hands this server's live reservations to the engine before any client can
/// write, so a restart does not leave a window in which they are not enforced.
pub fn enforce_at_start(
    plane: &ControlPlane,
    engine: &Engine,
    server_id: &str,
) -> anyhow::Result<()> {
    let live = live_reservations(plane, server_id).context("listing reservations")?;
    enforce(engine, &live);
    Ok(())
}

/// Moves the bytes each leased volume has written on a tier of this server from reserved
/// to in use, up to what its reservations hold (a reservation never shrinks back: bytes
/// demoted to another tier stay accounted where they were first written).
fn account_writes(
    plane: &ControlPlane,
    engine: &Engine,
    live: &[Reservation],
) -> anyhow::Result<()> {
    // volume → tier → (in use, room left).
    let mut held: BTreeMap<String, BTreeMap<TierKind, (u64, u64)>> = BTreeMap::new();
    for reservation in live {
        let entry = held
            .entry(reservation.volume.clone())
            .or_default()
            .entry(reservation.tier.clone())
            .or_default();
        entry.0 += reservation.in_use_bytes;
        entry.1 += reservation.bytes - reservation.in_use_bytes;
    }
    if held.is_empty() {
        return Ok(());
    }
    for volume in engine.list_volumes() {
        for (tier, (in_use, room)) in held.get(&volume.name).into_iter().flatten() {
            let written = volume
                .bytes_per_tier
                .get(tier.as_str())
                .copied()
                .unwrap_or(0);
            let newly = written.saturating_sub(*in_use).min(*room);
            if newly > 0 {
                plane.consume(&volume.name, tier, newly)?;
            }
        }
    }
    Ok(())
}
