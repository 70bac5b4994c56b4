//! Heat map unit tests: decay, visits versus sequential continuations, memory per extent,
//! and the binary format (round trip and rejection of bad input).

use super::*;
use crate::PolicyErrorKind;

const SECOND_NS: u64 = 1_000_000_000;

fn access(index: u64, time_ns: u64, kind: IoKind, sequential: bool, run_bytes: u64) -> Access {
    Access {
        extent: ExtentId::new(3, index),
        kind,
        time_ns,
        len_bytes: 4096,
        offset_in_extent_bytes: None,
        sequential,
        run_bytes,
    }
}

fn visit(map: &mut HeatMap, index: u64, time_ns: u64, kind: IoKind) {
    map.record(&access(index, time_ns, kind, false, 4096));
}

#[test]
fn counts_decay_by_half_per_half_life() {
    let mut map = HeatMap::default();
    for _ in 0..8 {
        visit(&mut map, 7, 0, IoKind::Read);
    }
    visit(&mut map, 7, 0, IoKind::Write);
    let now = map.sample(ExtentId::new(3, 7), 0).expect("visited");
    assert!((now.reads - 8.0).abs() < 0.01, "{now:?}");
    assert!((now.writes - 1.0).abs() < 0.01);
    assert_eq!(now.touches, 9);
    assert!(now.last_write);
    let later = map
        .sample(ExtentId::new(3, 7), 120 * SECOND_NS)
        .expect("visited");
    assert!((later.reads - 4.0).abs() < 0.01, "{later:?}");
    // Reading decays nothing stored; a visit decays lazily and then adds.
    assert!((map.raw_counts(ExtentId::new(3, 7)).expect("stored").0 - 8.0).abs() < 0.01);
    visit(&mut map, 7, 240 * SECOND_NS, IoKind::Read);
    let after = map
        .sample(ExtentId::new(3, 7), 240 * SECOND_NS)
        .expect("visited");
    assert!((after.reads - 3.0).abs() < 0.01, "{after:?}");
    assert_eq!(after.last_access_ns, 240 * SECOND_NS);
    assert!(map.sample(ExtentId::new(3, 8), 0).is_none());
}

#[test]
fn a_scan_counts_one_visit_per_extent_and_sets_the_run_flag() {
    let mut map = HeatMap::default();
    let mut run_bytes = 0;
    for step in 0..2048u64 {
        run_bytes += 4096;
        map.record(&access(step / 256, step, IoKind::Read, step > 0, run_bytes));
    }
    let first = map.sample(ExtentId::new(3, 0), 2048).expect("visited");
    assert!((first.reads - 1.0).abs() < 0.01, "{first:?}");
    assert!(!first.sequential, "still under the 4 MiB cutoff");
    let last = map.sample(ExtentId::new(3, 7), 2048).expect("visited");
    assert_eq!(last.touches, 1, "reached by continuations: one visit");
    assert!(last.sequential);
    // A random visit clears the flag.
    visit(&mut map, 7, 4096, IoKind::Read);
    assert!(!map.sample(ExtentId::new(3, 7), 4096).expect("v").sequential);
}

#[test]
fn one_million_extents_take_at_most_sixteen_bytes_each() {
    const EXTENTS: u64 = 1_000_000;
    let mut grown = HeatMap::default();
    for index in 0..EXTENTS {
        visit(&mut grown, index, index * 1000, IoKind::Read);
    }
    assert_eq!(grown.len(), EXTENTS);
    let grown_per_extent = grown.heap_bytes() as f64 / EXTENTS as f64;
    assert!(
        grown_per_extent <= 16.0,
        "{grown_per_extent} bytes per extent"
    );

    let mut reserved = HeatMap::default();
    reserved.reserve_volume(3, EXTENTS);
    for index in (0..EXTENTS).rev() {
        visit(&mut reserved, index, 0, IoKind::Write);
    }
    let reserved_per_extent = reserved.heap_bytes() as f64 / EXTENTS as f64;
    assert!(reserved_per_extent <= 12.01, "{reserved_per_extent}");
    println!(
        "heat map, 1,000,000 extents: {} bytes grown ({grown_per_extent:.2}/extent), {} bytes \
         pre-sized ({reserved_per_extent:.2}/extent), entry {} bytes",
        grown.heap_bytes(),
        reserved.heap_bytes(),
        std::mem::size_of::<HeatEntry>()
    );

    // What the engine saves at shutdown and every minute (timed for BENCHMARKS, in release).
    let started = std::time::Instant::now();
    let bytes = grown.to_bytes();
    let encoded = started.elapsed();
    let started = std::time::Instant::now();
    let decoded = HeatMap::from_bytes(&bytes).expect("round trip");
    let parsed = started.elapsed();
    assert_eq!(decoded.len(), EXTENTS);
    assert_eq!(
        bytes.len() as u64,
        38 + 16 + 18 * EXTENTS + 8,
        "header, volume, entries, sum"
    );
    println!(
        "saved: {} bytes, encoded in {encoded:?}, decoded in {parsed:?}",
        bytes.len()
    );
}

#[test]
fn far_off_indices_stay_sparse_and_move_dense_when_reached() {
    let mut map = HeatMap::default();
    visit(&mut map, 1 << 39, 0, IoKind::Read);
    visit(&mut map, 70_000, 0, IoKind::Read);
    assert!(map.heap_bytes() < 1024, "{}", map.heap_bytes());
    for index in 0..40_000 {
        visit(&mut map, index, 0, IoKind::Read);
    }
    visit(&mut map, 70_000, 0, IoKind::Read);
    assert!((map.sample(ExtentId::new(3, 70_000), 0).expect("v").reads - 2.0).abs() < 0.01);
    assert_eq!(map.len(), 40_002);
    map.forget(ExtentId::new(3, 1 << 39));
    map.forget(ExtentId::new(3, 5));
    assert_eq!(map.len(), 40_000);
    assert!(map.sample(ExtentId::new(3, 5), 0).is_none());
}

fn sample_map() -> HeatMap {
    let mut map = HeatMap::default();
    for (i, index) in [0u64, 1, 2, 900, 1 << 30].into_iter().enumerate() {
        for _ in 0..=i {
            visit(&mut map, index, i as u64 * SECOND_NS, IoKind::Read);
        }
    }
    map.record(&Access {
        extent: ExtentId::new(9, 4),
        kind: IoKind::Write,
        time_ns: 5 * SECOND_NS,
        len_bytes: 4096,
        offset_in_extent_bytes: None,
        sequential: true,
        run_bytes: 64 << 20,
    });
    map
}

#[test]
fn serialised_map_round_trips_exactly() {
    let map = sample_map();
    let bytes = map.to_bytes();
    let back = HeatMap::from_bytes(&bytes).expect("round trip");
    assert_eq!(back.len(), map.len());
    let now = 10 * SECOND_NS;
    assert_eq!(
        back.iter_at(now).collect::<Vec<_>>(),
        map.iter_at(now).collect::<Vec<_>>()
    );
    assert_eq!(back.to_bytes(), bytes);
    assert!(back.sample(ExtentId::new(9, 4), now).expect("v").sequential);
}

#[test]
fn bad_input_is_rejected_without_panicking() {
    let bytes = sample_map().to_bytes();
    let kind = |input: &[u8]| HeatMap::from_bytes(input).map(|_| ()).map_err(|e| e.kind);
    for len in 0..bytes.len() {
        assert_eq!(
            kind(&bytes[..len]),
            Err(PolicyErrorKind::CorruptHeatMap),
            "prefix {len}"
        );
    }
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x40;
        assert!(kind(&flipped).is_err(), "flip at {at}");
    }
    // Well-formed checksums over bad content: huge counts, a zero stamp, unknown flags.
    let reseal = |mut body: Vec<u8>| {
        body.truncate(body.len() - 8);
        let sum = super::codec::checksum_for_tests(&body);
        body.extend_from_slice(&sum.to_le_bytes());
        body
    };
    let mut huge = bytes.clone();
    huge[34..38].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(kind(&reseal(huge)), Err(PolicyErrorKind::CorruptHeatMap));
    let first_entry = 38 + 16;
    let mut zero_stamp = bytes.clone();
    zero_stamp[first_entry + 8..first_entry + 12].copy_from_slice(&[0; 4]);
    assert_eq!(
        kind(&reseal(zero_stamp)),
        Err(PolicyErrorKind::CorruptHeatMap)
    );
    let mut flags = bytes.clone();
    flags[first_entry + 17] = 0x80;
    assert_eq!(kind(&reseal(flags)), Err(PolicyErrorKind::CorruptHeatMap));
    assert_eq!(kind(&reseal(bytes.clone())), Ok(()));
}

#[test]
fn an_adopted_extent_is_listed_unvisited_and_a_known_one_keeps_its_heat() {
    let mut map = HeatMap::default();
    let known = ExtentId::new(3, 7);
    for _ in 0..3 {
        visit(&mut map, 7, 0, IoKind::Read);
    }
    let adopted = ExtentId::new(3, 9);
    map.adopt(adopted);
    map.adopt(known);
    assert_eq!(map.len(), 2);
    let listed: Vec<_> = map.iter_at(SECOND_NS).collect();
    assert_eq!(listed.len(), 2);
    let sample = map.sample(adopted, SECOND_NS).expect("listed");
    assert_eq!((sample.total(), sample.touches), (0.0, 0));
    assert!(map.sample(known, SECOND_NS).expect("known").total() > 2.9);
    // Saved and loaded, it is still there.
    let loaded = HeatMap::from_bytes(&map.to_bytes()).expect("round trip");
    assert_eq!(loaded.len(), 2);
    assert_eq!(
        loaded.sample(adopted, SECOND_NS).map(|s| s.touches),
        Some(0)
    );
}
