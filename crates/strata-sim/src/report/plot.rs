//! `strata sim --plot DIR`: one PNG per trace and unit, miss ratio against cache size with
//! one line per policy. Text needs a system font; where none can be loaded the same chart
//! is drawn without text rather than not at all.

use super::{SimReport, TraceReport};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SIZE_PX: (u32, u32) = (960, 640);

/// A plot that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write plot {}: {message}", path.display())]
pub struct PlotError {
    pub path: PathBuf,
    pub message: String,
}

/// Writes `DIR/<trace>_<unit>.png` for every trace of `report`, creating `dir` if needed.
/// Returns the files written.
pub fn write_plots(report: &SimReport, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for trace in &report.traces {
        let path = dir.join(file_name(trace));
        draw(trace, &path, true)
            .or_else(|_| draw(trace, &path, false))
            .map_err(|message| PlotError {
                path: path.clone(),
                message,
            })?;
        written.push(path);
    }
    Ok(written)
}

/// `<trace name with unsafe characters replaced>_<unit>.png`.
fn file_name(trace: &TraceReport) -> String {
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
    format!("{safe}_{}.png", trace.unit)
}

/// Points of each series, sorted by cache size.
fn series(trace: &TraceReport) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in &trace.results {
        out.entry(row.series())
            .or_default()
            .push((row.cache_size as f64, row.miss_ratio));
    }
    for points in out.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn draw(trace: &TraceReport, path: &Path, with_text: bool) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let lines = series(trace);
    let x_max = lines
        .values()
        .flatten()
        .map(|p| p.0)
        .fold(1.0_f64, f64::max)
        * 1.05;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if with_text {
        builder
            .caption(
                format!(
                    "{} — {} B blocks, {} accesses",
                    trace.trace, trace.unit, trace.accesses
                ),
                ("sans-serif", 24),
            )
            .x_label_area_size(50)
            .y_label_area_size(70);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x_max, 0.0..1.0_f64)
        .map_err(|e| err(&e))?;
    if with_text {
        chart
            .configure_mesh()
            .x_desc("cache size (entries)")
            .y_desc("miss ratio")
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (i, (name, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(3),
            ))
            .map_err(|e| err(&e))?;
        if with_text {
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    if with_text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn writes_one_non_empty_png_per_trace() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_plots(&sample(), &dir.path().join("plots")).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].ends_with("t_csv_4096.png"));
        let bytes = std::fs::read(&files[0]).unwrap();
        assert!(bytes.len() > 1000);
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
