//! `strata demo --out DIR`: the comparison as `index.html` with three PNG plots over the
//! run — read latency, fast-tier hit ratio and completed migrations, one line per policy —
//! and `comparison.json`.

use super::report::{Comparison, Series, Timeline, render_table, us};
use crate::cmd::chart::{LineChart, escape_html};
use anyhow::Context;
use std::path::{Path, PathBuf};

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
        LineChart {
            title: plot.title,
            x_desc: "seconds into the workload",
            y_desc: plot.y_desc,
            lines: plot
                .series
                .lines
                .iter()
                .map(|(name, line)| (*name, line.as_slice()))
                .collect(),
        }
        .write_png(&path)?;
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
                escape_html(v.workload)
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
                escape_html(p.title),
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
        table = escape_html(&render_table(c)),
    )
}
