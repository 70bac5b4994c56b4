//! Partitioned volumes on the data path. A volume whose partitions live on several servers
//! (a partition map in the control plane) is served under its plain name by every server
//! of the cluster: [`PartitionedExport`] cuts each request at partition boundaries, serves
//! the ranges this server owns from its own engine volume of the same name, and forwards
//! the others to their owners over pooled NBD connections to the owner's internal export
//! `VOLUME@part` (or `VOLUME:GENERATION@part` when opened fenced). Offsets are the same on
//! every server: each owner's backing volume is thin and full-size, and only its own
//! partitions' extents are ever written there.
//!
//! FLUSH goes to the local volume and to every owner written through this server since its
//! last flush (one dirty flag per owner, shared by all connections, so a flush on one
//! connection covers writes acknowledged on another, as `NBD_FLAG_CAN_MULTI_CONN` promises).
//! FUA is forwarded with the write. A failed forward fails that request only.

use crate::exports::VolumeExport;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_control::{ControlPlane, PartitionMap};
use strata_nbd::pool::forwarded_io_error;
use strata_nbd::{ClientPool, Export, PoolConfig};

/// Suffix of the internal export an owner serves its partitions under. Volume names are
/// `[A-Za-z0-9._-]`, so no user volume can collide with it.
pub const PARTITION_EXPORT_SUFFIX: &str = "@part";

/// Largest piece a forwarded TRIM or WRITE_ZEROES carries (the client sends u32 lengths).
const MAX_FORWARDED_RANGE_BYTES: u64 = 1 << 30;

/// One owner reached over NBD.
#[derive(Debug)]
pub struct Remote {
    pool: ClientPool,
    /// Written through this server since the last flush reached it.
    dirty: AtomicBool,
}

/// The pools to every owner this server forwards to, shared by all its NBD connections.
#[derive(Debug)]
pub struct Forwarder {
    pub server_id: String,
    runtime: tokio::runtime::Handle,
    /// By (owner, export, map creation time): a volume deleted and created again under the
    /// same name gets new connections, never ones opened against the old map.
    remotes: Mutex<HashMap<(String, String, u64), Arc<Remote>>>,
    config: PoolConfig,
}

impl Forwarder {
    pub fn new(server_id: impl Into<String>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            server_id: server_id.into(),
            runtime,
            remotes: Mutex::new(HashMap::new()),
            config: PoolConfig::default(),
        }
    }

    /// The pool to `export` on `server`, pointed at `address` (which may have changed since
    /// the pool was made: a restarted server registers its new address).
    fn remote(&self, server: &str, address: &str, export: &str, map_ns: u64) -> Arc<Remote> {
        let mut remotes = self.remotes.lock();
        let remote = remotes
            .entry((server.to_owned(), export.to_owned(), map_ns))
            .or_insert_with(|| {
                Arc::new(Remote {
                    pool: ClientPool::new(address, export, self.config),
                    dirty: AtomicBool::new(false),
                })
            });
        remote.pool.set_address(address);
        Arc::clone(remote)
    }

    /// The export of a ready map: local partitions from `local`, the rest forwarded. `None`
    /// (with the reason logged) when an owner is unknown or this server lacks its backing.
    pub fn open(
        &self,
        plane: &ControlPlane,
        map: &PartitionMap,
        generation: Option<u64>,
        local: Option<VolumeExport>,
    ) -> Option<PartitionedExport> {
        let servers = match plane.list_servers() {
            Ok(servers) => servers,
            Err(err) => {
                tracing::warn!("NBD open of {}: cannot list servers: {err}", map.volume);
                return None;
            }
        };
        let export = match generation {
            Some(generation) => format!("{}:{generation}{PARTITION_EXPORT_SUFFIX}", map.volume),
            None => format!("{}{PARTITION_EXPORT_SUFFIX}", map.volume),
        };
        let mut targets: Vec<Target> = Vec::new();
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        let mut local = local;
        let mut routes = Vec::with_capacity(map.partitions.len());
        for partition in &map.partitions {
            let owner = partition.server.as_str();
            let target = match index_of.get(owner) {
                Some(&index) => index,
                None => {
                    let target = if owner == self.server_id {
                        let Some(local) = local.take() else {
                            tracing::warn!(
                                "NBD open of {}: this server owns partition {} but has no \
                                 backing volume",
                                map.volume,
                                partition.index
                            );
                            return None;
                        };
                        Target::Local(local)
                    } else {
                        let Some(status) = servers.iter().find(|s| s.spec.id == owner) else {
                            tracing::warn!(
                                "NBD open of {}: owner {owner} is not registered",
                                map.volume
                            );
                            return None;
                        };
                        Target::Remote(self.remote(
                            owner,
                            &status.spec.address,
                            &export,
                            map.created_at_ns,
                        ))
                    };
                    targets.push(target);
                    index_of.insert(owner, targets.len() - 1);
                    targets.len() - 1
                }
            };
            routes.push(Route {
                start: partition.start_bytes,
                end: partition.end_bytes(),
                target,
            });
        }
        Some(PartitionedExport {
            size_bytes: map.size_bytes,
            routes,
            targets,
            runtime: self.runtime.clone(),
        })
    }
}

#[derive(Debug)]
enum Target {
    Local(VolumeExport),
    Remote(Arc<Remote>),
}

/// One partition: `[start, end)` served by `targets[target]`.
#[derive(Debug, Clone, Copy)]
struct Route {
    start: u64,
    end: u64,
    target: usize,
}

/// A partitioned volume as one NBD export.
#[derive(Debug)]
pub struct PartitionedExport {
    size_bytes: u64,
    routes: Vec<Route>,
    targets: Vec<Target>,
    runtime: tokio::runtime::Handle,
}

impl PartitionedExport {
    /// The pieces of `[offset, offset + len)`: (target, piece offset, piece length), in
    /// offset order. The NBD server has checked the range lies inside the export.
    fn pieces(&self, offset: u64, len: u64) -> Vec<(usize, u64, u64)> {
        let end = offset.saturating_add(len).min(self.size_bytes);
        let first = self.routes.partition_point(|r| r.end <= offset);
        self.routes[first..]
            .iter()
            .take_while(|r| r.start < end)
            .map(|r| {
                let start = offset.max(r.start);
                (r.target, start, end.min(r.end) - start)
            })
            .collect()
    }

    fn forward<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, strata_nbd::NbdError>>,
    ) -> io::Result<T> {
        self.runtime.block_on(call).map_err(forwarded_io_error)
    }

    /// Runs a range command (TRIM, WRITE_ZEROES) on each piece, in chunks a forwarded
    /// request can carry.
    fn ranged(
        &self,
        offset: u64,
        len: u64,
        local: impl Fn(&VolumeExport, u64, u64) -> io::Result<()>,
        remote: impl Fn(&ClientPool, u64, u32) -> io::Result<()>,
    ) -> io::Result<()> {
        for (target, start, len) in self.pieces(offset, len) {
            match &self.targets[target] {
                Target::Local(volume) => local(volume, start, len)?,
                Target::Remote(owner) => {
                    let mut done = 0;
                    while done < len {
                        let chunk = (len - done).min(MAX_FORWARDED_RANGE_BYTES);
                        // The chunk is at most 1 GiB, so it fits the u32 length.
                        remote(&owner.pool, start + done, chunk as u32)?;
                        done += chunk;
                    }
                    owner.dirty.store(true, Ordering::SeqCst);
                }
            }
        }
        Ok(())
    }
}

impl Export for PartitionedExport {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        for (target, start, len) in self.pieces(offset, buf.len() as u64) {
            let at = (start - offset) as usize;
            let piece = &mut buf[at..at + len as usize];
            match &self.targets[target] {
                Target::Local(volume) => volume.read(start, piece)?,
                Target::Remote(owner) => self.forward(owner.pool.read(start, piece))?,
            }
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        for (target, start, len) in self.pieces(offset, data.len() as u64) {
            let at = (start - offset) as usize;
            let piece = &data[at..at + len as usize];
            match &self.targets[target] {
                Target::Local(volume) => volume.write(start, piece, fua)?,
                Target::Remote(owner) => {
                    self.forward(owner.pool.write(start, piece, fua))?;
                    // Marked only once the owner has the data: a flush that started before
                    // this write completed need not cover it, a later one must.
                    owner.dirty.store(true, Ordering::SeqCst);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        for target in &self.targets {
            match target {
                Target::Local(volume) => volume.flush()?,
                Target::Remote(owner) => {
                    if owner.dirty.swap(false, Ordering::SeqCst)
                        && let Err(err) = self.forward(owner.pool.flush())
                    {
                        owner.dirty.store(true, Ordering::SeqCst);
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        self.ranged(
            offset,
            len,
            |volume, start, len| volume.trim(start, len),
            |pool, start, len| self.forward(pool.trim(start, len)),
        )
    }

    fn write_zeroes(&self, offset: u64, len: u64, fua: bool, no_hole: bool) -> io::Result<()> {
        self.ranged(
            offset,
            len,
            |volume, start, len| volume.write_zeroes(start, len, fua, no_hole),
            |pool, start, len| self.forward(pool.write_zeroes(start, len, fua, no_hole)),
        )
    }
}
