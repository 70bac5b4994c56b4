//! Tier-mode plots for `strata sim --mode tier --plot DIR`: per trace, unit and tier sizing,
//! a latency CDF (log-scale latency, one line per policy) and a time series of mean request
//! latency per planning interval. Like the cache plots, a chart is drawn without text when
//! no system font can be loaded.

use super::{TierRun, TierTraceRuns};
use crate::report::PlotError;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SIZE_PX: (u32, u32) = (960, 640);

type Lines = Vec<(String, Vec<(f64, f64)>)>;

/// Writes `<trace>_<unit>_f<fast>[_m<middle>]_{cdf,series}.png` into `dir` (created if
/// needed) and returns the files written.
pub fn write_tier_plots(traces: &[TierTraceRuns], dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for trace in traces {
        let mut groups: BTreeMap<(u64, Option<u64>), Vec<&TierRun>> = BTreeMap::new();
        for run in &trace.runs {
            let key = (run.result.cache_size, run.result.middle_size);
            groups.entry(key).or_default().push(run);
        }
        for ((fast, middle), runs) in groups {
            let stem = stem(trace, fast, middle);
            let title = format!(
                "{} — {} B extents, fast {fast}{}",
                trace.trace,
                trace.unit,
                middle.map(|m| format!(", middle {m}")).unwrap_or_default()
            );
            let cdf: Lines = runs
                .iter()
                .map(|r| {
                    let points = r
                        .latency_cdf
                        .iter()
                        .map(|p| (p.latency_us.max(1.0), p.fraction))
                        .collect();
                    (r.result.policy.clone(), points)
                })
                .collect();
            let series: Lines = runs
                .iter()
                .map(|r| {
                    let points = r
                        .series
                        .iter()
                        .filter(|p| p.requests > 0)
                        .map(|p| (p.time_s, p.mean_latency_us.max(1.0)))
                        .collect();
                    (r.result.policy.clone(), points)
                })
                .collect();
            let latencies = cdf.iter().flat_map(|l| l.1.iter().map(|p| p.0));
            let latencies = latencies.chain(series.iter().flat_map(|l| l.1.iter().map(|p| p.1)));
            let (lat_lo, lat_hi) = span(latencies, (1.0, 10.0));
            let (lat_lo, lat_hi) = (lat_lo.max(1.0) / 1.5, lat_hi.max(1.0) * 1.5);
            let path = dir.join(format!("{stem}_cdf.png"));
            let labels = ("request latency (µs)", "fraction of requests");
            write_one(
                &path,
                &title,
                labels,
                &cdf,
                (lat_lo..lat_hi).log_scale(),
                0.0..1.0,
            )?;
            written.push(path);
            let (t_lo, t_hi) = span(
                series.iter().flat_map(|l| l.1.iter().map(|p| p.0)),
                (0.0, 1.0),
            );
            let (t_lo, t_hi) = (t_lo.min(0.0), t_hi.max(t_lo + 1.0));
            let path = dir.join(format!("{stem}_series.png"));
            let labels = ("virtual time (s)", "mean latency per interval (µs)");
            let y_range = (lat_lo..lat_hi).log_scale();
            write_one(&path, &title, labels, &series, t_lo..t_hi, y_range)?;
            written.push(path);
        }
    }
    Ok(written)
}

fn stem(trace: &TierTraceRuns, fast: u64, middle: Option<u64>) -> String {
    let safe: String = trace
        .trace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let middle = middle.map(|m| format!("_m{m}")).unwrap_or_default();
    format!("{safe}_{}_f{fast}{middle}", trace.unit)
}

/// Smallest and largest of `values`, or `fallback` when there are none.
fn span(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        fallback
    }
}

fn write_one<X, Y>(
    path: &Path,
    title: &str,
    labels: (&str, &str),
    lines: &Lines,
    x: X,
    y: Y,
) -> Result<(), PlotError>
where
    X: AsRangedCoord<Value = f64> + Clone,
    Y: AsRangedCoord<Value = f64> + Clone,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    draw(path, title, labels, lines, x.clone(), y.clone(), true)
        .or_else(|_| draw(path, title, labels, lines, x, y, false))
        .map_err(|message| PlotError {
            path: path.to_path_buf(),
            message,
        })
}

fn draw<X, Y>(
    path: &Path,
    title: &str,
    labels: (&str, &str),
    lines: &Lines,
    x: X,
    y: Y,
    with_text: bool,
) -> Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if with_text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(50)
            .y_label_area_size(80);
    }
    let mut chart = builder.build_cartesian_2d(x, y).map_err(|e| err(&e))?;
    if with_text {
        chart
            .configure_mesh()
            .x_desc(labels.0)
            .y_desc(labels.1)
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (i, (name, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        if with_text {
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
    }
    if with_text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
