//! Generation fencing on the data path. A client that opens the NBD export
//! `VOLUME:GENERATION` (its lease id) writes only while that generation is the volume's
//! current one: a takeover (a new lease with the next generation) refuses the old
//! holder's writes from then on with `EPERM`.
//!
//! The check is one atomic load per write. The current generation of each fenced volume is
//! kept in memory and follows the store through a watch on the generation keys, so a
//! takeover through any server sharing the store fences here within the watch's delivery
//! time; a write already past the check when the takeover commits may still land (the
//! window is that delivery time, milliseconds on one machine).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use strata_control::ControlPlane;
use tokio_util::sync::CancellationToken;

/// Where the control plane keeps each volume's generation (see `strata-control` keys).
const GENERATION_PREFIX: &[u8] = b"ctl/gen/";

/// The current generation of every volume opened fenced, kept current by [`Fences::follow`].
#[derive(Debug)]
pub struct Fences {
    plane: Arc<ControlPlane>,
    current: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Fences {
    pub fn new(plane: Arc<ControlPlane>) -> Arc<Self> {
        Arc::new(Self {
            plane,
            current: Mutex::new(HashMap::new()),
        })
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

    fn observe(&self, volume: &str, generation: u64) {
        if let Some(cell) = self.current.lock().get(volume) {
            cell.fetch_max(generation, Ordering::SeqCst);
        }
    }

    /// Follows generation changes in the store until `stop` (a blocking loop: run it on its
    /// own thread). If the store cannot watch, every fenced volume is re-read each second.
    pub fn follow(self: Arc<Self>, stop: CancellationToken) {
        let watch = self.plane.store().watch_prefix(GENERATION_PREFIX);
        if let Err(err) = &watch {
            tracing::warn!("generation watch unavailable ({err}); polling every second");
        }
        while !stop.is_cancelled() {
            match &watch {
                Ok(watch) => {
                    if let Some(event) = watch.recv_timeout(Duration::from_millis(200)) {
                        let volume = String::from_utf8_lossy(&event.key[GENERATION_PREFIX.len()..])
                            .into_owned();
                        if let Some(generation) = std::str::from_utf8(&event.value)
                            .ok()
                            .and_then(|text| text.parse().ok())
                        {
                            self.observe(&volume, generation);
                        }
                    }
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_secs(1));
                    let volumes: Vec<String> = self.current.lock().keys().cloned().collect();
                    for volume in volumes {
                        if let Ok(generation) = self.plane.generation(&volume) {
                            self.observe(&volume, generation);
                        }
                    }
                }
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
