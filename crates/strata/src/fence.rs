//! Generation fencing on the data path. A client that opens the NBD export
//! `VOLUME:GENERATION` (its lease id) writes only while that generation is the volume's
//! current one: a takeover (a new lease with the next generation) refuses the old
//! holder's writes from then on with `EPERM`.
//!
//! The check is one atomic load per write. The current generation of each fenced volume is
//! kept in memory and follows the store through the control plane's generation watch, so a
//! takeover through any server sharing the store fences here within the watch's delivery
//! time; a write already past the check when the takeover commits may still land (the
//! window is that delivery time, which is not measured yet).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use strata_control::{ControlPlane, GenerationWatch};
use tokio_util::sync::CancellationToken;

/// The current generation of every volume opened fenced, kept current by [`Fences::follow`].
#[derive(Debug)]
pub struct Fences {
    plane: Arc<ControlPlane>,
    current: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Fences {
    /// The fences and the watch to [`Fences::follow`]. The watch starts here, before any
    /// cell is read, so no bump after a cell's first read is missed.
    pub fn new(plane: Arc<ControlPlane>) -> strata_control::Result<(Arc<Self>, GenerationWatch)> {
        let watch = plane.watch_generations()?;
        let fences = Arc::new(Self {
            plane,
            current: Mutex::new(HashMap::new()),
        });
        Ok((fences, watch))
    }

    pub fn plane(&self) -> &Arc<ControlPlane> {
        &self.plane
    }

    /// The live generation cell of `volume`, read from the store the first time.
    pub fn cell(&self, volume: &str) -> strata_control::Result<Arc<AtomicU64>> {
        if let Some(cell) = self.current.lock().get(volume) {
            return Ok(Arc::clone(cell));
        }
        let generation = self.plane.generation(volume)?;
        let mut current = self.current.lock();
        let cell = current
            .entry(volume.to_owned())
            .or_insert_with(|| Arc::new(AtomicU64::new(generation)));
        // A bump seen by the watch between the read and the insert wins.
        cell.fetch_max(generation, Ordering::SeqCst);
        Ok(Arc::clone(cell))
    }

    /// Applies generation changes until `stop` (a blocking loop: run it on its own thread).
    pub fn follow(&self, watch: &GenerationWatch, stop: &CancellationToken) {
        while !stop.is_cancelled() {
            if let Some((volume, generation)) = watch.recv_timeout(Duration::from_millis(200))
                && let Some(cell) = self.current.lock().get(&volume)
            {
                cell.fetch_max(generation, Ordering::SeqCst);
            }
        }
    }
}

/// A writer's claim: its generation and the volume's live one.
#[derive(Debug)]
pub struct Fence {
    pub generation: u64,
    pub current: Arc<AtomicU64>,
}

impl Fence {
    /// `EPERM` once a newer lease holds the volume.
    pub fn check(&self) -> std::io::Result<()> {
        let current = self.current.load(Ordering::SeqCst);
        if current == self.generation {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "fenced: generation {} was superseded by {current}",
                    self.generation
                ),
            ))
        }
    }
}
