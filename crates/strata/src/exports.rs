//! Glue between the NBD server and the engine: every volume is an export of the same name,
//! and `VOLUME:GENERATION` (a lease id) is the same volume opened fenced: its writes stop
//! the moment a newer lease takes the volume (see `fence`). With `nbd_access = "lease"`
//! only fenced opens of live leases are served, and the export list is empty.
//!
//! A partitioned volume (one with a partition map in the control plane) opens as a
//! [`crate::forward::PartitionedExport`] that forwards remote partitions to their owners (see `forward`);
//! owners serve their share under the unlisted internal name `VOLUME@part`
//! (`VOLUME:GENERATION@part` fenced), which refuses requests outside the ranges they own.

use crate::config::NbdAccess;
use crate::fence::{Fence, Fences};
use crate::forward::{Forwarder, PARTITION_EXPORT_SUFFIX};
use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use strata_control::{PartitionMap, PartitionMapState};
use strata_engine::{Engine, VolumeHandle};
use strata_nbd::{ClientInfo, Export, ExportProvider};

/// Serves the engine's volumes as NBD exports.
#[derive(Debug)]
pub struct EngineExports {
    pub engine: Arc<Engine>,
    pub fences: Arc<Fences>,
    pub access: NbdAccess,
    pub forwarder: Arc<Forwarder>,
}

/// `db01:3` → `("db01", 3)`; plain volume names (which cannot contain ':') → `None`.
fn lease_export(name: &str) -> Option<(&str, u64)> {
    let (volume, generation) = name.rsplit_once(':')?;
    Some((volume, generation.parse().ok()?))
}

/// Runs a blocking store call from the NBD handshake, which runs on the async runtime: the
/// etcd store drives its own runtime and must not be entered from a runtime thread.
fn off_runtime<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
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

    fn partition_map(&self, volume: &str) -> Option<Option<PartitionMap>> {
        match self.fences.plane().partition_map(volume) {
            Ok(map) => Some(map),
            Err(err) => {
                tracing::warn!("NBD open of {volume}: cannot read its partition map: {err}");
                None
            }
        }
    }

    /// Parses `name` into (volume, generation, fence) under the access rule.
    fn resolve<'n>(&self, name: &'n str) -> Option<(&'n str, Option<u64>, Option<Fence>)> {
        match lease_export(name) {
            Some((volume, generation)) => Some((
                volume,
                Some(generation),
                Some(self.open_fenced(name, volume, generation)?),
            )),
            None if self.access == NbdAccess::Open => Some((name, None, None)),
            None => {
                tracing::info!(
                    "NBD open of {name:?} refused: nbd_access = \"lease\" needs VOLUME:GENERATION"
                );
                None
            }
        }
    }

    fn local(&self, volume: &str, fence: Option<Fence>) -> Option<VolumeExport> {
        let handle = self.engine.open_volume(volume).ok()?;
        Some(VolumeExport { handle, fence })
    }

    /// The owner's side: its share of a partitioned volume, for the server forwarding to it.
    fn open_partition(&self, name: &str) -> Option<Arc<dyn Export>> {
        let (volume, _, fence) = self.resolve(name)?;
        let Some(Some(map)) = self.partition_map(volume) else {
            tracing::info!("NBD open of {name:?} refused: {volume} is not partitioned");
            return None;
        };
        let owned: Vec<(u64, u64)> = map
            .owned_by(&self.forwarder.server_id)
            .map(|p| (p.start_bytes, p.end_bytes()))
            .collect();
        if owned.is_empty() {
            tracing::info!("NBD open of {name:?} refused: no partition of {volume} is here");
            return None;
        }
        let size_bytes = self.engine.open_volume(volume).ok()?.size_bytes();
        Some(Arc::new(OwnedPartitions {
            engine: self.engine.clone(),
            volume: volume.to_owned(),
            size_bytes,
            fence,
            owned,
        }))
    }
}

impl ExportProvider for EngineExports {
    fn list(&self, _client: &ClientInfo) -> Vec<String> {
        match self.access {
            NbdAccess::Open => {
                let mut names: BTreeSet<String> = self
                    .engine
                    .list_volumes()
                    .into_iter()
                    .map(|info| info.name)
                    .collect();
                // Partitioned volumes are listed once, by every server, even those that
                // hold none of their partitions.
                match off_runtime(|| self.fences.plane().list_partition_maps()) {
                    Ok(maps) => {
                        for map in maps {
                            // A map still being created is not served, so not listed.
                            if map.state == PartitionMapState::Ready {
                                names.insert(map.volume);
                            } else {
                                names.remove(&map.volume);
                            }
                        }
                    }
                    Err(err) => tracing::warn!("NBD list: cannot read partition maps: {err}"),
                }
                names.into_iter().collect()
            }
            // Lease ids are capabilities handed out by the API (behind its token): listing
            // them would hand them to anyone, and plain names cannot be opened.
            NbdAccess::Lease => Vec::new(),
        }
    }

    fn open(&self, name: &str, _client: &ClientInfo) -> Option<Arc<dyn Export>> {
        off_runtime(|| {
            if let Some(inner) = name.strip_suffix(PARTITION_EXPORT_SUFFIX) {
                return self.open_partition(inner);
            }
            let (volume, generation, fence) = self.resolve(name)?;
            let Some(map) = self.partition_map(volume)? else {
                return Some(Arc::new(self.local(volume, fence)?) as Arc<dyn Export>);
            };
            if map.state != PartitionMapState::Ready {
                tracing::info!("NBD open of {name:?} refused: {volume} is still being created");
                return None;
            }
            let owns_some = map.owned_by(&self.forwarder.server_id).next().is_some();
            let local = if owns_some {
                Some(self.local(volume, fence)?)
            } else {
                None
            };
            let export = self
                .forwarder
                .open(self.fences.plane(), &map, generation, local)?;
            Some(Arc::new(export) as Arc<dyn Export>)
        })
    }
}

/// One open volume behind an NBD connection.
#[derive(Debug)]
pub struct VolumeExport {
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

/// An owner's partitions of a volume, served to the servers that forward to it. A request
/// outside the owned ranges is refused (`EINVAL`) rather than written where no other server
/// would ever read it. The volume is opened per request, not held: forwarding servers keep
/// their pooled connections open, and a held handle would stop the volume's delete.
#[derive(Debug)]
struct OwnedPartitions {
    engine: Arc<Engine>,
    volume: String,
    size_bytes: u64,
    fence: Option<Fence>,
    owned: Vec<(u64, u64)>,
}

impl OwnedPartitions {
    /// The volume, once the range is checked to be ours (and the fence, for changes).
    fn open(&self, offset: u64, len: u64, change: bool) -> io::Result<VolumeHandle> {
        let end = offset.saturating_add(len);
        if !self.owned.iter().any(|&(s, e)| s <= offset && end <= e) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{offset}+{len} is not inside a partition this server owns"),
            ));
        }
        if change && let Some(fence) = &self.fence {
            fence.check()?;
        }
        Ok(self.engine.open_volume(&self.volume)?)
    }
}

impl Export for OwnedPartitions {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        Ok(self
            .open(offset, buf.len() as u64, false)?
            .read(offset, buf)?)
    }

    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        Ok(self
            .open(offset, data.len() as u64, true)?
            .write(offset, data, fua)?)
    }

    fn flush(&self) -> io::Result<()> {
        if let Some(fence) = &self.fence {
            fence.check()?;
        }
        Ok(self.engine.open_volume(&self.volume)?.flush()?)
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        Ok(self.open(offset, len, true)?.trim(offset, len)?)
    }

    fn write_zeroes(&self, offset: u64, len: u64, fua: bool, _no_hole: bool) -> io::Result<()> {
        Ok(self
            .open(offset, len, true)?
            .write_zeroes(offset, len, fua)?)
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
