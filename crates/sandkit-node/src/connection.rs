//! `ConnectionConfig`: the connection settings the core resolves (options, then `E2B_*`, then
//! defaults), shaped as the `e2b` package's class.

use crate::convert::{JsAnyArg, guarded_sync, opt_arg, or_undefined, read_opts};
use napi::bindgen_prelude::Either;
use napi_derive::napi;
use sandkit::js_options;

/// The resolved connection settings.
#[napi]
pub struct ConnectionConfig {
    inner: sandkit::ConnectionConfig,
}

#[napi]
impl ConnectionConfig {
    #[napi(constructor)]
    pub fn new(
        #[napi(ts_arg_type = "SandboxApiOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Self> {
        guarded_sync(|| {
            let inner = sandkit::ConnectionConfig::resolve(&read_opts(
                opts,
                sandkit::js_options::api_opts,
            )?)?;
            Ok(ConnectionConfig { inner })
        })
    }

    #[napi(getter)]
    pub fn api_url(&self) -> String {
        self.inner.api_url.clone()
    }

    #[napi(getter)]
    pub fn domain(&self) -> String {
        self.inner.domain.clone()
    }

    #[napi(getter)]
    pub fn debug(&self) -> bool {
        self.inner.debug
    }

    #[napi(getter)]
    pub fn sandbox_url(&self) -> Either<String, ()> {
        or_undefined(self.inner.sandbox_url.clone())
    }

    #[napi(getter)]
    pub fn request_timeout_ms(&self) -> f64 {
        self.inner.request_timeout_ms as f64
    }

    /// The host of `port` of a sandbox (`localhost:<port>` in debug mode).
    #[napi]
    pub fn get_host(
        &self,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "number")] port: JsAnyArg,
        #[napi(ts_arg_type = "string | undefined | null")] sandbox_domain: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        guarded_sync(|| {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let port = js_options::port_arg(&port.0)?;
            let sandbox_domain =
                js_options::opt_string_arg(opt_arg(sandbox_domain), "sandboxDomain")?;
            Ok(self
                .inner
                .host(&sandbox_id, port, sandbox_domain.as_deref()))
        })
    }

    /// The URL SDK calls reach a sandbox's daemon at.
    #[napi]
    pub fn get_sandbox_url(
        &self,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxUrlOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        self.daemon_url(sandbox_id, opts, true)
    }

    /// The sandbox's own daemon URL (what signed URLs use).
    #[napi]
    pub fn get_sandbox_direct_url(
        &self,
        #[napi(ts_arg_type = "string")] sandbox_id: JsAnyArg,
        #[napi(ts_arg_type = "SandboxUrlOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        self.daemon_url(sandbox_id, opts, false)
    }
}

impl ConnectionConfig {
    fn daemon_url(
        &self,
        sandbox_id: JsAnyArg,
        opts: Option<JsAnyArg>,
        shared_host: bool,
    ) -> napi::Result<String> {
        guarded_sync(|| {
            let sandbox_id = js_options::string_arg(sandbox_id.0, "sandboxId")?;
            let (port, domain) = read_opts(opts, sandkit::js_options::daemon_url_opts)?;
            let domain = domain.as_deref();
            Ok(self
                .inner
                .sandbox_daemon_url(&sandbox_id, domain, port, shared_host))
        })
    }
}
