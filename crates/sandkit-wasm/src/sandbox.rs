//! `Sandbox`: static calls by id and instance calls on a connected sandbox.
//!
//! Static and instance methods share their JavaScript names (`Sandbox.kill(id)` and
//! `sandbox.kill()`), which wasm-bindgen 0.2.130 refuses: both would be exported from the wasm
//! module as `sandbox_kill`. So the static forms are exported as `connectById`, `killById`,
//! `setTimeoutById` and `getInfoById`, and `wasm/api.mjs` publishes them under their public
//! names.
//!
//! Async methods return a `Promise` made by `convert::promise` (one adapter for all of them);
//! the real result types are given to TypeScript with `unchecked_return_type`.

use crate::commands::{self, ProcessHandle};
use crate::convert::{
    info_object, js_error, metrics_objects, network_update, opt_string_arg, opt_timeout_arg,
    or_reject, pid_arg, port_arg, read_opts, rejected, run, run_map, string_arg, timeout_arg,
};
use crate::paginator::{SandboxPaginator, SnapshotPaginator, snapshot_object};
use js_sys::Promise;
use sandkit::js_options;
use wasm_bindgen::prelude::*;

/// A sandbox: an isolated Linux environment with its own processes and files.
#[wasm_bindgen]
pub struct Sandbox {
    pub(crate) inner: sandkit::Sandbox,
}

fn wrap(inner: sandkit::Sandbox) -> JsValue {
    JsValue::from(Sandbox { inner })
}

fn process_handle(h: sandkit::commands::CommandHandle) -> JsValue {
    JsValue::from(ProcessHandle::new(h))
}

/// A string, or `undefined`.
pub(crate) fn opt_str(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

/// A fork's outcomes: each sandbox, or its error as the message the JS layer reads.
fn forks(outcomes: Vec<sandkit::Result<sandkit::Sandbox>>) -> JsValue {
    crate::convert::array_of(outcomes, |o| match o {
        Ok(inner) => wrap(inner),
        Err(e) => JsValue::from_str(&e.to_binding_message()),
    })
}

/// What a call that yields nothing resolves to.
pub(crate) fn undefined(_: ()) -> JsValue {
    JsValue::UNDEFINED
}

#[wasm_bindgen]
impl Sandbox {
    /// Creates a sandbox from a template (default `base`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Sandbox>")]
    pub fn create(
        #[wasm_bindgen(js_name = templateOrOpts, unchecked_optional_param_type = "string | SandboxOpts | null")]
        template_or_opts: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        // A string is the template; anything else present is the options (checked there).
        let (template, opts, what) = match template_or_opts {
            Some(v) if v.is_string() => (v.as_string(), opts, "opts"),
            Some(v) if !v.is_undefined() && !v.is_null() => (None, Some(v), "templateOrOpts"),
            _ => (None, opts, "opts"),
        };
        // Options are read now, while the caller's object is as it was passed.
        let opts = read_opts(opts, |o| js_options::create_opts(template, o, what));
        run_map(opts.map(sandkit::Sandbox::create), wrap)
    }

    /// Connects to a running sandbox or resumes a paused one, extending its life.
    #[wasm_bindgen(js_name = connectById, unchecked_return_type = "Promise<Sandbox>")]
    pub fn connect_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxConnectOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::connect_opts)
            .map(|o| sandkit::Sandbox::connect(&sandbox_id, o));
        run_map(op, wrap)
    }

    /// Connects to this sandbox again, extending its life.
    #[wasm_bindgen(unchecked_return_type = "Promise<Sandbox>")]
    pub fn connect(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxConnectOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = read_opts(opts, js_options::connect_opts)
            .map(|o| self.inner.reconnect(o.timeout, o.on_resume));
        run_map(op, wrap)
    }

    /// Lists sandboxes page by page.
    pub fn list(
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxListOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<SandboxPaginator, JsError> {
        let opts = read_opts(opts, js_options::list_opts).map_err(js_error)?;
        Ok(SandboxPaginator::new(sandkit::Sandbox::list(opts)))
    }

    /// Kills a sandbox: `true` if it was killed, `false` if there was no such sandbox.
    #[wasm_bindgen(js_name = killById, unchecked_return_type = "Promise<boolean>")]
    pub fn kill_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::api_opts)
            .map(|o| sandkit::Sandbox::kill_by_id(&sandbox_id, &o));
        run_map(op, JsValue::from)
    }

    /// Kills this sandbox: `true` if it was killed, `false` if it was already gone.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn kill(&self) -> Promise {
        run(self.inner.kill().map(JsValue::from))
    }

    /// Pauses a sandbox: its processes stop where they are and its time stands still until
    /// `Sandbox.connect` resumes it. `true` when this call paused it, `false` when it already
    /// was paused.
    #[wasm_bindgen(js_name = pauseById, unchecked_return_type = "Promise<boolean>")]
    pub fn pause_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxPauseOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::pause_opts)
            .map(|(o, keep)| sandkit::Sandbox::pause_by_id(&sandbox_id, keep, &o));
        run_map(op, JsValue::from)
    }

    /// Pauses this sandbox; `sandbox.connect()` resumes it. `false` when it already was paused.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn pause(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxPauseOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        run_map(
            read_opts(opts, js_options::pause_opts).map(|(_, keep)| self.inner.pause(keep)),
            JsValue::from,
        )
    }

    /// Snapshots a sandbox's files: new sandboxes are created from the snapshot's id as from a
    /// template. The sandbox goes on running.
    #[wasm_bindgen(js_name = createSnapshotById, unchecked_return_type = "Promise<SnapshotInfo>")]
    pub fn create_snapshot_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateSnapshotOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::snapshot_opts).map(|(o, name)| {
            sandkit::Sandbox::create_snapshot_by_id(&sandbox_id, name.as_deref(), &o)
        });
        run_map(op, snapshot_object)
    }

    /// Snapshots this sandbox's files.
    #[wasm_bindgen(js_name = createSnapshot, unchecked_return_type = "Promise<SnapshotInfo>")]
    pub fn create_snapshot(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateSnapshotOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = read_opts(opts, js_options::snapshot_opts)
            .map(|(_, name)| self.inner.create_snapshot(name.as_deref()));
        run_map(op, snapshot_object)
    }

    /// Lists the team's snapshots page by page, newest first.
    #[wasm_bindgen(js_name = listSnapshotsById)]
    pub fn list_snapshots_of_team(
        #[wasm_bindgen(unchecked_optional_param_type = "SnapshotListOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<SnapshotPaginator, JsError> {
        let opts = read_opts(opts, js_options::snapshot_list_opts).map_err(js_error)?;
        Ok(SnapshotPaginator::new(sandkit::Sandbox::list_snapshots(
            opts,
        )))
    }

    /// Lists this sandbox's snapshots page by page, newest first.
    #[wasm_bindgen(js_name = listSnapshots)]
    pub fn list_snapshots(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SnapshotListOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<SnapshotPaginator, JsError> {
        let opts = read_opts(opts, js_options::snapshot_list_opts).map_err(js_error)?;
        Ok(SnapshotPaginator::new(self.inner.list_own_snapshots(opts)))
    }

    /// Deletes a snapshot: `true` if it was deleted, `false` if there was none.
    #[wasm_bindgen(js_name = deleteSnapshot, unchecked_return_type = "Promise<boolean>")]
    pub fn delete_snapshot(
        #[wasm_bindgen(js_name = snapshotId, unchecked_param_type = "string")] snapshot_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let snapshot_id = or_reject!(string_arg(&snapshot_id, "snapshotId"));
        let op = read_opts(opts, js_options::api_opts)
            .map(|o| sandkit::Sandbox::delete_snapshot(&snapshot_id, &o));
        run_map(op, JsValue::from)
    }

    /// Forks a sandbox: new sandboxes on a copy of its files. One entry per fork: the
    /// sandbox, or (a string the JS layer makes an error of) why it did not start.
    #[wasm_bindgen(js_name = forkById, unchecked_return_type = "Promise<Array<Sandbox | Error>>")]
    pub fn fork_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxForkOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::fork_opts)
            .map(|o| sandkit::Sandbox::fork_by_id(&sandbox_id, o));
        run_map(op, forks)
    }

    /// Forks this sandbox (see the static `fork`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Array<Sandbox | Error>>")]
    pub fn fork(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxForkOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let op =
            read_opts(opts, js_options::fork_opts).map(|o| self.inner.fork(o.count, o.timeout));
        run_map(op, forks)
    }

    /// A sandbox's CPU, memory and disk samples (every 5 s on E2B), oldest first.
    #[wasm_bindgen(js_name = getMetricsById, unchecked_return_type = "Promise<SandboxMetrics[]>")]
    pub fn get_metrics_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxMetricsOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::metrics_opts)
            .map(|o| sandkit::Sandbox::get_metrics_by_id(&sandbox_id, &o));
        run_map(op, metrics_objects)
    }

    /// This sandbox's CPU, memory and disk samples, oldest first.
    #[wasm_bindgen(js_name = getMetrics, unchecked_return_type = "Promise<SandboxMetrics[]>")]
    pub fn get_metrics(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxMetricsOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        run_map(
            read_opts(opts, js_options::metrics_opts).map(|o| self.inner.get_metrics(&o)),
            metrics_objects,
        )
    }

    /// Makes a sandbox end `timeoutMs` from now.
    #[wasm_bindgen(js_name = setTimeoutById, unchecked_return_type = "Promise<void>")]
    pub fn set_timeout_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(js_name = timeoutMs, unchecked_param_type = "number")] timeout_ms: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let timeout = timeout_arg(&timeout_ms);
        let opts = read_opts(opts, js_options::api_opts);
        let op = timeout.and_then(|t| {
            let o = opts?;
            Ok(sandkit::Sandbox::set_timeout_by_id(&sandbox_id, t, &o))
        });
        run_map(op, undefined)
    }

    /// Makes this sandbox end `timeoutMs` from now.
    #[wasm_bindgen(js_name = setTimeout, unchecked_return_type = "Promise<void>")]
    pub fn set_timeout(
        &self,
        #[wasm_bindgen(js_name = timeoutMs, unchecked_param_type = "number")] timeout_ms: JsValue,
    ) -> Promise {
        let timeout = timeout_arg(&timeout_ms);
        run_map(timeout.map(|t| self.inner.set_timeout(t)), undefined)
    }

    /// Replaces a sandbox's egress configuration; what `network` leaves out is cleared.
    #[wasm_bindgen(js_name = updateNetworkById, unchecked_return_type = "Promise<void>")]
    pub fn update_network_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SandboxNetworkUpdate")] network: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = network_update(network).and_then(|network| {
            let o = read_opts(opts, js_options::api_opts)?;
            Ok(sandkit::Sandbox::update_network_by_id(
                &sandbox_id,
                &network,
                &o,
            ))
        });
        run_map(op, undefined)
    }

    /// Replaces this sandbox's egress configuration; what `network` leaves out is cleared.
    #[wasm_bindgen(js_name = updateNetwork, unchecked_return_type = "Promise<void>")]
    pub fn update_network(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SandboxNetworkUpdate")] network: JsValue,
        #[wasm_bindgen(
            unchecked_optional_param_type = "Pick<SandboxOpts, 'requestTimeoutMs'> | null"
        )]
        opts: Option<JsValue>,
    ) -> Promise {
        let op = network_update(network).and_then(|network| {
            let timeout = read_opts(opts, js_options::api_opts)?.request_timeout_ms;
            Ok(self.inner.update_network(&network, timeout))
        });
        run_map(op, undefined)
    }

    /// Looks a sandbox up by id.
    #[wasm_bindgen(js_name = getInfoById, unchecked_return_type = "Promise<SandboxInfo>")]
    pub fn get_info_by_id(
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let sandbox_id = or_reject!(string_arg(&sandbox_id, "sandboxId"));
        let op = read_opts(opts, js_options::api_opts)
            .map(|o| sandkit::Sandbox::get_info_by_id(&sandbox_id, &o));
        match op {
            Ok(op) => run(op.then(|info| info_object(info?))),
            Err(e) => rejected(e),
        }
    }

    /// Looks this sandbox up.
    #[wasm_bindgen(js_name = getInfo, unchecked_return_type = "Promise<SandboxInfo>")]
    pub fn get_info(&self) -> Promise {
        run(self.inner.get_info().then(|info| info_object(info?)))
    }

    /// The host name under which `port` of the sandbox is reachable.
    #[wasm_bindgen(js_name = getHost, unchecked_return_type = "string")]
    pub fn get_host(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] port: JsValue,
    ) -> Result<JsValue, JsError> {
        let port = port_arg(&port).map_err(js_error)?;
        Ok(JsValue::from_str(&self.inner.get_host(port)))
    }

    /// The URL of `path` (default `/`) on `port` of the sandbox: `http://` for a local
    /// sandkitd's loopback domain, else `https://`.
    #[wasm_bindgen(js_name = getUrl, unchecked_return_type = "string")]
    pub fn get_url(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] port: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] path: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let port = port_arg(&port).map_err(js_error)?;
        let path = opt_string_arg(path, "path").map_err(js_error)?;
        let url = self
            .inner
            .get_url(port, path.as_deref())
            .map_err(js_error)?;
        Ok(JsValue::from_str(&url))
    }

    /// Where `sandbox.fetch(port, path)` sends its request, with the headers it adds.
    #[wasm_bindgen(js_name = fetchTarget, unchecked_return_type = "PublicRequest")]
    pub fn fetch_target(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] port: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] path: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let port = port_arg(&port).map_err(js_error)?;
        let path = opt_string_arg(path, "path").map_err(js_error)?;
        let req = self
            .inner
            .public_request(port, path.as_deref())
            .map_err(js_error)?;
        Ok(crate::public::request_object(req))
    }

    /// What a browser needs to reach this sandbox without the API key (a secret of this
    /// sandbox: its processes and files).
    #[wasm_bindgen(js_name = toHandle, unchecked_return_type = "SandboxHandle")]
    pub fn to_handle(&self) -> JsValue {
        crate::public::handle_object(self.inner.to_handle())
    }

    /// A sandbox from `sandbox.toHandle()`'s object: commands, files and public URLs work;
    /// control-plane calls need an `apiKey` in `opts`.
    #[wasm_bindgen(js_name = fromHandle)]
    pub fn from_handle(
        #[wasm_bindgen(unchecked_param_type = "SandboxHandle")] handle: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<Sandbox, JsError> {
        let made = read_opts(Some(handle), js_options::handle).and_then(|h| {
            sandkit::Sandbox::from_handle(h, &read_opts(opts, js_options::api_opts)?)
        });
        Ok(Sandbox {
            inner: made.map_err(js_error)?,
        })
    }

    /// Whether the sandbox answers (its daemon's health check).
    #[wasm_bindgen(js_name = isRunning, unchecked_return_type = "Promise<boolean>")]
    pub fn is_running(&self) -> Promise {
        run(self.inner.is_running().map(JsValue::from))
    }

    #[wasm_bindgen(js_name = commandsSpawn, unchecked_return_type = "Promise<ProcessHandle>")]
    pub fn commands_spawn(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] cmd: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ProcessStartOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let cmd = or_reject!(string_arg(&cmd, "cmd"));
        let op =
            read_opts(opts, js_options::run_opts).map(|o| self.inner.commands().spawn(&cmd, o));
        run_map(op, process_handle)
    }

    #[wasm_bindgen(js_name = commandsConnect, unchecked_return_type = "Promise<ProcessHandle>")]
    pub fn commands_connect(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] pid: JsValue,
        #[wasm_bindgen(js_name = timeoutMs, unchecked_optional_param_type = "number | null")]
        timeout_ms: Option<JsValue>,
    ) -> Promise {
        let pid = pid_arg(&pid);
        let timeout = opt_timeout_arg(timeout_ms);
        let op = pid.and_then(|pid| Ok(self.inner.commands().connect(pid, timeout?)));
        run_map(op, process_handle)
    }

    #[wasm_bindgen(js_name = commandsList, unchecked_return_type = "Promise<ProcessListing[]>")]
    pub fn commands_list(&self) -> Promise {
        run(self.inner.commands().list().map(commands::listings))
    }

    #[wasm_bindgen(js_name = commandsKill, unchecked_return_type = "Promise<boolean>")]
    pub fn commands_kill(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] pid: JsValue,
    ) -> Promise {
        let op = pid_arg(&pid).map(|pid| self.inner.commands().kill(pid));
        run_map(op, JsValue::from)
    }

    #[wasm_bindgen(js_name = commandsSendStdin, unchecked_return_type = "Promise<void>")]
    pub fn commands_send_stdin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] pid: JsValue,
        data: js_sys::Uint8Array,
    ) -> Promise {
        let op = pid_arg(&pid).map(|pid| self.inner.commands().send_stdin(pid, &data.to_vec()));
        run_map(op, undefined)
    }

    #[wasm_bindgen(js_name = commandsCloseStdin, unchecked_return_type = "Promise<void>")]
    pub fn commands_close_stdin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] pid: JsValue,
    ) -> Promise {
        let op = pid_arg(&pid).map(|pid| self.inner.commands().close_stdin(pid));
        run_map(op, undefined)
    }

    // Strings handed over as JavaScript strings made here: a `String` return costs the glue a
    // copy out of wasm memory and a free, in every getter.
    #[wasm_bindgen(getter = sandboxId, unchecked_return_type = "string")]
    pub fn sandbox_id(&self) -> JsValue {
        JsValue::from_str(self.inner.sandbox_id())
    }

    /// The domain the sandbox's public URLs live under.
    #[wasm_bindgen(getter = sandboxDomain, unchecked_return_type = "string")]
    pub fn sandbox_domain(&self) -> JsValue {
        JsValue::from_str(self.inner.sandbox_domain())
    }

    /// Required on public URLs when the sandbox refuses public traffic.
    #[wasm_bindgen(
        getter = trafficAccessToken,
        unchecked_return_type = "string | undefined"
    )]
    pub fn traffic_access_token(&self) -> JsValue {
        opt_str(self.inner.traffic_access_token())
    }
}
