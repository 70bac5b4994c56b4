//! Glue between the NBD server and the engine: every volume is an export of the same name,
//! and `VOLUME:GENERATION` (a lease id) is the same volume opened fenced: its writes stop
//! the moment a newer lease takes the volume (see `fence`). With `nbd_access = "lease"`
//! only fenced opens of live leases are served, and the export list is empty.

use crate::config::NbdAccess;
use crate::fence::{Fence, Fences};
use std::io;
use std::sync::Arc;
use strata_engine::{Engine, VolumeHandle};
use strata_nbd::{ClientInfo, Export, ExportProvider};

/// Serves the engine's volumes as NBD exports.
#[derive(Debug)]
pub struct EngineExports {
    pub engine: Arc<Engine>,
    pub fences: Arc<Fences>,
    pub access: NbdAccess,
}

/// `db01:3` → `("db01", 3)`; plain volume names (which cannot contain ':') → `None`.
fn lease_export(name: &str) -> Option<(&str, u64)> {
    let (volume, generation) = name.rsplit_once(':')?;
    Some((volume, generation.parse().ok()?))
}

impl EngineExports {
    fn open_fenced(&self, lease_id: &str, volume: &str, generation: u64) -> Option<Fence> {
        let plane = self.fences.plane();
        if let Err(err) = plane.lease(lease_id) {
            tracing::info!("NBD open of {lease_id} refused: {err}");
            return None;
        }
        let current = self.fences.cell(volume).ok()?;
        let fence = Fence {
            generation,
            current,
        };
        fence.check().ok()?;
        Some(fence)
    }
}

impl ExportProvider for EngineExports {
    fn list(&self, _client: &ClientInfo) -> Vec<String> {
        let volumes = self.engine.list_volumes().into_iter().map(|info| info.name);
        match self.access {
            NbdAccess::Open => volumes.collect(),
            // Lease ids are capabilities handed out by the API (behind its token): listing
            // them would hand them to anyone, and plain names cannot be opened.
            NbdAccess::Lease => Vec::new(),
        }
    }

    fn open(&self, name: &str, _client: &ClientInfo) -> Option<Arc<dyn Export>> {
        let (volume, fence) = match lease_export(name) {
            Some((volume, generation)) => {
                (volume, Some(self.open_fenced(name, volume, generation)?))
            }
            None if self.access == NbdAccess::Open => (name, None),
            None => {
                tracing::info!(
                    "NBD open of {name:?} refused: nbd_access = \"lease\" needs VOLUME:GENERATION"
                );
                return None;
            }
        };
        let handle = self.engine.open_volume(volume).ok()?;
        Some(Arc::new(VolumeExport { handle, fence }))
    }
}

/// One open volume behind an NBD connection.
#[derive(Debug)]
struct VolumeExport {
    handle: VolumeHandle,
    /// Present when opened by lease id: every change is checked against it first.
    fence: Option<Fence>,
}

impl VolumeExport {
    fn fenced(&self) -> io::Result<()> {
        self.fence.as_ref().map_or(Ok(()), Fence::check)
    }
}

impl Export for VolumeExport {
    fn size_bytes(&self) -> u64 {
        self.handle.size_bytes()
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        Ok(self.handle.read(offset, buf)?)
    }

    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        self.fenced()?;
        Ok(self.handle.write(offset, data, fua)?)
    }

    fn flush(&self) -> io::Result<()> {
        self.fenced()?;
        Ok(self.handle.flush()?)
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        self.fenced()?;
        Ok(self.handle.trim(offset, len)?)
    }

    fn write_zeroes(&self, offset: u64, len: u64, fua: bool, _no_hole: bool) -> io::Result<()> {
        self.fenced()?;
        Ok(self.handle.write_zeroes(offset, len, fua)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_export_names_parse_and_volume_names_do_not() {
        assert_eq!(lease_export("db01:3"), Some(("db01", 3)));
        assert_eq!(lease_export("db01"), None);
        assert_eq!(lease_export("db01:x"), None);
        assert_eq!(lease_export(":7"), Some(("", 7)));
    }
}
