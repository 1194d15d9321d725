//! Native transport: reqwest on tokio, with rustls (ring) for HTTPS.

use super::{
    Body, BodyPart, HttpRequest, HttpResponse, Method, RequestBody, ResponseHeaders, Transport,
    TransportError, TransportErrorKind, refuse_header, refuse_redirect,
};
use crate::maybe_send::BoxFuture;
use futures_util::StreamExt;
use std::sync::OnceLock;

/// Pooled HTTP/1.1 + HTTP/2 clients, built when first needed: building the HTTPS client reads
/// and parses the system's root certificates (several milliseconds), which neither loading the
/// SDK nor talking to a local `http://` server should pay for.
///
/// Neither client follows redirects: the API key and access tokens travel in custom headers,
/// which a client following a redirect to another host would send there too. A redirect is
/// an error (`refuse_redirect`).
#[derive(Default)]
pub struct NativeTransport {
    /// For `http://` URLs: no TLS roots loaded.
    plain: OnceLock<Result<reqwest::Client, TransportError>>,
    /// For `https://` URLs: the platform's roots.
    tls: OnceLock<Result<reqwest::Client, TransportError>>,
}

fn build(tls: bool) -> Result<reqwest::Client, TransportError> {
    let mut builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    // Several crates may race to install a provider; whoever wins, one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !tls {
        // Only `http://` URLs reach this client: an empty root store means no certificates
        // are read, and HTTPS given to it by mistake would fail rather than go unchecked.
        builder = builder.tls_certs_only([]);
    }
    builder.build().map_err(|e| {
        TransportError::new(
            TransportErrorKind::Other,
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

impl NativeTransport {
    /// A transport; nothing is built until the first request.
    pub fn new() -> Self {
        NativeTransport::default()
    }

    fn client(&self, url: &str) -> Result<&reqwest::Client, TransportError> {
        let tls = !url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        let slot = if tls { &self.tls } else { &self.plain };
        slot.get_or_init(|| build(tls))
            .as_ref()
            .map_err(Clone::clone)
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
            // What `fetch` refuses is refused here too: both bindings give the same error.
            if let Some(e) = request
                .headers
                .iter()
                .find_map(|(k, v)| refuse_header(k, v))
            {
                return Err(e);
            }
            let mut builder = self.client(&request.url)?.request(method, &request.url);
            for (k, v) in &request.headers {
                builder = builder.header(k, v);
            }
            if let Some(body) = request.body {
                builder = builder.body(request_body(body));
            }
            let err = |e: reqwest::Error| TransportError::new(classify(&e), describe(&e));
            let mut resp = builder.send().await.map_err(err)?;
            let status = resp.status().as_u16();
            // Taken, not copied: the body is read without them.
            let headers = ResponseHeaders::native(std::mem::take(resp.headers_mut()));
            if let Some(e) = refuse_redirect(status, &headers) {
                return Err(e);
            }
            let body = if request.stream_response {
                let connect = headers
                    .get("content-type")
                    .is_some_and(|v| v.starts_with("application/connect+"));
                let stream = Box::pin(resp.bytes_stream().map(move |c| c.map_err(err)));
                Body::Stream(if connect { read_ahead(stream) } else { stream })
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

/// How many chunks of a Connect stream are read ahead of its consumer.
const READ_AHEAD: usize = 16;

type ChunkStream = crate::maybe_send::BoxStream<'static, Result<bytes::Bytes, TransportError>>;

/// A Connect stream read ahead of its consumer, up to [`READ_AHEAD`] chunks. hyper takes the
/// next chunk off the socket only once the last was taken, so a consumer that goes back to
/// JavaScript between pieces (a command's output through the addon) would get them one at a
/// time, each crossing paying its own cost; read ahead, what has arrived is taken as one batch.
/// The reading ends when the consumer lets go, even while the stream is idle.
fn read_ahead(mut stream: ChunkStream) -> ChunkStream {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return stream;
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    runtime.spawn(async move {
        loop {
            let closed = std::pin::pin!(tx.closed());
            let next = match futures_util::future::select(closed, stream.next()).await {
                futures_util::future::Either::Left(_) => return,
                futures_util::future::Either::Right((next, _)) => next,
            };
            let Some(chunk) = next else { return };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
