//! The fast LRU and Belady give exactly the miss counts of obviously correct references on
//! every trace fixture (excerpts of every shared trace), at 1, 5, 10 and 20 % of the unique
//! ids, at 4 KiB and 1 MiB units; and Belady never misses more than any other policy.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use strata_core::SizeOrFraction;
use strata_sim::cache::{PolicyKind, simulate};
use strata_sim::run::{LoadedStream, cache_entries, load_stream};
use strata_sim::trace::TraceOptions;

const FRACTIONS: [f64; 4] = [0.01, 0.05, 0.10, 0.20];
const UNITS: [u64; 2] = [4096, 1 << 20];
/// The naive references are O(accesses × capacity): compare on each fixture's first
/// accesses so the suite stays fast in debug builds (`strata sim verify` covers whole traces).
const NAIVE_PREFIX: usize = 6_000;

/// LRU as a recency queue, most recent at the back, scanned on every access.
fn naive_lru_misses(stream: &[u64], capacity: usize) -> u64 {
    let mut queue: VecDeque<u64> = VecDeque::new();
    let mut misses = 0;
    for &id in stream {
        match queue.iter().position(|&x| x == id) {
            Some(pos) => {
                queue.remove(pos);
            }
            None => {
                misses += 1;
                if queue.len() == capacity {
                    queue.pop_front();
                }
            }
        }
        queue.push_back(id);
    }
    misses
}

/// MIN: on a miss with a full cache, scan every resident id for the farthest next use.
fn naive_min_misses(stream: &[u64], capacity: usize) -> u64 {
    let mut next_use = vec![usize::MAX; stream.len()];
    let mut later: HashMap<u64, usize> = HashMap::new();
    for pos in (0..stream.len()).rev() {
        if let Some(&p) = later.get(&stream[pos]) {
            next_use[pos] = p;
        }
        later.insert(stream[pos], pos);
    }
    let mut resident: Vec<(u64, usize)> = Vec::new();
    let mut misses = 0;
    for (pos, &id) in stream.iter().enumerate() {
        if let Some(entry) = resident.iter_mut().find(|(r, _)| *r == id) {
            entry.1 = next_use[pos];
            continue;
        }
        misses += 1;
        if resident.len() == capacity {
            let farthest = (0..resident.len())
                .max_by_key(|&i| resident[i].1)
                .expect("a full cache has residents");
            resident.swap_remove(farthest);
        }
        resident.push((id, next_use[pos]));
    }
    misses
}

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.is_file()
                && !path
                    .extension()
                    .is_some_and(|ext| ext == "md" || ext == "txt" || ext == "py")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no trace fixtures in {}", dir.display());
    files
}

/// Every fixture at every unit; bad lines (a fixture may hold some on purpose) are skipped.
fn streams() -> Vec<LoadedStream> {
    let options = TraceOptions::default().with_skip_bad_lines(true);
    fixtures()
        .iter()
        .flat_map(|path| UNITS.map(|unit| (path.clone(), unit)))
        .filter_map(|(path, unit)| {
            let stream = load_stream(&path, &options, unit, false)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (!stream.ids.is_empty()).then_some(stream)
        })
        .collect()
}

fn capacities(stream: &LoadedStream) -> Vec<usize> {
    FRACTIONS
        .iter()
        .map(|&f| cache_entries(SizeOrFraction::Fraction(f), stream.unique, stream.unit) as usize)
        .collect()
}

#[test]
fn fast_lru_and_belady_match_the_naive_references_on_every_fixture() {
    let streams = streams();
    assert!(streams.len() >= 2);
    let mut compared = 0;
    for stream in &streams {
        let mut stream = stream.clone();
        stream.ids.truncate(NAIVE_PREFIX);
        stream.unique = stream
            .ids
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
        let stream = &stream;
        for capacity in capacities(stream) {
            let what = format!("{} unit {} capacity {capacity}", stream.trace, stream.unit);
            assert_eq!(
                simulate(PolicyKind::Lru, capacity, &stream.ids).misses,
                naive_lru_misses(&stream.ids, capacity),
                "LRU {what}"
            );
            assert_eq!(
                simulate(PolicyKind::Belady, capacity, &stream.ids).misses,
                naive_min_misses(&stream.ids, capacity),
                "Belady {what}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, streams.len() * FRACTIONS.len());
}

#[test]
fn belady_misses_no_more_than_any_policy_on_every_fixture() {
    for stream in streams() {
        for capacity in capacities(&stream) {
            let min = simulate(PolicyKind::Belady, capacity, &stream.ids);
            for kind in PolicyKind::ALL {
                let other = simulate(kind, capacity, &stream.ids);
                assert_eq!(other.accesses(), stream.ids.len() as u64);
                assert!(
                    min.misses <= other.misses,
                    "{} unit {} capacity {capacity}: belady {} > {kind} {}",
                    stream.trace,
                    stream.unit,
                    min.misses,
                    other.misses
                );
            }
            // Cold misses are a floor for every demand cache.
            assert!(min.misses >= stream.unique);
        }
    }
}

#[test]
fn naive_references_agree_with_hand_counts() {
    let stream = [1, 2, 3, 1, 4, 2, 1, 5, 3, 3, 1, 2];
    assert_eq!(naive_lru_misses(&stream, 2), 11);
    // MIN at c = 2: 1 2 | 3 evicts 2 (next use 5, vs 1 at 3) | 1 hit | 4 evicts 3
    // (next 8) | 2 evicts 4 | 1 hit | 5 evicts 2 | 3 evicts 5 | 3 hit | 1 hit | 2 miss.
    assert_eq!(naive_min_misses(&stream, 2), 8);
}
