//! Native transport: reqwest on tokio, with rustls (ring) for HTTPS.

use super::{
    Body, BodyPart, HttpRequest, HttpResponse, Method, RequestBody, Transport, TransportError,
    TransportErrorKind,
};
use crate::maybe_send::BoxFuture;
use futures_util::StreamExt;

/// A pooled HTTP/1.1 + HTTP/2 client.
#[derive(Clone)]
pub struct NativeTransport {
    client: reqwest::Client,
}

impl NativeTransport {
    pub fn new() -> Result<Self, TransportError> {
        // Several crates may race to install a provider; whoever wins, one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| {
                TransportError::new(
                    TransportErrorKind::Other,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(NativeTransport { client })
    }
}

fn classify(e: &reqwest::Error) -> TransportErrorKind {
    if e.is_connect() {
        TransportErrorKind::Connect
    } else if e.is_request() || e.is_body() || e.is_decode() {
        TransportErrorKind::Reset
    } else {
        TransportErrorKind::Other
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's Display stops at the outermost error; the cause says what actually happened.
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Whole bodies go as they are; pieces as one stream, so streamed parts are never held whole.
fn request_body(body: RequestBody) -> reqwest::Body {
    let parts = match body {
        RequestBody::Bytes(b) => return reqwest::Body::from(b),
        RequestBody::Parts(parts) => parts,
    };
    if parts.iter().all(|p| matches!(p, BodyPart::Bytes(_))) {
        let mut all = Vec::new();
        for p in parts {
            if let BodyPart::Bytes(b) = p {
                all.extend_from_slice(&b);
            }
        }
        return reqwest::Body::from(all);
    }
    let stream = futures_util::stream::iter(parts).flat_map(|p| match p {
        BodyPart::Bytes(b) => futures_util::stream::once(async move { Ok(b) }).boxed(),
        BodyPart::Stream(s) => s,
    });
    reqwest::Body::wrap_stream(stream.map(|r| r.map_err(|e| std::io::Error::other(e.message))))
}

impl Transport for NativeTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let method = match request.method {
                Method::Get => reqwest::Method::GET,
                Method::Post => reqwest::Method::POST,
                Method::Put => reqwest::Method::PUT,
                Method::Delete => reqwest::Method::DELETE,
            };
            let mut builder = self.client.request(method, &request.url);
            for (k, v) in &request.headers {
                builder = builder.header(k, v);
            }
            if let Some(body) = request.body {
                builder = builder.body(request_body(body));
            }
            let err = |e: reqwest::Error| TransportError::new(classify(&e), describe(&e));
            let resp = builder.send().await.map_err(err)?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = if request.stream_response {
                Body::Stream(Box::pin(resp.bytes_stream().map(move |c| c.map_err(err))))
            } else {
                Body::Full(resp.bytes().await.map_err(err)?)
            };
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
}
