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

use crate::envd::connect::Context;
use crate::envd::{Envd, MessageStream};
use crate::error::{CommandOutcome, Error, ErrorKind, Result};
use crate::wire::base64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

#[derive(Serialize)]
struct ProcessConfigMsg<'a> {
    cmd: &'a str,
    args: Vec<&'a str>,
    envs: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<&'a str>,
}

#[derive(Serialize)]
struct StartRequest<'a> {
    process: ProcessConfigMsg<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    stdin: bool,
}

#[derive(Serialize)]
struct PidSelector {
    pid: u32,
}

#[derive(Serialize)]
struct SelectRequest {
    process: PidSelector,
}

#[derive(Serialize)]
struct StdinMsg {
    stdin: String,
}

#[derive(Serialize)]
struct SendInputRequest {
    process: PidSelector,
    input: StdinMsg,
}

#[derive(Serialize)]
struct SendSignalRequest {
    process: PidSelector,
    signal: &'static str,
}

#[derive(Deserialize, Default)]
struct StartEvent {
    #[serde(default)]
    pid: u32,
}

#[derive(Deserialize, Default)]
struct DataEvent {
    stdout: Option<String>,
    stderr: Option<String>,
    pty: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct EndEvent {
    #[serde(default)]
    exit_code: i32,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct ProcessEvent {
    start: Option<StartEvent>,
    data: Option<DataEvent>,
    end: Option<EndEvent>,
}

#[derive(Deserialize)]
struct EventMessage {
    event: Option<ProcessEvent>,
}

#[derive(Deserialize)]
struct ListedConfig {
    #[serde(default)]
    cmd: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    envs: BTreeMap<String, String>,
    cwd: Option<String>,
}

#[derive(Deserialize)]
struct ListedProcess {
    config: Option<ListedConfig>,
    #[serde(default)]
    pid: u32,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(default)]
    processes: Vec<ListedProcess>,
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    crate::json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Sandbox,
            format!("the sandbox's daemon sent a message the SDK cannot read: {e}"),
        )
    })
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
    pub async fn spawn(&self, cmd: &str, opts: RunOpts) -> Result<CommandHandle> {
        let request = StartRequest {
            process: ProcessConfigMsg {
                cmd: "/bin/bash",
                args: vec!["-l", "-c", cmd],
                envs: &opts.envs,
                cwd: opts.cwd.as_deref(),
            },
            tag: opts.tag.as_deref(),
            stdin: opts.stdin,
        };
        let timeout = opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let started = self.envd.config().client().runtime().now_ms();
        let stream = self
            .envd
            .stream(
                "process.Process/Start",
                &request,
                opts.user.as_deref(),
                timeout.as_millis().min(u128::from(u64::MAX)) as u64,
                Context::Process,
            )
            .await?;
        let mut handle = CommandHandle::attach(self.envd.clone(), stream).await?;
        handle.deadline_ms = deadline(started, timeout);
        Ok(handle)
    }

    /// Attaches to a running process by pid, to follow its output and end.
    pub async fn connect(&self, pid: u32, timeout: Option<Duration>) -> Result<CommandHandle> {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let started = self.envd.config().client().runtime().now_ms();
        let stream = self
            .envd
            .stream(
                "process.Process/Connect",
                &SelectRequest {
                    process: PidSelector { pid },
                },
                None,
                timeout.as_millis().min(u128::from(u64::MAX)) as u64,
                Context::Process,
            )
            .await?;
        let mut handle = CommandHandle::attach(self.envd.clone(), stream).await?;
        handle.deadline_ms = deadline(started, timeout);
        Ok(handle)
    }

    /// The running processes.
    pub async fn list(&self) -> Result<Vec<ProcessInfo>> {
        let body = self
            .envd
            .unary(
                "process.Process/List",
                &serde_json::json!({}),
                None,
                Context::Process,
            )
            .await?;
        let listed: ListResponse = decode(&body)?;
        Ok(listed
            .processes
            .into_iter()
            .map(|p| {
                let config = p.config.unwrap_or(ListedConfig {
                    cmd: String::new(),
                    args: Vec::new(),
                    envs: BTreeMap::new(),
                    cwd: None,
                });
                ProcessInfo {
                    pid: p.pid,
                    tag: p.tag,
                    cmd: config.cmd,
                    args: config.args,
                    envs: config.envs,
                    cwd: config.cwd,
                }
            })
            .collect())
    }

    /// Kills a process (SIGKILL): `false` when there was no such process.
    pub async fn kill(&self, pid: u32) -> Result<bool> {
        signal(&self.envd, pid, "SIGNAL_SIGKILL").await
    }

    /// Writes to a process's stdin (it must have been started with `stdin: true`).
    pub async fn send_stdin(&self, pid: u32, data: &[u8]) -> Result<()> {
        let request = SendInputRequest {
            process: PidSelector { pid },
            input: StdinMsg {
                stdin: base64::encode(data),
            },
        };
        self.envd
            .unary(
                "process.Process/SendInput",
                &request,
                None,
                Context::Process,
            )
            .await
            .map(drop)
    }

    /// Closes a process's stdin, so it reads end-of-file.
    pub async fn close_stdin(&self, pid: u32) -> Result<()> {
        let request = SelectRequest {
            process: PidSelector { pid },
        };
        self.envd
            .unary(
                "process.Process/CloseStdin",
                &request,
                None,
                Context::Process,
            )
            .await
            .map(drop)
    }
}

/// When a command with `timeout` started at `started_ms` must be over; none for zero.
fn deadline(started_ms: f64, timeout: Duration) -> Option<f64> {
    (!timeout.is_zero()).then_some(started_ms + timeout.as_secs_f64() * 1000.0)
}

fn deadline_error() -> Error {
    crate::envd::connect::map_error(
        &crate::envd::connect::ConnectError {
            code: "deadline_exceeded".into(),
            message: "the command did not end within its timeout".into(),
        },
        Context::Process,
    )
}

async fn signal(envd: &Envd, pid: u32, signal: &'static str) -> Result<bool> {
    let request = SendSignalRequest {
        process: PidSelector { pid },
        signal,
    };
    match envd
        .unary(
            "process.Process/SendSignal",
            &request,
            None,
            Context::Process,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
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
    deadline_ms: Option<f64>,
}

impl std::fmt::Debug for CommandHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandHandle")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl CommandHandle {
    async fn attach(envd: Envd, mut stream: MessageStream) -> Result<CommandHandle> {
        // The first message must say which process this is.
        let first = stream.next_message().await?;
        let pid = first
            .map(|m| decode::<EventMessage>(&m))
            .transpose()?
            .and_then(|m| m.event)
            .and_then(|e| e.start)
            .map(|s| s.pid)
            .ok_or_else(|| Error::new(ErrorKind::Sandbox, "Expected start event"))?;
        Ok(CommandHandle {
            pid,
            envd,
            stream,
            stdout: Vec::new(),
            stderr: Vec::new(),
            end: None,
            deadline_ms: None,
        })
    }

    /// The next message, or a timeout error once the deadline has passed.
    async fn next_message(&mut self) -> Result<Option<Bytes>> {
        let Some(deadline) = self.deadline_ms else {
            return self.stream.next_message().await;
        };
        let runtime = self.envd.config().client().runtime();
        let left = deadline - runtime.now_ms();
        if left <= 0.0 {
            return Err(deadline_error());
        }
        let sleep = runtime.sleep(left.ceil() as u64);
        match futures_util::future::select(Box::pin(self.stream.next_message()), sleep).await {
            futures_util::future::Either::Left((r, _)) => r,
            futures_util::future::Either::Right(_) => Err(deadline_error()),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next piece of output; `None` once the process has ended (then [`Self::wait`]
    /// returns at once).
    pub async fn next_output(&mut self) -> Result<Option<Output>> {
        while self.end.is_none() {
            let Some(msg) = self.next_message().await? else {
                return Err(Error::new(
                    ErrorKind::Sandbox,
                    "Process exited without a result",
                ));
            };
            let Some(event) = decode::<EventMessage>(&msg)?.event else {
                continue;
            };
            if let Some(data) = event.data {
                let bytes = |s: String| {
                    base64::decode(s.as_bytes()).map(Bytes::from).map_err(|e| {
                        Error::new(ErrorKind::Sandbox, format!("output is not base64: {e}"))
                    })
                };
                if let Some(s) = data.stdout {
                    let b = bytes(s)?;
                    self.stdout.extend_from_slice(&b);
                    return Ok(Some(Output::Stdout(b)));
                }
                if let Some(s) = data.stderr {
                    let b = bytes(s)?;
                    self.stderr.extend_from_slice(&b);
                    return Ok(Some(Output::Stderr(b)));
                }
                if let Some(s) = data.pty {
                    return Ok(Some(Output::Pty(bytes(s)?)));
                }
            } else if let Some(end) = event.end {
                self.end = Some((end.exit_code, end.error));
            }
        }
        Ok(None)
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
    pub async fn kill(&self) -> Result<bool> {
        signal(&self.envd, self.pid, "SIGNAL_SIGKILL").await
    }

    /// Writes to the process's stdin.
    pub async fn send_stdin(&self, data: &[u8]) -> Result<()> {
        Commands::new(self.envd.clone())
            .send_stdin(self.pid, data)
            .await
    }

    /// Output so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}
