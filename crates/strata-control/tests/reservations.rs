//! Soft reservations: pre-allocation across tiers and servers, the reserved → in use →
//! released lifecycle, capacity accounting, overcommit, and clear errors on no fit; and
//! server selection with its score breakdown.

use std::collections::BTreeSet;
use std::time::Duration;
use strata_control::placement::{place, score_servers};
use strata_control::testing::{GIB, Rig, mix, server, tier};
use strata_control::{
    AcquireOutcome, AcquireRequest, ClusterView, ControlConfig, ControlErrorKind, PlacementRequest,
    ReservationStatus, TierMix,
};
use strata_core::TierKind::{self, Hdd, Nvme, Ssd};

fn lease(rig: &Rig, volume: &str, shares: TierMix) -> String {
    let request = AcquireRequest {
        volume: volume.to_owned(),
        holder: "h".to_owned(),
        ttl: Duration::from_secs(60),
        tier_preferences: shares,
        size_bytes: 0,
        takeover: false,
    };
    match rig.plane.acquire(&request).unwrap() {
        AcquireOutcome::Granted { lease } => lease.lease_id,
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn usage(rig: &Rig, id: &str, tier: &TierKind) -> strata_control::TierUsage {
    let servers = rig.plane.list_servers().unwrap();
    servers.iter().find(|s| s.spec.id == id).unwrap().usage[tier]
}

fn three_servers(config: ControlConfig) -> Rig {
    let rig = Rig::new(config);
    for (id, nvme_cost) in [("s1", 0.30), ("s2", 0.20), ("s3", 0.25)] {
        rig.plane
            .register_server(&server(
                id,
                vec![tier(Nvme, 100, nvme_cost), tier(Hdd, 1000, 0.02)],
            ))
            .unwrap();
    }
    rig
}

#[test]
fn pre_allocate_spreads_tiers_over_servers_and_accounts_capacity() {
    let rig = three_servers(ControlConfig::default());
    let profile = mix(&[(Nvme, 0.25), (Hdd, 0.75)]);
    let lease_id = lease(&rig, "db", profile.clone());
    let made = rig
        .plane
        .pre_allocate("db", &lease_id, &profile, 40 * GIB)
        .unwrap();
    assert_eq!(made.len(), 2);
    let nvme = made.iter().find(|r| r.tier == Nvme).unwrap();
    let hdd = made.iter().find(|r| r.tier == Hdd).unwrap();
    assert_eq!((nvme.bytes, hdd.bytes), (10 * GIB, 30 * GIB));
    // Cheapest nvme wins; anti-affinity puts the hdd share on another server.
    assert_eq!(nvme.server, "s2");
    assert_ne!(hdd.server, nvme.server);
    assert_eq!(usage(&rig, "s2", &Nvme).reserved_bytes, 10 * GIB);
    assert_eq!(usage(&rig, "s2", &Nvme).free_bytes(), 90 * GIB);
    // Writing moves bytes from reserved to used.
    rig.plane.consume("db", &Nvme, 4 * GIB).unwrap();
    let u = usage(&rig, "s2", &Nvme);
    assert_eq!((u.used_bytes, u.reserved_bytes), (4 * GIB, 6 * GIB));
    let listed = rig.plane.list_reservations(Some("db")).unwrap();
    let nvme = listed.iter().find(|r| r.tier == Nvme).unwrap();
    assert_eq!(
        (nvme.status, nvme.in_use_bytes),
        (ReservationStatus::InUse, 4 * GIB)
    );
    // Release gives back the unwritten part; the written bytes stay used.
    rig.plane.release(&lease_id).unwrap();
    let u = usage(&rig, "s2", &Nvme);
    assert_eq!((u.used_bytes, u.reserved_bytes), (4 * GIB, 0));
    assert!(
        rig.plane
            .list_reservations(Some("db"))
            .unwrap()
            .iter()
            .all(|r| r.status == ReservationStatus::Released)
    );
    // Deleting the volume frees the written bytes too.
    rig.plane.delete_volume("db").unwrap();
    assert_eq!(usage(&rig, "s2", &Nvme).used_bytes, 0);
    assert_eq!(rig.plane.list_reservations(Some("db")).unwrap(), vec![]);
}

#[test]
fn others_reservations_are_honoured_unless_overcommit_allows_and_then_it_is_logged() {
    let rig = Rig::new(ControlConfig::default());
    rig.plane
        .register_server(&server("only", vec![tier(Ssd, 100, 0.1)]))
        .unwrap();
    let profile = mix(&[(Ssd, 1.0)]);
    let a = lease(&rig, "a", profile.clone());
    rig.plane.pre_allocate("a", &a, &profile, 80 * GIB).unwrap();
    let b = lease(&rig, "b", profile.clone());
    let err = rig
        .plane
        .pre_allocate("b", &b, &profile, 30 * GIB)
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::NoCapacity);
    assert!(err.message.contains("would fit 21474836480 bytes"), "{err}");
    assert_eq!(
        usage(&rig, "only", &Ssd).reserved_bytes,
        80 * GIB,
        "a failed request changes nothing"
    );
    // Writing beyond a reservation may not eat another volume's reserved space either.
    rig.plane.pre_allocate("b", &b, &profile, 20 * GIB).unwrap();
    let err = rig.plane.consume("b", &Ssd, 25 * GIB).unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::NoCapacity, "{err}");
    assert!(rig.plane.overcommit_events().unwrap().is_empty());

    // The same store under an operator ratio of 1.5 may borrow, and records it.
    let lenient = Rig::over(
        rig.store.clone(),
        rig.clock.clone(),
        ControlConfig::default().with_overcommit_ratio(1.5),
    );
    let c = lease(&lenient, "c", profile.clone());
    let made = lenient
        .plane
        .pre_allocate("c", &c, &profile, 30 * GIB)
        .unwrap();
    assert!(made[0].overcommitted);
    let events = lenient.plane.overcommit_events().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].volume.as_str(), events[0].borrowed_bytes),
        ("c", 30 * GIB)
    );
    let err = lenient
        .plane
        .pre_allocate("c", &c, &profile, 30 * GIB)
        .unwrap_err();
    assert_eq!(
        err.kind,
        ControlErrorKind::NoCapacity,
        "150 GiB is the limit"
    );
}

#[test]
fn selection_is_deterministic_and_explains_itself() {
    let rig = three_servers(ControlConfig::default().with_server_ttl(Duration::from_secs(5)));
    // s3 keeps heartbeating; the others go silent.
    rig.advance(Duration::from_secs(3));
    rig.plane.heartbeat("s3").unwrap();
    rig.plane.heartbeat("s1").unwrap();
    rig.advance(Duration::from_secs(3));
    let view = ClusterView::from_statuses(&rig.plane.list_servers().unwrap());
    let request = PlacementRequest {
        volume: "v".into(),
        tier: Nvme,
        bytes: 10 * GIB,
        predicted: None,
        avoid: BTreeSet::from(["s3".to_owned()]),
        overcommit_ratio: 1.0,
    };
    let ranked = score_servers(&view, &request);
    assert_eq!(ranked.len(), 3);
    assert_eq!(
        (ranked[0].server.as_str(), ranked[0].eligible),
        ("s1", true)
    );
    assert_eq!(ranked[1].server, "s3");
    assert_eq!(ranked[1].breakdown.anti_affinity, 0.0);
    assert!(ranked[0].total > ranked[1].total);
    assert_eq!(
        (ranked[2].server.as_str(), ranked[2].reason.as_str()),
        ("s2", "server is down")
    );
    assert_eq!(place(&view, &request).unwrap(), ranked[0]);
    assert_eq!(
        score_servers(&view, &request),
        ranked,
        "same state, same answer"
    );
    let too_big = PlacementRequest {
        bytes: 200 * GIB,
        ..request
    };
    assert!(place(&view, &too_big).is_none());
    assert!(score_servers(&view, &too_big).iter().all(|s| !s.eligible));
}

#[test]
fn reserving_twice_on_one_server_and_tier_adds_up() {
    let rig = three_servers(ControlConfig::default());
    let lease_id = lease(&rig, "v", mix(&[(Hdd, 1.0)]));
    rig.plane
        .reserve("v", &lease_id, "s1", &Hdd, 5 * GIB)
        .unwrap();
    let second = rig
        .plane
        .reserve("v", &lease_id, "s1", &Hdd, 7 * GIB)
        .unwrap();
    assert_eq!(second.bytes, 12 * GIB);
    assert_eq!(rig.plane.list_reservations(Some("v")).unwrap().len(), 1);
    assert_eq!(usage(&rig, "s1", &Hdd).reserved_bytes, 12 * GIB);
    let err = rig
        .plane
        .reserve("v", &lease_id, "s1", &Nvme, 101 * GIB)
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::NoCapacity, "{err}");
}

/// Each instance keeps the accounting records it last wrote as a guess; another instance's
/// change makes the guess stale. The stale guess may cost a retry, never a wrong count, and
/// a "no capacity" reached from it is checked against the store before it is believed.
#[test]
fn a_stale_accounting_guess_from_another_instance_is_retried_not_believed() {
    let rig = Rig::new(ControlConfig::default());
    rig.plane
        .register_server(&server("only", vec![tier(Ssd, 100, 0.1)]))
        .unwrap();
    let other = Rig::over(
        rig.store.clone(),
        rig.clock.clone(),
        ControlConfig::default(),
    );
    // This instance fills the tier and so remembers it full.
    rig.plane
        .reserve("a", "a:1", "only", &Ssd, 90 * GIB)
        .unwrap();
    // The other one frees it; this instance's guess still says 90 GiB reserved.
    other.plane.delete_volume("a").unwrap();
    assert_eq!(usage(&rig, "only", &Ssd).reserved_bytes, 0);
    rig.plane
        .reserve("b", "b:1", "only", &Ssd, 60 * GIB)
        .expect("60 GiB fit once the other instance freed the tier");
    // The other instance now holds a stale guess (0 reserved) and adds to it.
    other
        .plane
        .reserve("c", "c:1", "only", &Ssd, 30 * GIB)
        .unwrap();
    assert_eq!(usage(&rig, "only", &Ssd).reserved_bytes, 90 * GIB);
    let err = other
        .plane
        .reserve("d", "d:1", "only", &Ssd, 20 * GIB)
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::NoCapacity, "{err}");
    // Writes move bytes from reserved to used under either instance's guess.
    rig.plane.consume("c", &Ssd, 10 * GIB).unwrap();
    other.plane.consume("b", &Ssd, 60 * GIB).unwrap();
    let now = usage(&rig, "only", &Ssd);
    assert_eq!((now.reserved_bytes, now.used_bytes), (20 * GIB, 70 * GIB));
    rig.plane.delete_volume("b").unwrap();
    other.plane.delete_volume("c").unwrap();
    let now = usage(&other, "only", &Ssd);
    assert_eq!((now.reserved_bytes, now.used_bytes), (0, 0));
}
