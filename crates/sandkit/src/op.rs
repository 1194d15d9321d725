//! Calls that are one request and what its answer means.
//!
//! Most calls of the SDK send one request and read its answer. Each is written as an [`Op`]:
//! the request, built at once, and a function that reads the answer. Only [`Op::run`] waits.
//! A binding that turns every call into an `Op` of its own value type (`.map(to_js)`) then has
//! one asynchronous state machine for all of them, where an `async fn` per call would bring
//! its own (in the wasm module, a kilobyte or more each). An `Op` is a future to Rust callers
//! too ([`IntoFuture`]): `sandbox.kill().await` runs it, so each call is written once.

use crate::api::{ApiRequest, ApiResponse};
use crate::config::ConnectionConfig;
use crate::envd::connect::{Codec, Context};
use crate::envd::{Envd, MessageStream, rest_checked, unary_answer};
use crate::error::{Error, ErrorKind, Result};
use crate::maybe_send::{BoxFuture, MaybeSend};
use crate::transport::{Body, HttpRequest, HttpResponse, Method, RequestBody};
use bytes::Bytes;
use std::future::IntoFuture;

/// The request of an [`Op`].
pub(crate) enum Request {
    /// A control-plane call, retried as its idempotency allows.
    Api(ConnectionConfig, ApiRequest),
    /// A call to the sandbox's daemon (made by [`Envd::request`] or
    /// [`Envd::connect_request`]), and how to take its answer.
    Envd(Envd, HttpRequest, Expect),
}

/// How to take the answer of a call to the daemon.
pub(crate) enum Expect {
    /// A unary Connect call: the message.
    Message(Context),
    /// A server-streaming Connect call: the stream, once its first message has arrived.
    Stream(Context),
    /// Plain HTTP; with `ok_only`, non-2xx answers are errors (as the daemon's REST errors).
    Http { ok_only: bool },
}

/// The answer to a [`Request`] (none for an `Op` answered without one).
pub(crate) enum Answer {
    None,
    Api(ApiResponse),
    Rpc(Bytes),
    /// The stream and its first message (none if it ended cleanly at once).
    Stream(MessageStream, Option<Bytes>),
    Http(HttpResponse),
}

fn wrong_answer() -> Error {
    Error::new(
        ErrorKind::Sandbox,
        "internal error in sandkit (a bug): an answer of the wrong kind",
    )
}

// Each takes the whole `Result` so that the answer's readers, one closure per call, hand it
// over as it is and get back one `Result` (not inlined: that unwrapping is the same in all).
impl Answer {
    #[inline(never)]
    pub(crate) fn api(answer: Result<Answer>) -> Result<ApiResponse> {
        match answer? {
            Answer::Api(r) => Ok(r),
            _ => Err(wrong_answer()),
        }
    }

    #[inline(never)]
    pub(crate) fn rpc(answer: Result<Answer>) -> Result<Bytes> {
        match answer? {
            Answer::Rpc(b) => Ok(b),
            _ => Err(wrong_answer()),
        }
    }

    #[inline(never)]
    pub(crate) fn http(answer: Result<Answer>) -> Result<HttpResponse> {
        match answer? {
            Answer::Http(r) => Ok(r),
            _ => Err(wrong_answer()),
        }
    }

    #[inline(never)]
    pub(crate) fn stream(answer: Result<Answer>) -> Result<(MessageStream, Option<Bytes>)> {
        match answer? {
            Answer::Stream(s, first) => Ok((s, first)),
            _ => Err(wrong_answer()),
        }
    }

    /// The body of an HTTP answer that was read whole.
    #[inline(never)]
    pub(crate) fn body(answer: Result<Answer>) -> Result<Bytes> {
        match Answer::http(answer)?.body {
            Body::Full(b) => Ok(b),
            Body::Stream(_) => Err(wrong_answer()),
        }
    }
}

impl Request {
    /// A unary Connect call; `rpc` is `service/Method`.
    pub(crate) fn rpc(
        envd: &Envd,
        rpc: &str,
        message: String,
        user: Option<&str>,
        context: Context,
    ) -> Self {
        let request = envd.connect_request(rpc, message.into_bytes(), user, None);
        Request::Envd(envd.clone(), request, Expect::Message(context))
    }

    /// A server-streaming Connect call with its messages in `codec`, answered with its first
    /// message.
    pub(crate) fn stream(
        envd: &Envd,
        rpc: &str,
        message: Vec<u8>,
        codec: Codec,
        user: Option<&str>,
        timeout_ms: u64,
        context: Context,
    ) -> Self {
        let request = envd.connect_request(rpc, message, user, Some((timeout_ms, codec)));
        Request::Envd(envd.clone(), request, Expect::Stream(context))
    }

    /// What the request carries that no error may repeat: the API key, the access and
    /// traffic tokens in its headers.
    fn secrets(&self) -> Vec<String> {
        match self {
            Request::Api(config, _) => config.api_key.iter().map(|k| k.to_string()).collect(),
            Request::Envd(envd, request, _) => {
                let mut secrets = crate::error::secret_values(&request.headers);
                secrets.extend(envd.access_token().map(str::to_string));
                secrets.extend(envd.config().api_key.iter().map(|k| k.to_string()));
                secrets
            }
        }
    }

    /// Boxed and not generic: one copy of this state machine serves every `Op`.
    fn send(self) -> BoxFuture<'static, Result<Answer>> {
        Box::pin(async move {
            let (envd, request, expect) = match self {
                Request::Api(config, request) => {
                    return crate::api::send(&config, request).await.map(Answer::Api);
                }
                Request::Envd(envd, request, expect) => (envd, request, expect),
            };
            let stream = request.stream_response;
            let response = envd.exchange(request).await?;
            match expect {
                Expect::Message(context) => unary_answer(response, context).map(Answer::Rpc),
                Expect::Stream(context) => {
                    let mut messages = MessageStream::open(response, context, envd).await?;
                    let first = messages.next_message().await?;
                    Ok(Answer::Stream(messages, first))
                }
                Expect::Http { ok_only } => {
                    let response = if ok_only {
                        rest_checked(response).await?
                    } else {
                        response
                    };
                    if stream {
                        return Ok(Answer::Http(response));
                    }
                    let HttpResponse {
                        status,
                        headers,
                        body,
                    } = response;
                    let body = body.bytes().await.map_err(crate::files::read_error)?;
                    Ok(Answer::Http(HttpResponse {
                        status,
                        headers,
                        body: Body::Full(body),
                    }))
                }
            }
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
type Finish<T> = Box<dyn FnOnce(Result<Answer>) -> Result<T> + Send>;
#[cfg(target_arch = "wasm32")]
type Finish<T> = Box<dyn FnOnce(Result<Answer>) -> Result<T>>;

/// A call of one request: `.await` it (or [`Op::run`] it), or change what it yields first
/// with [`Op::map`] and [`Op::then`].
#[must_use = "an Op does nothing until it is run"]
pub struct Op<T> {
    // Boxed: an `Op` is moved at every step that builds it, and a request is large.
    request: Option<Box<Request>>,
    finish: Finish<T>,
}

impl<T> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Op")
    }
}

impl<T: 'static> Op<T> {
    pub(crate) fn new(
        request: Request,
        finish: impl FnOnce(Result<Answer>) -> Result<T> + MaybeSend + 'static,
    ) -> Self {
        Op {
            request: Some(Box::new(request)),
            finish: Box::new(finish),
        }
    }

    /// An `Op` answered without a request (a bad argument, debug mode).
    pub fn ready(result: Result<T>) -> Self
    where
        T: MaybeSend,
    {
        Op {
            request: None,
            finish: Box::new(move |_| result),
        }
    }

    /// The `Op` in `build`, or its error as an `Op` that fails.
    pub fn build(build: Result<Op<T>>) -> Self
    where
        T: MaybeSend,
    {
        build.unwrap_or_else(|e| Op::ready(Err(e)))
    }

    /// A control-plane call; `finish` reads the response.
    pub(crate) fn api(
        config: &ConnectionConfig,
        request: ApiRequest,
        finish: impl FnOnce(ApiResponse) -> Result<T> + MaybeSend + 'static,
    ) -> Self {
        Op::new(Request::Api(config.clone(), request), move |answer| {
            finish(Answer::api(answer)?)
        })
    }

    /// A unary Connect call (`rpc` is `service/Method`); `finish` reads the answer or the
    /// error.
    pub(crate) fn rpc(
        envd: &Envd,
        rpc: &str,
        message: String,
        user: Option<&str>,
        context: Context,
        finish: impl FnOnce(Result<Bytes>) -> Result<T> + MaybeSend + 'static,
    ) -> Self {
        let request = Request::rpc(envd, rpc, message, user, context);
        Op::new(request, move |answer| finish(Answer::rpc(answer)))
    }

    /// What the `Op` yields, turned by `f` (which sees errors too).
    pub fn then<U: 'static>(
        self,
        f: impl FnOnce(Result<T>) -> Result<U> + MaybeSend + 'static,
    ) -> Op<U> {
        let finish = self.finish;
        Op {
            request: self.request,
            finish: Box::new(move |answer| f(finish(answer))),
        }
    }

    /// The value the `Op` yields, turned by `f`.
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + MaybeSend + 'static) -> Op<U> {
        self.then(move |r| r.map(f))
    }

    /// Sends the request and reads its answer. An error never carries the secrets the
    /// request carried ([`Error::redacted`]), whatever the server echoed.
    pub async fn run(self) -> Result<T> {
        let Some(request) = self.request else {
            return (self.finish)(Ok(Answer::None));
        };
        let secrets = request.secrets();
        let answer = request.send().await;
        (self.finish)(answer).map_err(|e| e.redacted(secrets.iter().map(String::as_str)))
    }
}

impl<T: MaybeSend + 'static> IntoFuture for Op<T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<'static, Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// An HTTP call to the daemon (`path` under its URL, without the user header); see
/// [`Expect::Http`].
pub(crate) fn http(
    envd: &Envd,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<RequestBody>,
    ok_only: bool,
    stream: bool,
) -> Request {
    let request = envd.request(method, &path, None, headers, body, stream);
    Request::Envd(envd.clone(), request, Expect::Http { ok_only })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn now<T: 'static>(op: Op<T>) -> Result<T> {
        Box::pin(op.run())
            .now_or_never()
            .expect("an Op without a request is ready at once")
    }

    #[test]
    fn ops_without_a_request_compose() {
        assert_eq!(now(Op::ready(Ok(1)).map(|x| x + 1)), Ok(2));
        let failed = Op::<i32>::ready(Err(Error::invalid_argument("bad")));
        assert_eq!(now(failed.then(|r| Ok(r.is_err()))), Ok(true));
        let built = Op::<i32>::build(Err(Error::invalid_argument("nope")));
        assert_eq!(now(built).unwrap_err().message(), "nope");
        // A reader given the wrong kind of answer fails instead of panicking.
        let op = Op::new(Request::Api(config(), api_request()), |a| {
            Answer::rpc(a).map(|b| b.len())
        });
        assert!((op.finish)(Ok(Answer::None)).is_err());
    }

    fn config() -> ConnectionConfig {
        ConnectionConfig::resolve(&crate::ConnectionOpts {
            sandbox_url: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        })
        .unwrap()
    }

    fn api_request() -> ApiRequest {
        ApiRequest {
            method: Method::Get,
            path: "/".into(),
            body: None,
            idempotency: crate::retry::Idempotency::Idempotent,
        }
    }

    #[test]
    fn connect_requests_carry_the_protocol_headers() {
        let envd = Envd::new(&config(), "sbx", "e2b.app", Some("tok"));
        let header = |r: &HttpRequest, k: &str| {
            let found = r.headers.iter().find(|(name, _)| name == k);
            found.map(|(_, v)| v.clone())
        };
        let unary = envd.connect_request("process.Process/List", b"{}".into(), Some("root"), None);
        assert_eq!(unary.url, "http://127.0.0.1:1/process.Process/List");
        assert!(!unary.stream_response);
        assert_eq!(
            header(&unary, "content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            header(&unary, "connect-protocol-version").as_deref(),
            Some("1")
        );
        assert_eq!(header(&unary, "x-access-token").as_deref(), Some("tok"));
        assert_eq!(
            header(&unary, "authorization").as_deref(),
            Some("Basic cm9vdDo=")
        );
        assert_eq!(header(&unary, "keepalive-ping-interval"), None);
        let watch = b"{}".to_vec();
        let stream = envd.connect_request("fs/WatchDir", watch, None, Some((0, Codec::Json)));
        assert!(stream.stream_response);
        assert_eq!(
            header(&stream, "content-type").as_deref(),
            Some("application/connect+json")
        );
        assert_eq!(
            header(&stream, "keepalive-ping-interval").as_deref(),
            Some("50")
        );
        assert_eq!(header(&stream, "connect-timeout-ms"), None);
        assert_eq!(header(&stream, "authorization"), None);
        let start = vec![0x0a, 0x00];
        let timed = envd.connect_request("p/Start", start, None, Some((60_000, Codec::Proto)));
        assert_eq!(
            header(&timed, "content-type").as_deref(),
            Some("application/connect+proto")
        );
        assert_eq!(
            header(&timed, "connect-timeout-ms").as_deref(),
            Some("60000")
        );
        // The message goes in one envelope: flags, big-endian length, the message.
        match timed.body {
            Some(RequestBody::Bytes(b)) => assert_eq!(&b[..], b"\0\0\0\0\x02\x0a\x00"),
            _ => panic!("an enveloped body"),
        }
    }
}
