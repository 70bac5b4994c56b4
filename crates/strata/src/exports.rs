//! Glue between the NBD server and the engine: every volume is an export of the same name.

use std::io;
use std::sync::Arc;
use strata_engine::{Engine, VolumeHandle};
use strata_nbd::{ClientInfo, Export, ExportProvider};

/// Serves the engine's volumes as NBD exports.
#[derive(Debug)]
pub struct EngineExports {
    pub engine: Arc<Engine>,
}

impl ExportProvider for EngineExports {
    fn list(&self, _client: &ClientInfo) -> Vec<String> {
        self.engine
            .list_volumes()
            .into_iter()
            .map(|info| info.name)
            .collect()
    }

    fn open(&self, name: &str, _client: &ClientInfo) -> Option<Arc<dyn Export>> {
        let handle = self.engine.open_volume(name).ok()?;
        Some(Arc::new(VolumeExport { handle }))
    }
}

/// One open volume behind an NBD connection.
#[derive(Debug)]
struct VolumeExport {
    handle: VolumeHandle,
}

impl Export for VolumeExport {
    fn size_bytes(&self) -> u64 {
        self.handle.size_bytes()
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        Ok(self.handle.read(offset, buf)?)
    }

    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        Ok(self.handle.write(offset, data, fua)?)
    }

    fn flush(&self) -> io::Result<()> {
        Ok(self.handle.flush()?)
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        Ok(self.handle.trim(offset, len)?)
    }

    fn write_zeroes(&self, offset: u64, len: u64, fua: bool, _no_hole: bool) -> io::Result<()> {
        Ok(self.handle.write_zeroes(offset, len, fua)?)
    }
}
