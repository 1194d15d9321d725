//! `process.Process`: Start, Connect, List, SendInput, StreamInput, SendSignal, CloseStdin,
//! Update.

use super::connect::{self, RpcError};
use super::procs::{EndInfo, ProcConfig, ProcEntry, ProcEvent};
use super::{Call, user_of};
use crate::live::LiveSandbox;
use crate::sandbox::SpawnError;
use crate::sandbox::proto::SpawnRequest;
use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Deserialize)]
struct ProcessConfigMsg {
    cmd: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    envs: BTreeMap<String, String>,
    cwd: Option<String>,
}

#[derive(Deserialize)]
struct SizeMsg {
    #[serde(default)]
    cols: u32,
    #[serde(default)]
    rows: u32,
}

#[derive(Deserialize)]
struct PtyMsg {
    size: Option<SizeMsg>,
}

#[derive(Deserialize)]
struct StartRequest {
    process: ProcessConfigMsg,
    pty: Option<PtyMsg>,
    tag: Option<String>,
    stdin: Option<bool>,
}

#[derive(Deserialize)]
struct Selector {
    pid: Option<u32>,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct SelectRequest {
    process: Option<Selector>,
}

#[derive(Deserialize)]
struct InputMsg {
    stdin: Option<String>,
    pty: Option<String>,
}

#[derive(Deserialize)]
struct SendInputRequest {
    process: Option<Selector>,
    input: Option<InputMsg>,
}

/// One message of a `StreamInput` stream: `start`, `data` or `keepalive`.
#[derive(Deserialize)]
struct StreamInputRequest {
    start: Option<SelectRequest>,
    data: Option<InputEvent>,
}

#[derive(Deserialize)]
struct InputEvent {
    input: Option<InputMsg>,
}

#[derive(Deserialize)]
struct SendSignalRequest {
    process: Option<Selector>,
    signal: Option<Value>,
}

#[derive(Deserialize)]
struct UpdateRequest {
    process: Option<Selector>,
    pty: Option<PtyMsg>,
}

pub async fn dispatch(live: Arc<LiveSandbox>, method: &str, call: Call) -> Response {
    let encoder = call.encoder();
    match method {
        "Start" | "Connect" => {
            // The call's deadline runs from its arrival, as the process's does.
            let deadline = call.timeout().map(|t| tokio::time::Instant::now() + t);
            let body = match call.stream_message() {
                Ok(b) => b,
                Err(e) => return encoder.stream_error(&e),
            };
            let result = if method == "Start" {
                start(&live, &call, &body).await
            } else {
                attach(&live, &body)
            };
            match result {
                Ok((pid, events)) => stream(encoder, pid, events, call.keepalive(), deadline, live),
                Err(e) => encoder.stream_error(&e),
            }
        }
        "List" | "SendInput" | "SendSignal" | "CloseStdin" | "Update" => {
            let body = match call.unary_message() {
                Ok(b) => b,
                Err(e) => return connect::unary_error(&e),
            };
            let result = match method {
                "List" => Ok(list(&live)),
                "SendInput" => send_input(&live, &body).await,
                "SendSignal" => send_signal(&live, &body).await,
                "CloseStdin" => close_stdin(&live, &body).await,
                _ => update(&live, &body),
            };
            match result {
                Ok(v) => encoder.unary_ok(&v),
                Err(e) => connect::unary_error(&e),
            }
        }
        _ => connect::unary_error(&RpcError::new(
            "unimplemented",
            format!("process.Process/{method} is not a method"),
        )),
    }
}

/// `~`, `~/x` and relative paths against `home`.
pub fn resolve_path(path: &str, home: &str) -> String {
    if path == "~" {
        home.to_string()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{home}/{path}")
    }
}

/// What every process of the sandbox starts with, before its own variables: a login's
/// `PATH`, `HOME`, `USER` and `LOGNAME` for `user`, then the sandbox's (`E2B_*` and the
/// create call's `envVars`).
pub fn base_env(live: &LiveSandbox, user: &crate::sandbox::User) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOME".into(), user.home.clone()),
        ("USER".into(), user.name.clone()),
        ("LOGNAME".into(), user.name.clone()),
    ];
    env.extend(live.env.iter().cloned());
    env
}

async fn start(
    live: &Arc<LiveSandbox>,
    call: &Call,
    body: &[u8],
) -> Result<(i32, mpsc::Receiver<ProcEvent>), RpcError> {
    let req: StartRequest = connect::decode(body)?;
    let user = user_of(live, call)?;
    let cwd = match req.process.cwd.as_deref() {
        None | Some("") => user.home.clone(),
        Some(c) => resolve_path(c, &user.home),
    };
    let mut env = base_env(live, &user);
    env.extend(req.process.envs.iter().map(|(k, v)| (k.clone(), v.clone())));
    // Later entries win: keep the last of each name.
    let mut seen = std::collections::HashSet::new();
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .rev()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    env.reverse();
    let pty = req.pty.map(|p| {
        let size = p.size.unwrap_or(SizeMsg { cols: 80, rows: 24 });
        (
            size.cols.clamp(1, u16::MAX as u32) as u16,
            size.rows.clamp(1, u16::MAX as u32) as u16,
        )
    });
    let spawn = SpawnRequest {
        req: 0,
        cmd: req.process.cmd.clone(),
        args: req.process.args.clone(),
        env,
        cwd: cwd.clone(),
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        stdin: pty.is_none() && req.stdin.unwrap_or(true),
        pty,
    };
    let spawned = live.handle.spawn(spawn).await.map_err(|e| match e {
        SpawnError::Invalid(m) => RpcError::invalid(m),
        SpawnError::Sandbox(m) => {
            let error = crate::logs::Event::DaemonError {
                action: "start a process",
                error: &m,
            };
            live.log.record(&error);
            RpcError::unavailable(m)
        }
    })?;
    let pid = spawned.pid;
    live.log.record(&crate::logs::Event::ProcessStarted {
        pid,
        cmd: &req.process.cmd,
        args: &req.process.args,
    });
    let config = ProcConfig {
        cmd: req.process.cmd,
        args: req.process.args,
        envs: req.process.envs,
        cwd: req.process.cwd.map(|_| cwd),
    };
    let (_, events) = live
        .procs
        .add(
            live.handle.clone(),
            live.log.clone(),
            spawned,
            config,
            req.tag,
            call.timeout(),
        )
        .map_err(|e| RpcError::internal(format!("watching the process: {e}")))?;
    Ok((pid, events))
}

fn select(live: &LiveSandbox, selector: Option<Selector>) -> Result<Arc<ProcEntry>, RpcError> {
    let selector = selector.ok_or_else(|| RpcError::invalid("process selector is missing"))?;
    let found = match (selector.pid, selector.tag) {
        (Some(pid), _) => i32::try_from(pid).ok().and_then(|pid| live.procs.get(pid)),
        (None, Some(tag)) => live.procs.by_tag(&tag),
        (None, None) => return Err(RpcError::invalid("process selector needs a pid or a tag")),
    };
    found.ok_or_else(|| RpcError::not_found("process not found"))
}

fn attach(live: &LiveSandbox, body: &[u8]) -> Result<(i32, mpsc::Receiver<ProcEvent>), RpcError> {
    let req: SelectRequest = connect::decode(body)?;
    let entry = select(live, req.process)?;
    Ok((entry.pid, entry.subscribe()))
}

fn event_json(event: &ProcEvent) -> Value {
    let inner = match event {
        ProcEvent::Stdout(b) => json!({ "data": { "stdout": B64.encode(b) } }),
        ProcEvent::Stderr(b) => json!({ "data": { "stderr": B64.encode(b) } }),
        ProcEvent::Pty(b) => json!({ "data": { "pty": B64.encode(b) } }),
        ProcEvent::End(end) => json!({ "end": end_json(end) }),
    };
    json!({ "event": inner })
}

/// One event's envelope; output in the binary codec is written straight from its bytes.
fn event_frame(encoder: &connect::Encoder, event: &ProcEvent) -> Bytes {
    let output = match event {
        ProcEvent::Stdout(b) => Some((1, b)),
        ProcEvent::Stderr(b) => Some((2, b)),
        ProcEvent::Pty(b) => Some((3, b)),
        ProcEvent::End(_) => None,
    };
    match (encoder.codec, output) {
        (connect::Codec::Proto, Some((member, b))) => super::protobuf::output_frame(member, b),
        _ => encoder.envelope(&event_json(event)),
    }
}

/// Zero values are left out, as protobuf's JSON mapping does: a clean exit has no `exitCode`.
fn end_json(end: &EndInfo) -> Value {
    let mut v = serde_json::Map::new();
    if end.exit_code != 0 {
        v.insert("exitCode".into(), json!(end.exit_code));
    }
    if end.exited {
        v.insert("exited".into(), json!(true));
    }
    v.insert("status".into(), json!(end.status));
    if let Some(e) = &end.error {
        v.insert("error".into(), json!(e));
    }
    Value::Object(v)
}

/// The event stream of a Start or Connect: `start`, output, keepalives when idle, `end`, and
/// the end-stream frame. If the sandbox ends first, the stream breaks off mid-way. A call
/// whose deadline (`Connect-Timeout-Ms`) passes first ends as envd's does, with
/// `deadline_exceeded` and no end event (a `Start`'s process is killed then; a `Connect`'s
/// goes on).
fn stream(
    encoder: connect::Encoder,
    pid: i32,
    events: mpsc::Receiver<ProcEvent>,
    keepalive: Duration,
    deadline: Option<tokio::time::Instant>,
    live: Arc<LiveSandbox>,
) -> Response {
    enum Next {
        Start,
        Events,
        Finish,
        Closed,
    }
    let body = futures_util::stream::unfold(
        (Next::Start, events),
        move |(next, mut events)| async move {
            let (frame, then) = match next {
                Next::Start => (
                    encoder.envelope(&json!({ "event": { "start": { "pid": pid } } })),
                    Next::Events,
                ),
                Next::Events => match next_event(&mut events, keepalive, deadline).await {
                    Err(Waited::DeadlinePassed) => (
                        connect::end_stream(Some(&RpcError::new(
                            "deadline_exceeded",
                            "the call's Connect-Timeout-Ms passed",
                        ))),
                        Next::Closed,
                    ),
                    Err(Waited::Idle) => (
                        encoder.envelope(&json!({ "event": { "keepalive": {} } })),
                        Next::Events,
                    ),
                    Ok(Some(event)) => {
                        let then = if matches!(event, ProcEvent::End(_)) {
                            Next::Finish
                        } else {
                            Next::Events
                        };
                        (event_frame(&encoder, &event), then)
                    }
                    // Let go without an end: the sandbox went away under the process.
                    Ok(None) => (
                        connect::end_stream(Some(&RpcError::unavailable(
                            "the sandbox stopped while the process was running",
                        ))),
                        Next::Closed,
                    ),
                },
                Next::Finish => (connect::end_stream(None), Next::Closed),
                Next::Closed => return None,
            };
            Some((Ok::<Bytes, std::io::Error>(frame), (then, events)))
        },
    );
    encoder.stream_response(Body::from_stream(super::cut_when_ended(body, live)))
}

enum Waited {
    Idle,
    DeadlinePassed,
}

/// The process's next event, unless `keepalive` passes first (idle) or `deadline` does; an
/// end that comes at or after the deadline is the deadline's doing (its kill).
async fn next_event(
    events: &mut mpsc::Receiver<ProcEvent>,
    keepalive: Duration,
    deadline: Option<tokio::time::Instant>,
) -> Result<Option<ProcEvent>, Waited> {
    let idle_or_event = tokio::time::timeout(keepalive, events.recv());
    let event = match deadline {
        Some(at) => tokio::time::timeout_at(at, idle_or_event)
            .await
            .map_err(|_| Waited::DeadlinePassed)?,
        None => idle_or_event.await,
    }
    .map_err(|_| Waited::Idle)?;
    let late = deadline.is_some_and(|at| tokio::time::Instant::now() >= at);
    if late && matches!(event, Some(ProcEvent::End(_))) {
        return Err(Waited::DeadlinePassed);
    }
    Ok(event)
}

fn list(live: &LiveSandbox) -> Value {
    let processes: Vec<Value> = live
        .procs
        .running()
        .iter()
        .map(|p| {
            let mut config = json!({
                "cmd": p.config.cmd,
                "args": p.config.args,
                "envs": p.config.envs,
            });
            if let Some(cwd) = &p.config.cwd {
                config["cwd"] = json!(cwd);
            }
            let mut v = json!({ "config": config, "pid": p.pid });
            if let Some(tag) = &p.tag {
                v["tag"] = json!(tag);
            }
            v
        })
        .collect();
    json!({ "processes": processes })
}

async fn send_input(live: &LiveSandbox, body: &[u8]) -> Result<Value, RpcError> {
    let req: SendInputRequest = connect::decode(body)?;
    let entry = select(live, req.process)?;
    let input = req
        .input
        .ok_or_else(|| RpcError::invalid("input is missing"))?;
    write_input(&entry, input).await?;
    Ok(json!({}))
}

/// `StreamInput`: a client stream of a `start` naming the process, then `data` (and
/// `keepalive`) messages, each written to it as it arrives, in order; `{}` once the stream
/// ends. Bounded by `Connect-Timeout-Ms`, as the call's other messages are.
pub async fn stream_input(live: Arc<LiveSandbox>, call: Call, body: Body) -> Response {
    let encoder = call.encoder();
    let mut messages =
        super::envelopes::Envelopes::new(body.into_data_stream(), super::MAX_RPC_BODY);
    let fed = match call.timeout() {
        Some(limit) => tokio::time::timeout(limit, feed_input(&live, &call, &mut messages))
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::new(
                    "deadline_exceeded",
                    "the input stream outlived its Connect-Timeout-Ms",
                ))
            }),
        None => feed_input(&live, &call, &mut messages).await,
    };
    match fed {
        Ok(()) => {
            let mut answer = encoder.envelope(&json!({})).to_vec();
            answer.extend_from_slice(&connect::end_stream(None));
            encoder.stream_response(Body::from(answer))
        }
        Err(e) => {
            // A client sends its whole stream before it reads the answer; the rest is read
            // (within bounds) so that the refusal reaches it rather than a reset.
            let _ = tokio::time::timeout(
                REFUSED_INPUT_WAIT,
                messages.discard_rest(REFUSED_INPUT_LIMIT),
            )
            .await;
            encoder.stream_error(&e)
        }
    }
}

/// How much of a refused input stream is read before its answer, and for how long at most.
const REFUSED_INPUT_LIMIT: u64 = 1 << 20;
const REFUSED_INPUT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn feed_input<S, E>(
    live: &LiveSandbox,
    call: &Call,
    messages: &mut super::envelopes::Envelopes<S>,
) -> Result<(), RpcError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if let (connect::Framing::Unary, _) = connect::framing(call.content_type())? {
        return Err(RpcError::invalid(
            "this is a client-streaming call: send application/connect+json or application/connect+proto",
        ));
    }
    let mut entry = None;
    while let Some(message) = messages.next().await {
        let message = call.json_message(call.codec, &message?)?;
        let req: StreamInputRequest = connect::decode(&message)?;
        if let Some(start) = req.start {
            entry = Some(select(live, start.process)?);
        } else if let Some(data) = req.data {
            let entry = entry.as_ref().ok_or_else(|| {
                RpcError::invalid("input came before the start message naming the process")
            })?;
            let input = data
                .input
                .ok_or_else(|| RpcError::invalid("input is missing"))?;
            write_input(entry, input).await?;
        }
        // Anything else is a keepalive.
    }
    Ok(())
}

/// Writes `input` to its process: to its terminal or its stdin, as the input says.
async fn write_input(entry: &ProcEntry, input: InputMsg) -> Result<(), RpcError> {
    let (data, to_pty) = match (input.stdin, input.pty) {
        (Some(d), _) => (d, false),
        (None, Some(d)) => (d, true),
        (None, None) => (String::new(), entry.is_pty()),
    };
    check_input_target(entry, to_pty)?;
    let bytes = B64
        .decode(data.as_bytes())
        .map_err(|e| RpcError::invalid(format!("input is not base64: {e}")))?;
    entry.write_input(&bytes, to_pty).await
}

/// Input for a terminal goes to its terminal, other input to stdin: the other way round is
/// refused with envd's code and words (the process is fine, the request is for the wrong pipe).
fn check_input_target(entry: &ProcEntry, to_pty: bool) -> Result<(), RpcError> {
    let message = match (to_pty, entry.is_pty()) {
        (true, false) => {
            "error writing to tty: tty not assigned to process — input should be written to the stdin, not the tty"
        }
        (false, true) => {
            "error writing to stdin: tty assigned to process — input should be written to the pty, not the stdin"
        }
        _ => return Ok(()),
    };
    Err(RpcError::new("failed_precondition", message))
}

fn signal_number(v: Option<Value>) -> Result<i32, RpcError> {
    match v {
        Some(Value::String(s)) if s == "SIGNAL_SIGKILL" => Ok(libc::SIGKILL),
        Some(Value::String(s)) if s == "SIGNAL_SIGTERM" => Ok(libc::SIGTERM),
        Some(Value::Number(n)) if n.as_i64() == Some(9) => Ok(libc::SIGKILL),
        Some(Value::Number(n)) if n.as_i64() == Some(15) => Ok(libc::SIGTERM),
        other => Err(RpcError::new(
            "unimplemented",
            format!(
                "signal {} is not supported (SIGNAL_SIGTERM or SIGNAL_SIGKILL)",
                other
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "unspecified".into())
            ),
        )),
    }
}

async fn send_signal(live: &LiveSandbox, body: &[u8]) -> Result<Value, RpcError> {
    let req: SendSignalRequest = connect::decode(body)?;
    let signal = signal_number(req.signal)?;
    let entry = select(live, req.process)?;
    if !live.handle.signal(entry.pid, signal).await {
        return Err(RpcError::not_found("process not found"));
    }
    Ok(json!({}))
}

async fn close_stdin(live: &LiveSandbox, body: &[u8]) -> Result<Value, RpcError> {
    let req: SelectRequest = connect::decode(body)?;
    let entry = select(live, req.process)?;
    if entry.is_pty() {
        return Err(RpcError::new(
            "failed_precondition",
            "error closing stdin: cannot close stdin for PTY process — send Ctrl+D (0x04) instead",
        ));
    }
    entry.close_stdin().await.map_err(RpcError::invalid)?;
    Ok(json!({}))
}

fn update(live: &LiveSandbox, body: &[u8]) -> Result<Value, RpcError> {
    let req: UpdateRequest = connect::decode(body)?;
    let entry = select(live, req.process)?;
    if let Some(size) = req.pty.and_then(|p| p.size) {
        if !entry.is_pty() {
            return Err(RpcError::internal(
                "error resizing tty: tty not assigned to process",
            ));
        }
        entry
            .resize(
                size.cols.clamp(1, u16::MAX as u32) as u16,
                size.rows.clamp(1, u16::MAX as u32) as u16,
            )
            .map_err(RpcError::invalid)?;
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_home() {
        assert_eq!(resolve_path("~", "/home/user"), "/home/user");
        assert_eq!(resolve_path("~/a", "/home/user"), "/home/user/a");
        assert_eq!(resolve_path("a/b", "/home/user"), "/home/user/a/b");
        assert_eq!(resolve_path("/tmp", "/home/user"), "/tmp");
    }

    #[test]
    fn end_events_leave_zero_values_out() {
        let ok = EndInfo::from_status(crate::sandbox::ExitStatus {
            code: Some(0),
            signal: None,
        });
        assert_eq!(
            end_json(&ok),
            json!({"exited": true, "status": "exit status 0"})
        );
        let failed = EndInfo::from_status(crate::sandbox::ExitStatus {
            code: Some(3),
            signal: None,
        });
        assert_eq!(
            end_json(&failed),
            json!({"exitCode": 3, "exited": true, "status": "exit status 3", "error": "exit status 3"})
        );
        let killed = EndInfo::from_status(crate::sandbox::ExitStatus {
            code: None,
            signal: Some(9),
        });
        assert_eq!(
            end_json(&killed),
            json!({"exitCode": -1, "status": "signal: killed", "error": "signal: killed"})
        );
    }
}
