//! The conformance fixture every cache policy passes (see `mod.rs`).

use super::{CachePolicy, PolicyKind, replay};

/// A deterministic skewed stream: a hot set, a warm loop and one-off ids.
pub(crate) fn mixed_stream(len: usize, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 10 {
                0..=4 => x % 16,
                5..=7 => 100 + (i as u64 % 64),
                _ => 10_000 + x % 100_000,
            }
        })
        .collect()
}

fn run_checked(kind: PolicyKind, capacity: usize, stream: &[u64]) -> (Vec<bool>, usize) {
    let mut policy: Box<dyn CachePolicy> = kind.build(capacity, stream);
    assert_eq!(policy.capacity(), capacity.max(1), "{kind}");
    assert!(policy.is_empty());
    let mut peak = 0;
    let hits = stream
        .iter()
        .map(|&id| {
            let hit = policy.access(id);
            peak = peak.max(policy.len());
            assert!(
                policy.len() <= policy.capacity(),
                "{kind}: {} resident > capacity {}",
                policy.len(),
                policy.capacity()
            );
            hit
        })
        .collect();
    (hits, peak)
}

/// Checks one policy: capacity never exceeded, hits + misses = accesses, a stream that fits
/// gives only cold misses, capacity 1 hits exactly the immediate repeats, a repeated id right
/// after its access always hits, and two runs agree.
pub(crate) fn conformance(kind: PolicyKind) {
    let stream = mixed_stream(20_000, 42);
    for capacity in [1, 2, 3, 10, 64, 500] {
        let (hits, peak) = run_checked(kind, capacity, &stream);
        let mut policy = kind.build(capacity, &stream);
        let stats = replay(policy.as_mut(), &stream, &mut |_| {});
        assert_eq!(stats.accesses(), stream.len() as u64, "{kind}");
        assert_eq!(
            stats.hits,
            hits.iter().filter(|&&h| h).count() as u64,
            "{kind} at {capacity}: not deterministic"
        );
        assert_eq!(peak, capacity, "{kind}: a long stream fills the cache");
    }

    // A working set that fits: only the first access to each id misses.
    let fits: Vec<u64> = (0..50).cycle().take(1_000).collect();
    let (hits, _) = run_checked(kind, 50, &fits);
    assert_eq!(
        hits.iter().filter(|&&h| !h).count(),
        50,
        "{kind}: cold misses only"
    );

    // Capacity 1: a hit exactly when the id repeats the previous access.
    let (hits, _) = run_checked(kind, 1, &stream);
    for (i, &hit) in hits.iter().enumerate() {
        let repeat = i > 0 && stream[i] == stream[i - 1];
        assert_eq!(hit, repeat, "{kind}: capacity 1 at access {i}");
    }

    // Whatever the capacity, an immediate repeat is a hit (every miss inserts).
    for capacity in [2, 7] {
        let doubled: Vec<u64> = stream.iter().flat_map(|&id| [id, id]).collect();
        let (hits, _) = run_checked(kind, capacity, &doubled);
        assert!(hits.iter().skip(1).step_by(2).all(|&h| h), "{kind}");
    }
}
