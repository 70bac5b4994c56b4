//! The shared backend: an etcd v3 cluster through the `etcd-client` crate.
//!
//! `etcd-client` is async; [`EtcdStore`] owns a small tokio runtime and blocks on it, so the
//! [`MetaStore`] trait stays blocking. Every call has a deadline and maps a transport failure
//! to [`MetaErrorKind::Unavailable`]. Compare-and-swap and [`MetaStore::transact`] are etcd
//! transactions (a value comparison, or create revision 0 for "absent"); batches become one
//! transaction too, with only the last operation per key kept because etcd refuses a key
//! twice in one transaction. A batch is limited by the server's `--max-txn-ops`.

use crate::{
    Compare, LeaseId, MetaError, MetaErrorKind, MetaStore, Op, Result, Watch, WatchEvent,
    WatchEventKind,
};
use etcd_client::{
    Client, CompareOp, ConnectOptions, EventType, GetOptions, PutOptions, Txn, TxnOp, WatchOptions,
};
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

/// How long one store call may take before it fails as unavailable.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`MetaStore`] backed by an etcd cluster.
pub struct EtcdStore {
    runtime: tokio::runtime::Runtime,
    client: Client,
    endpoints: Vec<String>,
    call_timeout: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// gRPC status codes this backend tells apart (numbers of the gRPC spec).
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

/// Maps an `etcd-client` error to a [`MetaError`] of the right kind.
fn etcd_error(op: &'static str, err: etcd_client::Error) -> MetaError {
    let kind = match &err {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
            MetaErrorKind::Unavailable
        }
        etcd_client::Error::GRpcStatus(status) if status.message().contains("lease not found") => {
            MetaErrorKind::LeaseNotFound
        }
        etcd_client::Error::LeaseKeepAliveError(message) if message.contains("lease not found") => {
            MetaErrorKind::LeaseNotFound
        }
        etcd_client::Error::GRpcStatus(status)
            if matches!(
                i32::from(status.code()),
                GRPC_UNAVAILABLE | GRPC_DEADLINE_EXCEEDED
            ) =>
        {
            MetaErrorKind::Unavailable
        }
        _ => MetaErrorKind::Backend,
    };
    MetaError::new(kind, op, String::new()).with_source(err)
}

fn timed_out(op: &'static str, limit: Duration) -> MetaError {
    MetaError::new(
        MetaErrorKind::Unavailable,
        op,
        format!("etcd did not answer within {} ms", limit.as_millis()),
    )
}

/// Keeps only the last operation on each key, in their original order.
fn last_op_per_key(batch: &[Op]) -> Vec<&Op> {
    let mut seen = HashSet::new();
    let mut kept: Vec<&Op> = batch
        .iter()
        .rev()
        .filter(|op| seen.insert(op.key()))
        .collect();
    kept.reverse();
    kept
}

fn txn_op(op: &Op) -> TxnOp {
    match op {
        Op::Put { key, value } => TxnOp::put(key.clone(), value.clone(), None),
        Op::Delete { key } => TxnOp::delete(key.clone(), None),
    }
}

fn txn_compare(cmp: &Compare) -> etcd_client::Compare {
    match &cmp.expected {
        Some(value) => {
            etcd_client::Compare::value(cmp.key.clone(), CompareOp::Equal, value.clone())
        }
        None => etcd_client::Compare::create_revision(cmp.key.clone(), CompareOp::Equal, 0),
    }
}

/// A whole-range option for `prefix` (all keys when it is empty).
fn prefix_get(prefix: &[u8]) -> GetOptions {
    if prefix.is_empty() {
        GetOptions::new().with_all_keys()
    } else {
        GetOptions::new().with_prefix()
    }
}

fn revision_of(header: Option<&etcd_client::ResponseHeader>) -> u64 {
    header
        .map(|h| u64::try_from(h.revision()).unwrap_or(0))
        .unwrap_or(0)
}

impl EtcdStore {
    /// Connects to the cluster at `endpoints` (`http://host:port`) and checks it answers.
    pub fn connect(endpoints: &[String]) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-etcd")
            .enable_all()
            .build()
            .map_err(|e| {
                MetaError::new(MetaErrorKind::Io, "connect", "starting the etcd runtime")
                    .with_source(e)
            })?;
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(DEFAULT_CALL_TIMEOUT);
        let client = runtime
            .block_on(async {
                tokio::time::timeout(
                    DEFAULT_CALL_TIMEOUT,
                    Client::connect(endpoints, Some(options)),
                )
                .await
            })
            .map_err(|_| timed_out("connect", DEFAULT_CALL_TIMEOUT))?
            .map_err(|e| {
                let mut err = etcd_error("connect", e);
                err.message = endpoints.join(",");
                err
            })?;
        let store = Self {
            runtime,
            client,
            endpoints: endpoints.to_vec(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
        };
        store.current_revision("connect")?;
        Ok(store)
    }

    /// The endpoints this store talks to.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Runs one async call on the store's runtime with the call deadline.
    fn call<T, F>(&self, op: &'static str, f: impl FnOnce(Client) -> F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let future = f(self.client.clone());
        self.runtime
            .block_on(async { tokio::time::timeout(self.call_timeout, future).await })
            .map_err(|_| timed_out(op, self.call_timeout))?
            .map_err(|e| etcd_error(op, e))
    }

    /// The store's revision now (a cheap count-only read of the whole keyspace).
    fn current_revision(&self, op: &'static str) -> Result<u64> {
        let options = GetOptions::new().with_all_keys().with_count_only();
        let response = self.call(op, |mut c| async move {
            c.get(b"".to_vec(), Some(options)).await
        })?;
        Ok(revision_of(response.header()))
    }

    fn txn(&self, op: &'static str, when: &[Compare], then: &[Op]) -> Result<bool> {
        let txn = Txn::new()
            .when(when.iter().map(txn_compare).collect::<Vec<_>>())
            .and_then(
                last_op_per_key(then)
                    .into_iter()
                    .map(txn_op)
                    .collect::<Vec<_>>(),
            );
        let response = self.call(op, |mut c| async move { c.txn(txn).await })?;
        Ok(response.succeeded())
    }
}

impl MetaStore for EtcdStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        let response = self.call("get", |mut c| async move { c.get(key, None).await })?;
        Ok(response.kvs().first().map(|kv| kv.value().to_vec()))
    }

    fn get_guarded(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        let options = GetOptions::new().with_serializable();
        let response = self.call("get_guarded", |mut c| async move {
            c.get(key, Some(options)).await
        })?;
        Ok(response.kvs().first().map(|kv| kv.value().to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.call("put", |mut c| async move { c.put(key, value, None).await })?;
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        let key = key.to_vec();
        self.call("delete", |mut c| async move { c.delete(key, None).await })?;
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        let when = [Compare {
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
        }];
        let then = [match new {
            Some(value) => Op::put(key, value),
            None => Op::delete(key),
        }];
        self.txn("compare_and_swap", &when, &then)
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let options = prefix_get(prefix);
        let key = prefix.to_vec();
        let mut response = self.call("list_prefix", |mut c| async move {
            c.get(key, Some(options)).await
        })?;
        // etcd returns ranges in ascending key order.
        Ok(response
            .take_kvs()
            .into_iter()
            .map(etcd_client::KeyValue::into_key_value)
            .collect())
    }

    fn commit(&self, batch: &[Op]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.txn("commit", &[], batch)?;
        Ok(())
    }

    fn transact(&self, when: &[Compare], then: &[Op]) -> Result<bool> {
        self.txn("transact", when, then)
    }

    fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        // Starting at the revision after the current one delivers exactly the changes
        // committed after this call, however long the watch takes to be created.
        let start = i64::try_from(self.current_revision("watch_prefix")? + 1).unwrap_or(i64::MAX);
        let mut options = WatchOptions::new().with_start_revision(start);
        options = if prefix.is_empty() {
            options.with_all_keys()
        } else {
            options.with_prefix()
        };
        let key = prefix.to_vec();
        let (watcher, mut stream) = self.call("watch_prefix", |mut c| async move {
            c.watch(key, Some(options)).await
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        let feeder = self.runtime.spawn(async move {
            // The watcher must live as long as the stream, or etcd cancels the watch.
            let _watcher = watcher;
            while let Ok(Some(response)) = stream.message().await {
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    let kind = match event.event_type() {
                        EventType::Put => WatchEventKind::Put,
                        EventType::Delete => WatchEventKind::Delete,
                    };
                    let value = match kind {
                        WatchEventKind::Put => kv.value().to_vec(),
                        WatchEventKind::Delete => Vec::new(),
                    };
                    let event = WatchEvent {
                        kind,
                        key: kv.key().to_vec(),
                        value,
                        revision: u64::try_from(kv.mod_revision()).unwrap_or(0),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Watch::new(rx, Some(Box::new(AbortOnDrop(feeder)))))
    }

    fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        // etcd counts whole seconds; round up so a lease never ends early.
        let ttl_s =
            i64::try_from(ttl.as_nanos().div_ceil(1_000_000_000).max(1)).unwrap_or(i64::MAX);
        let response = self.call("grant_lease", |mut c| async move {
            c.lease_grant(ttl_s, None).await
        })?;
        Ok(LeaseId(response.id()))
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        // Opening the keep-alive stream sends one keep-alive and checks its answer.
        self.call("keep_alive", |mut c| async move {
            c.lease_keep_alive(lease.0).await
        })?;
        Ok(())
    }

    fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        match self.call("revoke_lease", |mut c| async move {
            c.lease_revoke(lease.0).await
        }) {
            Ok(_) => Ok(()),
            Err(err) if err.kind == MetaErrorKind::LeaseNotFound => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn put_with_lease(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<()> {
        let (key, value) = (key.to_vec(), value.to_vec());
        let options = PutOptions::new().with_lease(lease.0);
        self.call("put_with_lease", |mut c| async move {
            c.put(key, value, Some(options)).await
        })?;
        Ok(())
    }
}

/// Stops a watch's feeding task when the [`Watch`] is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
