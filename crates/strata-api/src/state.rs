//! What every handler shares: the engine, the auth token, this server's identity and
//! addresses, the NBD server's counters, the telemetry rings, extra metric collectors and
//! the control plane, and the live workload profiler.

use crate::metrics::Collector;
use crate::telemetry::TelemetryStore;
use std::sync::Arc;
use strata_control::ControlPlane;
use strata_engine::{Engine, LiveProfiler};
use strata_nbd::ServerStats;

/// Shared by all requests; cheap to clone. Build with [`ApiState::new`] and the `with_*`
/// setters.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) engine: Arc<Engine>,
    /// Bearer token required on every route but `/healthz`; `None` disables auth.
    pub(crate) token: Option<Arc<str>>,
    pub(crate) server_id: Arc<str>,
    pub(crate) nbd_address: Option<Arc<str>>,
    pub(crate) api_address: Option<Arc<str>>,
    pub(crate) nbd_stats: Option<Arc<ServerStats>>,
    pub(crate) telemetry: Arc<TelemetryStore>,
    pub(crate) collectors: Vec<Arc<dyn Collector>>,
    /// Leases, reservations and the server registry; `None` answers those routes with 501.
    pub(crate) control: Option<Arc<ControlPlane>>,
    /// Other servers' APIs, for creating partitioned volumes; `None` keeps them local.
    pub(crate) peers: Option<Arc<dyn crate::partitions::PeerApi>>,
    /// The live workload profiler; `None` when profiling is off.
    pub(crate) profiler: Option<Arc<LiveProfiler>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("server_id", &self.server_id)
            .field("auth", &self.token.is_some())
            .field("nbd_address", &self.nbd_address)
            .field("api_address", &self.api_address)
            .field("collectors", &self.collectors.len())
            .field("control", &self.control.is_some())
            .finish_non_exhaustive()
    }
}

impl ApiState {
    pub fn new(engine: Arc<Engine>, server_id: impl Into<Arc<str>>) -> Self {
        Self {
            engine,
            token: None,
            server_id: server_id.into(),
            nbd_address: None,
            api_address: None,
            nbd_stats: None,
            telemetry: Arc::new(TelemetryStore::default()),
            collectors: Vec::new(),
            control: None,
            peers: None,
            profiler: None,
        }
    }

    /// Requires `Authorization: Bearer TOKEN` on every route but `/healthz`; `None` or an
    /// empty token leaves the API open.
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// The addresses clients reach this server's NBD and API listeners on, as reported by
    /// `GET /v1/servers`: NBD's `host:port` and the API's URL (`https://host:port`, or
    /// `http://`; a bare `host:port` means plain HTTP).
    pub fn with_addresses(mut self, nbd: impl Into<Arc<str>>, api: impl Into<Arc<str>>) -> Self {
        self.nbd_address = Some(nbd.into());
        self.api_address = Some(api.into());
        self
    }

    /// The NBD server's counters, exported in `/metrics` and `/v1/stats`.
    pub fn with_nbd_stats(mut self, stats: Arc<ServerStats>) -> Self {
        self.nbd_stats = Some(stats);
        self
    }

    /// Adds a component's metrics to `/metrics` (migration executor, prefetcher, control
    /// plane): the registry is this list, passed in rather than global.
    pub fn with_collector(mut self, collector: Arc<dyn Collector>) -> Self {
        self.collectors.push(collector);
        self
    }

    /// Serves leases, reservations and `GET /v1/servers` from this control plane.
    pub fn with_control(mut self, control: Arc<ControlPlane>) -> Self {
        self.control = Some(control);
        self
    }

    /// Reaches other servers' APIs to create and delete partitioned volumes' backings.
    pub fn with_peers(mut self, peers: Arc<dyn crate::partitions::PeerApi>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Serves the profiler's readings in `GET /v1/volumes/{name}/profile`, feeds it posted
    /// application types, and adds its families to `/metrics`.
    pub fn with_profiler(mut self, profiler: Arc<LiveProfiler>) -> Self {
        self.collectors
            .push(Arc::new(crate::live_profile::ProfileCollector(
                profiler.clone(),
            )));
        self.profiler = Some(profiler);
        self
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn server_id(&self) -> &str {
        &self.server_id
    }
}
