//! Fast-versus-reference verification (`strata sim verify`): the fast LRU and Belady must
//! give exactly the miss counts of the slow models in [`super::reference`] — LRU also
//! against Mattson stack distances — on a whole stream at several capacities.

use super::{PolicyKind, reference, simulate};

/// One comparison of a fast policy with its reference(s) at one capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub policy: PolicyKind,
    pub capacity: u64,
    pub fast_misses: u64,
    /// Misses of each independent reference (LRU: ordered map, stack distances; Belady:
    /// ordered set).
    pub reference_misses: Vec<u64>,
}

impl Check {
    pub fn matches(&self) -> bool {
        self.reference_misses.iter().all(|&m| m == self.fast_misses)
    }
}

/// Compares fast LRU and Belady with the references at each capacity (in entries).
pub fn verify_stream(stream: &[u64], capacities: &[u64]) -> Vec<Check> {
    let sizes: Vec<usize> = capacities
        .iter()
        .map(|&c| usize::try_from(c).unwrap_or(usize::MAX))
        .collect();
    let by_distance = reference::lru_misses_by_stack_distance(stream, &sizes);
    let mut checks = Vec::with_capacity(2 * sizes.len());
    for (i, &capacity) in sizes.iter().enumerate() {
        checks.push(Check {
            policy: PolicyKind::Lru,
            capacity: capacities[i],
            fast_misses: simulate(PolicyKind::Lru, capacity, stream).misses,
            reference_misses: vec![reference::lru_misses(stream, capacity), by_distance[i]],
        });
        checks.push(Check {
            policy: PolicyKind::Belady,
            capacity: capacities[i],
            fast_misses: simulate(PolicyKind::Belady, capacity, stream).misses,
            reference_misses: vec![reference::min_misses(stream, capacity)],
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::test_utils::mixed_stream;

    #[test]
    fn fast_policies_match_the_references() {
        let stream = mixed_stream(30_000, 9);
        let checks = verify_stream(&stream, &[1, 3, 50, 400, 5_000]);
        assert_eq!(checks.len(), 10);
        for check in &checks {
            assert!(check.matches(), "{check:?}");
        }
    }

    #[test]
    fn a_wrong_count_is_reported_as_a_mismatch() {
        let check = Check {
            policy: PolicyKind::Lru,
            capacity: 1,
            fast_misses: 3,
            reference_misses: vec![3, 4],
        };
        assert!(!check.matches());
    }
}
