//! A sandbox's public URLs (`<port>-<id>.<domain>`), the request that reaches one with the
//! sandbox's traffic token, and the browser-safe handle of one sandbox.
//!
//! The rules live here so that every binding makes the same URL and sends the token to the
//! same place, and nowhere else.

use crate::config::{ConnectionConfig, ConnectionOpts};
use crate::error::{Error, ErrorKind, Result};
use crate::sandbox::Sandbox;

/// The header a sandbox that refuses public traffic wants on every request to its ports.
pub const TRAFFIC_TOKEN_HEADER: &str = "e2b-traffic-access-token";

/// `http` for a loopback host (a local sandkitd serves plain HTTP), `https` for the rest.
pub fn scheme_for(host: &str) -> &'static str {
    // The host without its port; `[::1]:3000` keeps its brackets.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.to_ascii_lowercase();
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name == "[::1]"
        || name.starts_with("127.");
    if loopback { "http" } else { "https" }
}

/// A request to one of the sandbox's ports: where it goes and the headers it must carry.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for PublicRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The traffic token rides in the headers: show their names only.
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("PublicRequest")
            .field("url", &self.url)
            .field("headers", &names)
            .finish()
    }
}

/// What a browser needs to reach one sandbox without the API key: commands, files, public
/// URLs. A secret, but of that sandbox only: whoever holds it controls the sandbox's
/// processes and files, and nothing else.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxHandle {
    pub sandbox_id: String,
    pub domain: String,
    pub envd_version: String,
    pub envd_access_token: Option<String>,
    pub traffic_access_token: Option<String>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tokens are secrets: leave them out.
        f.debug_struct("SandboxHandle")
            .field("sandbox_id", &self.sandbox_id)
            .field("domain", &self.domain)
            .field("envd_version", &self.envd_version)
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// A handle from the fields a binding read off a JavaScript object: the id, the domain
    /// and the daemon's version are required, the tokens optional.
    pub fn from_fields(
        sandbox_id: Option<String>,
        domain: Option<String>,
        envd_version: Option<String>,
        envd_access_token: Option<String>,
        traffic_access_token: Option<String>,
    ) -> Result<SandboxHandle> {
        let required = |v: Option<String>, name: &str| {
            v.ok_or_else(|| {
                Error::invalid_argument(format!(
                    "handle.{name} is required: pass the object sandbox.toHandle() made"
                ))
            })
        };
        Ok(SandboxHandle {
            sandbox_id: required(sandbox_id, "sandboxId")?,
            domain: required(domain, "domain")?,
            envd_version: required(envd_version, "envdVersion")?,
            envd_access_token,
            traffic_access_token,
        })
    }
}

/// A path for a public URL: empty means `/`; anything else starts with `/` and has no
/// control characters or spaces (which would make another request than the caller meant).
fn checked_path(path: Option<&str>) -> Result<&str> {
    let path = path.unwrap_or("");
    if path.is_empty() {
        return Ok("/");
    }
    if !path.starts_with('/') || path.starts_with("//") {
        // JSON quoting, not `{:?}`: Debug for str brings Unicode tables into the wasm module.
        return Err(Error::invalid_argument(
            "path must start with a single '/' (a path on the sandbox's port, never another host), got "
                .to_string()
                + &crate::json::quote(path),
        ));
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::invalid_argument(
            "path must not contain spaces or control characters: percent-encode them",
        ));
    }
    Ok(path)
}

impl Sandbox {
    /// The URL of `path` on `port` of the sandbox: `http://` for a loopback domain (a local
    /// sandkitd), else `https://`, then [`Sandbox::get_host`].
    pub fn get_url(&self, port: u16, path: Option<&str>) -> Result<String> {
        let path = checked_path(path)?;
        let host = self.get_host(port);
        Ok(format!("{}://{host}{path}", scheme_for(&host)))
    }

    /// Where a request for `path` on `port` goes, with the traffic token when the sandbox has
    /// one. With a `sandboxUrl` configured (`E2B_SANDBOX_URL`), it goes there with the routing
    /// headers, like every other request for the sandbox.
    pub fn public_request(&self, port: u16, path: Option<&str>) -> Result<PublicRequest> {
        let mut headers = Vec::new();
        let url = match &self.config().sandbox_url {
            Some(base) if !self.config().debug => {
                let path = checked_path(path)?;
                headers.push(("E2b-Sandbox-Id".to_string(), self.sandbox_id().to_string()));
                headers.push(("E2b-Sandbox-Port".to_string(), port.to_string()));
                format!("{}{path}", base.trim_end_matches('/'))
            }
            _ => self.get_url(port, path)?,
        };
        if let Some(token) = self.traffic_access_token() {
            headers.push((TRAFFIC_TOKEN_HEADER.to_string(), token.to_string()));
        }
        Ok(PublicRequest { url, headers })
    }

    /// This sandbox's handle, for a browser (see [`SandboxHandle`]).
    pub fn to_handle(&self) -> SandboxHandle {
        SandboxHandle {
            sandbox_id: self.sandbox_id().to_string(),
            domain: self.sandbox_domain().to_string(),
            envd_version: self.envd_version().to_string(),
            envd_access_token: self.envd_access_token().map(str::to_string),
            traffic_access_token: self.traffic_access_token().map(str::to_string),
        }
    }

    /// A sandbox from its handle: its daemon and ports work; control-plane calls need an API
    /// key in `opts` (a browser has none, and they then fail saying so). `E2B_API_KEY` is not
    /// read: a handle-made sandbox has only what its maker gives it.
    pub fn from_handle(handle: SandboxHandle, opts: &ConnectionOpts) -> Result<Sandbox> {
        let mut config = ConnectionConfig::resolve(opts)?;
        config.api_key = opts
            .api_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(Into::into);
        let valid_id = !handle.sandbox_id.is_empty()
            && handle
                .sandbox_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_id {
            return Err(Error::invalid_argument(
                "handle.sandboxId must be a sandbox id (letters, digits, '-' and '_')",
            ));
        }
        let valid_domain = !handle.domain.is_empty()
            && handle.domain.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !valid_domain {
            return Err(Error::invalid_argument(
                "handle.domain must be a host name, with a port if any (e.g. e2b.app or localhost:3000)",
            ));
        }
        Ok(Sandbox::from_handle_parts(handle, config))
    }
}

/// The error of a control-plane call on a sandbox made from a handle without an API key.
pub(crate) fn no_key_for_handle() -> Error {
    Error::new(
        ErrorKind::Authentication,
        "this sandbox was made with Sandbox.fromHandle and has no API key: kill, setTimeout, \
         getInfo and connect are control-plane calls, made by the server that holds the key",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_plain_http() {
        assert_eq!(scheme_for("3000-abc.localhost:3000"), "http");
        assert_eq!(scheme_for("localhost:8080"), "http");
        assert_eq!(scheme_for("127.0.0.1:3000"), "http");
        assert_eq!(scheme_for("[::1]:3000"), "http");
        assert_eq!(scheme_for("3000-abc.e2b.app"), "https");
        assert_eq!(scheme_for("localhost.example.com"), "https");
    }

    #[test]
    fn paths_stay_on_the_sandbox() {
        assert_eq!(checked_path(None), Ok("/"));
        assert_eq!(checked_path(Some("/a?b=1")), Ok("/a?b=1"));
        assert!(checked_path(Some("//evil.example/x")).is_err());
        assert!(checked_path(Some("http://evil.example/")).is_err());
        assert!(checked_path(Some("@evil.example")).is_err());
        assert!(checked_path(Some("/a b")).is_err());
        assert!(checked_path(Some("/a\r\nX: y")).is_err());
    }
}
