//! The `Sandbox` handle: create, connect, look up, extend and kill sandboxes.

use crate::api;
use crate::config::{ConnectionConfig, ConnectionOpts};
use crate::error::Result;
use crate::info::SandboxInfo;
use crate::options::{ConnectOpts, ListOpts, SandboxOpts, timeout_secs};
use crate::paginator::SandboxPaginator;
use crate::wire::{ConnectSandbox, ENVD_PORT, SandboxCreated};
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
        }
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
        }
    }

    /// Creates a sandbox (`POST /v2/sandboxes`). Never retried unless the server certainly
    /// did not act on the request.
    pub async fn create(opts: SandboxOpts) -> Result<Sandbox> {
        let config = ConnectionConfig::resolve(&opts.connection)?;
        let body = opts.to_wire()?;
        if config.debug {
            return Ok(Sandbox::debug_sandbox(config));
        }
        let created = api::create_sandbox(&config, &body).await?;
        let id = created.sandbox_id.clone();
        Ok(Sandbox::from_wire(created, id, config))
    }

    /// Connects to a running sandbox, or resumes a paused one. Its life is extended to at
    /// least `opts.timeout` (default 300 s), never shortened.
    pub async fn connect(sandbox_id: &str, opts: ConnectOpts) -> Result<Sandbox> {
        let config = ConnectionConfig::resolve(&opts.connection)?;
        if config.debug {
            return Ok(Sandbox::debug_sandbox(config));
        }
        let body = ConnectSandbox {
            timeout: opts.timeout.map(timeout_secs).transpose()?,
            memory: None,
        };
        let created = api::connect_sandbox(&config, sandbox_id, &body).await?;
        Ok(Sandbox::from_wire(created, sandbox_id.to_string(), config))
    }

    /// Connects to this sandbox again (the instance form of `connect`), extending its life.
    pub async fn reconnect(&self, timeout: Option<Duration>) -> Result<Sandbox> {
        let body = ConnectSandbox {
            timeout: timeout.map(timeout_secs).transpose()?,
            memory: None,
        };
        if self.config.debug {
            return Ok(self.clone());
        }
        let created = api::connect_sandbox(&self.config, &self.sandbox_id, &body).await?;
        Ok(Sandbox::from_wire(
            created,
            self.sandbox_id.clone(),
            self.config.clone(),
        ))
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
    pub async fn kill_by_id(sandbox_id: &str, opts: &ConnectionOpts) -> Result<bool> {
        let config = ConnectionConfig::resolve(opts)?;
        if config.debug {
            return Ok(true);
        }
        api::kill_sandbox(&config, sandbox_id).await
    }

    /// Kills this sandbox: `true` if it was killed, `false` if it was already gone.
    pub async fn kill(&self) -> Result<bool> {
        if self.config.debug {
            return Ok(true);
        }
        api::kill_sandbox(&self.config, &self.sandbox_id).await
    }

    /// Makes a sandbox end `timeout` from now (rounded up to whole seconds).
    pub async fn set_timeout_by_id(
        sandbox_id: &str,
        timeout: Duration,
        opts: &ConnectionOpts,
    ) -> Result<()> {
        let config = ConnectionConfig::resolve(opts)?;
        let secs = timeout_secs(timeout)?;
        if config.debug {
            return Ok(());
        }
        api::set_sandbox_timeout(&config, sandbox_id, secs).await
    }

    /// Makes this sandbox end `timeout` from now.
    pub async fn set_timeout(&self, timeout: Duration) -> Result<()> {
        let secs = timeout_secs(timeout)?;
        if self.config.debug {
            return Ok(());
        }
        api::set_sandbox_timeout(&self.config, &self.sandbox_id, secs).await
    }

    /// Looks a sandbox up by id.
    pub async fn get_info_by_id(sandbox_id: &str, opts: &ConnectionOpts) -> Result<SandboxInfo> {
        let config = ConnectionConfig::resolve(opts)?;
        api::get_sandbox(&config, sandbox_id).await?.try_into()
    }

    /// Looks this sandbox up.
    pub async fn get_info(&self) -> Result<SandboxInfo> {
        api::get_sandbox(&self.config, &self.sandbox_id)
            .await?
            .try_into()
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
        crate::files::Files::new(self.envd(), self.envd_direct_url())
    }

    /// Where signed upload and download URLs point: `sandboxUrl` if set, else the daemon's
    /// own host (never the shared host, which needs routing headers).
    fn envd_direct_url(&self) -> String {
        if let Some(url) = &self.config.sandbox_url {
            url.trim_end_matches('/').to_string()
        } else if self.config.debug {
            format!("http://localhost:{ENVD_PORT}")
        } else {
            format!("https://{}", self.get_host(ENVD_PORT))
        }
    }

    /// Run commands in the sandbox.
    pub fn commands(&self) -> crate::commands::Commands {
        crate::commands::Commands::new(self.envd())
    }

    /// Whether the sandbox answers: `GET /health` on its daemon. `false` when the sandbox is
    /// gone (the proxy answers 502).
    pub async fn is_running(&self) -> Result<bool> {
        let response = self
            .envd()
            .http(
                crate::transport::Method::Get,
                "/health",
                Vec::new(),
                None,
                false,
            )
            .await?;
        match response.status {
            200..=299 => Ok(true),
            502 => Ok(false),
            other => Err(crate::error::Error::new(
                crate::error::ErrorKind::Sandbox,
                format!("{other}: the sandbox's health check failed"),
            )
            .with_status(other)),
        }
    }

    /// The host name under which `port` of the sandbox is reachable.
    pub fn get_host(&self, port: u16) -> String {
        if self.config.debug {
            format!("localhost:{port}")
        } else {
            format!("{port}-{}.{}", self.sandbox_id, self.sandbox_domain)
        }
    }

    /// The port of the in-sandbox daemon.
    pub const ENVD_PORT: u16 = ENVD_PORT;
}
