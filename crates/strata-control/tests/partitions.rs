//! Partition maps: placement spreads partitions over healthy servers deterministically,
//! boundaries fall on extents, a second create of a name fails and changes nothing, and
//! maps read back, list, turn ready and delete.

use strata_control::testing::{Rig, server, tier};
use strata_control::{
    ControlConfig, ControlErrorKind, PartitionMapState, PartitionedVolumeSpec, Result,
};
use strata_core::TierKind::{Hdd, Nvme};

const MIB: u64 = 1 << 20;

fn cluster(ids: &[&str]) -> Rig {
    let rig = Rig::new(ControlConfig::default());
    for id in ids {
        rig.plane
            .register_server(&server(id, vec![tier(Nvme, 10, 0.1), tier(Hdd, 100, 0.01)]))
            .unwrap();
    }
    rig
}

fn spec(name: &str, size_bytes: u64, partitions: u32) -> PartitionedVolumeSpec {
    PartitionedVolumeSpec {
        name: name.to_owned(),
        size_bytes,
        extent_size_bytes: MIB,
        partitions,
        profile: Some("database".into()),
        pin: None,
        capacity_tier: Hdd,
    }
}

fn owners(map: &strata_control::PartitionMap) -> Vec<&str> {
    map.partitions.iter().map(|p| p.server.as_str()).collect()
}

#[test]
fn partitions_spread_over_every_server_before_doubling_up() -> Result<()> {
    let rig = cluster(&["a", "b", "c"]);
    let map = rig
        .plane
        .create_partitioned_volume(&spec("db01", 64 * MIB, 3), "a")?;
    let mut distinct = owners(&map);
    distinct.sort_unstable();
    assert_eq!(
        distinct,
        ["a", "b", "c"],
        "three partitions on three servers"
    );
    assert_eq!(map.state, PartitionMapState::Creating);
    assert_eq!(map.created_by, "a");
    let mut start = 0;
    for p in &map.partitions {
        assert_eq!(p.start_bytes, start, "partitions tile the volume");
        assert_eq!(p.start_bytes % MIB, 0, "boundaries on extents");
        start = p.end_bytes();
    }
    assert_eq!(start, 64 * MIB);

    let six = rig
        .plane
        .create_partitioned_volume(&spec("db02", 64 * MIB, 6), "a")?;
    for id in ["a", "b", "c"] {
        assert_eq!(
            six.owned_by(id).count(),
            2,
            "six partitions: two per server ({:?})",
            owners(&six)
        );
    }
    Ok(())
}

#[test]
fn the_same_cluster_state_places_the_same_way() -> Result<()> {
    let first = cluster(&["a", "b", "c"]);
    let second = cluster(&["a", "b", "c"]);
    let one = first
        .plane
        .create_partitioned_volume(&spec("v", 32 * MIB, 5), "a")?;
    let two = second
        .plane
        .create_partitioned_volume(&spec("v", 32 * MIB, 5), "b")?;
    assert_eq!(one.partitions, two.partitions);
    Ok(())
}

#[test]
fn down_servers_get_no_partitions() -> Result<()> {
    let rig = cluster(&["a", "b", "c"]);
    rig.plane.deregister_heartbeat("b")?;
    let map = rig
        .plane
        .create_partitioned_volume(&spec("db01", 16 * MIB, 4), "a")?;
    assert!(!owners(&map).contains(&"b"), "{:?}", owners(&map));
    assert_eq!(map.owners().len(), 2);
    Ok(())
}

#[test]
fn a_second_create_fails_and_leaves_the_first_map() -> Result<()> {
    let rig = cluster(&["a", "b"]);
    let first = rig
        .plane
        .create_partitioned_volume(&spec("db01", 16 * MIB, 2), "a")?;
    let err = rig
        .plane
        .create_partitioned_volume(&spec("db01", 32 * MIB, 4), "b")
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::AlreadyExists, "{err}");
    assert_eq!(rig.plane.partition_map("db01")?, Some(first));
    Ok(())
}

#[test]
fn invalid_specs_are_refused_and_record_nothing() -> Result<()> {
    let rig = cluster(&["a"]);
    for (bad, why) in [
        (spec("db01", 16 * MIB, 0), "zero partitions"),
        (spec("db01", 2 * MIB, 3), "more partitions than extents"),
        (spec("db01", 0, 1), "empty volume"),
        (spec("a/b", 16 * MIB, 2), "name with a key separator"),
        (spec("db01", 64 * 1024 * MIB, 5000), "too many partitions"),
    ] {
        let err = rig.plane.create_partitioned_volume(&bad, "a").unwrap_err();
        assert_eq!(err.kind, ControlErrorKind::InvalidArgument, "{why}: {err}");
    }
    assert!(rig.plane.list_partition_maps()?.is_empty());
    let mut no_tier = spec("db01", 16 * MIB, 2);
    no_tier.capacity_tier = strata_core::TierKind::Ssd;
    let err = rig
        .plane
        .create_partitioned_volume(&no_tier, "a")
        .unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::NoCapacity, "{err}");
    assert!(rig.plane.list_partition_maps()?.is_empty());
    Ok(())
}

#[test]
fn maps_list_turn_ready_and_delete() -> Result<()> {
    let rig = cluster(&["a", "b"]);
    rig.plane
        .create_partitioned_volume(&spec("b-vol", 8 * MIB, 2), "a")?;
    rig.plane
        .create_partitioned_volume(&spec("a-vol", 8 * MIB, 2), "a")?;
    let names: Vec<String> = rig
        .plane
        .list_partition_maps()?
        .into_iter()
        .map(|m| m.volume)
        .collect();
    assert_eq!(names, ["a-vol", "b-vol"]);
    let ready = rig.plane.mark_partition_map_ready("a-vol")?;
    assert_eq!(ready.state, PartitionMapState::Ready);
    assert_eq!(
        rig.plane.partition_map("a-vol")?.map(|m| m.state),
        Some(PartitionMapState::Ready)
    );
    let map = rig.plane.partition_map("a-vol")?.unwrap();
    assert_eq!(map.partition_at(0), Some(0));
    assert_eq!(map.partition_at(4 * MIB - 1), Some(0));
    assert_eq!(map.partition_at(4 * MIB), Some(1));
    assert_eq!(map.partition_at(8 * MIB), None);

    assert!(rig.plane.delete_partition_map("a-vol")?);
    assert!(!rig.plane.delete_partition_map("a-vol")?);
    assert_eq!(rig.plane.partition_map("a-vol")?, None);
    let err = rig.plane.mark_partition_map_ready("a-vol").unwrap_err();
    assert_eq!(err.kind, ControlErrorKind::NotFound);
    Ok(())
}
