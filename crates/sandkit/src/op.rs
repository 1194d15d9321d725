//! Calls that are one request and what its answer means.
//!
//! Most calls of the SDK send one request and read its answer. Each is written as an [`Op`]:
//! the request, built at once, and a function that reads the answer. Only [`Op::run`] waits.
//! A binding that turns every call into an `Op` of its own value type (`.map(to_js)`) then has
//! one asynchronous state machine for all of them, where an `async fn` per call would bring
//! its own (in the wasm module, a kilobyte or more each). The `async fn`s of the API are
//! `op.run().await`.

use crate::api::{ApiRequest, ApiResponse};
use crate::config::ConnectionConfig;
use crate::envd::connect::Context;
use crate::envd::{Envd, MessageStream};
use crate::error::{Error, ErrorKind, Result};
use crate::maybe_send::{BoxFuture, MaybeSend};
use crate::transport::{Body, HttpResponse, Method, RequestBody};
use bytes::Bytes;

/// The request of an [`Op`].
pub(crate) enum Request {
    /// A control-plane call, retried as its idempotency allows.
    Api(ConnectionConfig, ApiRequest),
    /// A unary Connect call to the sandbox's daemon.
    Rpc {
        envd: Envd,
        rpc: String,
        message: String,
        user: Option<String>,
        context: Context,
    },
    /// A server-streaming Connect call to the daemon, answered once its first message has
    /// arrived (`timeout_ms` is sent as `Connect-Timeout-Ms`; 0 for none).
    Stream {
        envd: Envd,
        rpc: String,
        message: String,
        user: Option<String>,
        timeout_ms: u64,
        context: Context,
    },
    /// A plain HTTP call to the daemon; with `ok_only`, non-2xx answers are errors, and
    /// unless `stream`, the body is read whole.
    Http {
        envd: Envd,
        method: Method,
        path: String,
        headers: Vec<(String, String)>,
        body: Option<RequestBody>,
        ok_only: bool,
        stream: bool,
    },
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

impl Answer {
    pub(crate) fn api(self) -> Result<ApiResponse> {
        match self {
            Answer::Api(r) => Ok(r),
            _ => Err(wrong_answer()),
        }
    }

    pub(crate) fn rpc(self) -> Result<Bytes> {
        match self {
            Answer::Rpc(b) => Ok(b),
            _ => Err(wrong_answer()),
        }
    }

    pub(crate) fn http(self) -> Result<HttpResponse> {
        match self {
            Answer::Http(r) => Ok(r),
            _ => Err(wrong_answer()),
        }
    }

    pub(crate) fn stream(self) -> Result<(MessageStream, Option<Bytes>)> {
        match self {
            Answer::Stream(s, first) => Ok((s, first)),
            _ => Err(wrong_answer()),
        }
    }

    /// The body of an HTTP answer that was read whole.
    pub(crate) fn body(self) -> Result<Bytes> {
        match self.http()?.body {
            Body::Full(b) => Ok(b),
            Body::Stream(_) => Err(wrong_answer()),
        }
    }
}

impl Request {
    /// Boxed and not generic: one copy of this state machine serves every `Op`.
    fn send(self) -> BoxFuture<'static, Result<Answer>> {
        Box::pin(async move {
            match self {
                Request::Api(config, request) => {
                    crate::api::send(&config, request).await.map(Answer::Api)
                }
                Request::Rpc {
                    envd,
                    rpc,
                    message,
                    user,
                    context,
                } => envd
                    .unary(&rpc, message, user.as_deref(), context)
                    .await
                    .map(Answer::Rpc),
                Request::Stream {
                    envd,
                    rpc,
                    message,
                    user,
                    timeout_ms,
                    context,
                } => {
                    let mut stream = envd
                        .stream(&rpc, message, user.as_deref(), timeout_ms, context)
                        .await?;
                    let first = stream.next_message().await?;
                    Ok(Answer::Stream(stream, first))
                }
                Request::Http {
                    envd,
                    method,
                    path,
                    headers,
                    body,
                    ok_only,
                    stream,
                } => {
                    let response = if ok_only {
                        envd.http_ok(method, &path, headers, body, stream).await?
                    } else {
                        envd.http(method, &path, headers, body, stream).await?
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

/// A call of one request: run it with [`Op::run`] (or `.await` the `async fn` of the same
/// name), or change what it yields first with [`Op::map`] and [`Op::then`].
#[must_use = "an Op does nothing until it is run"]
pub struct Op<T> {
    request: Option<Request>,
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
            request: Some(request),
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
            finish(answer?.api()?)
        })
    }

    /// A unary Connect call; `finish` reads the answer or the error.
    pub(crate) fn rpc(
        envd: &Envd,
        rpc: String,
        message: String,
        user: Option<&str>,
        context: Context,
        finish: impl FnOnce(Result<Bytes>) -> Result<T> + MaybeSend + 'static,
    ) -> Self {
        let request = Request::Rpc {
            envd: envd.clone(),
            rpc,
            message,
            user: user.map(str::to_string),
            context,
        };
        Op::new(request, move |answer| finish(answer.and_then(Answer::rpc)))
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

    /// Sends the request and reads its answer.
    pub async fn run(self) -> Result<T> {
        let answer = match self.request {
            None => Ok(Answer::None),
            Some(request) => request.send().await,
        };
        (self.finish)(answer)
    }
}

/// An HTTP call to the daemon (see [`Request::Http`]).
pub(crate) fn http(
    envd: &Envd,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<RequestBody>,
    ok_only: bool,
    stream: bool,
) -> Request {
    Request::Http {
        envd: envd.clone(),
        method,
        path,
        headers,
        body,
        ok_only,
        stream,
    }
}
