//! The public-URL proxy: requests for any port of a sandbox other than its daemon's
//! (`<port>-<id>.<domain>`, or `E2b-Sandbox-Id` / `E2b-Sandbox-Port` on sandkitd's own
//! address) go to the server listening on that port inside the sandbox's network namespace.
//!
//! Bodies stream both ways as they come (nothing is held whole), upgrades (WebSocket) are
//! tunnelled, and a sandbox created with `allowPublicTraffic: false` admits only requests
//! that carry its traffic access token. What the proxy answers itself (403, 502) is JSON in
//! E2B's shape and readable by pages on other origins; the server's own answers pass as
//! they are.

mod headers;
mod pool;

pub use pool::Upstreams;

use crate::error::json_response;
use crate::live::LiveSandbox;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use headers::{Forwarded, TRAFFIC_TOKEN};
use std::net::SocketAddr;
use std::sync::Arc;

/// How a sandbox's ports may be reached, from its create request.
#[derive(Clone, Default)]
pub struct Ingress {
    /// Set when public traffic is off: the token every request must carry.
    pub traffic_token: Option<String>,
    /// `maskRequestHost`, `${PORT}` still in it.
    pub mask_host: Option<String>,
}

impl std::fmt::Debug for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: whether there is one, never what it is.
        f.debug_struct("Ingress")
            .field(
                "traffic_token",
                &self.traffic_token.as_ref().map(|_| "<redacted>"),
            )
            .field("mask_host", &self.mask_host)
            .finish()
    }
}

/// Serves one request for `port` of the sandbox.
pub async fn handle(live: Arc<LiveSandbox>, port: u16, mut req: Request) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let protected = live.ingress.traffic_token.is_some();
    if let Some(refused) = admit(&live, port, &req) {
        return refused;
    }
    let client_upgrade =
        headers::upgrade_of(req.headers()).map(|protocol| (protocol, hyper::upgrade::on(&mut req)));
    let version = req.version();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let fwd = Forwarded {
        host: host.as_deref(),
        mask: live.ingress.mask_host.as_deref(),
        port,
        client,
    };
    headers::for_upstream(
        &mut parts.headers,
        &fwd,
        client_upgrade.as_ref().map(|(p, _)| p.clone()),
    );
    let mut upstream = Request::from_parts(parts, body);
    *upstream.uri_mut() = origin_form(upstream.uri());
    *upstream.version_mut() = Version::HTTP_11;
    let mut response = match send(&live, port, upstream).await {
        Ok(r) => r,
        Err(Failure::Refused) => {
            return own_error(
                StatusCode::BAD_GATEWAY,
                &live.id,
                port,
                &format!(
                    "The sandbox is running but port {port} is not open: nothing listens on it"
                ),
                origin,
            );
        }
        Err(Failure::Broken(why)) => {
            return own_error(
                StatusCode::BAD_GATEWAY,
                &live.id,
                port,
                &format!("the server on port {port} of the sandbox failed to answer: {why}"),
                origin,
            );
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some((_, client_side)) = client_upgrade
    {
        let server_side = hyper::upgrade::on(&mut response);
        tokio::spawn(tunnel(client_side, server_side));
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    // The client's protocol, whatever the server inside spoke (an HTTP/1.0 answer would
    // otherwise end the client's kept-alive connection).
    parts.version = version;
    if protected
        && let Some(origin) = origin
        && !parts
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        // The caller showed the token: the answer is theirs to read, from any page.
        parts
            .headers
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        parts
            .headers
            .append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Response::from_parts(parts, Body::new(body))
}

/// The answer sandkitd gives itself before a request reaches `port`, if any: a preflight to
/// a protected sandbox, or a request without its traffic access token.
pub fn admit(live: &LiveSandbox, port: u16, req: &Request) -> Option<Response> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let protected = live.ingress.traffic_token.is_some();
    if protected && is_preflight(req) {
        // A preflight never carries the token, so the server behind could not be asked
        // without opening the port to everyone: sandkitd answers it; the request that
        // follows still needs the token.
        return Some(preflight(req.headers()));
    }
    let token = live.ingress.traffic_token.as_ref()?;
    let given = req.headers().get(TRAFFIC_TOKEN).map(|v| v.as_bytes());
    if given.is_some_and(|g| crate::auth::constant_time_eq(g, token.as_bytes())) {
        return None;
    }
    let message = if given.is_some() {
        format!("the {TRAFFIC_TOKEN} header does not match this sandbox's traffic access token")
    } else {
        format!(
            "the sandbox does not allow public traffic: send its traffic access token in the {TRAFFIC_TOKEN} header"
        )
    };
    Some(own_error(
        StatusCode::FORBIDDEN,
        &live.id,
        port,
        &message,
        origin,
    ))
}

/// Why a request could not be passed on.
enum Failure {
    /// Nothing listens on the port.
    Refused,
    /// The connection failed or the server broke off.
    Broken(String),
}

/// Sends the request on a kept connection when one is ready, else on a new one. A request
/// that a kept connection could not even start (the server had just closed it) is sent
/// again on a new one; nothing of it has reached the server. One that was sent but met the
/// connection's end before any answer (the server closed it as idle, e.g. at Node's 5 s
/// keep-alive timeout, just as it was reused) is sent again only when it is safe to repeat:
/// a GET, HEAD or OPTIONS without a body.
async fn send(
    live: &LiveSandbox,
    port: u16,
    req: Request,
) -> Result<hyper::Response<hyper::body::Incoming>, Failure> {
    let mut req = req;
    if let Some(mut sender) = live.upstreams.take_ready(port) {
        let again = repeatable(&req);
        match sender.try_send_request(req).await {
            Ok(res) => {
                live.upstreams.put(port, sender);
                return Ok(res);
            }
            Err(mut e) => match (e.take_message(), again) {
                (Some(unsent), _) => req = unsent,
                (None, Some(copy)) => req = copy,
                (None, None) => return Err(Failure::Broken(e.into_error().to_string())),
            },
        }
    }
    let mut sender = pool::dial(&live.handle, port).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Failure::Refused
        } else {
            Failure::Broken(e.to_string())
        }
    })?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| Failure::Broken(e.to_string()))?;
    live.upstreams.put(port, sender);
    Ok(res)
}

/// A copy of a request that may be sent twice without harm: a GET, HEAD or OPTIONS whose
/// body is known to be empty.
fn repeatable(req: &Request) -> Option<Request> {
    use hyper::body::Body as _;
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS].contains(req.method());
    if !safe || req.body().size_hint().exact() != Some(0) {
        return None;
    }
    let mut copy = Request::new(Body::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

/// Copies both ways between the client and the server once both have switched protocols.
async fn tunnel(client: hyper::upgrade::OnUpgrade, server: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(server)) = (client.await, server.await) else {
        return;
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut server = hyper_util::rt::TokioIo::new(server);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// `/path?query` only: the form a request to an origin server takes.
fn origin_form(uri: &Uri) -> Uri {
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    pq.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight for a protected port: whatever the page asks, since the
/// request itself must still carry the token.
pub(crate) fn preflight(req: &HeaderMap) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        allow_origin(req.get(header::ORIGIN).cloned()),
    );
    let echo = |name: header::HeaderName, fallback: &'static str| {
        req.get(&name)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(fallback))
    };
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        echo(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            crate::cors::ALLOW_METHODS,
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        echo(header::ACCESS_CONTROL_REQUEST_HEADERS, TRAFFIC_TOKEN),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(crate::cors::MAX_AGE_SECS),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    res
}

fn allow_origin(origin: Option<HeaderValue>) -> HeaderValue {
    origin.unwrap_or_else(|| HeaderValue::from_static("*"))
}

/// An answer of the proxy itself, as E2B words it (`{sandboxId, message, code}`, plus the
/// port), readable by a page on any origin so that a front end can tell why.
pub fn own_error(
    status: StatusCode,
    sandbox_id: &str,
    port: u16,
    message: &str,
    origin: Option<HeaderValue>,
) -> Response {
    let mut res = json_response(
        status,
        &serde_json::json!({
            "sandboxId": sandbox_id,
            "message": message,
            "port": port,
            "code": status.as_u16(),
        }),
    );
    with_cors(&mut res, origin);
    res
}

/// CORS headers on an answer of sandkitd's own.
pub fn with_cors(res: &mut Response, origin: Option<HeaderValue>) {
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin(origin));
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}
