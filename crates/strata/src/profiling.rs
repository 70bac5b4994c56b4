//! The server's profiling task: ticks the live profiler (closing windows on idle volumes,
//! following volume creation and deletion) and runs its learning loop, both on the
//! blocking pool, learning no more often than the configured interval and duty cycle.
//! Stops when the shutdown token fires; a round in progress finishes first (it is
//! bounded: one fit over at most `history_windows` windows per volume).

use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_engine::LiveProfiler;
use strata_engine::profiler::next_learn_delay;
use tokio_util::sync::CancellationToken;

/// Longest gap between ticks; shorter windows tick four times per window.
const MAX_TICK: Duration = Duration::from_secs(1);

pub async fn run(profiler: Arc<LiveProfiler>, shutdown: CancellationToken) {
    let config = profiler.config().clone();
    let tick = Duration::from_secs_f64(config.window_s / 4.0).min(MAX_TICK);
    let mut next_learn = Instant::now() + Duration::from_secs_f64(config.learn_interval_s);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(tick) => {}
        }
        let ticking = profiler.clone();
        if tokio::task::spawn_blocking(move || ticking.tick())
            .await
            .is_err()
        {
            tracing::warn!("a profiler tick panicked");
        }
        if Instant::now() >= next_learn && !shutdown.is_cancelled() {
            let learning = profiler.clone();
            let started = Instant::now();
            match tokio::task::spawn_blocking(move || learning.learn_once()).await {
                Ok(status) => tracing::debug!(
                    version = status.forecaster_version,
                    rounds = status.learning_rounds,
                    "learning round done"
                ),
                Err(err) => tracing::warn!("a learning round panicked: {err}"),
            }
            next_learn = Instant::now() + next_learn_delay(&config, started.elapsed());
        }
    }
}
