//! What a reverse proxy changes in the headers it passes on.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Headers that describe one hop, never passed on (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// The header that carries a sandbox's traffic access token.
pub const TRAFFIC_TOKEN: &str = "e2b-traffic-access-token";

/// Headers meant for sandkitd alone: the token is a secret of the sandbox's owner, and the
/// routing headers mean nothing to the server inside.
const FOR_SANDKITD: [&str; 3] = [TRAFFIC_TOKEN, "e2b-sandbox-id", "e2b-sandbox-port"];

/// The comma-separated tokens of every `Connection` header.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The protocol a request asks to switch to (`Connection: upgrade` with `Upgrade: …`).
pub fn upgrade_of(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Removes the hop-by-hop headers, those named by `Connection` included, and `Upgrade`
/// (put back by the caller when an upgrade goes through).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// What the request to the server inside carries about the original one.
pub struct Forwarded<'a> {
    /// The Host the client asked for.
    pub host: Option<&'a str>,
    /// `maskRequestHost`, with `${PORT}` still in it.
    pub mask: Option<&'a str>,
    pub port: u16,
    /// The client's address.
    pub client: Option<std::net::IpAddr>,
}

/// Turns a client's request headers into the ones sent to the server inside the sandbox.
pub fn for_upstream(headers: &mut HeaderMap, fwd: &Forwarded<'_>, upgrade: Option<HeaderValue>) {
    strip_hop_by_hop(headers);
    for name in FOR_SANDKITD {
        headers.remove(name);
    }
    let host = match fwd.mask {
        Some(mask) => Some(mask.replace("${PORT}", &fwd.port.to_string())),
        None => fwd.host.map(str::to_string),
    };
    if let Some(v) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
        headers.insert(header::HOST, v);
    }
    if let Some(v) = fwd.host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert("x-forwarded-host", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(ip) = fwd.client {
        // Appended to what an earlier proxy said, as the convention goes.
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", v);
        }
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_on_what_the_server_needs_and_nothing_for_sandkitd() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("3000-abc.localhost:3000"),
        );
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-hop"),
        );
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert(TRAFFIC_TOKEN, HeaderValue::from_static("secret"));
        h.insert("e2b-sandbox-id", HeaderValue::from_static("abc"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        let fwd = Forwarded {
            host: Some("3000-abc.localhost:3000"),
            mask: None,
            port: 3000,
            client: Some("127.0.0.1".parse().unwrap()),
        };
        for_upstream(&mut h, &fwd, None);
        assert_eq!(h.get(header::HOST).unwrap(), "3000-abc.localhost:3000");
        assert!(h.get(header::CONNECTION).is_none() && h.get("x-hop").is_none());
        assert!(h.get(TRAFFIC_TOKEN).is_none() && h.get("e2b-sandbox-id").is_none());
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.1");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(h.get("x-app").unwrap(), "kept");
    }

    #[test]
    fn masks_the_host_and_keeps_an_upgrade() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("8080-abc.localhost:3000"),
        );
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let upgrade = upgrade_of(&h);
        assert_eq!(upgrade.as_ref().unwrap(), "websocket");
        let fwd = Forwarded {
            host: Some("8080-abc.localhost:3000"),
            mask: Some("localhost:${PORT}"),
            port: 8080,
            client: None,
        };
        for_upstream(&mut h, &fwd, upgrade);
        assert_eq!(h.get(header::HOST).unwrap(), "localhost:8080");
        assert_eq!(
            h.get("x-forwarded-host").unwrap(),
            "8080-abc.localhost:3000"
        );
        assert_eq!(h.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "upgrade");
    }
}
