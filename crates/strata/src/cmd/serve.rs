//! `strata serve`: the daemon. Opens the engine, serves NBD (TCP and optionally a Unix
//! socket) and the REST API, prints `ready`, and on SIGTERM/SIGINT stops accepting,
//! finishes in-flight requests, makes everything durable and exits 0.

use crate::config::{FileConfig, Overrides, ServeConfig};
use crate::exports::EngineExports;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML config file; unknown keys are errors.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory for tier files and the metadata store [default: ./strata-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// NBD TCP listen address [default: 127.0.0.1:10809].
    #[arg(long)]
    nbd_listen: Option<String>,
    /// Also serve NBD on this Unix socket.
    #[arg(long)]
    nbd_socket: Option<PathBuf>,
    /// REST API and /metrics listen address [default: 127.0.0.1:7800].
    #[arg(long)]
    api_listen: Option<String>,
    /// etcd endpoints for a multi-server cluster (comma-separated).
    #[arg(long, value_delimiter = ',')]
    etcd: Option<Vec<String>>,
    /// This server's id in a cluster [default: strata-1].
    #[arg(long)]
    server_id: Option<String>,
    /// Device-model emulation of the tiers' speeds [default: on].
    #[arg(long, value_parser = ["on", "off"])]
    emulation: Option<String>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        file.resolve(Overrides {
            data_dir: self.data_dir,
            nbd_listen: self.nbd_listen,
            nbd_socket: self.nbd_socket,
            api_listen: self.api_listen,
            emulation: self.emulation.map(|e| e == "on"),
            server_id: self.server_id,
            etcd: self.etcd,
        })
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    // Read before the runtime starts: bad certificate files fail start-up, not a client.
    let tls = match &config.tls {
        Some(settings) => crate::tls::ListenerTls::load(settings)?,
        None => crate::tls::ListenerTls::PLAIN,
    };
    let peer_ca = match &config.peer_ca_file {
        Some(path) => Some(crate::api_client::read_ca_file("tls.peer_ca_file", path)?),
        None => None,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strata")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, tls, peer_ca))
}

async fn serve(
    config: ServeConfig,
    tls: crate::tls::ListenerTls,
    peer_ca: Option<crate::api_client::CaCerts>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let engine_config = strata_engine::EngineConfig {
        data_dir: config.data_dir.clone(),
        tiers: config.tiers.clone(),
        emulation: config.emulation,
        placement: config.placement.clone(),
        prefetch: config.prefetch.clone(),
    };
    let engine = tokio::task::spawn_blocking(move || strata_engine::Engine::open(engine_config))
        .await
        .context("engine start-up panicked")?
        .context("cannot open the engine")?;

    let nbd_listener = tokio::net::TcpListener::bind(config.nbd_listen)
        .await
        .with_context(|| format!("cannot listen for NBD on {}", config.nbd_listen))?;
    let api_listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen for the API on {}", config.api_listen))?;
    let unix_listener = match &config.nbd_socket {
        Some(path) => {
            // A stale socket from a killed server would make bind fail.
            if std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                std::fs::remove_file(path).ok();
            }
            Some(
                tokio::net::UnixListener::bind(path)
                    .with_context(|| format!("cannot listen on {}", path.display()))?,
            )
        }
        None => None,
    };
    let nbd_addr = nbd_listener.local_addr()?;
    let api_addr = api_listener.local_addr()?;
    // Registered with its scheme, so the other servers call this API the way it is served.
    let api_url = format!(
        "{}://{api_addr}",
        if tls.api.is_some() { "https" } else { "http" }
    );

    let control = {
        let (engine, etcd, id) = (
            engine.clone(),
            config.etcd.clone(),
            config.server_id.clone(),
        );
        let control_config = config.control.clone();
        let (nbd, api) = (nbd_addr.to_string(), api_url.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let plane = crate::control::open(&engine, &etcd, control_config)?;
            plane
                .register_server(&strata_api::registration(&engine, &id, nbd, api))
                .with_context(|| format!("cannot register server {id}"))?;
            crate::control::enforce_at_start(&plane, &engine, &id)?;
            Ok(plane)
        })
        .await
        .context("control plane start-up panicked")??
    };

    let shutdown = CancellationToken::new();
    // A blocking store call (etcd runs its own runtime), so off this one.
    let (fences, generations) = {
        let control = control.clone();
        tokio::task::spawn_blocking(move || crate::fence::Fences::new(control))
            .await
            .context("generation watch start-up panicked")?
            .context("cannot watch lease generations")?
    };
    let fence_follower = {
        let (fences, stop) = (fences.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name("strata-fences".into())
            .spawn(move || fences.follow(&generations, &stop))
            .context("cannot start the generation watch")?
    };
    let nbd_tls_mode = match &tls.nbd {
        Some(server_tls) => format!("{:?}", server_tls.mode()).to_lowercase(),
        None => "off".to_owned(),
    };
    let mut nbd_server = strata_nbd::NbdServer::new(
        Arc::new(EngineExports {
            engine: engine.clone(),
            fences: fences.clone(),
            access: config.nbd_access,
            forwarder: Arc::new(crate::forward::Forwarder::new(
                config.server_id.as_str(),
                tokio::runtime::Handle::current(),
            )),
        }),
        strata_nbd::ServerConfig {
            max_request_bytes: config.nbd_max_request_bytes,
            ..strata_nbd::ServerConfig::default()
        },
    );
    if let Some(server_tls) = tls.nbd {
        nbd_server = nbd_server.with_tls(server_tls);
    }
    let nbd_server = Arc::new(nbd_server);
    let profiler = if config.profile.enabled {
        Some(
            strata_engine::LiveProfiler::attach(&engine, config.profile.clone())
                .context("cannot start the workload profiler")?,
        )
    } else {
        None
    };
    let profiling = profiler
        .clone()
        .map(|p| tokio::spawn(crate::profiling::run(p, shutdown.clone())));
    let mut tasks = tokio::task::JoinSet::new();
    {
        let server = nbd_server.clone();
        let token = shutdown.clone();
        tasks.spawn(async move { server.serve_tcp(nbd_listener, token).await });
    }
    if let Some(listener) = unix_listener {
        let server = nbd_server.clone();
        let token = shutdown.clone();
        tasks.spawn(async move { server.serve_unix(listener, token).await });
    }
    {
        let state = strata_api::ApiState::new(engine.clone(), config.server_id.as_str())
            .with_token(config.api_token.as_deref())
            .with_addresses(nbd_addr.to_string(), api_url.clone())
            .with_nbd_stats(nbd_server.stats())
            .with_control(control.clone())
            .with_peers(Arc::new(crate::peers::HttpPeers {
                token: config.api_token.clone(),
                ca: peer_ca,
            }));
        let state = match &profiler {
            Some(profiler) => state.with_profiler(profiler.clone()),
            None => state,
        };
        let token = shutdown.clone();
        let stopped = async move { token.cancelled().await };
        match tls.api.clone() {
            Some(api_tls) => {
                tasks.spawn(strata_api::serve_tls(api_listener, state, api_tls, stopped))
            }
            None => tasks.spawn(strata_api::serve(api_listener, state, stopped)),
        };
    }

    // Not in `tasks`: the control loop is not a listener, and it must still deregister
    // after the listeners have drained.
    let control_loop = tokio::spawn(crate::control::run(
        control,
        engine.clone(),
        config.server_id.clone(),
        shutdown.clone(),
    ));

    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "strata ready: nbd={nbd_addr} api={api_addr} data_dir={} emulation={} store={} \
             nbd_tls={nbd_tls_mode} api_tls={}",
            config.data_dir.display(),
            if config.emulation { "on" } else { "off" },
            if config.etcd.is_empty() {
                "embedded"
            } else {
                "etcd"
            },
            if tls.api.is_some() { "on" } else { "off" },
        )?;
        out.flush()?;
    }

    let mut failure = None;
    tokio::select! {
        signal = wait_for_signal() => {
            tracing::info!("received {}, shutting down", signal?);
        }
        Some(done) = tasks.join_next() => {
            failure = Some(anyhow::anyhow!("a listener stopped unexpectedly: {done:?}"));
        }
    }
    shutdown.cancel();
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(err)) = done {
            tracing::warn!("listener ended with {err}");
        }
    }
    if let Some(path) = &config.nbd_socket {
        std::fs::remove_file(path).ok();
    }
    if let Err(err) = control_loop.await {
        tracing::warn!("control loop ended with {err}");
    }
    if let Some(Err(err)) = match profiling {
        Some(task) => Some(task.await),
        None => None,
    } {
        tracing::warn!("the profiling task ended with {err}");
    }
    if fence_follower.join().is_err() {
        tracing::warn!("the generation watch panicked");
    }
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .context("engine shutdown panicked")?
        .context("engine shutdown failed")?;
    // The exports hold the control plane; on etcd its store owns a runtime, which must
    // not be dropped on this one.
    tokio::task::spawn_blocking(move || drop((nbd_server, fences)))
        .await
        .context("dropping the exports panicked")?;
    tracing::info!("stopped cleanly");
    failure.map_or(Ok(()), Err)
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
