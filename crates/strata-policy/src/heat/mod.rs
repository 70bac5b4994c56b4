//! The heat map: per-extent decayed read and write visit counts, last access, a touch count
//! (admission evidence) and a sequential-run flag — an explicit artifact, fed by the
//! simulator's and the engine's [`Access`]es alike, serialisable so a restart starts warm
//! ([`HeatMap::to_bytes`], [`HeatMap::from_bytes`]).
//!
//! * Counts decay exponentially with a half-life in virtual (or monotonic) time, applied
//!   lazily when an extent is touched, from a coarse `u32` stamp; reading a count decays it
//!   to the asked instant without storing anything.
//! * A *visit* is an access that starts a run on the extent (`Access::sequential == false`)
//!   or comes a tick or more after the extent's previous access. A quick sequential
//!   continuation costs a disk no seek, so it adds no visit: a scan leaves each extent with
//!   one visit, not hundreds.
//! * Storage is a dense `Vec` of 12-byte [`HeatEntry`]s per volume indexed by extent, grown
//!   only where it stays at least half full; far-off indices live in a sparse side table.

mod codec;
pub(crate) use codec::fnv1a;
mod entry;

pub use entry::HeatEntry;

use crate::{Access, ExtentId, IoKind};
use entry::{FLAG_LAST_WRITE, FLAG_SEQUENTIAL, encode};
use std::collections::BTreeMap;

/// How the heat map counts and ages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeatConfig {
    /// Resolution of the stored stamps. With 100 ms, a `u32` stamp lasts 13 years.
    pub tick_ns: u64,
    /// A count halves after this long without visits.
    pub half_life_ns: u64,
    /// An access in a sequential run longer than this marks the extent as scanned.
    pub sequential_cutoff_bytes: u64,
}

impl Default for HeatConfig {
    fn default() -> Self {
        Self {
            tick_ns: 100_000_000,
            half_life_ns: 120_000_000_000,
            sequential_cutoff_bytes: 4 << 20,
        }
    }
}

/// One extent's heat as seen at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatSample {
    /// Decayed read visits.
    pub reads: f32,
    /// Decayed write visits.
    pub writes: f32,
    /// Visits ever counted (saturating at 255); the admission evidence.
    pub touches: u8,
    /// Last access, at the map's tick resolution.
    pub last_access_ns: u64,
    /// The latest access belonged to a sequential run longer than the cutoff.
    pub sequential: bool,
    /// The latest access was a write.
    pub last_write: bool,
}

impl HeatSample {
    /// Read and write visits together.
    pub fn total(&self) -> f32 {
        self.reads + self.writes
    }
}

/// Indices at most this far beyond a volume's visited count stay dense.
const DENSE_SLACK_EXTENTS: u64 = 65_536;
/// Bytes a sparse entry is charged in [`HeatMap::heap_bytes`]: key, value and a share of
/// its B-tree node.
const SPARSE_ENTRY_BYTES: usize = 48;

#[derive(Debug, Clone, Default, PartialEq)]
struct VolumeHeat {
    dense: Vec<HeatEntry>,
    sparse: BTreeMap<u64, HeatEntry>,
    visited: u64,
}

impl VolumeHeat {
    fn get(&self, index: u64) -> Option<&HeatEntry> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.dense.get(i))
            .filter(|e| e.is_visited())
            .or_else(|| self.sparse.get(&index))
    }

    /// The entry for `index`, created (unvisited) if needed.
    fn slot(&mut self, index: u64) -> &mut HeatEntry {
        let len = self.dense.len() as u64;
        if index >= len && index < 2 * self.visited + DENSE_SLACK_EXTENTS {
            self.grow_dense(index + 1);
        }
        match usize::try_from(index) {
            Ok(i) if i < self.dense.len() => &mut self.dense[i],
            _ => self.sparse.entry(index).or_default(),
        }
    }

    fn grow_dense(&mut self, min_len: u64) {
        let Ok(min_len) = usize::try_from(min_len) else {
            return;
        };
        let len = self.dense.len();
        // At most one eighth of slack, so a grown vector stays under 13.5 bytes per extent.
        let extra = (min_len - len).max(len / 8);
        self.dense.reserve_exact(extra);
        self.dense.resize(len + extra, HeatEntry::default());
        let moved = self.sparse.split_off(&(self.dense.len() as u64));
        for (index, entry) in std::mem::replace(&mut self.sparse, moved) {
            if let Ok(i) = usize::try_from(index) {
                self.dense[i] = entry;
            }
        }
    }

    /// Visited entries by index: the dense table, then the sparse one (whose indices all lie
    /// beyond the dense table).
    fn visited_entries(&self) -> impl Iterator<Item = (u64, &HeatEntry)> + '_ {
        let dense = self.dense.iter().enumerate().map(|(i, e)| (i as u64, e));
        let sparse = self.sparse.iter().map(|(&i, e)| (i, e));
        dense.chain(sparse).filter(|(_, e)| e.is_visited())
    }

    fn heap_bytes(&self) -> usize {
        self.dense.capacity() * std::mem::size_of::<HeatEntry>()
            + self.sparse.len() * SPARSE_ENTRY_BYTES
    }
}

/// Per-extent heat of every volume.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    config: HeatConfig,
    half_life_ticks: u32,
    volumes: BTreeMap<u64, VolumeHeat>,
}

impl HeatMap {
    pub fn new(config: HeatConfig) -> Self {
        let config = HeatConfig {
            tick_ns: config.tick_ns.max(1),
            ..config
        };
        let half_life_ticks =
            u32::try_from((config.half_life_ns / config.tick_ns).max(1)).unwrap_or(u32::MAX);
        Self {
            config,
            half_life_ticks,
            volumes: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &HeatConfig {
        &self.config
    }

    /// Sizes a volume's dense table for `extents` extents up front (the engine knows its
    /// volumes' sizes), so it never grows in steps.
    pub fn reserve_volume(&mut self, volume: u64, extents: u64) {
        let heat = self.volumes.entry(volume).or_default();
        if extents > heat.dense.len() as u64
            && let Ok(extra) = usize::try_from(extents - heat.dense.len() as u64)
        {
            heat.dense.reserve_exact(extra);
            heat.grow_dense(extents);
        }
    }

    /// Stored stamp for `time_ns`: ticks plus one, saturating.
    fn stamp(&self, time_ns: u64) -> u32 {
        u32::try_from(time_ns / self.config.tick_ns)
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// Folds one access into the map.
    pub fn record(&mut self, access: &Access) {
        let now = self.stamp(access.time_ns);
        let half_life = self.half_life_ticks;
        let cutoff = self.config.sequential_cutoff_bytes;
        let heat = self.volumes.entry(access.extent.volume).or_default();
        let entry = heat.slot(access.extent.index);
        let (mut reads, mut writes) = if entry.is_visited() {
            entry.counts_at(now, half_life)
        } else {
            heat.visited += 1;
            (0.0, 0.0)
        };
        let entry = heat.slot(access.extent.index);
        let write = access.kind == IoKind::Write;
        // A continuation in the same tick is the same visit; a slower stream is interleaved
        // with other requests, so the disk seeks for each of its requests anyway.
        if !access.sequential || now > entry.stamp_ticks {
            if write {
                writes += 1.0;
            } else {
                reads += 1.0;
            }
            entry.touches = entry.touches.saturating_add(1);
        }
        entry.read_log = encode(reads);
        entry.write_log = encode(writes);
        entry.stamp_ticks = entry.stamp_ticks.max(now);
        entry.flags = if access.run_bytes > cutoff {
            FLAG_SEQUENTIAL
        } else {
            0
        } | if write { FLAG_LAST_WRITE } else { 0 };
    }

    /// Makes `extent` known with no visits, so that [`Self::iter_at`] lists it (as cold as
    /// an extent can be): a resident placed before this map began. A known extent keeps
    /// its heat.
    pub fn adopt(&mut self, extent: ExtentId) {
        let heat = self.volumes.entry(extent.volume).or_default();
        let entry = heat.slot(extent.index);
        if !entry.is_visited() {
            // The oldest stamp there is; no visit counted.
            entry.stamp_ticks = 1;
            heat.visited += 1;
        }
    }

    /// Drops the heat of every volume `keep` refuses.
    pub fn retain_volumes(&mut self, keep: impl Fn(u64) -> bool) {
        self.volumes.retain(|&volume, _| keep(volume));
    }

    /// The extent's heat decayed to `now_ns`, or `None` if it was never visited.
    pub fn sample(&self, extent: ExtentId, now_ns: u64) -> Option<HeatSample> {
        let entry = self.volumes.get(&extent.volume)?.get(extent.index)?;
        Some(self.sample_entry(entry, now_ns))
    }

    fn sample_entry(&self, entry: &HeatEntry, now_ns: u64) -> HeatSample {
        let (reads, writes) = entry.counts_at(self.stamp(now_ns), self.half_life_ticks);
        HeatSample {
            reads,
            writes,
            touches: entry.touches,
            last_access_ns: u64::from(entry.stamp_ticks.saturating_sub(1))
                .saturating_mul(self.config.tick_ns),
            sequential: entry.flags & FLAG_SEQUENTIAL != 0,
            last_write: entry.flags & FLAG_LAST_WRITE != 0,
        }
    }

    /// Every visited extent with its heat at `now_ns`, by volume then index.
    pub fn iter_at(&self, now_ns: u64) -> impl Iterator<Item = (ExtentId, HeatSample)> + '_ {
        self.entries()
            .map(move |(extent, entry)| (extent, self.sample_entry(entry, now_ns)))
    }

    /// Every visited extent's raw entry, by volume then index.
    fn entries(&self) -> impl Iterator<Item = (ExtentId, &HeatEntry)> + '_ {
        self.volumes.iter().flat_map(|(&volume, heat)| {
            heat.visited_entries()
                .map(move |(index, e)| (ExtentId::new(volume, index), e))
        })
    }

    /// Drops an extent's heat (trimmed or deleted data).
    pub fn forget(&mut self, extent: ExtentId) {
        if let Some(heat) = self.volumes.get_mut(&extent.volume) {
            let was_visited = heat.get(extent.index).is_some();
            match usize::try_from(extent.index) {
                Ok(i) if i < heat.dense.len() => heat.dense[i] = HeatEntry::default(),
                _ => {
                    heat.sparse.remove(&extent.index);
                }
            }
            heat.visited -= u64::from(was_visited);
        }
    }

    /// Number of visited extents.
    pub fn len(&self) -> u64 {
        self.volumes.values().map(|v| v.visited).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the map: dense tables at capacity, sparse entries at
    /// `SPARSE_ENTRY_BYTES` each, plus the volume index.
    pub fn heap_bytes(&self) -> usize {
        let per_volume = std::mem::size_of::<u64>() + std::mem::size_of::<VolumeHeat>();
        self.volumes
            .values()
            .map(|v| v.heap_bytes() + per_volume)
            .sum()
    }

    /// Stores a decoded entry (codec), through the same growth rule as `record`.
    fn insert_entry(&mut self, extent: ExtentId, entry: HeatEntry) {
        let heat = self.volumes.entry(extent.volume).or_default();
        let slot = heat.slot(extent.index);
        if !slot.is_visited() {
            heat.visited += 1;
        }
        *heat.slot(extent.index) = entry;
    }

    /// Decayed counts as raw numbers, for tests of the packing.
    #[cfg(test)]
    fn raw_counts(&self, extent: ExtentId) -> Option<(f32, f32)> {
        let entry = self.volumes.get(&extent.volume)?.get(extent.index)?;
        Some((
            entry::decode(entry.read_log),
            entry::decode(entry.write_log),
        ))
    }
}

impl Default for HeatMap {
    fn default() -> Self {
        Self::new(HeatConfig::default())
    }
}

#[cfg(test)]
mod tests;
