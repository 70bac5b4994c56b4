//! `strata sim --csv`: one row per result, trace columns repeated, extra fields appended.

use super::{SimReport, cell};

/// The CSV header every run prints first (extra columns follow it).
pub const CSV_HEADER: &str = "trace,unit,accesses,unique,policy,cache_size,hits,misses,miss_ratio";

/// Quotes a field when it holds a comma, quote or line break (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Renders all rows with a header line.
pub fn render_csv(report: &SimReport) -> String {
    let extras = report.extra_columns();
    let mut out = String::from(CSV_HEADER);
    for key in &extras {
        out.push(',');
        out.push_str(&field(key));
    }
    out.push('\n');
    for trace in &report.traces {
        for row in &trace.results {
            let mut cells = vec![
                field(&trace.trace),
                trace.unit.to_string(),
                trace.accesses.to_string(),
                trace.unique.to_string(),
                field(&row.policy),
                row.cache_size.to_string(),
                row.hits.to_string(),
                row.misses.to_string(),
                format!("{:.6}", row.miss_ratio),
            ];
            cells.extend(extras.iter().map(|key| field(&cell(row.extra.get(key)))));
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn csv_has_header_and_one_line_per_row() {
        let text = render_csv(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("{CSV_HEADER},note"));
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "t.csv,4096,123,45,lru,4,60,63,0.512195,");
        assert!(lines[3].ends_with(",x"));
        assert_eq!(field("a,b\"c"), "\"a,b\"\"c\"");
    }
}
