//! sandkitd, a local E2B-compatible control plane, as a library.
//!
//! [`start`] binds a port and serves on the current tokio runtime; the `sandkitd` binary and
//! the core's integration tests both use it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sandkit_server::{ServerConfig, start};
//! let server = start(ServerConfig {
//!     api_keys: vec![("my-key".into(), "my-team".into())],
//!     ..Default::default()
//! })
//! .await?;
//! println!("E2B_API_URL={}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cors;
pub mod cursor;
pub mod envd;
pub mod error;
pub mod interpreter;
pub mod limits;
pub mod live;
pub mod logs;
pub mod memfd;
pub mod metrics;
pub mod net;
pub mod persist;
pub mod proxy;
pub mod random;
pub mod reaper;
pub mod sandbox;
pub mod snapshots;
pub mod store;

pub use config::ServerConfig;

use api::AppState;
use auth::ApiKeys;
use std::future::IntoFuture;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long shutdown waits for requests in flight before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A server serving in the background. Dropping it stops it too, but only
/// [`RunningServer::shutdown`] waits until it has stopped.
pub struct RunningServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    serve: JoinHandle<std::io::Result<()>>,
    reaper: JoinHandle<()>,
    sampler: JoinHandle<()>,
    store: Arc<Store>,
    live: Arc<live::Live>,
    /// Sandboxes are kept across restarts (`--state-dir`).
    persistent: bool,
}

// Only the address: the store holds sandbox tokens.
impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The base URL to give an SDK, e.g. `http://127.0.0.1:3000` (a wildcard listen address
    /// is replaced by loopback, so the URL is always one a local client can reach).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, ends every sandbox (and with it every process stream),
    /// then lets other requests in flight finish, for a few seconds at most.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Sandboxes first: their process streams are requests in flight, which end with them.
        if self.persistent {
            // Paused ones, and those that would have been paused at their timeout, stay: their
            // files on disk, their records paused (processes cannot outlive sandkitd).
            let (kept, ended) = self.store.close(store::now_ns());
            for record in kept {
                self.live.stop_keeping_files(&record.id).await;
            }
            for record in ended {
                self.live.end(&record.id).await;
            }
            self.live.end_all(true).await;
            self.store.save_logs();
        } else {
            self.store.end_all();
            self.live.end_all(false).await;
        }
        let mut serve = self.serve;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut serve)
            .await
            .is_err()
        {
            serve.abort();
        }
        let _ = self.reaper.await;
        let _ = self.sampler.await;
    }

    /// What sandboxes can reach (the banner's line).
    pub fn network_mode(&self) -> String {
        self.live.network_line()
    }

    /// How sandboxes run here: isolated (and how), not isolated, or not at all.
    pub fn sandbox_mode(&self) -> String {
        match &self.live.runtime {
            Err(why) => format!("records only, no processes ({why})"),
            Ok(rt) => rt.describe(),
        }
    }
}

/// Binds `config.host:config.port` and starts serving on the current tokio runtime.
pub async fn start(config: ServerConfig) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind((config.host, config.port))
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {}:{}: {e}", config.host, config.port),
            )
        })?;
    let addr = listener.local_addr()?;
    let domain = config
        .domain
        .unwrap_or_else(|| format!("localhost:{}", addr.port()));
    // With a state directory of the user's, records live there too, and sandboxes outlive a
    // restart of sandkitd (paused: their processes cannot).
    let persistent = config.sandboxes.state_dir.is_some();
    let store = Arc::new(match &config.sandboxes.state_dir {
        Some(dir) => {
            let (persist, records, logs) = persist::Persist::open(dir)?;
            let store = Store::persisted(persist, records, logs);
            store.settle_after_restart(store::now_ns(), config.max_paused_age);
            store
        }
        None => Store::new(),
    });
    let kept = store.all_ids();
    let runtime = if config.sandboxes.enabled {
        let state_dir = config.sandboxes.state_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("sandkitd-{}-{}", std::process::id(), addr.port()))
        });
        // A machine that cannot run sandboxes as configured is an error, not a quiet downgrade.
        Ok(sandbox::Runtime::new(state_dir, &config.sandboxes, &kept).await?)
    } else {
        Err("turned off".to_string())
    };
    let network = match &runtime {
        Ok(rt) if rt.isolated => net::Network::start(&config.network).await,
        Ok(_) => Err("isolation is off: sandbox processes share the host's network".into()),
        Err(_) => Err("no sandbox processes".into()),
    };
    let live = Arc::new(
        live::Live::new(runtime)
            .with_logs(store.logs())
            .with_network(network),
    );
    for id in kept {
        let Some(record) = store.get_any(&id) else {
            continue;
        };
        match live.adopt(&record) {
            Ok(host_ids) => store.set_host_ids(&id, host_ids),
            Err(e) => {
                eprintln!(
                    "sandkitd: sandbox {id} from the state directory cannot be restored: {e}"
                );
                store.end(&id);
                live.end(&id).await;
            }
        }
    }
    // Where sandboxes cannot be snapshotted, the endpoints say why (`snapshot_support`).
    let snapshots = live.snapshot_support().and_then(|()| match &live.runtime {
        Ok(rt) => snapshots::Snapshots::open(rt.state_dir().join("snapshots"))
            .map(Arc::new)
            .map_err(|e| format!("its directory: {e}")),
        Err(why) => Err(why.clone()),
    });
    let metrics = Arc::new(metrics::Metrics::new());
    let state = Arc::new(AppState {
        store: store.clone(),
        keys: ApiKeys::new(config.api_keys),
        domain,
        live: live.clone(),
        templates: config.sandboxes.template_names(),
        metrics: metrics.clone(),
        size: api::SandboxSize {
            cpu_count: config.sandboxes.cpu_count,
            memory_mb: config.sandboxes.memory_mb,
            disk_size_mb: config.sandboxes.disk_size_mb,
        },
        limits: limits::Limits::new(config.limits),
        interpreter: interpreter::Settings {
            python: config.sandboxes.python.clone(),
            typescript: config.sandboxes.typescript.clone(),
            r: config.sandboxes.r.clone(),
            java: config.sandboxes.java.clone(),
            memory_mb: config.sandboxes.memory_mb,
            ..Default::default()
        },
        snapshots,
        started_ms: store::now_ns() / 1_000_000,
    });
    let (stop, stop_rx) = watch::channel(false);
    let reaper = tokio::spawn(reaper::run(
        store.clone(),
        live.clone(),
        reaper::Timing {
            interval: config.reap_interval,
            max_paused_age: config.max_paused_age,
        },
        stop_rx.clone(),
    ));
    let sampler = tokio::spawn(metrics::run(
        store.clone(),
        live.clone(),
        metrics,
        config.sandboxes.metrics_interval,
        stop_rx.clone(),
    ));
    let app = api::router(state);
    let also_v6 = if config.ipv6_loopback_too && config.host == IpAddr::V4(Ipv4Addr::LOCALHOST) {
        // Same port as the IPv4 one; a machine without IPv6 just has the one listener.
        TcpListener::bind((Ipv6Addr::LOCALHOST, addr.port()))
            .await
            .ok()
    } else {
        None
    };
    let serve_one = |listener: TcpListener| {
        // Process output streams as many small frames: without TCP_NODELAY, Nagle's
        // algorithm and delayed ACKs hold each one back for ~40 ms.
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            let _ = stream.set_nodelay(true);
        });
        // The client's address goes to the sandboxes' servers as `X-Forwarded-For`.
        axum::serve(
            listener,
            app.clone()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future()
    };
    let v4 = serve_one(listener);
    let v6 = also_v6.map(serve_one);
    let serve = tokio::spawn(async move {
        match v6 {
            Some(v6) => {
                let (a, b) = tokio::join!(v4, v6);
                a.and(b)
            }
            None => v4.await,
        }
    });
    Ok(RunningServer {
        addr,
        stop,
        serve,
        reaper,
        sampler,
        store,
        live,
        persistent,
    })
}

/// Resolves when a stop is requested or the [`RunningServer`] is dropped.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
