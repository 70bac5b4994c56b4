//! An in-process API server over a real engine on temp files (small tiers, emulation
//! off), and a blocking HTTP client for the tests.

#![allow(
    dead_code,
    reason = "each test file uses a different subset of the helpers"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use strata_core::TierKind;
use strata_engine::{Engine, EngineConfig, TierConfig};

pub struct TestServer {
    pub engine: Arc<Engine>,
    pub addr: SocketAddr,
    agent: ureq::Agent,
    token: Option<String>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts the standard error format with `status` and `code`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "body: {}", self.body);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without message: {}",
            self.body
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{}", self.body);
    }
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with_token(None)
    }

    /// With `Some(token)`, the server requires it and the client sends it by default.
    pub fn start_with_token(token: Option<&str>) -> Self {
        Self::start_with(token, true)
    }

    /// A server built without a control plane: its lease routes answer 501.
    pub fn start_without_control() -> Self {
        Self::start_with(None, false)
    }

    fn start_with(token: Option<&str>, with_control: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Start from the embedded default so fields added to the config later keep
        // their defaults here.
        let mut config = EngineConfig::embedded_default(dir.path());
        config.tiers = vec![
            TierConfig::builtin(TierKind::Nvme, 8 << 20, 0.25),
            TierConfig::builtin(TierKind::Ssd, 16 << 20, 0.10),
            TierConfig::builtin(TierKind::Hdd, 32 << 20, 0.03),
        ];
        config.emulation = false;
        let engine = Engine::open(config).expect("open engine");
        let mut state = strata_api::ApiState::new(engine.clone(), "test-1")
            .with_token(token)
            .with_nbd_stats(std::sync::Arc::new(strata_nbd::ServerStats::default()));
        if with_control {
            // The control plane over the engine's own store, as a single `strata serve` runs.
            let plane = Arc::new(strata_control::ControlPlane::new(
                engine.store(),
                Arc::new(strata_core::UnixClock),
                strata_control::ControlConfig::default(),
            ));
            let spec =
                strata_api::registration(&engine, "test-1", "127.0.0.1:10809".into(), "-".into());
            plane
                .register_server(&spec)
                .expect("register the test server");
            state = state.with_control(plane);
        }
        let token = token.map(str::to_owned);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(strata_api::serve(listener, state, async move {
            stopped.await.ok();
        }));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        TestServer {
            engine,
            addr,
            agent,
            token,
            _stop: stop,
            _runtime: runtime,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, None)
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, None, None)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request(
            "POST",
            path,
            Some("application/json"),
            Some(body.to_string().as_bytes()),
        )
    }

    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request(
            "PUT",
            path,
            Some("application/json"),
            Some(body.to_string().as_bytes()),
        )
    }

    /// Any method, content type and raw body; sends the configured token if any.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        self.request_with_token(method, path, content_type, body, self.token.as_deref())
    }

    pub fn request_with_token(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        token: Option<&str>,
    ) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let resp = match body {
            Some(body) => self.agent.run(req.body(body.to_vec()).expect("request")),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut resp = resp.expect("HTTP exchange");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("reply body");
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub fn create_volume(&self, name: &str, size: &str) -> serde_json::Value {
        let reply = self.post_json(
            "/v1/volumes",
            &serde_json::json!({"name": name, "size": size}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }
}
