//! `ConnectionConfig`: the connection settings the core resolves (options, then `E2B_*`, then
//! defaults), shaped as the `e2b` package's class.

use crate::convert::{JsAnyArg, guarded_sync, or_undefined, read_opts};
use napi::bindgen_prelude::Either;
use napi_derive::napi;
use sandkit::options::from_js;

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
        sandbox_id: String,
        port: f64,
        sandbox_domain: Option<String>,
    ) -> napi::Result<String> {
        guarded_sync(|| {
            let port = from_js::port(port)?;
            Ok(self
                .inner
                .host(&sandbox_id, port, sandbox_domain.as_deref()))
        })
    }

    /// The URL SDK calls reach a sandbox's daemon at.
    #[napi]
    pub fn get_sandbox_url(
        &self,
        sandbox_id: String,
        #[napi(ts_arg_type = "SandboxUrlOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        self.daemon_url(sandbox_id, opts, true)
    }

    /// The sandbox's own daemon URL (what signed URLs use).
    #[napi]
    pub fn get_sandbox_direct_url(
        &self,
        sandbox_id: String,
        #[napi(ts_arg_type = "SandboxUrlOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        self.daemon_url(sandbox_id, opts, false)
    }
}

impl ConnectionConfig {
    fn daemon_url(
        &self,
        sandbox_id: String,
        opts: Option<JsAnyArg>,
        shared_host: bool,
    ) -> napi::Result<String> {
        guarded_sync(|| {
            let (port, domain) = read_opts(opts, sandkit::js_options::daemon_url_opts)?;
            let domain = domain.as_deref();
            Ok(self
                .inner
                .sandbox_daemon_url(&sandbox_id, domain, port, shared_host))
        })
    }
}
