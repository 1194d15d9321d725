//! The in-sandbox daemon protocol (envd, port 49983), served by sandkitd for every sandbox.
//!
//! A request is for a sandbox when it names one: the `E2b-Sandbox-Id` header (what
//! `E2B_SANDBOX_URL` makes the SDKs send, with `E2b-Sandbox-Port`), or a
//! `<port>-<sandboxId>.<domain>` host (what browsers use). Everything else is the control
//! plane.

pub mod connect;
mod envelopes;
pub mod files;
pub mod filesystem;
pub mod fs;
pub mod process;
pub mod procs;
pub mod protobuf;
pub mod watch;
pub mod watchers;

use crate::api::AppState;
use crate::error::json_response;
use crate::live::LiveSandbox;
use crate::sandbox::User;
use crate::store::{Traffic, now_ns};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use connect::RpcError;
use std::sync::Arc;
use std::time::Duration;

/// The daemon's port.
pub const ENVD_PORT: u16 = 49983;
/// The largest RPC request body (a start request with a large command or environment).
const MAX_RPC_BODY: usize = 8 * 1024 * 1024;

/// Which sandbox and port a request is for, if any.
pub fn target(headers: &HeaderMap, domain: &str) -> Option<(String, u16)> {
    if let Some(id) = headers.get("e2b-sandbox-id").and_then(|v| v.to_str().ok()) {
        let port = headers
            .get("e2b-sandbox-port")
            .and_then(|v| v.to_str().ok())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(ENVD_PORT);
        return Some((id.trim().to_string(), port));
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let label = host.strip_suffix(domain)?.strip_suffix('.')?;
    let (port, id) = label.split_once('-')?;
    Some((id.to_string(), port.parse().ok()?))
}

/// Middleware in front of the control plane: takes the requests that are for a sandbox.
pub async fn route(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some((id, port)) = target(req.headers(), &app.domain) {
        return handle(app, id, port, req).await;
    }
    // A signed `/files` URL made with `E2B_SANDBOX_URL` names no sandbox: its signature does.
    if req.uri().path() == "/files" {
        let query = req.uri().query().unwrap_or("");
        if let Some(op) = files::operation(req.method()) {
            if let Some(live) = app.live.find(|l| files::signed_by(l, query, op)) {
                let id = live.id.clone();
                return handle(app, id, ENVD_PORT, req).await;
            }
            // What envd answers a wrong signature, rather than "no such endpoint".
            if files::query_param(query, "signature").is_some() {
                return rest_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid signature: no running sandbox signed this URL (a wrong signature, or its sandbox is gone)",
                );
            }
        }
    }
    next.run(req).await
}

/// What E2B's proxy answers for a sandbox that does not exist (any more): the SDKs read 502
/// as "the sandbox is gone" (`isRunning()` false, `TimeoutError`).
fn sandbox_gone(id: &str) -> Response {
    json_response(
        StatusCode::BAD_GATEWAY,
        &serde_json::json!({
            "sandboxId": id,
            "message": "The sandbox was not found",
            "code": 502,
        }),
    )
}

/// Reads and throws away what is left of a request body, up to `limit` bytes: a client still
/// sending a refused request then reads the answer instead of a broken pipe.
pub(crate) async fn drain<S, E>(body: &mut S, limit: u64)
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    use futures_util::StreamExt;
    let mut read = 0u64;
    while read < limit {
        match body.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            _ => return,
        }
    }
}

pub(crate) fn rest_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &serde_json::json!({ "code": status.as_u16(), "message": message }),
    )
}

async fn handle(app: Arc<AppState>, id: String, port: u16, req: Request) -> Response {
    // Counted before anything else, so that a refused request resumes nothing either.
    if let Err(quota) = app.limits.admit_op(client_ip(&req)) {
        return rate_limited(&app, &id, port, &req, quota);
    }
    // Traffic resumes a paused sandbox that asked for it (`autoResume`).
    let traffic = app.store.admit_traffic(&id, now_ns());
    if traffic == Traffic::Resumed
        && let Some(record) = app.store.get_any(&id)
        && let Err(why) = app.live.resume(&app.store, &record).await
    {
        app.live.log_error(&id, "resume the sandbox", &why);
        let origin = req.headers().get(header::ORIGIN).cloned();
        return crate::proxy::own_error(
            StatusCode::BAD_GATEWAY,
            &id,
            port,
            &format!("The sandbox could not be resumed: {why}"),
            origin,
        );
    }
    // Its processes are stopped: nothing there can answer until it is resumed.
    if traffic == Traffic::Paused {
        let origin = req.headers().get(header::ORIGIN).cloned();
        return crate::proxy::own_error(
            StatusCode::BAD_GATEWAY,
            &id,
            port,
            "The sandbox is paused: resume it with Sandbox.connect",
            origin,
        );
    }
    let found = app.live.get(&id);
    let live = match found {
        Some(live) if traffic != Traffic::Gone => live,
        _ if port == ENVD_PORT => return sandbox_gone(&id),
        // Other ports are for pages too: an answer they can read, and a known sandbox that
        // ended told apart from an id that never was.
        found => {
            let origin = req.headers().get(header::ORIGIN).cloned();
            let (status, message) = if found.is_some() || app.live.ended_lately(&id) {
                (
                    StatusCode::BAD_GATEWAY,
                    "The sandbox was not found: it was killed or reached its end of life",
                )
            } else {
                (
                    StatusCode::NOT_FOUND,
                    "The sandbox was not found: no sandbox has this id",
                )
            };
            return crate::proxy::own_error(status, &id, port, message, origin);
        }
    };
    if port == crate::interpreter::PORT {
        return match crate::proxy::admit(&live, port, &req) {
            Some(refused) => refused,
            None => crate::interpreter::handle(&app.interpreter, live, req).await,
        };
    }
    if port != ENVD_PORT {
        return crate::proxy::handle(live, port, req).await;
    }
    let path = req.uri().path().to_string();
    if path == "/health" {
        return StatusCode::NO_CONTENT.into_response();
    }
    // `/files` checks its own auth: a header token or a URL signature.
    if path == "/files" {
        return files::handle(live, req).await;
    }
    let (parts, body) = req.into_parts();
    if !token_ok(&parts.headers, &live.envd_token) {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized access, please provide a valid access token or method signing if supported",
        );
    }
    let Some(rpc) = path.strip_prefix('/') else {
        return rest_error(StatusCode::NOT_FOUND, "no such route");
    };
    let Some((service, method)) = rpc.split_once('/') else {
        return rest_error(StatusCode::NOT_FOUND, &format!("no such route: {path}"));
    };
    if !matches!(service, "process.Process" | "filesystem.Filesystem") {
        return rest_error(StatusCode::NOT_FOUND, &format!("no such route: {path}"));
    }
    if parts.method != Method::POST {
        return rest_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Connect calls are POST requests",
        );
    }
    let codec = connect::codec_of(
        parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    // A client stream's messages are taken as they arrive, not once its body has ended.
    if service == "process.Process" && method == "StreamInput" {
        let call = Call {
            headers: parts.headers,
            body: Bytes::new(),
            codec,
            schema: protobuf::schema(service, method),
        };
        return process::stream_input(live, call, body).await;
    }
    let body = match axum::body::to_bytes(body, MAX_RPC_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return connect::unary_error(&RpcError::new(
                "resource_exhausted",
                format!("request body is larger than {MAX_RPC_BODY} bytes"),
            ));
        }
    };
    let call = Call {
        headers: parts.headers,
        body,
        codec,
        schema: protobuf::schema(service, method),
    };
    match service {
        "process.Process" => process::dispatch(live, method, call).await,
        _ => filesystem::dispatch(live, method, call).await,
    }
}

/// The address the request came from (unspecified when the server was not told, which then
/// counts as one client).
fn client_ip(req: &Request) -> std::net::IpAddr {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
            c.0.ip()
        })
}

/// A sandbox operation refused by `--ops-rate-limit`: 429 in the shape of the path's own
/// errors (a Connect error for RPCs, which the SDKs turn into `RateLimitError`; the proxy's
/// JSON for other ports), with the `Retry-After` and `RateLimit-*` headers.
fn rate_limited(
    app: &AppState,
    id: &str,
    port: u16,
    req: &Request,
    quota: crate::limits::Quota,
) -> Response {
    let message = app.limits.op_refusal_message(&quota);
    let path = req.uri().path();
    let mut res = if port != ENVD_PORT {
        let origin = req.headers().get(header::ORIGIN).cloned();
        let mut res =
            crate::proxy::own_error(StatusCode::TOO_MANY_REQUESTS, id, port, &message, origin);
        // Other ports are outside the CORS middleware, which exposes these everywhere else.
        res.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            axum::http::HeaderValue::from_static(crate::cors::EXPOSE_RATE_LIMIT_HEADERS),
        );
        res
    } else if path.starts_with("/process.Process/") || path.starts_with("/filesystem.Filesystem/") {
        connect::unary_error(&RpcError::new("resource_exhausted", message))
    } else {
        rest_error(StatusCode::TOO_MANY_REQUESTS, &message)
    };
    quota.write_headers(res.headers_mut(), true);
    res
}

/// Constant-time comparison of the `X-Access-Token` header with the sandbox's token.
fn token_ok(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("x-access-token")
        .is_some_and(|given| crate::auth::constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// One RPC call: its headers, its body, its codec, and its messages for protobuf.
pub struct Call {
    headers: HeaderMap,
    body: Bytes,
    codec: connect::Codec,
    schema: Option<(&'static protobuf::Message, &'static protobuf::Message)>,
}

impl Call {
    fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// How this call's answers are encoded.
    pub fn encoder(&self) -> connect::Encoder {
        connect::Encoder {
            codec: self.codec,
            response: self.schema.map(|(_, response)| response),
        }
    }

    /// The request message in JSON, whatever codec it came in.
    fn json_message(&self, codec: connect::Codec, bytes: &[u8]) -> Result<Vec<u8>, RpcError> {
        match codec {
            connect::Codec::Json => Ok(bytes.to_vec()),
            connect::Codec::Proto => {
                let (request, _) = self.schema.ok_or_else(|| {
                    RpcError::new(
                        "unimplemented",
                        "this method has no protobuf encoding here; use the JSON codec",
                    )
                })?;
                let value = protobuf::decode(request, bytes)
                    .map_err(|e| RpcError::invalid(format!("invalid request: {e}")))?;
                serde_json::to_vec(&value).map_err(|e| RpcError::internal(e.to_string()))
            }
        }
    }

    /// The request message of a server-streaming call, as JSON.
    pub fn stream_message(&self) -> Result<Vec<u8>, RpcError> {
        match connect::framing(self.content_type())? {
            (connect::Framing::Stream, codec) => {
                self.json_message(codec, connect::unwrap_envelope(&self.body)?)
            }
            (connect::Framing::Unary, _) => Err(RpcError::invalid(
                "this is a streaming call: send application/connect+json or application/connect+proto",
            )),
        }
    }

    /// The request message of a unary call, as JSON.
    pub fn unary_message(&self) -> Result<Vec<u8>, RpcError> {
        match connect::framing(self.content_type())? {
            (connect::Framing::Unary, codec) => self.json_message(codec, &self.body),
            (connect::Framing::Stream, _) => Err(RpcError::invalid(
                "this is a unary call: send application/json or application/proto",
            )),
        }
    }

    /// `Keepalive-Ping-Interval` seconds; envd's 90 s when missing, zero or unreadable.
    pub fn keepalive(&self) -> Duration {
        let secs = self
            .headers
            .get("keepalive-ping-interval")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(90);
        // A day at most: an absurd interval would only overflow timers.
        Duration::from_secs(secs.min(86_400))
    }

    /// `Connect-Timeout-Ms`, which envd takes as the process's lifetime; none when 0.
    pub fn timeout(&self) -> Option<Duration> {
        self.headers
            .get("connect-timeout-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    }

    /// The user named by `Authorization: Basic base64("<user>:")`, if any.
    fn basic_user(&self) -> Result<Option<String>, RpcError> {
        let Some(value) = self.headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let invalid = || RpcError::unauthenticated("invalid authorization header");
        let value = value.to_str().map_err(|_| invalid())?;
        let encoded = value.strip_prefix("Basic ").ok_or_else(invalid)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid())?;
        let text = String::from_utf8(decoded).map_err(|_| invalid())?;
        let name = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
        Ok(Some(name.to_string()))
    }
}

/// The user a call runs as: the Basic header's, else the template default `user`.
pub fn user_of(live: &LiveSandbox, call: &Call) -> Result<User, RpcError> {
    let name = call.basic_user()?.unwrap_or_else(|| "user".to_string());
    live.handle
        .user(&name)
        .ok_or_else(|| RpcError::unauthenticated(format!("invalid username: '{name}'")))
}

/// `body` until the sandbox ends; then an error, which makes the server drop the connection
/// without finishing the response, as a VM that vanished would. Clients tell this apart from
/// an ordinary end, and the official SDKs then ask `/health` (which answers 502) and report a
/// killed sandbox.
pub fn cut_when_ended<S>(
    body: S,
    live: std::sync::Arc<crate::live::LiveSandbox>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
{
    use futures_util::StreamExt;
    let ended: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(async move { live.ended().await });
    futures_util::stream::unfold(Some((Box::pin(body), ended)), |state| async move {
        let (mut body, mut ended) = state?;
        tokio::select! {
            biased;
            () = &mut ended => Some((Err(std::io::Error::other("the sandbox ended")), None)),
            item = body.next() => item.map(|item| (item, Some((body, ended)))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_the_sandbox_by_header_or_host() {
        let mut h = HeaderMap::new();
        h.insert("e2b-sandbox-id", HeaderValue::from_static("abc"));
        assert_eq!(
            target(&h, "localhost:3000"),
            Some(("abc".into(), ENVD_PORT))
        );
        h.insert("e2b-sandbox-port", HeaderValue::from_static("8080"));
        assert_eq!(target(&h, "localhost:3000"), Some(("abc".into(), 8080)));
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("49983-abc.localhost:3000"),
        );
        assert_eq!(
            target(&h, "localhost:3000"),
            Some(("abc".into(), ENVD_PORT))
        );
        h.insert(header::HOST, HeaderValue::from_static("localhost:3000"));
        assert_eq!(target(&h, "localhost:3000"), None);
    }

    #[test]
    fn tokens_compare_exactly() {
        let mut h = HeaderMap::new();
        assert!(!token_ok(&h, "tok"));
        h.insert("x-access-token", HeaderValue::from_static("tok"));
        assert!(token_ok(&h, "tok"));
        assert!(!token_ok(&h, "tok2"));
        assert!(!token_ok(&h, "to"));
    }
}
