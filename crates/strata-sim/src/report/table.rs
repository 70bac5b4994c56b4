//! The default output of `strata sim`: one aligned table per trace and unit.

use super::{SimReport, cell};
use std::fmt::Write;

/// Renders every trace as a header line and an aligned table of its rows.
pub fn render_table(report: &SimReport) -> String {
    let extras = report.extra_columns();
    let mut out = String::new();
    for trace in &report.traces {
        let _ = writeln!(
            out,
            "{}  unit {} B  accesses {}  unique {}",
            trace.trace, trace.unit, trace.accesses, trace.unique
        );
        let mut rows: Vec<Vec<String>> = vec![
            ["policy", "cache_size", "hits", "misses", "miss_ratio"]
                .iter()
                .map(|s| s.to_string())
                .chain(extras.iter().cloned())
                .collect(),
        ];
        for row in &trace.results {
            let mut cells = vec![
                row.policy.clone(),
                row.cache_size.to_string(),
                row.hits.to_string(),
                row.misses.to_string(),
                format!("{:.6}", row.miss_ratio),
            ];
            cells.extend(extras.iter().map(|key| cell(row.extra.get(key))));
            rows.push(cells);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|col| {
                rows.iter()
                    .map(|r| r[col].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for cells in &rows {
            let line: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(col, text)| {
                    // Names left-aligned, numbers right-aligned.
                    if col == 0 {
                        format!("{text:<width$}", width = widths[col])
                    } else {
                        format!("{text:>width$}", width = widths[col])
                    }
                })
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn table_lists_every_row_aligned() {
        let text = render_table(&sample());
        assert!(text.starts_with("t.csv  unit 4096 B  accesses 123  unique 45\n"));
        let lines: Vec<&str> = text.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("miss_ratio") && lines[0].contains("note"));
        assert!(lines[1].contains("0.512195"));
        let ratio_col = lines[1].find("0.512195").unwrap();
        assert_eq!(lines[2].find("0.430894"), Some(ratio_col));
    }
}
