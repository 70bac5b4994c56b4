//! Windowing: cuts a volume's request stream into windows of trace time and/or request
//! count (INTERFACE.md: 60 s or 10,000 requests, whichever comes first, by default) and
//! profiles each with a [`WindowProfiler`].

use std::fmt;
use std::str::FromStr;

use strata_core::ParseError;

use super::Request;
use super::features::{WindowProfile, WindowProfiler};
use super::heat::{ExtentCounter, ExtentCounts};

/// Default window length in trace time.
pub const DEFAULT_WINDOW_NS: u64 = 60_000_000_000;
/// Default window length in requests.
pub const DEFAULT_WINDOW_REQUESTS: u64 = 10_000;

/// How long a window is: at most `max_ns` of trace time and at most `max_requests`
/// requests (either may be unlimited, not both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub max_ns: Option<u64>,
    pub max_requests: Option<u64>,
}

impl Default for WindowSpec {
    fn default() -> Self {
        Self {
            max_ns: Some(DEFAULT_WINDOW_NS),
            max_requests: Some(DEFAULT_WINDOW_REQUESTS),
        }
    }
}

impl WindowSpec {
    /// Whether the window needs timestamps to be cut.
    pub fn needs_time(&self) -> bool {
        self.max_requests.is_none()
    }
}

impl FromStr for WindowSpec {
    type Err = ParseError;

    /// `SECONDS` (`60`, `2.5`, `30s`) or `Nr` (`5000r`): a positive length.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = || {
            ParseError::new(
                s,
                "a window is SECONDS (e.g. 60 or 2.5) or a request count Nr (e.g. 5000r), above 0",
            )
        };
        if let Some(count) = text.strip_suffix(['r', 'R']) {
            let requests: u64 = count.trim().parse().map_err(|_| bad())?;
            if requests == 0 {
                return Err(bad());
            }
            return Ok(Self {
                max_ns: None,
                max_requests: Some(requests),
            });
        }
        let seconds: f64 = text
            .strip_suffix('s')
            .unwrap_or(text)
            .trim()
            .parse()
            .map_err(|_| bad())?;
        let ns = seconds * 1e9;
        if !(ns.is_finite() && ns >= 1.0 && ns < u64::MAX as f64) {
            return Err(bad());
        }
        Ok(Self {
            max_ns: Some(ns as u64),
            max_requests: None,
        })
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.max_ns, self.max_requests) {
            (Some(ns), Some(n)) => write!(f, "{} s or {n} requests", ns as f64 / 1e9),
            (Some(ns), None) => write!(f, "{} s", ns as f64 / 1e9),
            (None, Some(n)) => write!(f, "{n} requests"),
            (None, None) => f.write_str("unlimited"),
        }
    }
}

/// A closed window: where it starts, its profile and its accesses per extent.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    /// Index of the window's first request in the stream.
    pub start_request: u64,
    /// Trace time of the window's first request since the stream's first, when timed.
    pub start_s: Option<f64>,
    pub profile: WindowProfile,
    /// Accesses per [`HEAT_EXTENT_BYTES`](super::heat::HEAT_EXTENT_BYTES) extent, for the
    /// heat forecaster.
    pub extent_counts: ExtentCounts,
}

/// Feeds requests into windows.
#[derive(Debug, Clone)]
pub struct Windower {
    spec: WindowSpec,
    profiler: WindowProfiler,
    extents: ExtentCounter,
    stream_start_ns: Option<u64>,
    window_start_ns: Option<u64>,
    window_start_request: u64,
    seen: u64,
}

impl Windower {
    pub fn new(spec: WindowSpec) -> Self {
        Self {
            spec,
            profiler: WindowProfiler::new(),
            extents: ExtentCounter::default(),
            stream_start_ns: None,
            window_start_ns: None,
            window_start_request: 0,
            seen: 0,
        }
    }

    /// Adds a request; returns the window it closed, if the request starts a new one.
    pub fn push(&mut self, request: &Request) -> Option<ClosedWindow> {
        let full_by_count = self
            .spec
            .max_requests
            .is_some_and(|max| self.profiler.requests() >= max);
        let full_by_time = match (self.spec.max_ns, self.window_start_ns, request.time_ns) {
            (Some(max), Some(start), Some(now)) => now.saturating_sub(start) >= max,
            _ => false,
        };
        let closed = if (full_by_count || full_by_time) && self.profiler.requests() > 0 {
            self.close()
        } else {
            None
        };
        if self.profiler.requests() == 0 {
            self.window_start_ns = request.time_ns;
            self.window_start_request = self.seen;
        }
        if self.stream_start_ns.is_none() {
            self.stream_start_ns = request.time_ns;
        }
        self.profiler.observe(request);
        self.extents.observe(request);
        self.seen += 1;
        closed
    }

    /// Closes the last window, if it holds any request.
    pub fn finish(&mut self) -> Option<ClosedWindow> {
        (self.profiler.requests() > 0)
            .then(|| self.close())
            .flatten()
    }

    fn close(&mut self) -> Option<ClosedWindow> {
        let start_s = match (self.stream_start_ns, self.window_start_ns) {
            (Some(stream), Some(window)) => Some(window.saturating_sub(stream) as f64 / 1e9),
            _ => None,
        };
        Some(ClosedWindow {
            start_request: self.window_start_request,
            start_s,
            profile: self.profiler.finish(),
            extent_counts: self.extents.finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::IoKind;

    fn at(time_s: u64, index: u64) -> Request {
        Request {
            stream: 0,
            offset_bytes: index * 4096,
            len_bytes: 4096,
            time_ns: Some(time_s * 1_000_000_000),
            kind: IoKind::Read,
        }
    }

    #[test]
    fn window_lengths_parse() {
        assert_eq!(
            "5000r"
                .parse::<WindowSpec>()
                .ok()
                .and_then(|w| w.max_requests),
            Some(5000)
        );
        assert_eq!(
            "2.5".parse::<WindowSpec>().ok().and_then(|w| w.max_ns),
            Some(2_500_000_000)
        );
        assert_eq!(
            "30s".parse::<WindowSpec>().ok().and_then(|w| w.max_ns),
            Some(30_000_000_000)
        );
        for bad in ["", "0", "0r", "-3", "abc", "12x", "r", "nan", "1e30"] {
            assert!(bad.parse::<WindowSpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn windows_close_on_time_or_count_whichever_first() {
        let spec = WindowSpec {
            max_ns: Some(10_000_000_000),
            max_requests: Some(3),
        };
        let mut windower = Windower::new(spec);
        // Requests at 0, 1, 2 s (full by count), 3 s, 20 s (full by time), 21 s.
        let times = [0, 1, 2, 3, 20, 21];
        let mut closed: Vec<ClosedWindow> = times
            .iter()
            .enumerate()
            .filter_map(|(i, &t)| windower.push(&at(t, i as u64)))
            .collect();
        closed.extend(windower.finish());
        let starts: Vec<(u64, Option<f64>, u64)> = closed
            .iter()
            .map(|w| (w.start_request, w.start_s, w.profile.features.requests))
            .collect();
        assert_eq!(
            starts,
            vec![(0, Some(0.0), 3), (3, Some(3.0), 1), (4, Some(20.0), 2)]
        );
    }
}
