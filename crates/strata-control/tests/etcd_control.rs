//! The control plane over a real etcd, from two planes (two "servers") sharing it: a
//! server's heartbeat lease expiring marks it down, leases and reservations made by one
//! plane are seen and honoured by the other.

use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_control::testing::{GIB, mix, server, tier};
use strata_control::{
    AcquireOutcome, AcquireRequest, ControlConfig, ControlErrorKind, ControlPlane, Health,
};
use strata_core::{SystemClock, TierKind};
use strata_meta::MetaStore;
use strata_meta::etcd_server::EtcdServer;

fn plane(etcd: &EtcdServer, ttl: Duration) -> ControlPlane {
    let store: Arc<dyn MetaStore> = Arc::new(etcd.connect().unwrap());
    ControlPlane::new(
        store,
        Arc::new(SystemClock::new()),
        ControlConfig::default().with_server_ttl(ttl),
    )
}

#[test]
fn two_planes_share_servers_leases_and_reservations_through_etcd() {
    let etcd = EtcdServer::start().expect("etcd must be installed (etcd-server)");
    let one = plane(&etcd, Duration::from_secs(2));
    let two = plane(&etcd, Duration::from_secs(60));
    one.register_server(&server("short-lived", vec![tier(TierKind::Ssd, 100, 0.1)]))
        .unwrap();
    two.register_server(&server("steady", vec![tier(TierKind::Ssd, 100, 0.1)]))
        .unwrap();
    let request = AcquireRequest {
        volume: "shared".into(),
        holder: "client-a".into(),
        ttl: Duration::from_secs(60),
        tier_preferences: mix(&[(TierKind::Ssd, 1.0)]),
        size_bytes: 10 * GIB,
        takeover: false,
    };
    let AcquireOutcome::Granted { lease } = one.acquire(&request).unwrap() else {
        panic!("room on both servers");
    };
    one.pre_allocate("shared", &lease.lease_id, &lease.tiers_granted, 60 * GIB)
        .unwrap();
    // The other plane sees the lease and the reservation, and honours both.
    let other = AcquireRequest {
        holder: "client-b".into(),
        ..request
    };
    assert_eq!(
        two.acquire(&other).unwrap_err().kind,
        ControlErrorKind::Held
    );
    assert_eq!(two.list_reservations(Some("shared")).unwrap().len(), 1);
    let b = AcquireRequest {
        volume: "second".into(),
        ..other
    };
    let AcquireOutcome::Granted { lease: lease_b } = two.acquire(&b).unwrap() else {
        panic!("room left");
    };
    let made = two
        .pre_allocate(
            "second",
            &lease_b.lease_id,
            &lease_b.tiers_granted,
            60 * GIB,
        )
        .unwrap();
    assert_ne!(
        made[0].server,
        one.list_reservations(Some("shared")).unwrap()[0].server
    );
    // "short-lived" stops heartbeating; etcd expires its lease and it shows down.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let servers = two.list_servers().unwrap();
        let health: Vec<Health> = servers.iter().map(|s| s.health).collect();
        if health == vec![Health::Down, Health::Up] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server not marked down in time: {health:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
