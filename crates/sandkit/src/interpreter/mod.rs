//! The code interpreter on port 49999 of a sandbox, as `@e2b/code-interpreter` 2.8.0 speaks
//! to it: `runCode` (`POST /execute`, answered with a stream of JSON lines) and code contexts
//! (`/contexts`). Stream parsing is in [`stream`]; the bindings turn the events into the
//! official package's `Execution` and `Result` objects.

pub mod stream;

use crate::cancel::CancelHandle;
use crate::config::ConnectionConfig;
use crate::envd::{Envd, daemon_url_on};
use crate::error::{Error, ErrorKind, Result};
use crate::json::{self, Writer};
use crate::maybe_send::BoxStream;
use crate::op::{Op, Request};
use crate::options::from_js::whole_millis;
use crate::runtime::Deadline;
use crate::transport::{Body, HttpRequest, HttpResponse, Method, TransportError};
use crate::wire::StringMap;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
pub use stream::{CodeEvent, CodeResult, ExecutionError};

/// How many bytes of output events a binding hands JavaScript at most per call
/// ([`CodeRun::next_events`]).
pub const EVENTS_BATCH: usize = 1 << 20;

/// The interpreter's port.
pub const INTERPRETER_PORT: u16 = 49999;
/// How long an execution may run unless `timeout_ms` says otherwise (the official client's).
pub const DEFAULT_EXECUTION_TIMEOUT_MS: u64 = 60_000;

/// A code context: an interpreter's state (variables, imports, working directory) that
/// executions in it share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeContext {
    pub id: String,
    pub language: String,
    pub cwd: String,
}

impl CodeContext {
    fn from_json(v: &json::Value<'_>) -> std::result::Result<Self, json::JsonError> {
        let o = v.object()?;
        Ok(CodeContext {
            id: o.str("id")?.into(),
            language: o.str_or_empty("language")?.into(),
            cwd: o.str_or_empty("cwd")?.into(),
        })
    }
}

/// Options of [`Interpreter::run_code`].
#[derive(Debug, Clone, Default)]
pub struct RunCodeOpts {
    /// The language of the default context to run in (`python` when neither this nor
    /// `context_id` is given).
    pub language: Option<String>,
    /// The context to run in; not together with `language`.
    pub context_id: Option<String>,
    /// Environment variables for this execution only.
    pub envs: Option<StringMap>,
    /// How long the execution may run once it has started; 0 for no limit; default 60 s.
    pub timeout_ms: Option<u64>,
    /// How long the interpreter may take to start answering; default the connection's.
    pub request_timeout_ms: Option<u64>,
}

impl RunCodeOpts {
    /// The options as a binding read them from JavaScript (milliseconds as numbers).
    pub fn from_js(
        language: Option<String>,
        context_id: Option<String>,
        envs: Option<StringMap>,
        timeout_ms: Option<f64>,
        request_timeout_ms: Option<f64>,
    ) -> Result<RunCodeOpts> {
        Ok(RunCodeOpts {
            language,
            context_id,
            envs,
            timeout_ms: whole_millis("timeoutMs", timeout_ms)?,
            request_timeout_ms: whole_millis("requestTimeoutMs", request_timeout_ms)?,
        })
    }
}

/// Options of [`Interpreter::create_context`].
#[derive(Debug, Clone, Default)]
pub struct ContextOpts {
    /// The server's default is `/home/user`.
    pub cwd: Option<String>,
    /// The server's default is `python`.
    pub language: Option<String>,
    pub request_timeout_ms: Option<u64>,
}

impl ContextOpts {
    /// The options as a binding read them from JavaScript.
    pub fn from_js(
        cwd: Option<String>,
        language: Option<String>,
        request_timeout_ms: Option<f64>,
    ) -> Result<ContextOpts> {
        Ok(ContextOpts {
            cwd,
            language,
            request_timeout_ms: whole_millis("requestTimeoutMs", request_timeout_ms)?,
        })
    }
}

/// One sandbox's interpreter.
#[derive(Clone)]
pub struct Interpreter {
    base_url: String,
    sandbox_id: String,
    access_token: Option<String>,
    traffic_token: Option<String>,
    config: ConnectionConfig,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Interpreter {
    /// The interpreter of a sandbox: its own host on port 49999 (`sandboxUrl` when set, with
    /// the routing headers), as the official client addresses it.
    pub(crate) fn new(
        config: &ConnectionConfig,
        sandbox_id: &str,
        sandbox_domain: &str,
        access_token: Option<&str>,
        traffic_token: Option<&str>,
    ) -> Interpreter {
        Interpreter {
            base_url: daemon_url_on(config, sandbox_id, sandbox_domain, INTERPRETER_PORT, false),
            sandbox_id: sandbox_id.to_string(),
            access_token: access_token.map(str::to_string),
            traffic_token: traffic_token.map(str::to_string),
            config: config.clone(),
        }
    }

    /// A request to the interpreter; the access token goes only with `/execute`, as the
    /// official client sends it.
    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        execute: bool,
    ) -> HttpRequest {
        let header = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut headers = vec![
            header("content-type", "application/json"),
            header("e2b-sandbox-id", &self.sandbox_id),
            header("e2b-sandbox-port", &INTERPRETER_PORT.to_string()),
        ];
        if let Some(token) = &self.traffic_token {
            headers.push(header("e2b-traffic-access-token", token));
        }
        if let (true, Some(token)) = (execute, &self.access_token) {
            headers.push(header("x-access-token", token));
        }
        HttpRequest {
            method,
            url: format!("{}{path}", self.base_url),
            headers,
            body: body.map(|b| Bytes::from(b).into()),
            stream_response: execute,
        }
    }

    /// An `Op` of one request whose answer, status and all, `finish` reads, within
    /// `request_timeout_ms` (default the connection's).
    fn op<T: crate::maybe_send::MaybeSend + 'static>(
        &self,
        request: HttpRequest,
        request_timeout_ms: Option<u64>,
        finish: impl FnOnce(HttpResponse) -> Result<T> + crate::maybe_send::MaybeSend + 'static,
    ) -> Op<T> {
        let mut config = self.config.clone();
        if let Some(ms) = request_timeout_ms {
            config.request_timeout_ms = ms;
        }
        // The daemon's plumbing carries it (the transport and the deadline), not its headers.
        let carrier = Envd::new(&config, &self.sandbox_id, "", None);
        Op::new(
            Request::Envd(carrier, request, crate::op::Expect::Http { ok_only: false }),
            move |answer| finish(crate::op::Answer::http(answer)?),
        )
    }

    /// Runs `code`: the events as they come, from [`CodeRun`]. The execution timeout starts
    /// once the interpreter has answered.
    pub fn run_code(&self, code: &str, opts: RunCodeOpts) -> Op<CodeRun> {
        if opts.context_id.is_some() && opts.language.is_some() {
            return Op::ready(Err(Error::invalid_argument(
                "You can provide context or language, but not both at the same time.",
            )));
        }
        if let Some(envs) = &opts.envs
            && let Err(e) = crate::options::check_envs(envs.iter())
        {
            return Op::ready(Err(e));
        }
        let mut w = Writer::new();
        w.begin_object();
        w.field_str("code", code);
        w.field_opt_str("context_id", opts.context_id.as_deref());
        w.field_opt_str("language", opts.language.as_deref());
        w.field_opt_map("env_vars", opts.envs.as_ref());
        w.end_object();
        let request = self.request(Method::Post, "/execute", Some(w.finish()), true);
        let secrets = crate::error::secret_values(&request.headers);
        let runtime_config = self.config.clone();
        let timeout_ms = opts.timeout_ms.unwrap_or(DEFAULT_EXECUTION_TIMEOUT_MS);
        self.op(request, opts.request_timeout_ms, move |response| {
            let started = runtime_config.client().runtime().now_ms();
            // A refusal's body (streamed like any answer here) is read by the first
            // `next_event`, which reports it.
            let failed = (!(200..300).contains(&response.status)).then_some(response.status);
            Ok(CodeRun {
                failed,
                secrets,
                cancel: CancelHandle::default(),
                body: match response.body {
                    Body::Stream(s) => s,
                    Body::Full(b) => Box::pin(futures_util::stream::iter([Ok(b)])),
                },
                lines: stream::LineSplitter::default(),
                ready: std::collections::VecDeque::new(),
                deadline: (timeout_ms > 0).then(|| Deadline::at(started + timeout_ms as f64)),
                config: runtime_config,
                ended: false,
                finished: false,
                truncated: false,
            })
        })
    }

    /// `POST /contexts`: a new context.
    pub fn create_context(&self, opts: ContextOpts) -> Op<CodeContext> {
        let mut w = Writer::new();
        w.begin_object();
        w.field_opt_str("language", opts.language.as_deref());
        w.field_opt_str("cwd", opts.cwd.as_deref());
        w.end_object();
        let request = self.request(Method::Post, "/contexts", Some(w.finish()), false);
        self.op(request, opts.request_timeout_ms, |response| {
            read_json(checked(response)?, CodeContext::from_json)
        })
    }

    /// `GET /contexts`: the contexts made with [`Interpreter::create_context`].
    pub fn list_contexts(&self) -> Op<Vec<CodeContext>> {
        let request = self.request(Method::Get, "/contexts", None, false);
        self.op(request, None, |response| {
            read_json(checked(response)?, |v| {
                json::read_all(v.array()?, CodeContext::from_json)
            })
        })
    }

    /// `DELETE /contexts/{id}`.
    pub fn remove_context(&self, id: &str) -> Op<()> {
        let path = format!(
            "/contexts/{}",
            crate::wire::metadata::encode_uri_component(id)
        );
        let request = self.request(Method::Delete, &path, None, false);
        self.op(request, None, |response| checked(response).map(drop))
    }

    /// `POST /contexts/{id}/restart`: the context's state is cleared.
    pub fn restart_context(&self, id: &str) -> Op<()> {
        let path = format!(
            "/contexts/{}/restart",
            crate::wire::metadata::encode_uri_component(id)
        );
        let request = self.request(Method::Post, &path, None, false);
        self.op(request, None, |response| checked(response).map(drop))
    }
}

fn read_json<T>(
    response: HttpResponse,
    read: impl FnOnce(&json::Value<'_>) -> std::result::Result<T, json::JsonError>,
) -> Result<T> {
    let Body::Full(body) = response.body else {
        return Err(Error::new(
            ErrorKind::Sandbox,
            "the interpreter's answer was not read",
        ));
    };
    json::parse(&body).and_then(|v| read(&v)).map_err(|e| {
        Error::new(
            ErrorKind::Sandbox,
            format!("unreadable answer from the code interpreter: {e}"),
        )
    })
}

/// The response if its status is a success; else the official client's error for it.
fn checked(response: HttpResponse) -> Result<HttpResponse> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let body = match &response.body {
        Body::Full(b) => b.clone(),
        Body::Stream(_) => Bytes::new(),
    };
    Err(status_error(response.status, &body))
}

/// The official client's error for an interpreter's answer of `status` with `body`.
fn status_error(status: u16, body: &[u8]) -> Error {
    let body = String::from_utf8_lossy(body);
    match status {
        502 => Error::new(
            ErrorKind::Timeout,
            format!(
                "{body}: This error is likely due to sandbox timeout. You can modify the sandbox timeout by passing 'timeoutMs' when starting the sandbox or calling '.setTimeout' on the sandbox with the desired timeout."
            ),
        ),
        404 => Error::new(ErrorKind::NotFound, body),
        // The official client shows the status alone; the server's own words say why (a
        // context refused: "no java in this sandbox: …"), the first 500 characters of them.
        _ => {
            let said = body.trim();
            let said = said
                .char_indices()
                .nth(MAX_SAID)
                .and_then(|(at, _)| said.get(..at))
                .unwrap_or(said);
            let message = if said.is_empty() {
                format!("{status} {}", reason(status))
            } else {
                format!("{status} {}: {said}", reason(status))
            };
            Error::new(ErrorKind::Sandbox, message)
        }
    }
    .with_status(status)
}

/// The most of a refusal's body an error message repeats.
const MAX_SAID: usize = 500;

/// The reason phrase the official client shows with a status (its `statusText`).
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// An execution under way: its events as they arrive.
pub struct CodeRun {
    /// The status of an answer that refused the execution; its body is the message.
    failed: Option<u16>,
    /// What the request carried that the refusal's message must not repeat.
    secrets: Vec<String>,
    cancel: CancelHandle,
    body: BoxStream<'static, std::result::Result<Bytes, TransportError>>,
    lines: stream::LineSplitter,
    /// Events read but not handed out yet.
    ready: std::collections::VecDeque<CodeEvent>,
    /// When the execution timeout passes, in the runtime's milliseconds.
    deadline: Option<Deadline>,
    config: ConnectionConfig,
    ended: bool,
    /// `end_of_execution`, which the interpreter always writes last, has arrived.
    finished: bool,
    /// The answer ended cleanly without `end_of_execution`: reported once the events that did
    /// arrive have been handed out.
    truncated: bool,
}

impl std::fmt::Debug for CodeRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeRun")
    }
}

/// What an execution produced, put together (the official package's `Execution`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Execution {
    pub results: Vec<CodeResult>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    pub error: Option<ExecutionError>,
    pub execution_count: Option<u32>,
}

impl Execution {
    /// Adds one event.
    pub fn push(&mut self, event: CodeEvent) {
        match event {
            CodeEvent::Stdout(t) => self.stdout.push(t),
            CodeEvent::Stderr(t) => self.stderr.push(t),
            CodeEvent::Result(r) => self.results.push(r),
            CodeEvent::Error(e) => self.error = Some(e),
            CodeEvent::ExecutionCount(n) => self.execution_count = Some(n),
        }
    }

    /// The main result's text.
    pub fn text(&self) -> Option<&str> {
        self.results
            .iter()
            .find(|r| r.is_main_result)
            .and_then(|r| r.text.as_deref())
    }
}

impl CodeRun {
    /// The next event; `None` once the execution has ended.
    pub async fn next_event(&mut self) -> Result<Option<CodeEvent>> {
        if let Some(status) = self.failed.take() {
            let mut body = Vec::new();
            while let Some(Ok(chunk)) = self.body.next().await {
                body.extend_from_slice(&chunk);
            }
            self.end();
            let error = status_error(status, &body);
            return Err(error.redacted(self.secrets.iter().map(String::as_str)));
        }
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                if std::mem::take(&mut self.truncated) {
                    return Err(Error::new(
                        ErrorKind::Connection,
                        "The execution's output ended before the interpreter's end of execution: the connection was cut, and what ran after the cut is unknown.",
                    ));
                }
                return Ok(None);
            }
            self.read_more().await?;
        }
    }

    /// The events ready now, or (when none is) the next ones to arrive, at least one;
    /// `None` once the execution has ended. Output events of `max_bytes` or more end a
    /// batch early.
    pub async fn next_events(&mut self, max_bytes: usize) -> Result<Option<Vec<CodeEvent>>> {
        let Some(first) = self.next_event().await? else {
            return Ok(None);
        };
        let mut size = event_size(&first);
        let mut batch = vec![first];
        while size < max_bytes {
            match self.ready.pop_front() {
                Some(event) => {
                    size += event_size(&event);
                    batch.push(event);
                }
                None => break,
            }
        }
        Ok(Some(batch))
    }

    /// Reads the whole execution.
    pub async fn collect(mut self) -> Result<Execution> {
        let mut execution = Execution::default();
        while let Some(event) = self.next_event().await? {
            execution.push(event);
        }
        Ok(execution)
    }

    /// What stops this execution from elsewhere (an `AbortSignal`): the next read ends with
    /// an error and the answer is let go.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Reads the next chunk of the answer (within the execution timeout) into `ready`.
    async fn read_more(&mut self) -> Result<()> {
        let cancel = self.cancel.clone();
        let read = {
            let next = select(self.body.next(), cancel.cancelled());
            let next = match &mut self.deadline {
                None => Some(next.await),
                Some(deadline) => deadline.race(self.config.client().runtime(), next).await,
            };
            match next {
                Some(Either::Left((chunk, _))) => Read::Chunk(chunk),
                Some(Either::Right(_)) => Read::Cancelled,
                None => Read::TimedOut,
            }
        };
        let chunk = match read {
            Read::Chunk(chunk) => chunk,
            Read::Cancelled => {
                self.end();
                return Err(Error::new(
                    ErrorKind::Sandbox,
                    "The execution was cancelled.",
                ));
            }
            Read::TimedOut => {
                self.end();
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "Execution timed out — the 'timeoutMs' option can be used to increase this timeout",
                ));
            }
        };
        let lines = match chunk {
            Some(Ok(bytes)) => self.lines.push(&bytes),
            Some(Err(e)) => {
                self.end();
                return Err(e.into_error("sandbox"));
            }
            None => {
                self.end();
                let last: Vec<_> = self.lines.finish().into_iter().collect();
                self.truncated = !self.finished && !last.iter().any(|l| stream::is_end(l));
                if self.truncated {
                    // A line cut in two is no event: the cut is the error to report.
                    let events = last.iter().filter_map(|l| stream::parse_line(l).ok());
                    self.ready.extend(events.flatten());
                    return Ok(());
                }
                last
            }
        };
        for line in lines {
            self.finished |= stream::is_end(&line);
            if let Some(event) = stream::parse_line(&line)? {
                self.ready.push_back(event);
            }
        }
        Ok(())
    }
}

/// What one read of an execution's answer came to.
enum Read {
    Chunk(Option<std::result::Result<Bytes, TransportError>>),
    Cancelled,
    TimedOut,
}

impl CodeRun {
    /// No more reading: the answer is let go at once (its connection closed, which is how
    /// the interpreter learns that nobody waits for an execution cut short, and interrupts
    /// it), not when the caller drops this.
    fn end(&mut self) {
        self.ended = true;
        self.body = Box::pin(futures_util::stream::empty());
    }
}

fn event_size(event: &CodeEvent) -> usize {
    match event {
        CodeEvent::Stdout(t) | CodeEvent::Stderr(t) => t.len(),
        CodeEvent::Result(r) => r.raw_json.len(),
        CodeEvent::Error(e) => e.traceback.len(),
        CodeEvent::ExecutionCount(_) => 0,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[test]
    fn a_refusal_says_the_servers_reason_within_bounds() {
        let e = status_error(500, b"Failed to create context: no java in this sandbox\n");
        assert_eq!(
            e.message(),
            "500 Internal Server Error: Failed to create context: no java in this sandbox"
        );
        assert_eq!(e.kind(), ErrorKind::Sandbox);
        assert_eq!(status_error(400, b"").message(), "400 Bad Request");
        let long = "é".repeat(MAX_SAID + 10);
        let clipped = status_error(500, long.as_bytes());
        assert_eq!(
            clipped.message().chars().count(),
            "500 Internal Server Error: ".len() + MAX_SAID
        );
    }

    /// An execution whose answer is `chunks`, then a clean end.
    fn run_of(chunks: &[&'static str]) -> CodeRun {
        let chunks: Vec<_> = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        CodeRun {
            failed: None,
            secrets: Vec::new(),
            cancel: CancelHandle::default(),
            body: Box::pin(futures_util::stream::iter(chunks)),
            lines: stream::LineSplitter::default(),
            ready: Default::default(),
            deadline: None,
            config: ConnectionConfig::resolve(&crate::ConnectionOpts {
                sandbox_url: Some("http://127.0.0.1:1".into()),
                ..Default::default()
            })
            .unwrap(),
            ended: false,
            finished: false,
            truncated: false,
        }
    }

    fn collect(run: CodeRun) -> Result<Execution> {
        run.collect().now_or_never().expect("no waiting")
    }

    #[test]
    fn an_answer_without_its_end_of_execution_is_an_error() {
        let out = r#"{"type":"stdout","text":"a\n"}"#;
        let end = r#"{"type":"end_of_execution"}"#;
        // Whole, in any chunking; the last line may lack its newline.
        for chunks in [
            vec![out, "\n", end, "\n"],
            vec![out, "\n{\"type\":\"end_of", "_execution\"}"],
        ] {
            assert_eq!(collect(run_of(&chunks)).unwrap().stdout, ["a\n"]);
        }
        // Cut: the events that came are handed out, then the error.
        let mut run = run_of(&[out, "\n", r#"{"type":"stdout","te"#]);
        let first = run.next_event().now_or_never().unwrap().unwrap();
        assert_eq!(first, Some(CodeEvent::Stdout("a\n".into())));
        let err = run.next_event().now_or_never().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
        // Cut at a line's end, the same.
        let mut run = run_of(&[out, "\n"]);
        assert!(run.next_event().now_or_never().unwrap().unwrap().is_some());
        let err = run.next_event().now_or_never().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
        // A line that only mentions it is not the end.
        let mention = r#"{"type":"stdout","text":"end_of_execution"}"#;
        assert!(collect(run_of(&[mention, "\n"])).is_err());
    }
}
