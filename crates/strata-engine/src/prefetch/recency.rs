//! When each extent was last touched, for choosing what a prefetch may displace.
//!
//! One `u32` per extent of every volume that has been accessed since start-up (grown up to
//! the highest extent touched), in [`TICK_NS`] ticks of the prefetcher's clock: 4 bytes per
//! extent next to the policy's heat map, wrapping after 13 years of uptime. Tick 0 means
//! "not touched since start-up" and reads as start-up itself, so after a restart nothing
//! looks idle for the first horizon, and an extent nobody touched since start-up does
//! afterwards.
//!
//! The victim search is a clock hand per volume over the extent map: it resumes where the
//! last search stopped, so repeated searches sweep each volume instead of rescanning its
//! start, and every search looks at a bounded number of extents.

/// Granularity of the recorded times.
pub const TICK_NS: u64 = 100_000_000;

/// The recorded times of one volume and where its clock hand is.
#[derive(Debug, Default)]
pub(crate) struct Recency {
    ticks: Vec<u32>,
    hand: u64,
}

/// The tick of `now_ns` (1 at start-up, so that 0 can mean "never").
pub(crate) fn tick(now_ns: u64) -> u32 {
    u32::try_from(now_ns / TICK_NS).map_or(u32::MAX, |t| t.saturating_add(1))
}

impl Recency {
    /// `extent` was accessed (or brought up by a prefetch) at `now_ns`.
    pub fn touch(&mut self, extent: u64, now_ns: u64) {
        let Ok(index) = usize::try_from(extent) else {
            return;
        };
        if index >= self.ticks.len() {
            self.ticks.resize(index + 1, 0);
        }
        self.ticks[index] = tick(now_ns);
    }

    /// Whether `extent` has gone untouched for at least `idle_ns` by `now_ns`.
    pub fn idle(&self, extent: u64, now_ns: u64, idle_ns: u64) -> bool {
        let last = usize::try_from(extent)
            .ok()
            .and_then(|i| self.ticks.get(i).copied())
            .unwrap_or(0)
            .max(1);
        u64::from(tick(now_ns).saturating_sub(last)) * TICK_NS >= idle_ns
    }

    /// Advances the hand over `0..len` by at most `budget` extents, returning the first
    /// extent `wanted` accepts (the hand then points past it) and the extents looked at.
    pub fn sweep(
        &mut self,
        len: u64,
        budget: u64,
        mut wanted: impl FnMut(&Self, u64) -> bool,
    ) -> (Option<u64>, u64) {
        if len == 0 {
            return (None, 0);
        }
        let steps = budget.min(len);
        for step in 0..steps {
            let extent = self.hand % len;
            self.hand = (extent + 1) % len;
            if wanted(self, extent) {
                return (Some(extent), step + 1);
            }
        }
        (None, steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn untouched_extents_count_from_start_up_and_touches_reset_the_idle_time() {
        let mut r = Recency::default();
        assert!(
            !r.idle(7, 2 * S, 30 * S),
            "nothing is idle in the first horizon"
        );
        assert!(r.idle(7, 31 * S, 30 * S), "never touched since start-up");
        r.touch(7, 20 * S);
        assert!(!r.idle(7, 31 * S, 30 * S));
        assert!(!r.idle(7, 49 * S, 30 * S));
        assert!(r.idle(7, 50 * S, 30 * S));
        assert!(r.idle(6, 50 * S, 30 * S), "a neighbour keeps its own time");
        assert_eq!(r.ticks.len(), 8, "grown up to the highest extent touched");
    }

    #[test]
    fn the_hand_resumes_where_it_stopped_and_wraps() {
        let mut r = Recency::default();
        let wanted = |_: &Recency, e: u64| e % 3 == 2;
        assert_eq!(r.sweep(8, 100, wanted), (Some(2), 3));
        assert_eq!(r.sweep(8, 100, wanted), (Some(5), 3));
        // 6, 7, 0, 1 then 2 again.
        assert_eq!(r.sweep(8, 100, wanted), (Some(2), 5));
        assert_eq!(
            r.sweep(8, 2, wanted),
            (None, 2),
            "the budget bounds a search"
        );
        assert_eq!(r.sweep(0, 10, wanted), (None, 0));
        assert_eq!(r.sweep(4, 10, |_, _| false), (None, 4), "at most one lap");
    }
}
