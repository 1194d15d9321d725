//! `sandbox.commands`: run commands in the sandbox, in the foreground or the background,
//! stream their output, write their stdin, signal them, list them.
//!
//! ```no_run
//! use sandkit::{Sandbox, SandboxOpts, commands::RunOpts};
//! # async fn demo() -> sandkit::Result<()> {
//! let sandbox = Sandbox::create(SandboxOpts::new()).await?;
//! let result = sandbox.commands().run("echo $HOME", RunOpts::default()).await?;
//! assert_eq!(result.stdout, "/home/user\n");
//! # Ok(()) }
//! ```

use crate::cancel::CancelHandle;
use crate::envd::connect::{Codec, Context};
use crate::envd::proto::{self, Event};
use crate::envd::{Envd, MessageStream};
use crate::error::{CommandOutcome, Error, ErrorKind, Result};
use crate::json::{self, Obj, Value, Writer, owned, to_strings};
use crate::maybe_send::MaybeSend;
use crate::op::{Answer, Op, Request};
use crate::runtime::Deadline;
use crate::utf8_pieces::Utf8Pieces;
use crate::wire::base64;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{Either, select};
use std::collections::BTreeMap;
use std::pin::pin;
use std::time::Duration;

/// What the official SDK waits for a command by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of [`Commands::run`] and [`Commands::spawn`].
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    /// Variables for this command only, over the sandbox's.
    pub envs: BTreeMap<String, String>,
    /// Working directory; default the user's home.
    pub cwd: Option<String>,
    /// `user` (default) or `root`.
    pub user: Option<String>,
    /// How long the command may run; [`DEFAULT_TIMEOUT`] when unset, no limit when zero.
    pub timeout: Option<Duration>,
    /// Keep stdin open as a pipe (for [`CommandHandle::send_stdin`]).
    pub stdin: bool,
    /// A tag to find the process by.
    pub tag: Option<String>,
    /// This call's `requestTimeoutMs` (0 for none), which bounds the start only; the
    /// sandbox's when unset.
    pub request_timeout_ms: Option<u64>,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    pub exit_code: i32,
    /// `exit status 3`, `signal: killed`; `None` for a clean exit.
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

/// How much output a binding hands JavaScript at most per call ([`CommandHandle::next_output_text`]):
/// large enough that a fast stream crosses in few calls, small enough to bound each copy.
pub const OUTPUT_BATCH: usize = 1 << 20;

/// A piece of output as a binding hands it to JavaScript: stdout and stderr as text, decoded
/// across pieces ([`crate::utf8_pieces`]), a terminal's bytes as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputText {
    Stdout(String),
    Stderr(String),
    Pty(Bytes),
}

/// One piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
    Pty(Bytes),
}

/// A running process, as `List` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub tag: Option<String>,
    pub cmd: String,
    pub args: Vec<String>,
    pub envs: BTreeMap<String, String>,
    pub cwd: Option<String>,
}

// ── wire messages ────────────────────────────────────────────────────────────────────────

/// `{"process":{"pid":N}`, left open for more members.
pub(crate) fn select_request(pid: u32) -> Writer {
    let mut w = Writer::new();
    w.begin_object();
    w.key("process");
    w.begin_object();
    w.field_u64("pid", pid.into());
    w.end_object();
    w
}

/// The request made by `w`, closed.
pub(crate) fn finish(mut w: Writer) -> String {
    w.end_object();
    w.finish()
}

/// `StartRequest` of a command (binary: see [`proto`]): `bash -l -c cmd`, its options, and
/// `stdin` always said (false means `/dev/null`).
fn start_request(cmd: &str, opts: &RunOpts) -> Vec<u8> {
    proto::start_request(&proto::Start {
        args: &["-l", "-c", cmd],
        envs: &opts.envs,
        cwd: opts.cwd.as_deref(),
        pty: None,
        tag: opts.tag.as_deref(),
        stdin: Some(opts.stdin),
    })
}

/// One entry of `{processes: [{config?: {cmd, args, envs, cwd?}, pid, tag?}]}`.
fn listed_process(p: &Value<'_>) -> json::Result<ProcessInfo> {
    let p = p.object()?;
    let (pid, tag) = (p.u32_or_zero("pid")?, p.opt_str("tag")?);
    let config = match p.opt("config")? {
        Some(c) => {
            let c = c.object()?;
            let cmd = c.str_or_empty("cmd")?;
            let args = c.get("args")?.map(Value::string_array).transpose()?;
            let envs = c.get("envs")?.map(Value::string_object).transpose()?;
            Some((cmd, args, envs, c.opt_str("cwd")?))
        }
        None => None,
    };
    let (cmd, args, envs, cwd) = config.unwrap_or_default();
    Ok(ProcessInfo {
        pid,
        tag: owned(tag),
        cmd: cmd.into(),
        args: args.map(to_strings).unwrap_or_default(),
        envs: envs.map(Obj::to_string_map).unwrap_or_default(),
        cwd: owned(cwd),
    })
}

fn process_list(v: &Value<'_>) -> json::Result<Vec<ProcessInfo>> {
    match v.object()?.get("processes")? {
        None => Ok(Vec::new()),
        Some(list) => json::read_all(list.array()?, listed_process),
    }
}

fn unreadable(e: json::JsonError) -> Error {
    Error::new(
        ErrorKind::Sandbox,
        format!("the sandbox's daemon sent a message the SDK cannot read: {e}"),
    )
}

// ── the API ──────────────────────────────────────────────────────────────────────────────

/// The commands of one sandbox; from [`crate::Sandbox::commands`].
#[derive(Debug, Clone)]
pub struct Commands {
    envd: Envd,
}

impl Commands {
    pub(crate) fn new(envd: Envd) -> Self {
        Commands { envd }
    }

    /// Runs `cmd` with `bash -l -c` and waits for it. A non-zero exit is an error of kind
    /// [`ErrorKind::CommandExit`] that carries the output.
    pub async fn run(&self, cmd: &str, opts: RunOpts) -> Result<CommandResult> {
        self.spawn(cmd, opts).await?.wait().await
    }

    /// Starts `cmd` and returns at once with a handle to it.
    pub fn spawn(&self, cmd: &str, opts: RunOpts) -> Op<CommandHandle> {
        if let Err(e) = crate::options::check_envs(opts.envs.iter()) {
            return Op::ready(Err(e));
        }
        let request = start_request(cmd, &opts);
        self.attach_op(
            "Start",
            request,
            opts.user,
            opts.timeout,
            opts.request_timeout_ms,
        )
    }

    /// Attaches to a running process by pid, to follow its output and end.
    pub fn connect(&self, pid: u32, timeout: Option<Duration>) -> Op<CommandHandle> {
        let request = proto::connect_request(pid);
        self.attach_op("Connect", request, None, timeout, None)
    }

    /// A process stream (`Start` or `Connect`, its `request` in the binary codec, which
    /// carries output as raw bytes) and the handle made from its first message.
    pub(crate) fn attach_op(
        &self,
        method: &str,
        request: Vec<u8>,
        user: Option<String>,
        timeout: Option<Duration>,
        request_timeout_ms: Option<u64>,
    ) -> Op<CommandHandle> {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let started = self.envd.config().client().runtime().now_ms();
        // The handle's later calls (kill, stdin) use the sandbox's own timeout.
        let envd = self.envd.clone();
        let request = Request::stream(
            &self.envd.for_call(request_timeout_ms),
            &format!("process.Process/{method}"),
            request,
            Codec::Proto,
            user.as_deref(),
            timeout.as_millis().min(u128::from(u64::MAX)) as u64,
            Context::Process,
        );
        Op::new(request, move |answer| {
            let (stream, first) = Answer::stream(answer)?;
            let mut handle = CommandHandle::attach(envd, stream, first)?;
            handle.deadline = deadline(started, timeout);
            Ok(handle)
        })
    }

    /// A call to the process service; `finish` reads the answer or the error.
    pub(crate) fn rpc<T: 'static>(
        &self,
        method: &str,
        request: String,
        finish: impl FnOnce(Result<Bytes>) -> Result<T> + MaybeSend + 'static,
    ) -> Op<T> {
        let rpc = format!("process.Process/{method}");
        Op::rpc(&self.envd, &rpc, request, None, Context::Process, finish)
    }

    /// The running processes.
    pub fn list(&self) -> Op<Vec<ProcessInfo>> {
        self.rpc("List", "{}".into(), |body| {
            json::parse(&body?)
                .and_then(|v| process_list(&v))
                .map_err(unreadable)
        })
    }

    /// Kills a process (SIGKILL): `false` when there was no such process.
    pub fn kill(&self, pid: u32) -> Op<bool> {
        let mut w = select_request(pid);
        w.field_str("signal", "SIGNAL_SIGKILL");
        self.rpc("SendSignal", finish(w), |answer| match answer {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// Writes to a process's stdin (it must have been started with `stdin: true`).
    pub fn send_stdin(&self, pid: u32, data: &[u8]) -> Op<()> {
        let mut w = select_request(pid);
        w.key("input");
        w.begin_object();
        w.field_str("stdin", &base64::encode(data));
        w.end_object();
        self.rpc("SendInput", finish(w), |answer| answer.map(drop))
    }

    /// Closes a process's stdin, so it reads end-of-file.
    pub fn close_stdin(&self, pid: u32) -> Op<()> {
        self.rpc("CloseStdin", finish(select_request(pid)), |answer| {
            answer.map(drop)
        })
    }
}

/// When a command with `timeout` started at `started_ms` must be over; none for zero.
fn deadline(started_ms: f64, timeout: Duration) -> Option<Deadline> {
    (!timeout.is_zero()).then(|| Deadline::at(started_ms + timeout.as_secs_f64() * 1000.0))
}

fn deadline_error() -> Error {
    crate::envd::connect::map_error(
        &crate::envd::connect::ConnectError {
            code: "deadline_exceeded".into(),
            message: "the operation timed out".into(),
        },
        Context::Process,
    )
}

fn output_kind(o: &Output) -> u8 {
    match o {
        Output::Stdout(_) => 0,
        Output::Stderr(_) => 1,
        Output::Pty(_) => 2,
    }
}

fn split_output(o: Output) -> (u8, Bytes) {
    let kind = output_kind(&o);
    match o {
        Output::Stdout(b) | Output::Stderr(b) | Output::Pty(b) => (kind, b),
    }
}

fn join_output(kind: u8, b: Bytes) -> Output {
    match kind {
        0 => Output::Stdout(b),
        1 => Output::Stderr(b),
        _ => Output::Pty(b),
    }
}

/// A started (or connected) process: its pid, its output as it comes, and its end.
pub struct CommandHandle {
    pid: u32,
    envd: Envd,
    stream: MessageStream,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    end: Option<(i32, Option<String>)>,
    /// `timeoutMs` as a wall-clock instant: waiting past it is a `TimeoutError` (the daemon
    /// also kills the process then).
    deadline: Option<Deadline>,
    /// Whether the output is kept for [`Self::wait`]'s result.
    keep_output: bool,
    /// Read ahead by [`Self::next_output_batch`]: a piece of another stream, or the error
    /// that came after a batch.
    pending: Option<Result<Output>>,
    /// [`Self::next_output_text`]'s decoders of stdout and stderr.
    text: [Utf8Pieces; 2],
    /// Stops the reading from elsewhere ([`Self::disconnector`]); the process goes on.
    disconnect: CancelHandle,
}

impl std::fmt::Debug for CommandHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandHandle")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl CommandHandle {
    /// The handle of a process stream whose first message, which must say which process
    /// this is, was `first`.
    fn attach(envd: Envd, stream: MessageStream, first: Option<Bytes>) -> Result<CommandHandle> {
        let start = match first {
            Some(m) => proto::process_event(&m)?,
            None => Event::Nothing,
        };
        let Event::Start(pid) = start else {
            return Err(Error::new(ErrorKind::Sandbox, "Expected start event"));
        };
        Ok(CommandHandle {
            pid,
            envd,
            stream,
            stdout: Vec::new(),
            stderr: Vec::new(),
            end: None,
            deadline: None,
            keep_output: true,
            pending: None,
            text: Default::default(),
            disconnect: CancelHandle::default(),
        })
    }

    /// The next message; an error once the deadline has passed or the handle was
    /// disconnected.
    async fn next_message(&mut self) -> Result<Option<Bytes>> {
        let disconnect = self.disconnect.clone();
        let read = if disconnect.is_cancelled() {
            None
        } else {
            match select(pin!(self.next_message_in_time()), disconnect.cancelled()).await {
                Either::Left((read, _)) => Some(read),
                Either::Right(_) => None,
            }
        };
        match read {
            Some(read) => read,
            None => {
                // Let the connection go now: the daemon then stops sending, and the process
                // goes on.
                self.stream.close();
                Err(Error::new(
                    ErrorKind::Sandbox,
                    format!(
                        "disconnected from process {} before it ended; it is still running (connect to it again to follow it)",
                        self.pid
                    ),
                ))
            }
        }
    }

    /// The next message, or a timeout error once the deadline has passed.
    async fn next_message_in_time(&mut self) -> Result<Option<Bytes>> {
        let Some(deadline) = &mut self.deadline else {
            return self.stream.next_message().await;
        };
        let runtime = self.envd.config().client().runtime();
        deadline
            .race(runtime, self.stream.next_message())
            .await
            .unwrap_or_else(|| Err(deadline_error()))
            // The daemon ends the call with `deadline_exceeded` when the same timeout runs out
            // on its clock, which started a little after ours: the same error, whoever is first.
            .map_err(|e| {
                if e.message().starts_with("[deadline_exceeded]") {
                    deadline_error()
                } else {
                    e
                }
            })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// What disconnects this handle from elsewhere (another task, or a binding's caller
    /// while a read is pending): the connection is let go, the process goes on, and the
    /// read under way or the next fails unless the end had already come. The official
    /// package's `CommandHandle.disconnect()`.
    pub fn disconnector(&self) -> CancelHandle {
        self.disconnect.clone()
    }

    /// The next piece of output; `None` once the process has ended (then [`Self::wait`]
    /// returns at once).
    pub async fn next_output(&mut self) -> Result<Option<Output>> {
        if let Some(pending) = self.pending.take() {
            return pending.map(Some);
        }
        while self.end.is_none() {
            let Some(msg) = self.next_message().await? else {
                return Err(Error::new(
                    ErrorKind::Sandbox,
                    "Process exited without a result",
                ));
            };
            match proto::process_event(&msg)? {
                Event::Data(out) => {
                    if self.keep_output {
                        match &out {
                            Output::Stdout(b) => self.stdout.extend_from_slice(b),
                            Output::Stderr(b) => self.stderr.extend_from_slice(b),
                            Output::Pty(_) => {}
                        }
                    }
                    return Ok(Some(out));
                }
                Event::End(code, error) => {
                    if self.killed_for_timeout(error.as_deref()) {
                        return Err(deadline_error());
                    }
                    self.end = Some((code, error))
                }
                Event::Start(_) | Event::Nothing => {}
            }
        }
        Ok(None)
    }

    /// The daemon kills a command when the same timeout runs out on its clock, which starts a
    /// little after ours; a kill that reaches us once our deadline has passed is that timeout,
    /// even when it came before our (late) timer.
    fn killed_for_timeout(&self, error: Option<&str>) -> bool {
        error == Some("signal: killed")
            && self
                .deadline
                .as_ref()
                .is_some_and(|d| self.envd.config().client().runtime().now_ms() >= d.at_ms())
    }

    /// The next piece of output together with the pieces of the same stream that have
    /// already arrived, up to about `max` bytes: fewer, larger pieces for a binding to hand
    /// across (each crossing costs). Never waits for more than the first piece.
    pub async fn next_output_batch(&mut self, max: usize) -> Result<Option<Output>> {
        let Some(first) = self.next_output().await? else {
            return Ok(None);
        };
        let (kind, first) = split_output(first);
        let mut joined: Option<Vec<u8>> = None;
        while joined.as_ref().map_or(first.len(), Vec::len) < max {
            let Some(next) = self.next_output().now_or_never() else {
                break;
            };
            match next {
                Ok(Some(o)) if output_kind(&o) == kind => {
                    let (_, bytes) = split_output(o);
                    joined
                        .get_or_insert_with(|| first.to_vec())
                        .extend_from_slice(&bytes);
                }
                Ok(Some(other)) => {
                    self.pending = Some(Ok(other));
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    // Reported on the next call, after what has been read.
                    self.pending = Some(Err(e));
                    break;
                }
            }
        }
        Ok(Some(join_output(kind, joined.map_or(first, Bytes::from))))
    }

    /// [`Self::next_output_batch`] with stdout and stderr as text: a JavaScript string made
    /// from the module's UTF-8 costs less than bytes handed over and decoded there. After
    /// the last piece, a character either stream was cut off inside comes as U+FFFD (stdout's
    /// first), then `None`.
    pub async fn next_output_text(&mut self, max: usize) -> Result<Option<OutputText>> {
        loop {
            let text = match self.next_output_batch(max).await? {
                Some(Output::Stdout(b)) => OutputText::Stdout(self.text[0].push(b)),
                Some(Output::Stderr(b)) => OutputText::Stderr(self.text[1].push(b)),
                Some(Output::Pty(b)) => return Ok(Some(OutputText::Pty(b))),
                None if self.text[0].holds() => OutputText::Stdout(self.text[0].finish()),
                None if self.text[1].holds() => OutputText::Stderr(self.text[1].finish()),
                None => return Ok(None),
            };
            // A piece that is all the start of a character gives no text yet.
            if let OutputText::Stdout(s) | OutputText::Stderr(s) = &text
                && !s.is_empty()
            {
                return Ok(Some(text));
            }
        }
    }

    /// Stops keeping the output for [`Self::wait`], whose result then has empty `stdout` and
    /// `stderr`: for callers that keep what [`Self::next_output`] gives them (the bindings'
    /// JavaScript layer does), so that the output is not held twice.
    pub fn discard_output(&mut self) {
        self.keep_output = false;
        self.stdout = Vec::new();
        self.stderr = Vec::new();
    }

    /// Waits for the end: the result, or a [`ErrorKind::CommandExit`] error for a non-zero
    /// exit code.
    pub async fn wait(mut self) -> Result<CommandResult> {
        while self.next_output().await?.is_some() {}
        let (exit_code, error) = self.end.take().unwrap_or((-1, None));
        let stdout = String::from_utf8_lossy(&self.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&self.stderr).into_owned();
        if exit_code != 0 {
            return Err(Error::command_exit(CommandOutcome {
                exit_code,
                error,
                stdout,
                stderr,
            }));
        }
        Ok(CommandResult {
            exit_code,
            error,
            stdout,
            stderr,
        })
    }

    /// Kills the process (SIGKILL): `false` if it had already ended.
    pub fn kill(&self) -> Op<bool> {
        Commands::new(self.envd.clone()).kill(self.pid)
    }

    /// Writes to the process's stdin.
    pub fn send_stdin(&self, data: &[u8]) -> Op<()> {
        Commands::new(self.envd.clone()).send_stdin(self.pid, data)
    }

    /// Output so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}
