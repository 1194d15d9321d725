//! `ConnectionConfig`: the connection settings the core resolves (options, then defaults; no
//! environment in wasm), shaped as the `e2b` package's class.

use crate::convert::{js_error, opt_string_arg, port_arg, read_opts, string_arg};
use sandkit::js_options;
use wasm_bindgen::prelude::*;

/// The resolved connection settings.
#[wasm_bindgen(js_name = ConnectionConfig)]
pub struct JsConnectionConfig {
    inner: sandkit::ConnectionConfig,
}

#[wasm_bindgen(js_class = ConnectionConfig)]
impl JsConnectionConfig {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxApiOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<JsConnectionConfig, JsError> {
        let inner = read_opts(opts, js_options::api_opts)
            .and_then(|o| sandkit::ConnectionConfig::resolve(&o))
            .map_err(js_error)?;
        Ok(JsConnectionConfig { inner })
    }

    #[wasm_bindgen(getter = apiUrl)]
    pub fn api_url(&self) -> String {
        self.inner.api_url.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn domain(&self) -> String {
        self.inner.domain.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn debug(&self) -> bool {
        self.inner.debug
    }

    #[wasm_bindgen(getter = sandboxUrl)]
    pub fn sandbox_url(&self) -> Option<String> {
        self.inner.sandbox_url.clone()
    }

    #[wasm_bindgen(getter = requestTimeoutMs)]
    pub fn request_timeout_ms(&self) -> f64 {
        self.inner.request_timeout_ms as f64
    }

    /// The host of `port` of a sandbox (`localhost:<port>` in debug mode).
    #[wasm_bindgen(js_name = getHost)]
    pub fn get_host(
        &self,
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] port: JsValue,
        #[wasm_bindgen(js_name = sandboxDomain, unchecked_optional_param_type = "string | null")]
        sandbox_domain: Option<JsValue>,
    ) -> Result<String, JsError> {
        let sandbox_id = string_arg(&sandbox_id, "sandboxId").map_err(js_error)?;
        let port = port_arg(&port).map_err(js_error)?;
        let domain = opt_string_arg(sandbox_domain, "sandboxDomain").map_err(js_error)?;
        Ok(self.inner.host(&sandbox_id, port, domain.as_deref()))
    }

    /// The URL SDK calls reach a sandbox's daemon at.
    #[wasm_bindgen(js_name = getSandboxUrl)]
    pub fn get_sandbox_url(
        &self,
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxUrlOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<String, JsError> {
        self.daemon_url(&sandbox_id, opts, true)
    }

    /// The sandbox's own daemon URL (what signed URLs use).
    #[wasm_bindgen(js_name = getSandboxDirectUrl)]
    pub fn get_sandbox_direct_url(
        &self,
        #[wasm_bindgen(js_name = sandboxId, unchecked_param_type = "string")] sandbox_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SandboxUrlOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Result<String, JsError> {
        self.daemon_url(&sandbox_id, opts, false)
    }
}

impl JsConnectionConfig {
    fn daemon_url(
        &self,
        sandbox_id: &JsValue,
        opts: Option<JsValue>,
        shared_host: bool,
    ) -> Result<String, JsError> {
        let sandbox_id = string_arg(sandbox_id, "sandboxId").map_err(js_error)?;
        let (port, domain) = read_opts(opts, js_options::daemon_url_opts).map_err(js_error)?;
        Ok(self
            .inner
            .sandbox_daemon_url(&sandbox_id, domain.as_deref(), port, shared_host))
    }
}
