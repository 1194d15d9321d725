//! The data plane: the daemon in each sandbox (envd, port 49983), spoken to over the Connect
//! protocol for processes and files (the JSON codec, but the binary one for the process
//! streams, whose output then travels raw), and plain HTTP for `/files` and `/health`.

pub mod connect;
#[doc(hidden)]
pub mod proto;

use crate::config::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::maybe_send::BoxStream;
use crate::retry::{Idempotency, Outcome, Retries};
use crate::transport::{Body, HttpRequest, HttpResponse, Method, RequestBody, TransportError};
use bytes::Bytes;
use connect::{Codec, ConnectError, Context, EnvelopeReader, Frame};
use futures_util::StreamExt;

/// The daemon's port.
pub const ENVD_PORT: u16 = 49983;
/// The domains whose sandboxes are reached through the shared `sandbox.<domain>` host.
const STABLE_HOST_DOMAINS: [&str; 4] = ["e2b.app", "e2b.dev", "e2b.pro", "e2b-staging.dev"];
/// What the official SDK asks for: a keepalive every 50 s on idle streams.
const KEEPALIVE_SECS: &str = "50";

/// How to reach one sandbox's daemon.
#[derive(Clone)]
pub struct Envd {
    base_url: String,
    sandbox_id: String,
    access_token: Option<String>,
    config: ConnectionConfig,
}

impl std::fmt::Debug for Envd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envd")
            .field("base_url", &self.base_url)
            .field("sandbox_id", &self.sandbox_id)
            .finish_non_exhaustive()
    }
}

fn transport_error(e: TransportError) -> Error {
    e.into_error("sandbox")
}

/// The daemon's URL: `sandboxUrl`, else localhost in debug mode, else (when `shared_host` is
/// allowed, outside browsers, for E2B's own domains) the shared `sandbox.<domain>` host that
/// routes by header, else the sandbox's own host. Signed URLs travel without headers, so they
/// are made with `shared_host` false.
pub fn daemon_url(
    config: &ConnectionConfig,
    sandbox_id: &str,
    sandbox_domain: &str,
    shared_host: bool,
) -> String {
    daemon_url_on(config, sandbox_id, sandbox_domain, ENVD_PORT, shared_host)
}

/// [`daemon_url`] for a daemon on `port` (the official `ConnectionConfig` takes it).
pub fn daemon_url_on(
    config: &ConnectionConfig,
    sandbox_id: &str,
    sandbox_domain: &str,
    port: u16,
    shared_host: bool,
) -> String {
    if let Some(url) = &config.sandbox_url {
        url.trim_end_matches('/').to_string()
    } else if config.debug {
        format!("http://localhost:{port}")
    } else if shared_host
        && !config.client().platform().is_browser
        && STABLE_HOST_DOMAINS.contains(&sandbox_domain)
    {
        format!("https://sandbox.{sandbox_domain}")
    } else {
        // A local sandkitd's domain (`localhost:3000`) is plain HTTP; E2B's always TLS.
        let host = format!("{port}-{sandbox_id}.{sandbox_domain}");
        format!("{}://{host}", crate::public::scheme_for(&host))
    }
}

impl Envd {
    /// The daemon's URL as the official SDK chooses it: `sandboxUrl`, else localhost in
    /// debug mode, else the shared host for E2B's own domains (outside browsers), else the
    /// sandbox's own host.
    pub fn new(
        config: &ConnectionConfig,
        sandbox_id: &str,
        sandbox_domain: &str,
        access_token: Option<&str>,
    ) -> Envd {
        let base_url = daemon_url(config, sandbox_id, sandbox_domain, true);
        Envd {
            base_url,
            sandbox_id: sandbox_id.to_string(),
            access_token: access_token.map(str::to_string),
            config: config.clone(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// This daemon for one call whose options give their own `requestTimeoutMs` (as the
    /// official SDK's filesystem and command calls take it); `None` keeps the sandbox's.
    pub(crate) fn for_call(&self, request_timeout_ms: Option<u64>) -> std::borrow::Cow<'_, Envd> {
        match request_timeout_ms {
            Some(ms) if ms != self.config.request_timeout_ms => {
                let mut envd = self.clone();
                envd.config.request_timeout_ms = ms;
                std::borrow::Cow::Owned(envd)
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    pub fn access_token(&self) -> Option<&str> {
        self.access_token.as_deref()
    }

    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The headers every daemon request carries.
    pub fn headers(&self, user: Option<&str>) -> Vec<(String, String)> {
        let mut h = vec![
            ("e2b-sandbox-id".to_string(), self.sandbox_id.clone()),
            ("e2b-sandbox-port".to_string(), ENVD_PORT.to_string()),
            (
                "user-agent".to_string(),
                self.config.client().platform().user_agent.clone(),
            ),
        ];
        if let Some(token) = &self.access_token {
            h.push(("x-access-token".to_string(), token.clone()));
        }
        if let Some(user) = user {
            let basic = crate::wire::base64::encode(format!("{user}:").as_bytes());
            h.push(("authorization".to_string(), format!("Basic {basic}")));
        }
        for (k, v) in &self.config.headers {
            let k = k.to_ascii_lowercase();
            h.retain(|(have, _)| *have != k);
            h.push((k, v.clone()));
        }
        h
    }

    /// A request to the daemon: `path` under its URL, with the headers every request carries
    /// (and the user's, when there is one), then `extra`.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        extra: Vec<(String, String)>,
        body: Option<RequestBody>,
        stream_response: bool,
    ) -> HttpRequest {
        let mut headers = self.headers(user);
        headers.extend(extra);
        HttpRequest {
            method,
            url: format!("{}{path}", self.base_url),
            headers,
            body,
            stream_response,
        }
    }

    /// The request of a Connect call (`rpc` is `service/Method`): unary (always JSON), or
    /// streaming with `Some((timeout_ms, codec))` (a timeout of 0 for none, sent as
    /// `Connect-Timeout-Ms`, which the daemon applies to the process itself).
    pub(crate) fn connect_request(
        &self,
        rpc: &str,
        message: Vec<u8>,
        user: Option<&str>,
        stream: Option<(u64, Codec)>,
    ) -> HttpRequest {
        let header = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut extra = vec![header("connect-protocol-version", "1")];
        let body = match stream {
            None => {
                extra.push(header("content-type", "application/json"));
                Bytes::from(message)
            }
            Some((timeout_ms, codec)) => {
                let content_type = match codec {
                    Codec::Json => "application/connect+json",
                    Codec::Proto => "application/connect+proto",
                };
                extra.push(header("content-type", content_type));
                extra.push(header("keepalive-ping-interval", KEEPALIVE_SECS));
                if timeout_ms > 0 {
                    extra.push(header("connect-timeout-ms", &timeout_ms.to_string()));
                }
                connect::envelope(&message)
            }
        };
        let path = format!("/{rpc}");
        let is_stream = stream.is_some();
        self.request(
            Method::Post,
            &path,
            user,
            extra,
            Some(body.into()),
            is_stream,
        )
    }

    /// Sends a request made by [`Envd::request`]: the response once its head (and, unless it
    /// is streamed, its body) has arrived, within the request timeout.
    ///
    /// A call that only reads ([`may_repeat`]) is sent again, as the retry policy allows, when
    /// the answer is a rate limit, a busy gateway or a broken connection. A 502 is not among
    /// them: from E2B's proxy it means the sandbox is gone.
    pub(crate) async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse> {
        let transport = self.config.client().transport();
        let repeat = may_repeat(&self.base_url, &request);
        crate::api::with_deadline(&self.config, async move {
            if !repeat {
                return transport.send(request).await.map_err(transport_error);
            }
            let HttpRequest {
                method,
                url,
                headers,
                body,
                stream_response,
            } = request;
            // `may_repeat` let through whole bodies only.
            let body = match body {
                Some(RequestBody::Bytes(b)) => Some(b),
                _ => None,
            };
            let mut retries = Retries::start(&self.config);
            loop {
                let result = transport
                    .send(HttpRequest {
                        method,
                        url: url.clone(),
                        headers: headers.clone(),
                        body: body.clone().map(RequestBody::Bytes),
                        stream_response,
                    })
                    .await;
                let outcome = match &result {
                    Ok(r) if matches!(r.status, 429 | 503 | 504) => Outcome::Status {
                        status: r.status,
                        headers: &r.headers,
                    },
                    Ok(_) => return result.map_err(transport_error),
                    Err(e) => Outcome::Transport(e.kind),
                };
                if !retries.again(Idempotency::Idempotent, outcome).await {
                    return result.map_err(transport_error);
                }
            }
        })
        .await
    }

    /// A unary Connect call: one JSON message in (written with [`crate::json::Writer`]), one
    /// out.
    pub async fn unary(
        &self,
        rpc: &str,
        message: String,
        user: Option<&str>,
        context: Context,
    ) -> Result<Bytes> {
        let response = self
            .exchange(self.connect_request(rpc, message.into_bytes(), user, None))
            .await?;
        unary_answer(response, context).map_err(|e| self.redact(e))
    }

    /// `error` without this daemon's secrets (the access token, the API key), whatever the
    /// server echoed ([`Error::redacted`]).
    pub(crate) fn redact(&self, error: Error) -> Error {
        let key = self.config.api_key.as_deref();
        error.redacted(self.access_token.as_deref().into_iter().chain(key))
    }

    /// A server-streaming Connect call: the response's messages (in `codec`) as they arrive.
    /// The request timeout bounds only the handshake; `timeout_ms` (0 for none) is sent as
    /// `Connect-Timeout-Ms`, which the daemon applies to the process itself.
    pub async fn stream(
        &self,
        rpc: &str,
        message: Vec<u8>,
        codec: Codec,
        user: Option<&str>,
        timeout_ms: u64,
        context: Context,
    ) -> Result<MessageStream> {
        let request = self.connect_request(rpc, message, user, Some((timeout_ms, codec)));
        MessageStream::open(self.exchange(request).await?, context, self.clone())
            .await
            .map_err(|e| self.redact(e))
    }

    /// A plain HTTP call to the daemon (`/files`, `/health`) without the user header: the
    /// response once its head has arrived (the request timeout bounds only that).
    pub async fn http(
        &self,
        method: Method,
        path_and_query: &str,
        extra_headers: Vec<(String, String)>,
        body: Option<RequestBody>,
        stream_response: bool,
    ) -> Result<HttpResponse> {
        let request = self.request(
            method,
            path_and_query,
            None,
            extra_headers,
            body,
            stream_response,
        );
        self.exchange(request).await
    }

    /// [`Envd::http`] for a call whose non-2xx answers are errors, mapped as the official
    /// SDK maps the daemon's REST errors.
    pub async fn http_ok(
        &self,
        method: Method,
        path_and_query: &str,
        extra_headers: Vec<(String, String)>,
        body: Option<RequestBody>,
        stream_response: bool,
    ) -> Result<HttpResponse> {
        let response = self
            .http(method, path_and_query, extra_headers, body, stream_response)
            .await?;
        rest_checked(response).await.map_err(|e| self.redact(e))
    }
}

/// The daemon's calls that only read: repeating one has the effect of sending it once.
const READ_ONLY_RPCS: [&str; 3] = [
    "/filesystem.Filesystem/Stat",
    "/filesystem.Filesystem/ListDir",
    "/process.Process/List",
];

/// May this request to the daemon at `base_url` be sent again? GETs (`/files`, `/health`,
/// the interpreter's `/contexts`) and the read-only RPCs, when their body can be sent twice.
fn may_repeat(base_url: &str, request: &HttpRequest) -> bool {
    let path = request
        .url
        .strip_prefix(base_url)
        .and_then(|p| p.split('?').next())
        .unwrap_or_default();
    let reads = match request.method {
        Method::Get => true,
        Method::Post => READ_ONLY_RPCS.contains(&path),
        _ => false,
    };
    reads && matches!(request.body, None | Some(RequestBody::Bytes(_)))
}

/// A response whose non-2xx status is an error (see [`rest_error`]).
pub(crate) async fn rest_checked(response: HttpResponse) -> Result<HttpResponse> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let status = response.status;
    let body = response.body.bytes().await.map_err(transport_error)?;
    Err(rest_error(status, &body))
}

/// The answer of a unary Connect call (its body was read whole): the message, or the error
/// a non-200 status stands for.
pub(crate) fn unary_answer(response: HttpResponse, context: Context) -> Result<Bytes> {
    let body = match response.body {
        Body::Full(b) => b,
        Body::Stream(_) => Bytes::new(),
    };
    if response.status == 200 {
        return Ok(body);
    }
    Err(status_error(response.status, &body, context))
}

/// A non-2xx answer of `/files`: the message from the body's `message`, else the body text.
pub fn rest_error(status: u16, body: &[u8]) -> Error {
    let message = crate::wire::LooseErrorBody::from_body(body)
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let (kind, message) = match status {
        400 => (ErrorKind::InvalidArgument, message),
        401 => (ErrorKind::Authentication, message),
        404 => (ErrorKind::FileNotFound, message),
        429 => (
            ErrorKind::RateLimit,
            format!("{message}: The requests are being rate limited."),
        ),
        502 => (
            ErrorKind::Timeout,
            format!(
                "{message}: This error is likely due to sandbox timeout. You can modify the sandbox timeout by passing 'timeoutMs' when starting the sandbox or calling '.setTimeout' on the sandbox with the desired timeout."
            ),
        ),
        507 => (ErrorKind::NotEnoughSpace, message),
        _ => (ErrorKind::Sandbox, format!("{status}: {message}")),
    };
    Error::new(kind, message).with_status(status)
}

/// A non-200 answer to a Connect call: the Connect error JSON when there is one, else a code
/// from the status (a proxy's answer).
fn status_error(status: u16, body: &[u8], context: Context) -> Error {
    let parsed = ConnectError::from_body(body).filter(|e| !e.code.is_empty());
    let e = parsed.unwrap_or_else(|| ConnectError {
        code: connect::code_from_status(status).to_string(),
        message: String::from_utf8_lossy(body).trim().to_string(),
    });
    if status == 502 {
        // E2B's proxy: the sandbox is gone.
        return Error::new(
            ErrorKind::Timeout,
            format!(
                "{}: The sandbox was not found, it may have reached its end of life.",
                e.message
            ),
        )
        .with_status(502);
    }
    connect::map_error(&e, context).with_status(status)
}

/// The messages of a streaming response, each in the call's codec (the end-stream frame is
/// JSON whatever the codec, as Connect has it).
pub struct MessageStream {
    body: BoxStream<'static, std::result::Result<Bytes, TransportError>>,
    reader: EnvelopeReader,
    context: Context,
    done: bool,
    /// Asked whether the sandbox still lives when the stream breaks off (boxed: a stream
    /// travels inside small enums).
    envd: Box<Envd>,
}

impl MessageStream {
    /// The messages of the response to a streaming call, or the error its status stands for.
    pub(crate) async fn open(
        response: HttpResponse,
        context: Context,
        envd: Envd,
    ) -> Result<MessageStream> {
        if response.status != 200 {
            let body = response.body.bytes().await.map_err(transport_error)?;
            return Err(status_error(response.status, &body, context));
        }
        Ok(MessageStream {
            body: match response.body {
                Body::Stream(s) => s,
                Body::Full(b) => Box::pin(futures_util::stream::iter([Ok(b)])),
            },
            reader: EnvelopeReader::default(),
            context,
            done: false,
            envd: Box::new(envd),
        })
    }

    /// Lets the connection go: no more messages are read.
    pub(crate) fn close(&mut self) {
        self.done = true;
        self.body = Box::pin(futures_util::stream::empty());
    }

    /// The next message; `None` after a clean end of stream.
    pub async fn next_message(&mut self) -> Result<Option<Bytes>> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.reader.next_frame()? {
                Some(Frame::Message(m)) => return Ok(Some(m)),
                Some(Frame::End(json)) => {
                    self.done = true;
                    return match connect::end_stream_error(&json)? {
                        Some(e) => Err(self.envd.redact(connect::map_error(&e, self.context))),
                        None => Ok(None),
                    };
                }
                None => {}
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.reader.push_bytes(chunk),
                Some(Err(e)) => {
                    self.done = true;
                    return Err(broken((*self.envd).clone(), transport_error(e)).await);
                }
                None => {
                    self.done = true;
                    return Err(Error::new(
                        ErrorKind::Sandbox,
                        "the stream ended without an end-of-stream message (missing EndStreamResponse)",
                    ));
                }
            }
        }
    }
}

/// A stream cut mid-way: if the daemon's `/health` then answers 502, the sandbox was killed
/// or expired under the call, and the error says so as the official SDK's does; otherwise (a
/// network fault) the error stays what it was.
async fn broken(envd: Envd, error: Error) -> Error {
    let health = envd
        .http(Method::Get, "/health", Vec::new(), None, false)
        .await;
    match health {
        Ok(r) if r.status == 502 => Error::new(
            ErrorKind::Timeout,
            format!(
                "[unknown] {}: The sandbox was killed or reached its end of life while the request was in flight.",
                error.message()
            ),
        ),
        _ => error,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::client::{Client, Platform};
    use crate::config::{ConnectionOpts, NoEnv};

    fn config(browser: bool, sandbox_url: Option<&str>, debug: bool) -> ConnectionConfig {
        let transport = crate::transport::NativeTransport::new();
        let client = Client::new(
            transport,
            crate::runtime::TokioRuntime::default(),
            NoEnv,
            Platform::new("test", browser),
        );
        ConnectionConfig::resolve(&ConnectionOpts {
            client: Some(client),
            sandbox_url: sandbox_url.map(str::to_string),
            debug: Some(debug),
            dangerously_allow_browser: true,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn daemon_urls_are_chosen_like_the_official_sdk() {
        let url =
            |c: &ConnectionConfig, domain: &str, shared| daemon_url(c, "sbx1", domain, shared);
        let server = config(false, None, false);
        assert_eq!(url(&server, "e2b.app", true), "https://sandbox.e2b.app");
        // Signed URLs carry no routing headers: the sandbox's own host.
        assert_eq!(url(&server, "e2b.app", false), "https://49983-sbx1.e2b.app");
        assert_eq!(
            url(&server, "example.com", true),
            "https://49983-sbx1.example.com"
        );
        let browser = config(true, None, false);
        assert_eq!(url(&browser, "e2b.app", true), "https://49983-sbx1.e2b.app");
        let local = config(false, Some("http://127.0.0.1:9/"), false);
        assert_eq!(url(&local, "e2b.app", true), "http://127.0.0.1:9");
        assert_eq!(url(&local, "e2b.app", false), "http://127.0.0.1:9");
        let debug = config(false, None, true);
        assert_eq!(url(&debug, "e2b.app", false), "http://localhost:49983");
    }
}
