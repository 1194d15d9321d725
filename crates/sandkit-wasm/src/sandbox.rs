//! `Sandbox`: static calls by id and instance calls on a connected sandbox.
//!
//! Static and instance methods share their JavaScript names (`Sandbox.kill(id)` and
//! `sandbox.kill()`), which wasm-bindgen 0.2.130 refuses: both would be exported from the wasm
//! module as `sandbox_kill` ("symbol `sandbox_kill_<hash>` is already defined"). So the static
//! forms are exported as `connectById`, `killById`, `setTimeoutById` and `getInfoById`, and
//! `scripts/build-wasm.sh` renames them to their public names in the generated glue (.js and
//! .d.ts) and checks that it did.

use crate::convert::{Opts, api_opts, connect_opts, create_opts, info_object, js_error, list_opts};
use crate::paginator::SandboxPaginator;
use sandkit::Error;
use wasm_bindgen::prelude::*;

/// A sandbox: an isolated Linux environment with its own processes and files.
#[wasm_bindgen]
pub struct Sandbox {
    inner: sandkit::Sandbox,
}

#[wasm_bindgen]
impl Sandbox {
    /// Creates a sandbox from a template (default `base`).
    pub async fn create(
        #[wasm_bindgen(js_name = templateOrOpts, unchecked_optional_param_type = "string | SandboxOpts")]
        template_or_opts: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxOpts")] opts: Option<JsValue>,
    ) -> Result<Sandbox, JsError> {
        // A string is the template; anything else present is the options (checked there).
        let (template, opts, what) = match template_or_opts {
            Some(v) if v.is_string() => (v.as_string(), opts, "opts"),
            Some(v) if !v.is_undefined() && !v.is_null() => (None, Some(v), "templateOrOpts"),
            _ => (None, opts, "opts"),
        };
        let run = async {
            let o = Opts::new(opts, what)?;
            let inner = sandkit::Sandbox::create(create_opts(template, &o)?).await?;
            Ok::<_, Error>(Sandbox { inner })
        };
        run.await.map_err(js_error)
    }

    /// Connects to a running sandbox or resumes a paused one, extending its life.
    #[wasm_bindgen(js_name = connectById)]
    pub async fn connect_by_id(
        #[wasm_bindgen(js_name = sandboxId)] sandbox_id: String,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxConnectOpts")] opts: Option<JsValue>,
    ) -> Result<Sandbox, JsError> {
        let run = async {
            let inner = sandkit::Sandbox::connect(&sandbox_id, connect_opts(opts)?).await?;
            Ok::<_, Error>(Sandbox { inner })
        };
        run.await.map_err(js_error)
    }

    /// Connects to this sandbox again, extending its life.
    pub async fn connect(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxConnectOpts")] opts: Option<JsValue>,
    ) -> Result<Sandbox, JsError> {
        let this = self.inner.clone();
        let run = async {
            let inner = this.reconnect(connect_opts(opts)?.timeout).await?;
            Ok::<_, Error>(Sandbox { inner })
        };
        run.await.map_err(js_error)
    }

    /// Lists sandboxes page by page.
    pub fn list(
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxListOpts")] opts: Option<JsValue>,
    ) -> Result<SandboxPaginator, JsError> {
        let opts = list_opts(opts).map_err(js_error)?;
        Ok(SandboxPaginator::new(sandkit::Sandbox::list(opts)))
    }

    /// Kills a sandbox: `true` if it was killed, `false` if there was no such sandbox.
    #[wasm_bindgen(js_name = killById)]
    pub async fn kill_by_id(
        #[wasm_bindgen(js_name = sandboxId)] sandbox_id: String,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts")] opts: Option<JsValue>,
    ) -> Result<bool, JsError> {
        let run = async { sandkit::Sandbox::kill_by_id(&sandbox_id, &api_opts(opts)?).await };
        run.await.map_err(js_error)
    }

    /// Kills this sandbox: `true` if it was killed, `false` if it was already gone.
    pub async fn kill(&self) -> Result<bool, JsError> {
        let this = self.inner.clone();
        this.kill().await.map_err(js_error)
    }

    /// Makes a sandbox end `timeoutMs` from now.
    #[wasm_bindgen(js_name = setTimeoutById)]
    pub async fn set_timeout_by_id(
        #[wasm_bindgen(js_name = sandboxId)] sandbox_id: String,
        #[wasm_bindgen(js_name = timeoutMs)] timeout_ms: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts")] opts: Option<JsValue>,
    ) -> Result<(), JsError> {
        let run = async {
            let timeout = sandkit::duration_from_js_millis("timeoutMs", timeout_ms)?;
            sandkit::Sandbox::set_timeout_by_id(&sandbox_id, timeout, &api_opts(opts)?).await
        };
        run.await.map_err(js_error)
    }

    /// Makes this sandbox end `timeoutMs` from now.
    #[wasm_bindgen(js_name = setTimeout)]
    pub async fn set_timeout(
        &self,
        #[wasm_bindgen(js_name = timeoutMs)] timeout_ms: f64,
    ) -> Result<(), JsError> {
        let this = self.inner.clone();
        let run = async {
            let timeout = sandkit::duration_from_js_millis("timeoutMs", timeout_ms)?;
            this.set_timeout(timeout).await
        };
        run.await.map_err(js_error)
    }

    /// Looks a sandbox up by id.
    #[wasm_bindgen(js_name = getInfoById, unchecked_return_type = "SandboxInfo")]
    pub async fn get_info_by_id(
        #[wasm_bindgen(js_name = sandboxId)] sandbox_id: String,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let run = async { sandkit::Sandbox::get_info_by_id(&sandbox_id, &api_opts(opts)?).await };
        run.await.map(info_object).map_err(js_error)
    }

    /// Looks this sandbox up.
    #[wasm_bindgen(js_name = getInfo, unchecked_return_type = "SandboxInfo")]
    pub async fn get_info(&self) -> Result<JsValue, JsError> {
        let this = self.inner.clone();
        this.get_info().await.map(info_object).map_err(js_error)
    }

    /// The host name under which `port` of the sandbox is reachable.
    #[wasm_bindgen(js_name = getHost)]
    pub fn get_host(&self, port: f64) -> Result<String, JsError> {
        if port.fract() != 0.0 || !(0.0..=65535.0).contains(&port) {
            return Err(js_error(Error::invalid_argument(format!(
                "port must be an integer from 0 to 65535, got {port}"
            ))));
        }
        Ok(self.inner.get_host(port as u16))
    }

    #[wasm_bindgen(getter = sandboxId)]
    pub fn sandbox_id(&self) -> String {
        self.inner.sandbox_id().to_string()
    }

    /// The domain the sandbox's public URLs live under.
    #[wasm_bindgen(getter = sandboxDomain)]
    pub fn sandbox_domain(&self) -> String {
        self.inner.sandbox_domain().to_string()
    }

    /// Required on public URLs when the sandbox refuses public traffic.
    #[wasm_bindgen(getter = trafficAccessToken)]
    pub fn traffic_access_token(&self) -> Option<String> {
        self.inner.traffic_access_token().map(str::to_string)
    }
}
