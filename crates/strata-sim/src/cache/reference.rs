//! Slow, obviously correct models that the fast policies are checked against.
//!
//! They share no code with the fast policies: ordered maps instead of intrusive lists and
//! lazy heaps, plain `std` hashing, and for LRU a third, unrelated method (Mattson's stack
//! distances), which gives the miss count of every capacity at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// LRU misses: recency kept as `BTreeMap<last_use_time, id>` + `HashMap<id, last_use_time>`.
pub fn lru_misses(stream: &[u64], capacity: usize) -> u64 {
    let capacity = capacity.max(1);
    let mut by_time: BTreeMap<usize, u64> = BTreeMap::new();
    let mut last_use: HashMap<u64, usize> = HashMap::new();
    let mut misses = 0;
    for (now, &id) in stream.iter().enumerate() {
        if let Some(then) = last_use.insert(id, now) {
            by_time.remove(&then);
        } else {
            misses += 1;
            if by_time.len() == capacity
                && let Some((_, victim)) = by_time.pop_first()
            {
                last_use.remove(&victim);
            }
        }
        by_time.insert(now, id);
    }
    misses
}

/// MIN misses: the resident set ordered by next use in a `BTreeSet<(next_use, id)>`;
/// next uses come from a backward pass with a `HashMap`.
pub fn min_misses(stream: &[u64], capacity: usize) -> u64 {
    let capacity = capacity.max(1);
    let mut next_use = vec![usize::MAX; stream.len()];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for pos in (0..stream.len()).rev() {
        if let Some(later) = seen.insert(stream[pos], pos) {
            next_use[pos] = later;
        }
    }
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut resident: HashMap<u64, usize> = HashMap::new();
    let mut misses = 0;
    for (pos, &id) in stream.iter().enumerate() {
        if let Some(old) = resident.remove(&id) {
            by_next.remove(&(old, id));
        } else {
            misses += 1;
            if resident.len() == capacity
                && let Some((_, victim)) = by_next.pop_last()
            {
                resident.remove(&victim);
            }
        }
        resident.insert(id, next_use[pos]);
        by_next.insert((next_use[pos], id));
    }
    misses
}

/// LRU stack distances (Mattson et al., 1970): for each access, the number of distinct ids
/// touched since the previous access to the same id, or `None` for a first access. An LRU
/// cache of `c` entries hits exactly the accesses with distance < `c`. Counting distinct
/// ids uses a Fenwick tree over access times that marks each id's latest access.
pub fn stack_distances(stream: &[u64]) -> Vec<Option<usize>> {
    let n = stream.len();
    let mut tree = vec![0i64; n + 1];
    let add = |tree: &mut Vec<i64>, pos: usize, delta: i64| {
        let mut i = pos + 1;
        while i <= n {
            tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    };
    let prefix = |tree: &Vec<i64>, pos: usize| -> i64 {
        // Sum of marks at times 0..pos (exclusive).
        let mut i = pos;
        let mut sum = 0;
        while i > 0 {
            sum += tree[i];
            i -= i & i.wrapping_neg();
        }
        sum
    };
    let mut last: HashMap<u64, usize> = HashMap::new();
    let mut out = Vec::with_capacity(n);
    for (now, &id) in stream.iter().enumerate() {
        match last.insert(id, now) {
            Some(then) => {
                let distinct_between = prefix(&tree, now) - prefix(&tree, then + 1);
                out.push(Some(
                    usize::try_from(distinct_between).unwrap_or(usize::MAX),
                ));
                add(&mut tree, then, -1);
            }
            None => out.push(None),
        }
        add(&mut tree, now, 1);
    }
    out
}

/// LRU misses for every capacity in `capacities`, from one pass of stack distances.
pub fn lru_misses_by_stack_distance(stream: &[u64], capacities: &[usize]) -> Vec<u64> {
    let distances = stack_distances(stream);
    capacities
        .iter()
        .map(|&c| {
            let c = c.max(1);
            distances
                .iter()
                .filter(|d| d.is_none_or(|d| d >= c))
                .count() as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_lru_models_agree_on_a_small_stream() {
        let stream = [1, 2, 3, 1, 4, 2, 1, 5, 3, 3, 1, 2];
        let sizes = [1, 2, 3, 4, 5, 6];
        let by_distance = lru_misses_by_stack_distance(&stream, &sizes);
        for (i, &c) in sizes.iter().enumerate() {
            assert_eq!(lru_misses(&stream, c), by_distance[i], "capacity {c}");
        }
        // Hand count for c = 2: only the 3 after 3 hits.
        assert_eq!(lru_misses(&stream, 2), 11);
    }

    #[test]
    fn stack_distance_counts_distinct_ids_in_between() {
        assert_eq!(
            stack_distances(&[1, 2, 2, 3, 1]),
            [None, None, Some(0), None, Some(2)]
        );
    }

    #[test]
    fn min_beats_lru_on_a_loop() {
        let stream: Vec<u64> = (0..10).flat_map(|_| 0..4).collect();
        assert_eq!(lru_misses(&stream, 3), 40);
        assert!(min_misses(&stream, 3) < 20);
    }
}
