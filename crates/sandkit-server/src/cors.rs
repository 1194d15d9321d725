//! CORS for browser clients (the wasm SDK, or the JS SDK in a page): every response allows the
//! caller's origin, and every `OPTIONS` request is a preflight answered here, before routing
//! and without an API key. Requests for a sandbox's other ports are not sandkitd's to
//! decorate: the proxy passes the servers' own CORS answers on (see [`crate::proxy`]).

use crate::api::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Methods the API and, later, the sandbox routes use.
pub const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";

/// Headers allowed when a preflight does not list the ones it wants: the SDKs' control-plane
/// headers (several with underscores) and the envd ones.
pub const ALLOW_HEADERS: &str = "x-api-key, content-type, browser, lang, lang_version, \
     package_version, publisher, sdk_runtime, system, user-agent, e2b-sandbox-id, \
     e2b-sandbox-port, x-access-token, authorization, connect-protocol-version, \
     connect-timeout-ms, keepalive-ping-interval, content-encoding, e2b-traffic-access-token";

/// Response headers a page may read: pagination depends on `X-Next-Token`, and an SDK's
/// retries on 429 on `Retry-After` (which browsers hide from pages unless exposed).
pub const EXPOSE_HEADERS: &str = "X-Next-Token, X-Total-Running, Retry-After, RateLimit-Limit, \
     RateLimit-Remaining, RateLimit-Reset";

/// The rate-limit headers alone, for answers outside this middleware (the public-URL proxy).
pub const EXPOSE_RATE_LIMIT_HEADERS: &str =
    "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset";

/// How long a browser may cache a preflight, in seconds.
pub const MAX_AGE_SECS: &str = "86400";

/// The middleware: answers preflights, decorates every other response.
pub async fn cors(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if crate::envd::target(req.headers(), &app.domain)
        .is_some_and(|(_, port)| port != crate::envd::ENVD_PORT)
    {
        return next.run(req).await;
    }
    let origin = allowed_origin(req.headers());
    if req.method() == Method::OPTIONS {
        let requested = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned();
        let mut res = StatusCode::NO_CONTENT.into_response();
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        // Echoing the request covers `x-metadata-*` and whatever a future SDK adds.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            requested.unwrap_or_else(|| HeaderValue::from_static(ALLOW_HEADERS)),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        return res;
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    res
}

/// The request's `Origin` echoed back, or `*` when there is none.
fn allowed_origin(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(header::ORIGIN)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"))
}
