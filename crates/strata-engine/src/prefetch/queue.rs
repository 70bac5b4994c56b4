//! One volume's prefetch queue: bounded, one entry per extent, served most urgent first.
//!
//! A queue holds at most `queue_bound` candidates (a few hundred), so a plain vector with
//! linear scans is both the simplest and, at that size, the fastest structure: a push, a
//! pop and a removal touch a few cache lines. When full, a new candidate replaces the
//! least urgent one if it is more urgent, and is dropped otherwise.

/// An extent the predictor expects to be read soon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub extent: u64,
    /// Higher is served first (see [`priority`]).
    pub priority: f32,
}

/// What [`PrefetchQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Added,
    /// The extent was queued already; it keeps the higher of the two priorities.
    Merged,
    /// The queue was full; this extent pushed out a less urgent one.
    Replaced(u64),
    /// The queue was full of more urgent candidates.
    Dropped,
}

#[derive(Debug)]
pub(crate) struct PrefetchQueue {
    bound: usize,
    entries: Vec<Candidate>,
}

/// How urgent a candidate is, in 0..=1: its confidence, discounted by how far ahead its
/// access is expected (`expected_in_accesses`, 1 = next), weighted by the volume's heat
/// (its share of recent demand reads, 0..=1) and the room left on the target tier under
/// the watermark (0..=1), so a busy volume's next extent beats an idle one's guess and
/// prefetching slows as the fast tier fills.
pub(crate) fn priority(
    confidence: f32,
    expected_in_accesses: u32,
    heat: f32,
    free_share: f32,
) -> f32 {
    let soon = 4.0 / (4.0 + expected_in_accesses.saturating_sub(1) as f32);
    let heat = 0.5 + 0.5 * heat.clamp(0.0, 1.0);
    let room = 0.5 + 0.5 * free_share.clamp(0.0, 1.0);
    (confidence.clamp(0.0, 1.0) * soon * heat * room).clamp(0.0, 1.0)
}

impl PrefetchQueue {
    pub fn new(bound: usize) -> Self {
        Self {
            bound: bound.max(1),
            entries: Vec::with_capacity(bound.clamp(1, 1024)),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn contains(&self, extent: u64) -> bool {
        self.entries.iter().any(|c| c.extent == extent)
    }

    pub fn push(&mut self, candidate: Candidate) -> Pushed {
        if let Some(queued) = self
            .entries
            .iter_mut()
            .find(|c| c.extent == candidate.extent)
        {
            queued.priority = queued.priority.max(candidate.priority);
            return Pushed::Merged;
        }
        if self.entries.len() < self.bound {
            self.entries.push(candidate);
            return Pushed::Added;
        }
        let Some(weakest) = self.position_by(|a, b| a.priority.total_cmp(&b.priority)) else {
            return Pushed::Dropped;
        };
        if self.entries[weakest].priority >= candidate.priority {
            return Pushed::Dropped;
        }
        let evicted = std::mem::replace(&mut self.entries[weakest], candidate);
        Pushed::Replaced(evicted.extent)
    }

    /// The priority of the candidate [`pop`](Self::pop) would return.
    pub fn peek_priority(&self) -> Option<f32> {
        self.position_by(most_urgent_first)
            .map(|i| self.entries[i].priority)
    }

    /// Takes the most urgent candidate (ties: the lower extent, so runs are read in order).
    pub fn pop(&mut self) -> Option<Candidate> {
        let best = self.position_by(most_urgent_first)?;
        Some(self.entries.swap_remove(best))
    }

    /// Forgets `extent`; `true` if it was queued.
    pub fn remove(&mut self, extent: u64) -> bool {
        match self.entries.iter().position(|c| c.extent == extent) {
            Some(i) => {
                self.entries.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Index of the entry that orders first under `order`.
    fn position_by(
        &self,
        order: impl Fn(&Candidate, &Candidate) -> std::cmp::Ordering,
    ) -> Option<usize> {
        (0..self.entries.len()).min_by(|&a, &b| order(&self.entries[a], &self.entries[b]))
    }
}

fn most_urgent_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.priority
        .total_cmp(&a.priority)
        .then(a.extent.cmp(&b.extent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(extent: u64, priority: f32) -> Candidate {
        Candidate { extent, priority }
    }

    #[test]
    fn is_bounded_and_keeps_the_most_urgent() {
        let mut q = PrefetchQueue::new(3);
        assert_eq!(q.push(c(1, 0.5)), Pushed::Added);
        assert_eq!(q.push(c(2, 0.2)), Pushed::Added);
        assert_eq!(q.push(c(3, 0.7)), Pushed::Added);
        assert_eq!(q.push(c(4, 0.1)), Pushed::Dropped);
        assert_eq!(q.push(c(5, 0.9)), Pushed::Replaced(2));
        assert_eq!(q.len(), 3);
        assert!(!q.contains(2) && !q.contains(4));
    }

    #[test]
    fn deduplicates_keeping_the_higher_priority() {
        let mut q = PrefetchQueue::new(8);
        q.push(c(7, 0.3));
        assert_eq!(q.push(c(7, 0.8)), Pushed::Merged);
        assert_eq!(q.push(c(7, 0.1)), Pushed::Merged);
        assert_eq!(q.len(), 1);
        assert_eq!(q.peek_priority(), Some(0.8));
    }

    #[test]
    fn pops_by_priority_then_extent() {
        let mut q = PrefetchQueue::new(8);
        for (extent, p) in [(10, 0.4), (3, 0.9), (8, 0.4), (1, 0.2)] {
            q.push(c(extent, p));
        }
        assert!(q.remove(1));
        assert!(!q.remove(1));
        let order: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|c| c.extent).collect();
        assert_eq!(order, [3, 8, 10]);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn priority_prefers_confident_soon_hot_and_roomy() {
        let base = priority(0.8, 1, 0.5, 0.5);
        assert!(priority(0.9, 1, 0.5, 0.5) > base);
        assert!(priority(0.8, 8, 0.5, 0.5) < base);
        assert!(priority(0.8, 1, 1.0, 0.5) > base);
        assert!(priority(0.8, 1, 0.5, 0.0) < base);
        assert!((0.0..=1.0).contains(&priority(5.0, 0, 9.0, 9.0)));
    }
}
