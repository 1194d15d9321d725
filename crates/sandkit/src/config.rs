//! Connection settings: call options first, then the environment, then defaults — the order
//! and meaning of the official SDK. The environment is injected: wasm has none.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::sync::Arc;

pub const DEFAULT_DOMAIN: &str = "e2b.app";
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_RETRIES: u32 = 3;
const DEBUG_API_URL: &str = "http://localhost:3000";

/// A source of environment variables.
pub trait Env: Send + Sync {
    fn var(&self, name: &str) -> Option<String>;
}

/// No environment at all (browsers, Workers).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// The process environment (native only).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

#[cfg(not(target_arch = "wasm32"))]
impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, handy in tests and for callers that keep their own config.
impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Per-call connection options; every field is optional.
#[derive(Clone, Default)]
pub struct ConnectionOpts {
    pub api_key: Option<String>,
    pub domain: Option<String>,
    pub api_url: Option<String>,
    pub sandbox_url: Option<String>,
    pub debug: Option<bool>,
    /// Milliseconds for one whole call, retries included; `0` disables the limit.
    pub request_timeout_ms: Option<u64>,
    /// How many times an idempotent call is retried.
    pub retries: Option<u32>,
    /// Extra headers sent to the control plane only.
    pub headers: Vec<(String, String)>,
    /// Allow an API key in a browser, where any visitor can read it.
    pub dangerously_allow_browser: bool,
    /// The client (transport, clock, environment) to use instead of the default one.
    pub client: Option<Client>,
}

impl fmt::Debug for ConnectionOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionOpts")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("domain", &self.domain)
            .field("api_url", &self.api_url)
            .field("sandbox_url", &self.sandbox_url)
            .field("debug", &self.debug)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// Resolved settings for one call.
#[derive(Clone)]
pub struct ConnectionConfig {
    pub(crate) api_key: Option<Arc<str>>,
    pub domain: String,
    pub api_url: String,
    pub sandbox_url: Option<String>,
    pub debug: bool,
    pub request_timeout_ms: u64,
    pub retries: u32,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) client: Client,
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("domain", &self.domain)
            .field("api_url", &self.api_url)
            .field("sandbox_url", &self.sandbox_url)
            .field("debug", &self.debug)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

impl ConnectionConfig {
    /// The host name under which `port` of sandbox `sandbox_id` is reached (`localhost:<port>`
    /// in debug mode), on `sandbox_domain` or else this configuration's domain.
    pub fn host(&self, sandbox_id: &str, port: u16, sandbox_domain: Option<&str>) -> String {
        if self.debug {
            format!("localhost:{port}")
        } else {
            format!(
                "{port}-{sandbox_id}.{}",
                sandbox_domain.unwrap_or(&self.domain)
            )
        }
    }

    /// The daemon's URL for `sandbox_id` on `port`, as the official SDK's `getSandboxUrl`
    /// (`shared_host`) and `getSandboxDirectUrl` compute them.
    pub fn sandbox_daemon_url(
        &self,
        sandbox_id: &str,
        sandbox_domain: Option<&str>,
        port: u16,
        shared_host: bool,
    ) -> String {
        let domain = sandbox_domain.unwrap_or(&self.domain).to_string();
        crate::envd::daemon_url_on(self, sandbox_id, &domain, port, shared_host)
    }

    /// Resolves options against the client's environment and the defaults.
    pub fn resolve(opts: &ConnectionOpts) -> Result<Self> {
        let client = opts.client.clone().unwrap_or_else(Client::shared);
        let env = |name: &str| non_empty(client.env().var(name));
        let debug = opts
            .debug
            .unwrap_or_else(|| env("E2B_DEBUG").is_some_and(|v| v.eq_ignore_ascii_case("true")));
        let domain = non_empty(opts.domain.clone())
            .or_else(|| env("E2B_DOMAIN"))
            .unwrap_or_else(|| DEFAULT_DOMAIN.to_string());
        let api_url = non_empty(opts.api_url.clone())
            .or_else(|| env("E2B_API_URL"))
            .unwrap_or_else(|| {
                if debug {
                    DEBUG_API_URL.to_string()
                } else {
                    format!("https://api.{domain}")
                }
            });
        let sandbox_url = non_empty(opts.sandbox_url.clone()).or_else(|| env("E2B_SANDBOX_URL"));
        let api_key = non_empty(opts.api_key.clone()).or_else(|| env("E2B_API_KEY"));
        if api_key.is_some() && client.platform().is_browser && !opts.dangerously_allow_browser {
            return Err(Error::new(
                ErrorKind::Authentication,
                "Refusing to use an API key in a browser, where every visitor can read it. Create \
                 sandboxes on a server and hand the browser only the sandbox's access tokens, or \
                 pass `dangerouslyAllowBrowser: true` if you accept the risk.",
            ));
        }
        if api_key
            .as_deref()
            .is_some_and(|k| !crate::transport::header_value_allowed(k))
        {
            return Err(Error::invalid_argument(format!(
                "apiKey has a character an HTTP header cannot carry ({})",
                crate::transport::NOT_IN_A_HEADER
            )));
        }
        for (name, value) in &opts.headers {
            if !crate::transport::header_name_allowed(name)
                || !crate::transport::header_value_allowed(value)
            {
                return Err(Error::invalid_argument(format!(
                    "headers: `{name}` is not a header name HTTP allows, or its value has {}",
                    crate::transport::NOT_IN_A_HEADER
                )));
            }
        }
        for url in std::iter::once(&api_url).chain(sandbox_url.as_ref()) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid_argument(format!(
                    "`{url}` is not an http(s) URL"
                )));
            }
        }
        Ok(ConnectionConfig {
            api_key: api_key.map(Arc::from),
            domain,
            api_url: api_url.trim_end_matches('/').to_string(),
            sandbox_url: sandbox_url.map(|u| u.trim_end_matches('/').to_string()),
            debug,
            request_timeout_ms: opts
                .request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
            retries: opts.retries.unwrap_or(DEFAULT_RETRIES),
            headers: opts.headers.clone(),
            client,
        })
    }

    /// The API key, or the error the official SDK gives before sending anything.
    pub(crate) fn require_api_key(&self) -> Result<&str> {
        self.api_key.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Authentication,
                "API key is required, please visit the Team tab at https://e2b.dev/dashboard to \
                 get your API key. You can either set the environment variable `E2B_API_KEY` or \
                 pass it directly as `apiKey`.",
            )
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_headers_no_header_can_carry_are_refused_without_showing_them() {
        let resolve = |api_key: &str, headers: Vec<(String, String)>| {
            ConnectionConfig::resolve(&ConnectionOpts {
                api_key: Some(api_key.to_string()),
                api_url: Some("http://127.0.0.1:1".to_string()),
                headers,
                ..Default::default()
            })
        };
        assert!(resolve("sk_e2b_ok", vec![("x-team".into(), "a b".into())]).is_ok());
        for key in ["sk\r\nX-Evil: 1", "sk\0", "sk_ключ"] {
            let e = resolve(key, vec![]).expect_err(key);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().starts_with("apiKey "), "{}", e.message());
            assert!(!e.message().contains(key), "{}", e.message());
        }
        for (name, value) in [("x team", "v"), ("x-team", "a\nb")] {
            let e = resolve("sk", vec![(name.into(), value.into())]).expect_err(name);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().starts_with("headers: "), "{}", e.message());
        }
    }
}
