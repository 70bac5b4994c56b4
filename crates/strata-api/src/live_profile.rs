//! The live workload profiler's faces in the API: its part of
//! `GET /v1/volumes/{name}/profile` and its `/metrics` families (names in
//! `docs/metrics.md`). The profiler itself is `strata_engine::profiler`.

use crate::metrics::{Collector, Exposition, MetricType};
use crate::volumes::VolumeProfile;
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_engine::{LiveProfiler, VolumeProfileReport};

/// Fills the profiler's fields of a profile reply; says in `note` what is not known yet.
pub(crate) fn fill(reply: &mut VolumeProfile, report: Option<VolumeProfileReport>) {
    let Some(report) = report else {
        reply.note =
            Some("the profiler has not seen this volume yet; no window has been profiled".into());
        return;
    };
    reply.window_s = Some(report.window_s);
    reply.windows = report.windows;
    reply.current_window_start_unix_s = Some(report.current_window_start_unix_s);
    reply.current_window_requests = report.current_window_requests;
    reply.deviations_total = report.deviations_total;
    reply.recent_deviations = to_value(&report.recent_deviations);
    reply.telemetry_app_type = report.telemetry_app_type.map(str::to_owned);
    reply.model = to_value(&report.model);
    match report.last_window {
        Some(window) => {
            reply.inferred_class = Some(window.class.to_owned());
            reply.confidence = Some(window.confidence);
            reply.class_source = to_value(&window.class_source).as_str().map(str::to_owned);
            reply.classifier_top_class = Some(window.classifier_top_class.to_owned());
            reply.window_start_unix_s = Some(window.start_unix_s);
            reply.window_end_unix_s = Some(window.end_unix_s);
            reply.demand_bytes = Some(window.demand_bytes);
            reply.features = Some(to_value(&window.features));
            reply.forecast = Some(to_value(&window.forecast));
            let shares = window.tier_profile;
            reply.tier_profile = BTreeMap::from([
                ("nvme".into(), shares.nvme),
                ("ssd".into(), shares.ssd),
                ("hdd".into(), shares.hdd),
            ]);
        }
        None => {
            reply.note = Some(format!(
                "no profiling window has completed yet (windows are {} s; {} requests in the \
                 current one); class, features, forecast and tier profile appear after the first",
                report.window_s, report.current_window_requests
            ));
        }
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// The profiler's `/metrics` families.
pub(crate) struct ProfileCollector(pub Arc<LiveProfiler>);

impl Collector for ProfileCollector {
    fn collect(&self, out: &mut Exposition) {
        let summaries = self.0.summaries();
        out.family(
            "strata_volume_inferred_class",
            MetricType::Gauge,
            "1 for the workload class the profiler inferred from the volume's last window",
        );
        for s in &summaries {
            if let Some(class) = s.class {
                out.sample(
                    "strata_volume_inferred_class",
                    &[("volume", &s.volume), ("class", class)],
                    1.0,
                );
            }
        }
        out.family(
            "strata_volume_class_confidence",
            MetricType::Gauge,
            "the classifier's vote share for its top class in the volume's last window, 0-1",
        );
        for s in &summaries {
            if let Some(confidence) = s.confidence {
                out.sample(
                    "strata_volume_class_confidence",
                    &[("volume", &s.volume)],
                    confidence,
                );
            }
        }
        out.family(
            "strata_volume_profile_windows_total",
            MetricType::Counter,
            "profiling windows closed for the volume (windows without requests not counted)",
        );
        for s in &summaries {
            out.sample(
                "strata_volume_profile_windows_total",
                &[("volume", &s.volume)],
                s.windows as f64,
            );
        }
        out.family(
            "strata_volume_demand_deviations_total",
            MetricType::Counter,
            "windows whose observed demand left the band forecast for them",
        );
        for s in &summaries {
            out.sample(
                "strata_volume_demand_deviations_total",
                &[("volume", &s.volume)],
                s.deviations_total as f64,
            );
        }
        let model = self.0.model_status();
        out.single(
            "strata_profile_replans_total",
            MetricType::Counter,
            "placement re-plans asked for by demand deviations",
            self.0.replans() as f64,
        )
        .single(
            "strata_profile_heat_forecast_extents",
            MetricType::Gauge,
            "extents predicted by the last per-extent heat forecast handed to the placement policy",
            self.0.forecast_extents() as f64,
        )
        .single(
            "strata_profile_forecaster_version",
            MetricType::Gauge,
            "version of the demand forecaster in use (1 = shipped, +1 per accepted refit)",
            model.forecaster_version as f64,
        )
        .single(
            "strata_profile_learning_rounds_total",
            MetricType::Counter,
            "learning rounds run",
            model.learning_rounds as f64,
        )
        .single(
            "strata_profile_forecaster_replacements_total",
            MetricType::Counter,
            "refits that scored better on held-out windows and replaced the forecaster",
            model.replacements as f64,
        );
        if let Some(score) = model.last_score {
            out.single(
                "strata_profile_forecaster_mae_bytes",
                MetricType::Gauge,
                "held-out mean absolute demand error of the forecaster in use, last round",
                score.mae_bytes,
            );
        }
    }
}
