//! The conformance test every access predictor passes (one fixture for the family).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;

use strata_predict::{Access, Prediction, PredictorKind};

/// Counts allocations made by the current thread, to check that `observe` allocates
/// nothing in steady state.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A deterministic mix: two sequential readers, a strided one and random jumps, on three
/// streams.
fn mixed_stream(len: u64) -> Vec<Access> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match i % 4 {
                0 => Access::read(1, 10_000 + i / 4),
                1 => Access::read(2, 500 + 3 * (i / 4)),
                2 => Access::read(1, 90_000 + i / 4),
                _ => Access::read(3, state % 1_000_000),
            }
        })
        .collect()
}

fn check_predictions(kind: PredictorKind, access: &Access, max: usize, made: &[Prediction]) {
    assert!(
        made.len() <= max,
        "{kind}: {} predictions for max {max}",
        made.len()
    );
    for p in made {
        assert_eq!(
            p.stream, access.stream,
            "{kind}: prediction for another stream"
        );
        assert_ne!(
            p.block, access.block,
            "{kind}: predicted the access just seen"
        );
        assert!(
            (0.0..=1.0).contains(&p.confidence),
            "{kind}: confidence {}",
            p.confidence
        );
        assert!(p.expected_in_accesses >= 1, "{kind}: {p:?}");
    }
}

#[test]
fn every_predictor_keeps_the_contract() {
    for kind in PredictorKind::ALL {
        let mut predictor = kind.build();
        assert_eq!(predictor.name(), kind.name());
        assert_eq!(kind.name().parse::<PredictorKind>().unwrap(), kind);
        let mut out = Vec::new();
        predictor.predict(8, &mut out);
        assert!(
            out.is_empty(),
            "{kind}: predicted before observing anything"
        );
        for (i, access) in mixed_stream(4000).iter().enumerate() {
            predictor.observe(access);
            let max = i % 20;
            let sentinel = Prediction {
                stream: u64::MAX,
                block: u64::MAX,
                confidence: 0.5,
                expected_in_accesses: 1,
                expected_time_ns: None,
            };
            out.clear();
            out.push(sentinel);
            predictor.predict(max, &mut out);
            assert_eq!(out[0], sentinel, "{kind}: predict cleared `out`");
            check_predictions(kind, access, max, &out[1..]);
        }
    }
    assert!("lstm2".parse::<PredictorKind>().is_err());
}

#[test]
fn every_predictor_is_deterministic() {
    for kind in PredictorKind::ALL {
        let run = || {
            let mut predictor = kind.build();
            let mut all = Vec::new();
            for access in mixed_stream(3000) {
                predictor.observe(&access);
                predictor.predict(8, &mut all);
            }
            all
        };
        assert_eq!(run(), run(), "{kind}");
    }
}

#[test]
fn every_predictor_follows_interleaved_sequential_streams() {
    // Temporal streaming predicts only what recurs, and a first pass over new blocks never
    // does; its own tests replay a recurring tour.
    let kinds = PredictorKind::ALL
        .into_iter()
        .filter(|&kind| kind != PredictorKind::Temporal);
    for kind in kinds {
        let mut predictor = kind.build();
        let mut predicted = HashSet::new();
        let mut accessed = 0u32;
        let mut covered = 0u32;
        for i in 0..3000u64 {
            for access in [Access::read(7, 1 << 20 | i), Access::read(8, i)] {
                if i >= 1000 {
                    accessed += 1;
                    covered += u32::from(predicted.contains(&(access.stream, access.block)));
                }
                predictor.observe(&access);
                let mut out = Vec::new();
                predictor.predict(16, &mut out);
                predicted.extend(out.iter().map(|p| (p.stream, p.block)));
            }
        }
        let share = f64::from(covered) / f64::from(accessed);
        assert!(
            share > 0.9,
            "{kind}: only {share:.3} of sequential accesses were predicted"
        );
    }
}

#[test]
fn observe_allocates_nothing_in_steady_state() {
    for kind in PredictorKind::ALL {
        let mut predictor = kind.build();
        let stream = mixed_stream(20_000);
        let mut out = Vec::with_capacity(64);
        for access in &stream[..10_000] {
            predictor.observe(access);
            out.clear();
            predictor.predict(16, &mut out);
        }
        let before = allocations();
        for access in &stream[10_000..] {
            predictor.observe(access);
        }
        assert_eq!(allocations() - before, 0, "{kind}: observe allocated");
    }
}
