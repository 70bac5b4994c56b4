//! [`SequentialDetector`]: finds sequential runs in a request stream, the way bcache's
//! sequential cutoff does — a small table of recent stream tails, so interleaved streams on
//! one volume are each recognised. The I/O path (engine) and the simulator both feed it and
//! put its answer into [`crate::Access::run_bytes`].

/// Recently seen stream tails; replaced oldest-first, so the table's behaviour is deterministic.
#[derive(Debug, Clone)]
pub struct SequentialDetector {
    streams: Vec<StreamTail>,
    next_victim: usize,
}

#[derive(Debug, Clone, Copy)]
struct StreamTail {
    volume: u64,
    end_offset_bytes: u64,
    run_bytes: u64,
}

/// What the detector concluded about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    /// The request starts where a recent request on the same volume ended.
    pub sequential: bool,
    /// Bytes of the run so far, this request included.
    pub run_bytes: u64,
}

impl SequentialDetector {
    /// Streams tracked at once by [`Default`].
    pub const DEFAULT_STREAMS: usize = 32;

    pub fn new(streams: usize) -> Self {
        Self {
            streams: Vec::with_capacity(streams.max(1)),
            next_victim: 0,
        }
    }

    /// Records a request and tells whether it continues a stream.
    pub fn observe(&mut self, volume: u64, offset_bytes: u64, len_bytes: u64) -> RunInfo {
        let end_offset_bytes = offset_bytes.saturating_add(len_bytes);
        if let Some(tail) = self
            .streams
            .iter_mut()
            .find(|t| t.volume == volume && t.end_offset_bytes == offset_bytes)
        {
            tail.end_offset_bytes = end_offset_bytes;
            tail.run_bytes = tail.run_bytes.saturating_add(len_bytes);
            return RunInfo {
                sequential: true,
                run_bytes: tail.run_bytes,
            };
        }
        let tail = StreamTail {
            volume,
            end_offset_bytes,
            run_bytes: len_bytes,
        };
        if self.streams.len() < self.streams.capacity() {
            self.streams.push(tail);
        } else if let Some(slot) = self.streams.get_mut(self.next_victim) {
            *slot = tail;
            self.next_victim = (self.next_victim + 1) % self.streams.len();
        }
        RunInfo {
            sequential: false,
            run_bytes: len_bytes,
        }
    }
}

impl Default for SequentialDetector {
    fn default() -> Self {
        Self::new(Self::DEFAULT_STREAMS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_streams_are_each_followed() {
        let mut d = SequentialDetector::default();
        let mut last = RunInfo {
            sequential: false,
            run_bytes: 0,
        };
        for i in 0..8u64 {
            last = d.observe(1, i * 4096, 4096);
            let other = d.observe(1, (1 << 30) + i * 8192, 8192);
            assert_eq!(other.sequential, i > 0);
        }
        assert!(last.sequential);
        assert_eq!(last.run_bytes, 8 * 4096);
        // Another volume at the same offset is a different stream.
        assert!(!d.observe(2, 8 * 4096, 4096).sequential);
    }

    #[test]
    fn table_forgets_oldest_stream_first() {
        let mut d = SequentialDetector::new(2);
        d.observe(0, 0, 10);
        d.observe(0, 100, 10);
        d.observe(0, 200, 10); // evicts the stream ending at 10
        assert!(!d.observe(0, 10, 10).sequential);
        assert!(d.observe(0, 210, 10).sequential);
    }
}
