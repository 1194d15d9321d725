//! The `Sandbox` handle: create, connect, look up, extend and kill sandboxes.

use crate::api;
use crate::config::{ConnectionConfig, ConnectionOpts};
use crate::error::Result;
use crate::info::{SandboxInfo, SandboxMetrics};
use crate::op::{Answer, Op};
use crate::options::{ConnectOpts, ListOpts, MetricsOpts, OnResume, SandboxOpts, timeout_secs};
use crate::paginator::SandboxPaginator;
use crate::snapshots::{ForkOpts, SnapshotInfo, SnapshotListOpts, SnapshotPaginator};
use crate::wire::{ConnectSandbox, ENVD_PORT, SandboxCreated, SandboxNetworkUpdateConfig};
use std::time::Duration;

/// A running sandbox, as returned by [`Sandbox::create`] or [`Sandbox::connect`].
///
/// ```no_run
/// use sandkit::{Sandbox, SandboxOpts};
/// # async fn demo() -> sandkit::Result<()> {
/// let sandbox = Sandbox::create(SandboxOpts::new().metadata([("app", "docs")])).await?;
/// let info = sandbox.get_info().await?;
/// println!("{} ends at {}", info.sandbox_id, info.end_at);
/// assert!(sandbox.kill().await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sandbox {
    sandbox_id: String,
    sandbox_domain: String,
    envd_version: String,
    envd_access_token: Option<String>,
    traffic_access_token: Option<String>,
    config: ConnectionConfig,
    /// Made from a handle ([`Sandbox::from_handle`]): control-plane calls need a key of the
    /// configuration's own.
    from_handle: bool,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The access tokens are secrets: leave them out.
        f.debug_struct("Sandbox")
            .field("sandbox_id", &self.sandbox_id)
            .field("sandbox_domain", &self.sandbox_domain)
            .field("envd_version", &self.envd_version)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    fn from_wire(created: SandboxCreated, sandbox_id: String, config: ConnectionConfig) -> Self {
        Sandbox {
            sandbox_id,
            sandbox_domain: created
                .domain
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| config.domain.clone()),
            envd_version: created.envd_version,
            envd_access_token: created.envd_access_token,
            traffic_access_token: created.traffic_access_token,
            config,
            from_handle: false,
        }
    }

    pub(crate) fn from_handle_parts(
        handle: crate::public::SandboxHandle,
        config: ConnectionConfig,
    ) -> Self {
        Sandbox {
            sandbox_id: handle.sandbox_id,
            sandbox_domain: handle.domain,
            envd_version: handle.envd_version,
            envd_access_token: handle.envd_access_token,
            traffic_access_token: handle.traffic_access_token,
            config,
            from_handle: true,
        }
    }

    /// Refuses a control-plane call that a handle-made sandbox has no key for.
    fn control_plane(&self) -> Result<()> {
        if self.from_handle && self.config.api_key.is_none() {
            return Err(crate::public::no_key_for_handle());
        }
        Ok(())
    }

    /// The connection settings this sandbox was made with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// In debug mode the official SDK talks to a local envd and makes no API call.
    fn debug_sandbox(config: ConnectionConfig) -> Self {
        Sandbox {
            sandbox_id: "debug_sandbox_id".into(),
            sandbox_domain: config.domain.clone(),
            envd_version: "99.99.99".into(),
            envd_access_token: None,
            traffic_access_token: None,
            config,
            from_handle: false,
        }
    }

    /// Creates a sandbox (`POST /v2/sandboxes`). Never retried unless the server certainly
    /// did not act on the request.
    pub fn create(opts: SandboxOpts) -> Op<Sandbox> {
        let prepared = ConnectionConfig::resolve(&opts.connection)
            .and_then(|config| Ok((config, opts.into_wire()?)));
        Op::build(prepared.map(|(config, body)| {
            if config.debug {
                return Op::ready(Ok(Sandbox::debug_sandbox(config)));
            }
            api::create_sandbox(&config, &body).map(move |created| {
                let id = created.sandbox_id.clone();
                Sandbox::from_wire(created, id, config)
            })
        }))
    }

    /// Connects to a running sandbox, or resumes a paused one. Its life is extended to at
    /// least `opts.timeout` (default 300 s), never shortened.
    pub fn connect(sandbox_id: &str, opts: ConnectOpts) -> Op<Sandbox> {
        let prepared = ConnectionConfig::resolve(&opts.connection).and_then(|config| {
            if config.debug {
                return Ok((config, None));
            }
            let timeout = opts.timeout.map(timeout_secs).transpose()?;
            Ok((config, Some(timeout)))
        });
        Op::build(prepared.map(|(config, timeout)| {
            let Some(timeout) = timeout else {
                return Op::ready(Ok(Sandbox::debug_sandbox(config)));
            };
            let body = ConnectSandbox {
                timeout,
                memory: reboot_memory(opts.on_resume),
            };
            let id = sandbox_id.to_string();
            api::connect_sandbox(&config, sandbox_id, &body)
                .map(move |created| Sandbox::from_wire(created, id, config))
        }))
    }

    /// Connects to this sandbox again (the instance form of `connect`), extending its life, or
    /// resuming it (`on_resume`) when it is paused.
    pub fn reconnect(&self, timeout: Option<Duration>, on_resume: Option<OnResume>) -> Op<Sandbox> {
        let checked = self
            .control_plane()
            .and_then(|()| timeout.map(timeout_secs).transpose());
        Op::build(checked.map(|timeout| {
            if self.config.debug {
                return Op::ready(Ok(self.clone()));
            }
            let body = ConnectSandbox {
                timeout,
                memory: reboot_memory(on_resume),
            };
            let (id, config) = (self.sandbox_id.clone(), self.config.clone());
            api::connect_sandbox(&self.config, &self.sandbox_id, &body)
                .map(move |created| Sandbox::from_wire(created, id, config))
        }))
    }

    /// Lists sandboxes page by page. The paginator is also a `Stream` of [`SandboxInfo`].
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use sandkit::{ListOpts, Sandbox};
    /// # async fn demo() -> sandkit::Result<()> {
    /// let mut pages = Sandbox::list(ListOpts { limit: Some(50), ..Default::default() });
    /// while pages.has_next() {
    ///     for info in pages.next_items().await? {
    ///         println!("{} {:?}", info.sandbox_id, info.metadata);
    ///     }
    /// }
    /// let all: Vec<_> = Sandbox::list(ListOpts::default()).try_collect().await?;
    /// # let _ = all; Ok(()) }
    /// ```
    pub fn list(opts: ListOpts) -> SandboxPaginator {
        SandboxPaginator::new(opts)
    }

    /// Kills a sandbox by id: `true` if it was killed, `false` if there was no such sandbox.
    pub fn kill_by_id(sandbox_id: &str, opts: &ConnectionOpts) -> Op<bool> {
        Op::build(ConnectionConfig::resolve(opts).map(|config| {
            if config.debug {
                return Op::ready(Ok(true));
            }
            api::kill_sandbox(&config, sandbox_id)
        }))
    }

    /// Kills this sandbox: `true` if it was killed, `false` if it was already gone.
    pub fn kill(&self) -> Op<bool> {
        if let Err(e) = self.control_plane() {
            return Op::ready(Err(e));
        }
        if self.config.debug {
            return Op::ready(Ok(true));
        }
        api::kill_sandbox(&self.config, &self.sandbox_id)
    }

    /// Pauses a sandbox by id: its processes stop where they are, memory kept, and its time
    /// stands still until [`Sandbox::connect`] resumes it. `true` when this call paused it,
    /// `false` when it already was paused. `keep_memory: Some(false)` asks for a reboot on
    /// resume instead.
    pub fn pause_by_id(
        sandbox_id: &str,
        keep_memory: Option<bool>,
        opts: &ConnectionOpts,
    ) -> Op<bool> {
        Op::build(
            ConnectionConfig::resolve(opts)
                .map(|config| api::pause_sandbox(&config, sandbox_id, keep_memory)),
        )
    }

    /// Pauses this sandbox (see [`Sandbox::pause_by_id`]); [`Sandbox::reconnect`] resumes it.
    pub fn pause(&self, keep_memory: Option<bool>) -> Op<bool> {
        if let Err(e) = self.control_plane() {
            return Op::ready(Err(e));
        }
        api::pause_sandbox(&self.config, &self.sandbox_id, keep_memory)
    }

    /// Snapshots a sandbox's files (`POST /sandboxes/{id}/snapshots`): new sandboxes can be
    /// created from the snapshot's id as from a template. `name` names it (then its id is
    /// `name:default`). The sandbox goes on running.
    pub fn create_snapshot_by_id(
        sandbox_id: &str,
        name: Option<&str>,
        opts: &ConnectionOpts,
    ) -> Op<SnapshotInfo> {
        Op::build(
            ConnectionConfig::resolve(opts)
                .map(|config| api::create_snapshot(&config, sandbox_id, name)),
        )
    }

    /// Snapshots this sandbox's files (see [`Sandbox::create_snapshot_by_id`]).
    pub fn create_snapshot(&self, name: Option<&str>) -> Op<SnapshotInfo> {
        if let Err(e) = self.control_plane() {
            return Op::ready(Err(e));
        }
        api::create_snapshot(&self.config, &self.sandbox_id, name)
    }

    /// Lists the team's snapshots page by page, newest first.
    pub fn list_snapshots(opts: SnapshotListOpts) -> SnapshotPaginator {
        SnapshotPaginator::new(opts)
    }

    /// Lists this sandbox's snapshots (its own connection; `opts.sandbox_id` is ignored).
    pub fn list_own_snapshots(&self, opts: SnapshotListOpts) -> SnapshotPaginator {
        SnapshotPaginator::of_sandbox(self.config.clone(), &self.sandbox_id, opts)
    }

    /// Deletes a snapshot by its id or name: `true` if it was deleted, `false` if there was
    /// none. Sandboxes made from it are not affected.
    pub fn delete_snapshot(snapshot_id: &str, opts: &ConnectionOpts) -> Op<bool> {
        Op::build(
            ConnectionConfig::resolve(opts)
                .map(|config| api::delete_snapshot(&config, snapshot_id)),
        )
    }

    /// Forks a sandbox (`POST /sandboxes/{id}/fork`): `opts.count` new sandboxes (1 by
    /// default) on a copy of its files, each with its template, metadata and environment. One
    /// outcome per fork: the sandbox, or the error that kept it from starting.
    pub fn fork_by_id(sandbox_id: &str, opts: ForkOpts) -> Op<Vec<Result<Sandbox>>> {
        let prepared = ConnectionConfig::resolve(&opts.connection)
            .and_then(|config| Ok((config, opts.timeout.map(timeout_secs).transpose()?)));
        Op::build(prepared.map(|(config, timeout)| {
            api::fork_sandbox(&config, sandbox_id, timeout, opts.count)
                .map(move |forks| Sandbox::forks(forks, &config))
        }))
    }

    /// Forks this sandbox (see [`Sandbox::fork_by_id`]), on its own connection.
    pub fn fork(&self, count: Option<u32>, timeout: Option<Duration>) -> Op<Vec<Result<Sandbox>>> {
        let checked = self
            .control_plane()
            .and_then(|()| timeout.map(timeout_secs).transpose());
        Op::build(checked.map(|timeout| {
            let config = self.config.clone();
            api::fork_sandbox(&self.config, &self.sandbox_id, timeout, count)
                .map(move |forks| Sandbox::forks(forks, &config))
        }))
    }

    fn forks(
        forks: Vec<Result<SandboxCreated>>,
        config: &ConnectionConfig,
    ) -> Vec<Result<Sandbox>> {
        forks
            .into_iter()
            .map(|fork| {
                fork.map(|created| {
                    let id = created.sandbox_id.clone();
                    Sandbox::from_wire(created, id, config.clone())
                })
            })
            .collect()
    }

    /// Makes a sandbox end `timeout` from now (rounded up to whole seconds).
    pub fn set_timeout_by_id(sandbox_id: &str, timeout: Duration, opts: &ConnectionOpts) -> Op<()> {
        let prepared =
            ConnectionConfig::resolve(opts).and_then(|config| Ok((config, timeout_secs(timeout)?)));
        Op::build(prepared.map(|(config, secs)| {
            if config.debug {
                return Op::ready(Ok(()));
            }
            api::set_sandbox_timeout(&config, sandbox_id, secs)
        }))
    }

    /// Makes this sandbox end `timeout` from now.
    pub fn set_timeout(&self, timeout: Duration) -> Op<()> {
        let checked = self.control_plane().and_then(|()| timeout_secs(timeout));
        Op::build(checked.map(|secs| {
            if self.config.debug {
                return Op::ready(Ok(()));
            }
            api::set_sandbox_timeout(&self.config, &self.sandbox_id, secs)
        }))
    }

    /// Replaces a sandbox's egress configuration (`PUT /sandboxes/{id}/network`): what the
    /// update leaves out is cleared, as with the official SDK.
    pub fn update_network_by_id(
        sandbox_id: &str,
        network: &SandboxNetworkUpdateConfig,
        opts: &ConnectionOpts,
    ) -> Op<()> {
        Op::build(
            ConnectionConfig::resolve(opts)
                .map(|config| api::update_network(&config, sandbox_id, network)),
        )
    }

    /// Replaces this sandbox's egress configuration (see [`Sandbox::update_network_by_id`]);
    /// `request_timeout_ms` overrides the sandbox's own for this call.
    pub fn update_network(
        &self,
        network: &SandboxNetworkUpdateConfig,
        request_timeout_ms: Option<u64>,
    ) -> Op<()> {
        if let Err(e) = self.control_plane() {
            return Op::ready(Err(e));
        }
        let mut config = self.config.clone();
        if let Some(ms) = request_timeout_ms {
            config.request_timeout_ms = ms;
        }
        api::update_network(&config, &self.sandbox_id, network)
    }

    /// A sandbox's CPU, memory and disk samples from `opts.start` to `opts.end` (the whole
    /// kept series when unset), oldest first; `[]` in debug mode, as the official SDK.
    pub fn get_metrics_by_id(sandbox_id: &str, opts: &MetricsOpts) -> Op<Vec<SandboxMetrics>> {
        Op::build(
            ConnectionConfig::resolve(&opts.connection)
                .map(|config| metrics_op(&config, sandbox_id, opts)),
        )
    }

    /// This sandbox's samples (see [`Sandbox::get_metrics_by_id`]); `opts.connection` is not
    /// used: the sandbox's own is.
    pub fn get_metrics(&self, opts: &MetricsOpts) -> Op<Vec<SandboxMetrics>> {
        if let Err(e) = self.control_plane() {
            return Op::ready(Err(e));
        }
        metrics_op(&self.config, &self.sandbox_id, opts)
    }

    /// Looks a sandbox up by id.
    pub fn get_info_by_id(sandbox_id: &str, opts: &ConnectionOpts) -> Op<SandboxInfo> {
        Op::build(
            ConnectionConfig::resolve(opts)
                .map(|config| api::get_sandbox(&config, sandbox_id).then(|d| d?.try_into())),
        )
    }

    /// Looks this sandbox up.
    pub fn get_info(&self) -> Op<SandboxInfo> {
        if let Err(e) = self.control_plane() {
            return Op::ready(Err(e));
        }
        api::get_sandbox(&self.config, &self.sandbox_id).then(|d| d?.try_into())
    }

    pub fn sandbox_id(&self) -> &str {
        &self.sandbox_id
    }

    /// The domain the sandbox's public URLs live under.
    pub fn sandbox_domain(&self) -> &str {
        &self.sandbox_domain
    }

    pub fn envd_version(&self) -> &str {
        &self.envd_version
    }

    /// Sent as `X-Access-Token` to the sandbox's daemon; a secret.
    pub fn envd_access_token(&self) -> Option<&str> {
        self.envd_access_token.as_deref()
    }

    /// Required on public URLs when the sandbox refuses public traffic; a secret.
    pub fn traffic_access_token(&self) -> Option<&str> {
        self.traffic_access_token.as_deref()
    }

    /// The sandbox's daemon.
    pub(crate) fn envd(&self) -> crate::envd::Envd {
        crate::envd::Envd::new(
            &self.config,
            &self.sandbox_id,
            &self.sandbox_domain,
            self.envd_access_token.as_deref(),
        )
    }

    /// Read and write the sandbox's files.
    pub fn files(&self) -> crate::files::Files {
        // Signed URLs point at the daemon's own host, never the shared one.
        let direct =
            crate::envd::daemon_url(&self.config, &self.sandbox_id, &self.sandbox_domain, false);
        crate::files::Files::new(self.envd(), direct)
    }

    /// The sandbox's code interpreter (port 49999): `run_code` and code contexts.
    pub fn interpreter(&self) -> crate::interpreter::Interpreter {
        crate::interpreter::Interpreter::new(
            &self.config,
            &self.sandbox_id,
            &self.sandbox_domain,
            self.envd_access_token.as_deref(),
            self.traffic_access_token.as_deref(),
        )
    }

    /// Run commands in the sandbox.
    pub fn commands(&self) -> crate::commands::Commands {
        crate::commands::Commands::new(self.envd())
    }

    /// Interactive terminals in the sandbox.
    pub fn pty(&self) -> crate::pty::Pty {
        crate::pty::Pty::new(self.envd())
    }

    /// Whether the sandbox answers: `GET /health` on its daemon. `false` when the sandbox is
    /// gone (the proxy answers 502).
    pub fn is_running(&self) -> Op<bool> {
        let request = crate::op::http(
            &self.envd(),
            crate::transport::Method::Get,
            "/health".into(),
            Vec::new(),
            None,
            false,
            false,
        );
        Op::new(request, |answer| match Answer::http(answer)?.status {
            200..=299 => Ok(true),
            502 => Ok(false),
            other => Err(crate::error::Error::new(
                crate::error::ErrorKind::Sandbox,
                format!("{other}: the sandbox's health check failed"),
            )
            .with_status(other)),
        })
    }

    /// The host name under which `port` of the sandbox is reachable.
    pub fn get_host(&self, port: u16) -> String {
        self.config
            .host(&self.sandbox_id, port, Some(&self.sandbox_domain))
    }

    /// The port of the in-sandbox daemon.
    pub const ENVD_PORT: u16 = ENVD_PORT;
}

/// `memory: false` asks the server for a reboot; a restore is its default, so nothing is sent.
fn reboot_memory(on_resume: Option<OnResume>) -> Option<bool> {
    (on_resume == Some(OnResume::Reboot)).then_some(false)
}

fn metrics_op(
    config: &ConnectionConfig,
    sandbox_id: &str,
    opts: &MetricsOpts,
) -> Op<Vec<SandboxMetrics>> {
    if config.debug {
        return Op::ready(Ok(Vec::new()));
    }
    // `Math.round(ms / 1000)`: halves go up.
    let secs = |t: Option<crate::Timestamp>| t.map(|t| (t.unix_millis() + 500).div_euclid(1000));
    api::get_metrics(config, sandbox_id, secs(opts.start), secs(opts.end))
        .map(|samples| samples.into_iter().map(SandboxMetrics::from).collect())
}
