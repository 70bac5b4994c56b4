//! `strata demo --out DIR`: the comparison as `index.html` with three PNG plots over the
//! run — read latency, fast-tier hit ratio and completed migrations, one line per policy —
//! and `comparison.json`. Text in the plots needs a system font; where none loads the
//! charts are drawn without text rather than not at all (as `strata sim --plot` does).

use super::report::{Comparison, Series, Timeline, render_table, us};
use anyhow::Context;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const SIZE_PX: (u32, u32) = (960, 480);

struct Plot<'a> {
    file: &'static str,
    title: &'a str,
    y_desc: &'static str,
    series: &'a Series,
}

/// Writes the report into `dir` and returns the files written.
pub fn write_report(
    dir: &Path,
    comparison: &Comparison,
    timeline: &Timeline,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report dir {}", dir.display()))?;
    let fast_title = format!("{} hit ratio of reads, per second", comparison.fast_tier);
    let plots = [
        Plot {
            file: "read_latency.png",
            title: "mean read latency per second (ms, client side)",
            y_desc: "ms",
            series: &timeline.read_latency_ms,
        },
        Plot {
            file: "fast_tier_hit_ratio.png",
            title: &fast_title,
            y_desc: "hit ratio",
            series: &timeline.fast_hit_ratio,
        },
        Plot {
            file: "migrations.png",
            title: "completed migrations (cumulative)",
            y_desc: "moves",
            series: &timeline.migrations,
        },
    ];
    let mut written = Vec::new();
    for plot in &plots {
        let path = dir.join(plot.file);
        draw(plot, &path, true)
            .or_else(|_| draw(plot, &path, false))
            .map_err(|message| {
                anyhow::anyhow!("cannot write plot {}: {message}", path.display())
            })?;
        written.push(path);
    }
    let json = dir.join("comparison.json");
    std::fs::write(&json, serde_json::to_string_pretty(comparison)?)?;
    written.push(json);
    let index = dir.join("index.html");
    std::fs::write(&index, index_html(comparison, &plots))?;
    written.push(index);
    Ok(written)
}

fn draw(plot: &Plot<'_>, path: &Path, with_text: bool) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let points = || plot.series.lines.values().flatten();
    let x_max = points().map(|p| p.0).fold(1.0_f64, f64::max);
    let y_max = points().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-3) * 1.1;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if with_text {
        builder
            .caption(plot.title, ("sans-serif", 22))
            .x_label_area_size(45)
            .y_label_area_size(65);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    if with_text {
        chart
            .configure_mesh()
            .x_desc("seconds into the workload")
            .y_desc(plot.y_desc)
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (i, (name, line)) in plot.series.lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart
            .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        if with_text {
            drawn.label(*name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
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
    root.present().map_err(|e| err(&e))
}

fn index_html(c: &Comparison, plots: &[Plot<'_>]) -> String {
    let mut rows = String::new();
    for p in &c.policies {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} %</td><td>{} ({})</td></tr>\n",
            p.policy,
            p.requests,
            us(p.read_latency.mean_us),
            us(p.read_latency.p99_us),
            p.fast_tier_hit_ratio * 100.0,
            p.migrations,
            strata_core::format_size(p.migrated_bytes),
        ));
    }
    let volumes: String = c
        .volumes
        .iter()
        .map(|v| {
            format!(
                "<li><b>{}</b> ({}, {}): {}</li>\n",
                v.volume,
                v.profile,
                strata_core::format_size(v.size_bytes),
                escape(v.workload)
            )
        })
        .collect();
    let tiers: Vec<String> = c
        .tiers
        .iter()
        .map(|t| format!("{} {}", t.kind, strata_core::format_size(t.capacity_bytes)))
        .collect();
    let images: String = plots
        .iter()
        .map(|p| {
            format!(
                "<h2>{}</h2>\n<img src=\"{}\" alt=\"{}\">\n",
                escape(p.title),
                p.file,
                p.file
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>strata demo</title>\n\
         <style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}\
         td,th{{padding:4px 10px;text-align:right}}pre{{background:#f4f4f4;padding:1em}}</style>\n\
         </head><body>\n<h1>strata demo: Strata against static placement, same run</h1>\n\
         <p>Two servers with the same tiers ({tiers}, device-model emulation on) ran the same \
         {duration} s workload through NBD ({driver} driver), one with <code>[placement] \
         policy = \"static\"</code>, one with <code>policy = \"strata\"</code>.</p>\n\
         <ul>\n{volumes}</ul>\n\
         <table><tr><th>policy</th><th>requests</th><th>read mean</th><th>read p99</th>\
         <th>{fast} hit ratio</th><th>migrations</th></tr>\n{rows}</table>\n\
         <pre>{table}</pre>\n{images}</body></html>\n",
        tiers = tiers.join(", "),
        duration = c.duration_s,
        driver = c.driver,
        fast = c.fast_tier,
        table = escape(&render_table(c)),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
