//! `Sandbox`: static calls by id and instance calls on a connected sandbox.

use crate::commands::{self, ProcessHandle, ProcessListing};
use crate::convert::{
    JsAnyArg, SandboxInfo, SandboxMetrics, TemplateOrOpts, guarded, guarded_sync, opt_arg,
    read_opts, static_call,
};
use crate::paginator::{SandboxPaginator, SnapshotInfo, SnapshotPaginator};
use napi::bindgen_prelude::{PromiseRaw, Uint8Array};
use napi::{Either, Env};
use napi_derive::napi;
use sandkit::js_options;

/// A sandbox: an isolated Linux environment with its own processes and files.
#[napi]
pub struct Sandbox {
    pub(crate) inner: sandkit::Sandbox,
}

#[napi]
impl Sandbox {
    /// Creates a sandbox from a template (default `base`).
    #[napi(
        ts_args_type = "templateOrOpts?: string | SandboxOpts | undefined | null, opts?: SandboxOpts | undefined | null",
        ts_return_type = "Promise<Sandbox>"
    )]
    pub fn create(
        env: &Env,
        template_or_opts: Option<TemplateOrOpts>,
        opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, Sandbox>> {
        let (template, opts, what) = match template_or_opts {
            Some(TemplateOrOpts::Template(template)) => (Some(template), opts, "opts"),
            Some(TemplateOrOpts::Opts(o)) => (None, Some(JsAnyArg(o)), "templateOrOpts"),
            None => (None, opts, "opts"),
        };
        static_call(env, async move {
            let opts = read_opts(opts, |o| js_options::create_opts(template, o, what))?;
            Ok(Sandbox {
                inner: sandkit::Sandbox::create(opts).await?,
            })
        })
    }

    /// Connects to a running sandbox or resumes a paused one, extending its life.
    #[napi(js_name = "connect", ts_return_type = "Promise<Sandbox>")]
    pub fn connect_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxConnectOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, Sandbox>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            Ok(Sandbox {
                inner: sandkit::Sandbox::connect(
                    &sandbox_id,
                    read_opts(opts, js_options::connect_opts)?,
                )
                .await?,
            })
        })
    }

    /// Connects to this sandbox again, extending its life.
    #[napi(ts_return_type = "Promise<Sandbox>")]
    pub async fn connect(
        &self,
        #[napi(ts_arg_type = "SandboxConnectOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Sandbox> {
        let inner = self.inner.clone();
        guarded(async move {
            Ok(Sandbox {
                inner: {
                    let o = read_opts(opts, js_options::connect_opts)?;
                    inner.reconnect(o.timeout, o.on_resume).await?
                },
            })
        })
        .await
    }

    /// Lists sandboxes page by page.
    #[napi]
    pub fn list(
        #[napi(ts_arg_type = "SandboxListOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<SandboxPaginator> {
        guarded_sync(|| {
            let opts = read_opts(opts, js_options::list_opts)?;
            Ok(SandboxPaginator::new(sandkit::Sandbox::list(opts)))
        })
    }

    /// Kills a sandbox: `true` if it was killed, `false` if there was no such sandbox.
    #[napi(js_name = "kill", ts_return_type = "Promise<boolean>")]
    pub fn kill_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxApiOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, bool>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            sandkit::Sandbox::kill_by_id(&sandbox_id, &read_opts(opts, js_options::api_opts)?).await
        })
    }

    /// Kills this sandbox: `true` if it was killed, `false` if it was already gone.
    #[napi]
    pub async fn kill(&self) -> napi::Result<bool> {
        let inner = self.inner.clone();
        guarded(async move { inner.kill().await }).await
    }

    /// Pauses a sandbox: its processes stop where they are and its time stands still until
    /// `Sandbox.connect` resumes it. `true` when this call paused it, `false` when it already
    /// was paused.
    #[napi(js_name = "pause", ts_return_type = "Promise<boolean>")]
    pub fn pause_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxPauseOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, bool>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let (connection, keep_memory) = read_opts(opts, js_options::pause_opts)?;
            sandkit::Sandbox::pause_by_id(&sandbox_id, keep_memory, &connection).await
        })
    }

    /// Pauses this sandbox; `sandbox.connect()` resumes it. `false` when it already was paused.
    #[napi]
    pub async fn pause(
        &self,
        #[napi(ts_arg_type = "SandboxPauseOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<bool> {
        let inner = self.inner.clone();
        guarded(async move {
            inner
                .pause(read_opts(opts, js_options::pause_opts)?.1)
                .await
        })
        .await
    }

    /// Snapshots a sandbox's files: new sandboxes are created from the snapshot's id as from a
    /// template. The sandbox goes on running.
    #[napi(js_name = "createSnapshot", ts_return_type = "Promise<SnapshotInfo>")]
    pub fn create_snapshot_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "CreateSnapshotOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, SnapshotInfo>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let (connection, name) = read_opts(opts, js_options::snapshot_opts)?;
            let info =
                sandkit::Sandbox::create_snapshot_by_id(&sandbox_id, name.as_deref(), &connection)
                    .await?;
            Ok(SnapshotInfo::from(info))
        })
    }

    /// Snapshots this sandbox's files.
    #[napi(ts_return_type = "Promise<SnapshotInfo>")]
    pub async fn create_snapshot(
        &self,
        #[napi(ts_arg_type = "CreateSnapshotOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<SnapshotInfo> {
        let inner = self.inner.clone();
        guarded(async move {
            let (_, name) = read_opts(opts, js_options::snapshot_opts)?;
            Ok(SnapshotInfo::from(
                inner.create_snapshot(name.as_deref()).await?,
            ))
        })
        .await
    }

    /// Lists the team's snapshots page by page, newest first.
    #[napi(js_name = "listSnapshots")]
    pub fn list_snapshots_of_team(
        #[napi(ts_arg_type = "SnapshotListOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<SnapshotPaginator> {
        guarded_sync(|| {
            let opts = read_opts(opts, js_options::snapshot_list_opts)?;
            Ok(SnapshotPaginator::new(sandkit::Sandbox::list_snapshots(
                opts,
            )))
        })
    }

    /// Lists this sandbox's snapshots page by page, newest first.
    #[napi]
    pub fn list_snapshots(
        &self,
        #[napi(ts_arg_type = "SnapshotListOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<SnapshotPaginator> {
        guarded_sync(|| {
            let opts = read_opts(opts, js_options::snapshot_list_opts)?;
            Ok(SnapshotPaginator::new(self.inner.list_own_snapshots(opts)))
        })
    }

    /// Deletes a snapshot: `true` if it was deleted, `false` if there was none.
    #[napi(js_name = "deleteSnapshot", ts_return_type = "Promise<boolean>")]
    pub fn delete_snapshot(
        env: &Env,
        #[napi(ts_arg_type = "string")] snapshot_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxApiOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, bool>> {
        static_call(env, async move {
            let snapshot_id = js_options::string_arg(snapshot_id.0, "snapshotId")?;
            sandkit::Sandbox::delete_snapshot(&snapshot_id, &read_opts(opts, js_options::api_opts)?)
                .await
        })
    }

    /// Forks a sandbox: new sandboxes on a copy of its files. One entry per fork: the
    /// sandbox, or (a string the JS layer makes an error of) why it did not start.
    #[napi(js_name = "fork", ts_return_type = "Promise<Array<Sandbox | Error>>")]
    pub fn fork_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxForkOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, Vec<Either<Sandbox, String>>>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let opts = read_opts(opts, js_options::fork_opts)?;
            Ok(forks(
                sandkit::Sandbox::fork_by_id(&sandbox_id, opts).await?,
            ))
        })
    }

    /// Forks this sandbox (see the static `fork`).
    #[napi(ts_return_type = "Promise<Array<Sandbox | Error>>")]
    pub async fn fork(
        &self,
        #[napi(ts_arg_type = "SandboxForkOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Vec<Either<Sandbox, String>>> {
        let inner = self.inner.clone();
        guarded(async move {
            let opts = read_opts(opts, js_options::fork_opts)?;
            Ok(forks(inner.fork(opts.count, opts.timeout).await?))
        })
        .await
    }

    /// A sandbox's CPU, memory and disk samples (every 5 s on E2B), oldest first.
    #[napi(
        js_name = "getMetrics",
        ts_return_type = "Promise<Array<SandboxMetrics>>"
    )]
    pub fn get_metrics_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxMetricsOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, Vec<SandboxMetrics>>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let samples = sandkit::Sandbox::get_metrics_by_id(
                &sandbox_id,
                &read_opts(opts, js_options::metrics_opts)?,
            )
            .await?;
            Ok(samples.into_iter().map(SandboxMetrics::from).collect())
        })
    }

    /// This sandbox's CPU, memory and disk samples, oldest first.
    #[napi]
    pub async fn get_metrics(
        &self,
        #[napi(ts_arg_type = "SandboxMetricsOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Vec<SandboxMetrics>> {
        let inner = self.inner.clone();
        guarded(async move {
            let samples = inner
                .get_metrics(&read_opts(opts, js_options::metrics_opts)?)
                .await?;
            Ok(samples.into_iter().map(SandboxMetrics::from).collect())
        })
        .await
    }

    /// Makes a sandbox end `timeoutMs` from now.
    #[napi(js_name = "setTimeout", ts_return_type = "Promise<void>")]
    pub fn set_timeout_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "number")] timeout_ms: JsAnyArg,
        #[napi(ts_arg_type = "SandboxApiOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, ()>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let timeout = js_options::timeout_arg(&timeout_ms.0)?;
            sandkit::Sandbox::set_timeout_by_id(
                &sandbox_id,
                timeout,
                &read_opts(opts, js_options::api_opts)?,
            )
            .await
        })
    }

    /// Makes this sandbox end `timeoutMs` from now.
    #[napi]
    pub async fn set_timeout(
        &self,
        #[napi(ts_arg_type = "number")] timeout_ms: JsAnyArg,
    ) -> napi::Result<()> {
        let inner = self.inner.clone();
        guarded(async move {
            inner
                .set_timeout(js_options::timeout_arg(&timeout_ms.0)?)
                .await
        })
        .await
    }

    /// Replaces a sandbox's egress configuration; what `network` leaves out is cleared.
    #[napi(
        js_name = "updateNetwork",
        ts_args_type = "sandboxId: string, network: SandboxNetworkUpdate, opts?: SandboxApiOpts | undefined | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn update_network_by_id(
        env: &Env,
        sandbox_id: JsAnyArg,
        network: JsAnyArg,
        opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, ()>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let network = sandkit::options::from_js::network_update_value(network.0)?;
            sandkit::Sandbox::update_network_by_id(
                &sandbox_id,
                &network,
                &read_opts(opts, js_options::api_opts)?,
            )
            .await
        })
    }

    /// Replaces this sandbox's egress configuration; what `network` leaves out is cleared.
    #[napi(
        ts_args_type = "network: SandboxNetworkUpdate, opts?: Pick<SandboxOpts, 'requestTimeoutMs'> | undefined | null"
    )]
    pub async fn update_network(
        &self,
        network: JsAnyArg,
        opts: Option<JsAnyArg>,
    ) -> napi::Result<()> {
        let inner = self.inner.clone();
        guarded(async move {
            let network = sandkit::options::from_js::network_update_value(network.0)?;
            let timeout = read_opts(opts, js_options::api_opts)?.request_timeout_ms;
            inner.update_network(&network, timeout).await
        })
        .await
    }

    /// Looks a sandbox up by id.
    #[napi(js_name = "getInfo", ts_return_type = "Promise<SandboxInfo>")]
    pub fn get_info_by_id(
        env: &Env,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxApiOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<PromiseRaw<'_, SandboxInfo>> {
        static_call(env, async move {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            Ok(sandkit::Sandbox::get_info_by_id(
                &sandbox_id,
                &read_opts(opts, js_options::api_opts)?,
            )
            .await?
            .into())
        })
    }

    /// Looks this sandbox up.
    #[napi]
    pub async fn get_info(&self) -> napi::Result<SandboxInfo> {
        let inner = self.inner.clone();
        guarded(async move { Ok(inner.get_info().await?.into()) }).await
    }

    /// The host name under which `port` of the sandbox is reachable.
    #[napi]
    pub fn get_host(&self, #[napi(ts_arg_type = "number")] port: JsAnyArg) -> napi::Result<String> {
        guarded_sync(|| Ok(self.inner.get_host(js_options::port_arg(&port.0)?)))
    }

    /// The URL of `path` (default `/`) on `port` of the sandbox: `http://` for a local
    /// sandkitd's loopback domain, else `https://`.
    #[napi]
    pub fn get_url(
        &self,
        #[napi(ts_arg_type = "number")] port: JsAnyArg,
        #[napi(ts_arg_type = "string | undefined | null")] path: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        guarded_sync(|| {
            let port = js_options::port_arg(&port.0)?;
            let path = js_options::opt_string_arg(opt_arg(path), "path")?;
            self.inner.get_url(port, path.as_deref())
        })
    }

    /// Where `sandbox.fetch(port, path)` sends its request, with the headers it adds.
    #[napi]
    pub fn fetch_target(
        &self,
        #[napi(ts_arg_type = "number")] port: JsAnyArg,
        #[napi(ts_arg_type = "string | undefined | null")] path: Option<JsAnyArg>,
    ) -> napi::Result<crate::public::PublicRequest> {
        guarded_sync(|| {
            let port = js_options::port_arg(&port.0)?;
            let path = js_options::opt_string_arg(opt_arg(path), "path")?;
            Ok(crate::public::request_object(
                self.inner.public_request(port, path.as_deref())?,
            ))
        })
    }

    /// What a browser needs to reach this sandbox without the API key (a secret of this
    /// sandbox: its processes and files).
    #[napi]
    pub fn to_handle(&self) -> crate::public::SandboxHandleObject {
        crate::public::handle_object(self.inner.to_handle())
    }

    /// A sandbox from `sandbox.toHandle()`'s object: commands, files and public URLs work;
    /// control-plane calls need an `apiKey` in `opts`.
    #[napi]
    pub fn from_handle(
        #[napi(ts_arg_type = "SandboxHandle")] handle: JsAnyArg,
        #[napi(ts_arg_type = "SandboxApiOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Sandbox> {
        guarded_sync(|| {
            let handle = js_options::handle(&handle.0)?;
            Ok(Sandbox {
                inner: sandkit::Sandbox::from_handle(
                    handle,
                    &read_opts(opts, js_options::api_opts)?,
                )?,
            })
        })
    }

    /// Whether the sandbox answers (its daemon's health check).
    #[napi]
    pub async fn is_running(&self) -> napi::Result<bool> {
        let inner = self.inner.clone();
        guarded(async move { inner.is_running().await }).await
    }

    #[napi]
    pub async fn commands_spawn(
        &self,
        #[napi(ts_arg_type = "string")] cmd: JsAnyArg,
        #[napi(ts_arg_type = "ProcessStartOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<ProcessHandle> {
        let inner = self.inner.clone();
        guarded(async move {
            let cmd = js_options::string_arg(cmd.0, "cmd")?;
            let opts = read_opts(opts, js_options::run_opts)?;
            Ok(ProcessHandle::new(
                inner.commands().spawn(&cmd, opts).await?,
            ))
        })
        .await
    }

    #[napi]
    pub async fn commands_connect(
        &self,
        #[napi(ts_arg_type = "number")] pid: JsAnyArg,
        #[napi(ts_arg_type = "number | undefined | null")] timeout_ms: Option<JsAnyArg>,
    ) -> napi::Result<ProcessHandle> {
        let inner = self.inner.clone();
        guarded(async move {
            let pid = js_options::pid_arg(&pid.0)?;
            let timeout = js_options::opt_timeout_arg(&opt_arg(timeout_ms))?;
            Ok(ProcessHandle::new(
                inner.commands().connect(pid, timeout).await?,
            ))
        })
        .await
    }

    #[napi]
    pub async fn commands_list(&self) -> napi::Result<Vec<ProcessListing>> {
        let inner = self.inner.clone();
        guarded(async move {
            Ok(inner
                .commands()
                .list()
                .await?
                .into_iter()
                .map(commands::listing)
                .collect())
        })
        .await
    }

    #[napi]
    pub async fn commands_kill(
        &self,
        #[napi(ts_arg_type = "number")] pid: JsAnyArg,
    ) -> napi::Result<bool> {
        let inner = self.inner.clone();
        guarded(async move {
            let pid = js_options::pid_arg(&pid.0)?;
            inner.commands().kill(pid).await
        })
        .await
    }

    #[napi]
    pub async fn commands_send_stdin(
        &self,
        #[napi(ts_arg_type = "number")] pid: JsAnyArg,
        data: Uint8Array,
    ) -> napi::Result<()> {
        let inner = self.inner.clone();
        let data = data.to_vec();
        guarded(async move {
            let pid = js_options::pid_arg(&pid.0)?;
            inner.commands().send_stdin(pid, &data).await
        })
        .await
    }

    #[napi]
    pub async fn commands_close_stdin(
        &self,
        #[napi(ts_arg_type = "number")] pid: JsAnyArg,
    ) -> napi::Result<()> {
        let inner = self.inner.clone();
        guarded(async move {
            let pid = js_options::pid_arg(&pid.0)?;
            inner.commands().close_stdin(pid).await
        })
        .await
    }

    #[napi(getter)]
    pub fn sandbox_id(&self) -> String {
        self.inner.sandbox_id().to_string()
    }

    /// The domain the sandbox's public URLs live under.
    #[napi(getter)]
    pub fn sandbox_domain(&self) -> String {
        self.inner.sandbox_domain().to_string()
    }

    /// Required on public URLs when the sandbox refuses public traffic.
    #[napi(getter)]
    pub fn traffic_access_token(&self) -> Either<String, ()> {
        crate::convert::or_undefined(self.inner.traffic_access_token().map(str::to_string))
    }
}

/// A fork's outcomes: each sandbox, or its error as the message the JS layer reads.
fn forks(outcomes: Vec<sandkit::Result<sandkit::Sandbox>>) -> Vec<Either<Sandbox, String>> {
    outcomes
        .into_iter()
        .map(|o| match o {
            Ok(inner) => Either::A(Sandbox { inner }),
            Err(e) => Either::B(e.to_binding_message()),
        })
        .collect()
}
