//! Simulation results and their renderings: the JSON document of INTERFACE.md ("Offline
//! commands"), a readable table, CSV, and PNG plots of miss ratio against cache size.
//!
//! Every mode produces the same rows; modes other than `cache` add their own fields
//! (`mean_latency_us`, `predictor`, …) in [`ResultRow::extra`], which every rendering
//! carries along as extra columns.

mod csv;
mod plot;
mod table;

pub use csv::{CSV_HEADER, render_csv};
pub use plot::{PlotError, write_plots};
pub use table::render_table;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// The whole result of one `strata sim` run: `{"traces": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    pub traces: Vec<TraceReport>,
}

/// One trace at one unit: the canonical stream's size and every result over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    /// The trace's file name.
    pub trace: String,
    /// Block size of the canonical stream, in bytes.
    pub unit: u64,
    /// Accesses in the stream (blocks touched, counted per request).
    pub accesses: u64,
    /// Distinct block ids in the stream.
    pub unique: u64,
    pub results: Vec<ResultRow>,
}

/// One (policy, cache size, …) combination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub policy: String,
    /// Capacity in entries of the stream's unit.
    pub cache_size: u64,
    pub hits: u64,
    pub misses: u64,
    /// `misses / accesses`, rounded to 6 decimals.
    #[serde(serialize_with = "six_decimals")]
    pub miss_ratio: f64,
    /// Fields a mode adds (tier: latencies; prefetch: predictor, precision, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResultRow {
    /// A cache-mode row; the ratio is computed here so every mode rounds the same way.
    pub fn new(policy: impl Into<String>, cache_size: u64, hits: u64, misses: u64) -> Self {
        let accesses = hits + misses;
        let miss_ratio = if accesses == 0 {
            0.0
        } else {
            round6(misses as f64 / accesses as f64)
        };
        Self {
            policy: policy.into(),
            cache_size,
            hits,
            misses,
            miss_ratio,
            extra: Map::new(),
        }
    }

    /// Adds a mode-specific field.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The name of the row's series in plots: the policy, plus a predictor if there is one.
    pub fn series(&self) -> String {
        match self.extra.get("predictor").and_then(Value::as_str) {
            Some(predictor) => format!("{}+{predictor}", self.policy),
            None => self.policy.clone(),
        }
    }
}

/// Rounds to 6 decimals, the precision INTERFACE.md shows.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn six_decimals<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(round6(*x))
}

impl SimReport {
    /// The JSON document, pretty-printed.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("{\"traces\": []}"))
    }

    /// Names of the extra fields over all rows, in first-seen order.
    pub fn extra_columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        for row in self.traces.iter().flat_map(|t| &t.results) {
            for key in row.extra.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
        columns
    }
}

/// An extra field as a table / CSV cell.
pub(crate) fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{}", round6(f)),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> SimReport {
        SimReport {
            traces: vec![TraceReport {
                trace: "t.csv".into(),
                unit: 4096,
                accesses: 123,
                unique: 45,
                results: vec![
                    ResultRow::new("lru", 4, 60, 63),
                    ResultRow::new("lru", 9, 70, 53),
                    ResultRow::new("belady", 4, 80, 43).with_extra("note", "x"),
                ],
            }],
        }
    }

    #[test]
    fn json_has_the_interface_shape_and_rounds_ratios() {
        let json: Value = serde_json::from_str(&sample().to_json()).unwrap();
        let trace = &json["traces"][0];
        assert_eq!(trace["unit"], 4096);
        assert_eq!(trace["unique"], 45);
        let row = &trace["results"][0];
        assert_eq!(row["policy"], "lru");
        assert_eq!(row["cache_size"], 4);
        assert_eq!(row["miss_ratio"].as_f64(), Some(0.512195));
        assert!(row.get("note").is_none());
        assert_eq!(trace["results"][2]["note"], "x");
    }

    #[test]
    fn extra_columns_are_collected_once() {
        assert_eq!(sample().extra_columns(), ["note"]);
    }
}
