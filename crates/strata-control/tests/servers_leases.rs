//! Servers (registration, heartbeat, health) and volume leases (grant, alternative, renew
//! with cost and re-tiering advice, release, expiry, generations).

use std::time::Duration;
use strata_control::testing::{GIB, Rig, mix, server, tier};
use strata_control::{
    AcquireOutcome, AcquireRequest, ControlConfig, ControlErrorKind, Health, ReservationStatus,
    WorkloadSummary,
};
use strata_core::TierKind::{Hdd, Nvme, Ssd};

fn request(volume: &str, holder: &str, shares: &[(strata_core::TierKind, f64)]) -> AcquireRequest {
    AcquireRequest {
        volume: volume.to_owned(),
        holder: holder.to_owned(),
        ttl: Duration::from_secs(30),
        tier_preferences: mix(shares),
        size_bytes: 10 * GIB,
        takeover: false,
    }
}

fn granted(outcome: AcquireOutcome) -> strata_control::LeaseRecord {
    match outcome {
        AcquireOutcome::Granted { lease } => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn silent_server_is_down_within_its_ttl_and_heartbeats_keep_it_up() {
    let rig = Rig::new(ControlConfig::default().with_server_ttl(Duration::from_secs(5)));
    rig.plane
        .register_server(&server("a", vec![tier(Nvme, 100, 0.10)]))
        .unwrap();
    rig.plane
        .register_server(&server("b", vec![tier(Hdd, 1000, 0.01)]))
        .unwrap();
    let health = |rig: &Rig| -> Vec<(String, Health)> {
        rig.plane
            .list_servers()
            .unwrap()
            .into_iter()
            .map(|s| (s.spec.id, s.health))
            .collect()
    };
    assert_eq!(
        health(&rig),
        vec![("a".into(), Health::Up), ("b".into(), Health::Up)]
    );
    for _ in 0..3 {
        rig.advance(Duration::from_secs(4));
        rig.plane.heartbeat("a").unwrap();
    }
    assert_eq!(
        health(&rig),
        vec![("a".into(), Health::Up), ("b".into(), Health::Down)]
    );
    // A late heartbeat brings the server back.
    rig.advance(Duration::from_secs(6));
    assert_eq!(health(&rig)[0].1, Health::Down);
    rig.plane.heartbeat("a").unwrap();
    assert_eq!(health(&rig)[0].1, Health::Up);
    let listed = rig.plane.list_servers().unwrap();
    assert_eq!(listed[0].usage[&Nvme].capacity_bytes, 100 * GIB);
}

#[test]
fn acquire_grants_with_a_fresh_generation_and_refuses_another_holder() {
    let rig = Rig::new(ControlConfig::default());
    rig.plane
        .register_server(&server(
            "a",
            vec![tier(Nvme, 100, 0.10), tier(Ssd, 500, 0.05)],
        ))
        .unwrap();
    let first = granted(
        rig.plane
            .acquire(&request("db", "host1", &[(Nvme, 0.3), (Ssd, 0.7)]))
            .unwrap(),
    );
    assert_eq!((first.generation, first.lease_id.as_str()), (1, "db:1"));
    assert_eq!(first.tiers_granted, mix(&[(Nvme, 0.3), (Ssd, 0.7)]));
    let err = rig
        .plane
        .acquire(&request("db", "host2", &[(Ssd, 1.0)]))
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::Held, "{err}");
    // The same holder re-acquiring gets a new generation; the old one is fenced.
    let second = granted(
        rig.plane
            .acquire(&request("db", "host1", &[(Ssd, 1.0)]))
            .unwrap(),
    );
    assert_eq!(second.generation, 2);
    assert_eq!(
        rig.plane.check_generation("db", 1).unwrap_err().kind,
        ControlErrorKind::StaleGeneration
    );
    rig.plane.check_generation("db", 2).unwrap();
    assert_eq!(
        rig.plane.renew("db:1", None).unwrap_err().kind,
        ControlErrorKind::StaleGeneration
    );
    // Bad shares are refused before anything changes.
    let err = rig
        .plane
        .acquire(&request("db2", "h", &[(Nvme, 0.5)]))
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::InvalidArgument, "{err}");
    assert_eq!(rig.plane.generation("db2").unwrap(), 0);
}

#[test]
fn acquire_answers_alternatives_when_a_tier_is_missing_or_full() {
    let rig = Rig::new(ControlConfig::default());
    rig.plane
        .register_server(&server(
            "a",
            vec![tier(Ssd, 500, 0.05), tier(Hdd, 2000, 0.01)],
        ))
        .unwrap();
    match rig
        .plane
        .acquire(&request("web", "h", &[(Nvme, 0.3), (Ssd, 0.7)]))
        .unwrap()
    {
        AcquireOutcome::Alternative {
            reason,
            suggested_mixes,
            suggested_servers,
        } => {
            assert!(reason.contains("nvme"), "{reason}");
            assert_eq!(suggested_mixes[0], mix(&[(Ssd, 1.0)]));
            assert!(suggested_servers.is_empty(), "no server has nvme");
        }
        other => panic!("expected an alternative, got {other:?}"),
    }
    assert_eq!(
        rig.plane.generation("web").unwrap(),
        0,
        "nothing was granted"
    );
    let mut big = request("big", "h", &[(Ssd, 0.5), (Hdd, 0.5)]);
    big.size_bytes = 2000 * GIB;
    match rig.plane.acquire(&big).unwrap() {
        AcquireOutcome::Alternative {
            suggested_mixes, ..
        } => {
            assert_eq!(suggested_mixes[0], mix(&[(Hdd, 1.0)]));
        }
        other => panic!("expected an alternative, got {other:?}"),
    }
}

#[test]
fn renew_reports_cost_and_suggests_retiering() {
    let rig = Rig::new(ControlConfig::default());
    rig.plane
        .register_server(&server(
            "a",
            vec![tier(Nvme, 100, 0.30), tier(Hdd, 2000, 0.03)],
        ))
        .unwrap();
    let mut long = request("db", "h", &[(Nvme, 0.5), (Hdd, 0.5)]);
    long.ttl = Duration::from_secs(40 * 24 * 3600);
    let lease = granted(rig.plane.acquire(&long).unwrap());
    rig.plane
        .pre_allocate("db", &lease.lease_id, &lease.tiers_granted, 20 * GIB)
        .unwrap();
    // 15 days = half a month: 10 GiB × 0.30 / 2 + 10 GiB × 0.03 / 2.
    rig.advance(Duration::from_secs(15 * 24 * 3600));
    let busy = WorkloadSummary {
        read_iops: 3000.0,
        write_iops: 1000.0,
        random_fraction: 1.0,
    };
    let report = rig.plane.renew(&lease.lease_id, Some(&busy)).unwrap();
    assert!(
        (report.cost_so_far - 1.65).abs() < 1e-6,
        "{}",
        report.cost_so_far
    );
    assert_eq!(report.cost_by_tier.len(), 2);
    let retier = report.retier.expect("random IOPS overload the disk share");
    assert_eq!(retier.suggested, mix(&[(Nvme, 0.5), (Ssd, 0.5)]));
    assert!(retier.reason.contains("hdd"), "{}", retier.reason);
    let idle = WorkloadSummary {
        read_iops: 10.0,
        write_iops: 0.0,
        random_fraction: 0.0,
    };
    let report = rig.plane.renew(&lease.lease_id, Some(&idle)).unwrap();
    assert_eq!(
        report.retier.expect("idle nvme is waste").suggested,
        mix(&[(Ssd, 0.5), (Hdd, 0.5)])
    );
}

#[test]
fn expiry_and_release_end_leases_and_free_their_reservations() {
    let rig = Rig::new(ControlConfig::default().with_server_ttl(Duration::from_secs(3600)));
    rig.plane
        .register_server(&server("a", vec![tier(Ssd, 100, 0.05)]))
        .unwrap();
    let a = granted(
        rig.plane
            .acquire(&request("va", "h", &[(Ssd, 1.0)]))
            .unwrap(),
    );
    let b = granted(
        rig.plane
            .acquire(&request("vb", "h", &[(Ssd, 1.0)]))
            .unwrap(),
    );
    rig.plane
        .pre_allocate("va", &a.lease_id, &a.tiers_granted, 10 * GIB)
        .unwrap();
    rig.plane
        .pre_allocate("vb", &b.lease_id, &b.tiers_granted, 20 * GIB)
        .unwrap();
    let reserved = |rig: &Rig| rig.plane.list_servers().unwrap()[0].usage[&Ssd].reserved_bytes;
    assert_eq!(reserved(&rig), 30 * GIB);
    rig.advance(Duration::from_secs(20));
    rig.plane.renew(&b.lease_id, None).unwrap();
    rig.advance(Duration::from_secs(20));
    assert_eq!(rig.plane.expire_due().unwrap(), vec!["va:1".to_owned()]);
    assert_eq!(reserved(&rig), 20 * GIB);
    assert_eq!(
        rig.plane.renew(&a.lease_id, None).unwrap_err().kind,
        ControlErrorKind::Expired
    );
    let statuses: Vec<_> = rig
        .plane
        .list_reservations(Some("va"))
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![ReservationStatus::Released]);
    rig.plane.release(&b.lease_id).unwrap();
    assert_eq!(reserved(&rig), 0);
    assert_eq!(rig.plane.list_leases().unwrap(), vec![]);
    // After expiry another holder may take the volume, with the next generation.
    let c = granted(
        rig.plane
            .acquire(&request("va", "other", &[(Ssd, 1.0)]))
            .unwrap(),
    );
    assert_eq!(c.generation, 2);
}

#[test]
fn renewal_with_a_new_ttl_keeps_it_for_later_renewals() {
    let rig = Rig::new(ControlConfig::default());
    rig.plane
        .register_server(&server("a", vec![tier(Ssd, 100, 0.05)]))
        .unwrap();
    let lease = granted(
        rig.plane
            .acquire(&request("v", "h", &[(Ssd, 1.0)]))
            .unwrap(),
    );
    let report = rig
        .plane
        .renew_for(&lease.lease_id, Some(Duration::from_secs(300)), None)
        .unwrap();
    assert_eq!(report.lease.ttl_ms, 300_000);
    // Past the first TTL (30 s) but within the new one, the lease lives on.
    rig.advance(Duration::from_secs(200));
    assert!(rig.plane.expire_due().unwrap().is_empty());
    assert_eq!(
        rig.plane.renew(&lease.lease_id, None).unwrap().lease.ttl_ms,
        300_000
    );
    assert_eq!(
        rig.plane
            .renew_for(&lease.lease_id, Some(Duration::ZERO), None)
            .unwrap_err()
            .kind,
        ControlErrorKind::InvalidArgument
    );
}
