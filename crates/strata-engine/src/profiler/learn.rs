//! The learning step: refit the demand forecaster from the volumes' own recent windows
//! and swap it in only when it beats the model in use on held-out windows
//! (`strata_predict::profile::refit`). The server calls [`LiveProfiler::learn_once`] from
//! a background task and spaces the calls with [`next_learn_delay`] so that learning
//! never takes more than its duty cycle of one core.

use std::sync::Arc;
use std::time::Duration;

use strata_predict::profile::{DemandSeries, refit_forecaster};

use super::report::ModelStatus;
use super::{LiveProfiler, ProfilerConfig, unix_now_s};

/// Fewest scored-plus-training windows a volume needs to take part in a round.
const MIN_SERIES_WINDOWS: usize = 4;

/// How long to wait before the next round after one that took `took`: at least the
/// configured interval, and long enough that `took` stays within the duty cycle.
pub fn next_learn_delay(config: &ProfilerConfig, took: Duration) -> Duration {
    let duty_gap = took.as_secs_f64() * (1.0 / config.learn_duty_cycle - 1.0);
    Duration::from_secs_f64(config.learn_interval_s.max(duty_gap))
}

impl LiveProfiler {
    /// One learning round over the volumes' recent windows; returns the model status
    /// after it. Rounds without enough windows change nothing but the round count.
    pub fn learn_once(&self) -> ModelStatus {
        self.watch_new_promotions();
        let held_out = self.config.learn_held_out;
        let series: Vec<DemandSeries> = self
            .volumes
            .lock()
            .values()
            .filter(|t| t.demand.len() >= held_out + MIN_SERIES_WINDOWS)
            .map(|t| DemandSeries {
                class: t.class,
                group: t.name.clone(),
                demand: t.demand.iter().copied().collect(),
            })
            .collect();
        let current = self.forecaster.read().clone();
        let outcome = if series.is_empty() {
            None
        } else {
            match refit_forecaster(&current, &series, held_out, self.config.learn_min_gain) {
                Ok(outcome) => Some(outcome),
                Err(err) => {
                    tracing::warn!("forecaster refit failed: {err}");
                    None
                }
            }
        };
        let (watched, read) = self.volumes.lock().values().fold((0, 0), |(w, r), t| {
            (w + t.promotions_watched, r + t.promotions_read)
        });
        let mut status = self.model.lock();
        status.promotions_watched = watched;
        status.promotions_read = read;
        status.learning_rounds += 1;
        status.last_round_unix_s = Some(unix_now_s());
        if let Some(outcome) = outcome {
            status.last_candidate_score = Some(outcome.candidate_score);
            if outcome.replace {
                *self.forecaster.write() = Arc::new(outcome.candidate);
                status.forecaster_version += 1;
                status.replacements += 1;
                status.last_score = Some(outcome.candidate_score);
                tracing::info!(
                    version = status.forecaster_version,
                    mae_bytes = outcome.candidate_score.mae_bytes,
                    previous_mae_bytes = outcome.current_score.mae_bytes,
                    "the refit demand forecaster replaced the one in use"
                );
            } else {
                status.last_score = Some(outcome.current_score);
            }
        }
        *status
    }
}

/// Migration-log records read per round; older unread ones are skipped.
const MIGRATION_LOG_BATCH: usize = 512;

impl LiveProfiler {
    /// Reads the migration log since the last round and watches every extent moved up
    /// (promote or prefetch) for a later read. A store read: call off async threads.
    fn watch_new_promotions(&self) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        let records = match engine.migration_log(None, MIGRATION_LOG_BATCH) {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!("learning loop cannot read the migration log: {err}");
                return;
            }
        };
        let mut cursor = self.migration_cursor.lock();
        let mut volumes = self.volumes.lock();
        for record in records.iter().filter(|r| r.seq > *cursor) {
            let moved_up = matches!(record.reason.as_str(), "promote" | "prefetch");
            if moved_up
                && record.outcome == crate::MigrationOutcome::Done
                && let Some(t) = volumes.get_mut(&record.volume_id)
            {
                t.watch_promotion(record.extent);
            }
        }
        if let Some(newest) = records.iter().map(|r| r.seq).max() {
            *cursor = (*cursor).max(newest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_waits_the_interval_or_the_duty_cycle_whichever_is_longer() {
        let config = ProfilerConfig {
            learn_interval_s: 10.0,
            learn_duty_cycle: 0.1,
            ..ProfilerConfig::default()
        };
        assert_eq!(
            next_learn_delay(&config, Duration::from_millis(100)),
            Duration::from_secs(10)
        );
        // 2 s of work at 10 % duty needs 18 s of rest.
        assert_eq!(
            next_learn_delay(&config, Duration::from_secs(2)),
            Duration::from_secs(18)
        );
    }
}
