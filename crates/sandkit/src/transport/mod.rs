//! The seam between the SDK and the network: send a request, get a status, headers and a body
//! that may be read as a stream. One implementation per platform.

#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(not(target_arch = "wasm32"))]
mod native;

#[cfg(target_arch = "wasm32")]
pub use fetch::FetchTransport;
#[cfg(not(target_arch = "wasm32"))]
pub use native::NativeTransport;

use crate::maybe_send::{BoxFuture, BoxStream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One HTTP request. Header names are lower-case.
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<RequestBody>,
    /// Read the response body as it arrives instead of in one piece.
    pub stream_response: bool,
}

impl fmt::Debug for HttpRequest {
    // Headers carry secrets (API keys, access tokens): never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A request body: whole, or pieces sent one after another (a file upload: multipart framing
/// around the caller's data, which may be a stream).
pub enum RequestBody {
    Bytes(Bytes),
    Parts(Vec<BodyPart>),
}

impl From<Bytes> for RequestBody {
    fn from(b: Bytes) -> Self {
        RequestBody::Bytes(b)
    }
}

/// One piece of a [`RequestBody::Parts`] body.
pub enum BodyPart {
    Bytes(Bytes),
    /// Sent as it is produced, never held whole (on wasm it is collected first: browsers
    /// cannot stream a request body over HTTP/1.1).
    Stream(BoxStream<'static, Result<Bytes, TransportError>>),
    /// A value of the JavaScript runtime (a `Blob`, a typed array, a string, a
    /// `ReadableStream`) handed to `fetch` as it is, so file data never passes through wasm
    /// memory.
    #[cfg(target_arch = "wasm32")]
    Host(wasm_bindgen::JsValue),
}

/// A response body: whole, or a stream of chunks.
pub enum Body {
    Full(Bytes),
    Stream(BoxStream<'static, Result<Bytes, TransportError>>),
}

impl Body {
    /// Reads the whole body.
    pub async fn bytes(self) -> Result<Bytes, TransportError> {
        match self {
            Body::Full(b) => Ok(b),
            Body::Stream(mut s) => {
                let mut out = Vec::new();
                while let Some(chunk) = s.next().await {
                    out.extend_from_slice(&chunk?);
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: ResponseHeaders,
    pub body: Body,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name)
    }
}

/// A response's headers, read by name when a caller asks for one. The `fetch` transport keeps
/// the runtime's `Headers` and asks it for each name asked: each is a call across the wasm
/// boundary, and most answers are read without asking for any (where a list of the SDK's
/// names was read on every success, three calls that a `getInfo` never used). The native
/// transport keeps the response's header map.
pub struct ResponseHeaders(HeaderSource);

/// No headers.
impl Default for ResponseHeaders {
    fn default() -> Self {
        ResponseHeaders(HeaderSource::Pairs(Vec::new()))
    }
}

enum HeaderSource {
    Pairs(Vec<(String, String)>),
    #[cfg(target_arch = "wasm32")]
    Fetch(fetch::HeadersOf),
    #[cfg(not(target_arch = "wasm32"))]
    Native(reqwest::header::HeaderMap),
}

impl ResponseHeaders {
    /// Headers as name and value pairs, names in any case.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let pairs = pairs.into_iter().map(|(k, v)| (k.into(), v.into()));
        ResponseHeaders(HeaderSource::Pairs(pairs.collect()))
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn fetch(headers: fetch::HeadersOf) -> Self {
        ResponseHeaders(HeaderSource::Fetch(headers))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn native(headers: reqwest::header::HeaderMap) -> Self {
        ResponseHeaders(HeaderSource::Native(headers))
    }

    /// The value of the header `name` (any case), if the response has it.
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.0 {
            HeaderSource::Pairs(pairs) => pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone()),
            #[cfg(target_arch = "wasm32")]
            HeaderSource::Fetch(headers) => headers.get(name),
            #[cfg(not(target_arch = "wasm32"))]
            HeaderSource::Native(headers) => headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        }
    }
}

impl fmt::Debug for ResponseHeaders {
    // Names only: a value may be a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            HeaderSource::Pairs(pairs) => f
                .debug_list()
                .entries(pairs.iter().map(|(k, _)| k))
                .finish(),
            #[cfg(target_arch = "wasm32")]
            HeaderSource::Fetch(_) => f.write_str("Headers"),
            #[cfg(not(target_arch = "wasm32"))]
            HeaderSource::Native(headers) => f.debug_list().entries(headers.keys()).finish(),
        }
    }
}

/// Whether `name` is an HTTP token, as a header name must be.
pub(crate) fn header_name_allowed(name: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(token)
}

/// Whether `fetch` takes `value` for a header: no line break, no NUL, nothing beyond Latin-1.
pub(crate) fn header_value_allowed(value: &str) -> bool {
    value
        .chars()
        .all(|c| c <= '\u{ff}' && !matches!(c, '\0' | '\r' | '\n'))
}

/// What an HTTP header cannot carry, for messages.
pub(crate) const NOT_IN_A_HEADER: &str = "a line break, a NUL or a character beyond Latin-1";

/// A header that `fetch` would refuse, named (never its value: it may be a secret). Refused
/// here rather than as `fetch`'s rejection, whose message quotes the value and which the retry
/// policy could take for a broken connection.
pub(crate) fn refuse_header(name: &str, value: &str) -> Option<TransportError> {
    let message = if !header_name_allowed(name) {
        "a request header has a name that HTTP does not allow".to_string()
    } else if !header_value_allowed(value) {
        format!(
            "the request's {name} header has a value that HTTP does not allow ({NOT_IN_A_HEADER})"
        )
    } else {
        return None;
    };
    Some(TransportError::new(TransportErrorKind::Other, message))
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The connection could not be made; the server never saw the request.
    Connect,
    /// The connection broke after the request may have been sent.
    Reset,
    /// The server answered with a redirect, which is never followed (see `refuse_redirect`).
    Redirect,
    /// Anything else (a malformed URL, a body that failed to read).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }
}

impl TransportError {
    /// The SDK error for a request to `peer` (`API`, `sandbox`) that got no usable answer: a
    /// refused redirect is the server's answer (`SandboxError`), anything else a connection
    /// failure.
    pub(crate) fn into_error(self, peer: &str) -> crate::error::Error {
        use crate::error::{Error, ErrorKind};
        match self.kind {
            TransportErrorKind::Redirect => {
                Error::new(ErrorKind::Sandbox, format!("The {peer} {}", self.message))
            }
            _ => Error::new(
                ErrorKind::Connection,
                format!("Could not reach the {peer}: {}", self.message),
            ),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A redirect as an error. Credentials travel in custom headers (`X-API-Key`,
/// `X-Access-Token`) that HTTP clients keep when they follow a redirect to another host, so
/// the transports follow none. `status` 0 is a browser's opaque redirect, whose target is
/// hidden. The target (`Location`, read only then) is named without its query, which may
/// carry a signature.
pub(crate) fn refuse_redirect(status: u16, headers: &ResponseHeaders) -> Option<TransportError> {
    let what = match status {
        0 => "a redirect (its target hidden by the browser)".to_string(),
        301 | 302 | 303 | 307 | 308 => {
            let target = headers.get("location").unwrap_or_default();
            let end = target
                .bytes()
                .position(|b| b == b'?' || b == b'#')
                .unwrap_or(target.len());
            // `get`, not indexing: its panic path alone costs KBs of wasm.
            let shown = target.get(..end).unwrap_or_default();
            format!("a redirect to {shown} (HTTP {status})")
        }
        _ => return None,
    };
    Some(TransportError::new(
        TransportErrorKind::Redirect,
        format!(
            "answered with {what}; sandkit follows no redirect, because the API key or access token would travel with it. Point the SDK at the final address instead."
        ),
    ))
}

/// Sends HTTP requests.
pub trait Transport: crate::maybe_send::MaybeSend + Sync {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fetch_would_refuse_are_named_without_their_values() {
        assert!(refuse_header("x-api-key", "sk_e2b_0123 ÿ\t").is_none());
        for bad in ["a\r\nb", "a\nb", "a\0b", "ключ"] {
            let e = refuse_header("x-api-key", bad).expect(bad);
            assert_eq!(e.kind, TransportErrorKind::Other);
            assert!(e.message.contains("x-api-key"), "{}", e.message);
            assert!(!e.message.contains(bad), "{}", e.message);
        }
        for bad in ["", "a b", "a:b", "ключ"] {
            let e = refuse_header(bad, "v").expect(bad);
            assert!(
                e.message.starts_with("a request header has a name"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn response_headers_are_found_by_name_in_any_case_and_debug_shows_no_value() {
        let headers =
            ResponseHeaders::from_pairs([("X-Next-Token", "abc"), ("x-access-token", "secret")]);
        assert_eq!(headers.get("x-next-token").as_deref(), Some("abc"));
        assert_eq!(headers.get("X-NEXT-TOKEN").as_deref(), Some("abc"));
        assert_eq!(headers.get("location"), None);
        let shown = format!("{headers:?}");
        assert!(
            shown.contains("x-access-token") && !shown.contains("secret"),
            "{shown}"
        );
    }

    #[test]
    fn only_redirects_are_refused_and_their_query_is_not_shown() {
        let location = |target: &str| ResponseHeaders::from_pairs([("Location", target)]);
        for status in [200, 204, 304, 400, 404, 502] {
            assert!(
                refuse_redirect(status, &location("http://x/")).is_none(),
                "{status}"
            );
        }
        let e = refuse_redirect(308, &location("https://other.example/p?token=secret#f")).unwrap();
        assert_eq!(e.kind, TransportErrorKind::Redirect);
        assert!(
            e.message.contains("to https://other.example/p (HTTP 308)"),
            "{e}"
        );
        assert!(!e.message.contains("secret"), "{e}");
        // A browser's opaque redirect: status 0, no headers.
        let e = refuse_redirect(0, &ResponseHeaders::default()).unwrap();
        assert!(e.message.contains("hidden by the browser"), "{e}");
        // A multi-byte target cut at a `?` still gives valid text.
        let e = refuse_redirect(302, &location("http://é/ü?x")).unwrap();
        assert!(e.message.contains("http://é/ü (HTTP 302)"), "{e}");
    }
}
