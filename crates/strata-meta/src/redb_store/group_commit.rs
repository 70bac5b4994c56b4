//! Group commit for [`RedbStore`]: writers queue a [`Job`]; whichever writer finds no batch
//! in flight becomes the leader, runs every queued job in one redb write transaction, in
//! queue order, commits once (one fsync) and hands each writer its own result.
//!
//! Each job is atomic on its own: a job checks everything it needs (comparisons, a live
//! lease) before it writes, so a job that answers "no" or `LeaseNotFound` leaves nothing
//! behind and does not disturb its neighbours. A storage failure fails the whole batch and
//! every job in it, as a failed commit would have failed each of them alone.

use super::{KEY_LEASE, LEASES, TABLE};
use super::{RedbStore, Tables, WriteCtx, WriterState, redb_error};
use crate::lease_table::lease_not_found;
use crate::{Compare, LeaseId, MetaError, MetaErrorKind, Op, Result, WatchEvent};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// One write, as data so the leader can run it for its owner.
#[derive(Debug)]
pub(super) enum Job {
    /// Only the expiry sweep every batch starts with (also creates the tables at open).
    Sweep,
    Apply(Vec<Op>),
    Transact(Vec<Compare>, Vec<Op>),
    Grant {
        ttl_ns: u64,
        now_ns: u64,
    },
    KeepAlive {
        lease: LeaseId,
        now_ns: u64,
    },
    Revoke(LeaseId),
    PutWithLease {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: LeaseId,
    },
}

/// What a job answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    Done,
    Applied(bool),
    Lease(LeaseId),
}

type Slot = Arc<Mutex<Option<Result<Output>>>>;

struct Pending {
    op: &'static str,
    job: Job,
    slot: Slot,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    leader_active: bool,
}

/// The queue of writes waiting for the next batch.
#[derive(Default)]
pub(super) struct GroupQueue {
    queue: Mutex<Queue>,
    /// Signalled when a batch finishes: results are ready and leadership is free.
    batch_done: Condvar,
}

/// A copy of a batch-wide failure for each job of the batch.
fn copy_error(err: &MetaError, op: &'static str) -> MetaError {
    MetaError::new(err.kind, op, err.to_string())
}

fn run_job(ctx: &mut WriteCtx<'_, '_>, job: &Job) -> Result<Output> {
    match job {
        Job::Sweep => Ok(Output::Done),
        Job::Apply(ops) => ctx.apply(ops).map(|()| Output::Done),
        Job::Transact(when, then) => {
            for cmp in when {
                if !ctx.matches(cmp)? {
                    return Ok(Output::Applied(false));
                }
            }
            ctx.apply(then)?;
            Ok(Output::Applied(true))
        }
        Job::Grant { ttl_ns, now_ns } => {
            let (lease, expires_at_ns) = ctx.leases.grant(*ttl_ns, *now_ns);
            ctx.tables
                .leases
                .insert(lease.0, (*ttl_ns, expires_at_ns))
                .map_err(|e| redb_error(ctx.op, e))?;
            Ok(Output::Lease(lease))
        }
        Job::KeepAlive { lease, now_ns } => {
            let times = ctx.leases.keep_alive(*lease, *now_ns)?;
            ctx.tables
                .leases
                .insert(lease.0, times)
                .map_err(|e| redb_error(ctx.op, e))?;
            Ok(Output::Done)
        }
        Job::Revoke(lease) => {
            let keys = ctx.leases.revoke(*lease);
            ctx.drop_lease(*lease, keys).map(|()| Output::Done)
        }
        Job::PutWithLease { key, value, lease } => {
            if !ctx.leases.is_live(*lease) {
                return Err(lease_not_found(ctx.op, *lease));
            }
            ctx.apply(&[Op::put(key.as_slice(), value.as_slice())])?;
            ctx.leases.attach(key, *lease);
            ctx.tables
                .key_lease
                .insert(key.as_slice(), lease.0)
                .map_err(|e| redb_error(ctx.op, e))?;
            Ok(Output::Done)
        }
    }
}

impl RedbStore {
    /// Queues `job` and blocks until a batch containing it is durable (or failed).
    pub(super) fn submit(&self, op: &'static str, job: Job) -> Result<Output> {
        let slot: Slot = Arc::new(Mutex::new(None));
        let mut queue = self.group.queue.lock();
        queue.pending.push(Pending {
            op,
            job,
            slot: slot.clone(),
        });
        loop {
            if let Some(result) = slot.lock().take() {
                return result;
            }
            if !queue.leader_active {
                queue.leader_active = true;
                let batch = std::mem::take(&mut queue.pending);
                drop(queue);
                self.run_batch(batch);
                queue = self.group.queue.lock();
                queue.leader_active = false;
                self.group.batch_done.notify_all();
                continue;
            }
            self.group.batch_done.wait(&mut queue);
        }
    }

    /// Runs a batch in one transaction and fills every job's slot.
    fn run_batch(&self, batch: Vec<Pending>) {
        let now_ns = self.clock.now_ns();
        let mut writer = self.writer.lock();
        match self.run_batch_in(&mut writer, &batch, now_ns) {
            Ok((results, events, revision)) => {
                writer.revision = revision;
                self.next_expiry_ns
                    .store(writer.leases.earliest_expiry_ns(), Ordering::SeqCst);
                // Publishing under the writer lock keeps every watch in commit order.
                self.watches.publish(&events);
                drop(writer);
                for (pending, result) in batch.iter().zip(results) {
                    *pending.slot.lock() = Some(result);
                }
            }
            Err(err) => {
                drop(writer);
                // The lease mirror may have run ahead of the aborted transaction.
                let reload = self.reload_leases(err.op);
                for pending in &batch {
                    let result = match &reload {
                        Ok(()) => Err(copy_error(&err, pending.op)),
                        Err(reload_err) => Err(copy_error(reload_err, pending.op)),
                    };
                    *pending.slot.lock() = Some(result);
                }
            }
        }
    }

    /// Per-job results, the events to publish and the last revision used.
    fn run_batch_in(
        &self,
        writer: &mut WriterState,
        batch: &[Pending],
        now_ns: u64,
    ) -> Result<(Vec<Result<Output>>, Vec<WatchEvent>, u64)> {
        let op = batch.first().map_or("commit", |p| p.op);
        let mut revision = writer.revision;
        let txn = self.db.begin_write().map_err(|e| redb_error(op, e))?;
        let mut results = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        {
            let tables = Tables {
                kv: txn.open_table(TABLE).map_err(|e| redb_error(op, e))?,
                leases: txn.open_table(LEASES).map_err(|e| redb_error(op, e))?,
                key_lease: txn.open_table(KEY_LEASE).map_err(|e| redb_error(op, e))?,
            };
            let mut ctx = WriteCtx {
                op,
                tables,
                leases: &mut writer.leases,
                revision: revision + 1,
                events: Vec::new(),
            };
            for (lease, keys) in ctx.leases.take_expired(now_ns) {
                ctx.drop_lease(lease, keys)?;
            }
            for pending in batch {
                if !ctx.events.is_empty() {
                    revision += 1;
                    events.append(&mut ctx.events);
                }
                ctx.op = pending.op;
                ctx.revision = revision + 1;
                match run_job(&mut ctx, &pending.job) {
                    Ok(output) => results.push(Ok(output)),
                    // Refused before writing anything: only this job fails.
                    Err(err) if err.kind == MetaErrorKind::LeaseNotFound => results.push(Err(err)),
                    Err(err) => return Err(err),
                }
            }
            if !ctx.events.is_empty() {
                revision += 1;
                events.append(&mut ctx.events);
            }
        }
        txn.commit().map_err(|e| redb_error(op, e))?;
        Ok((results, events, revision))
    }
}
