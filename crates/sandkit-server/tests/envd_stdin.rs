//! Input to a process whose stdin cannot take it, answered as current envd answers it (its
//! `InputErrorCode`): a stdin never opened (`stdin: false`), one closed by `CloseStdin`, and one
//! the process no longer reads (a broken pipe) are `failed_precondition`, a `SandboxError` in
//! the SDKs, not `invalid_argument` (the request is fine, the process is not in a state to take
//! it). `CloseStdin` of a stdin never opened or already closed succeeds, as in envd.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::envd::{Envd, start_with_sandboxes};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn send(envd: &Envd, pid: u64, text: &str) -> (u16, Value) {
    envd.unary(
        "process.Process/SendInput",
        json!({"process": {"pid": pid}, "input": {"stdin": B64.encode(text)}}),
    )
    .await
}

async fn close(envd: &Envd, pid: u64) -> (u16, Value) {
    envd.unary(
        "process.Process/CloseStdin",
        json!({"process": {"pid": pid}}),
    )
    .await
}

fn refused(answer: &(u16, Value)) -> (u16, Option<&str>, Option<&str>) {
    let (status, body) = answer;
    (*status, body["code"].as_str(), body["message"].as_str())
}

const UNAVAILABLE: &str = "error writing to stdin: stdin not enabled or closed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_a_stdin_cannot_take_is_a_failed_precondition() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;

    // Started without a stdin pipe: input is refused, closing it is a no-op.
    let (pid, mut events) = envd.start_sh("echo ready; sleep 30", false).await;
    events.stdout_until("ready", WAIT).await;
    assert_eq!(
        refused(&send(&envd, pid, "x").await),
        (400, Some("failed_precondition"), Some(UNAVAILABLE)),
    );
    assert_eq!(close(&envd, pid).await.0, 200, "CloseStdin of no stdin");

    // Closed by CloseStdin while the process goes on: input is refused the same way, and a
    // second CloseStdin is a no-op.
    let (pid, mut events) = envd.start_sh("cat; echo closed; sleep 30", true).await;
    assert_eq!(send(&envd, pid, "one\n").await.0, 200);
    events.stdout_until("one\n", WAIT).await;
    assert_eq!(close(&envd, pid).await.0, 200);
    events.stdout_until("closed", WAIT).await;
    assert_eq!(
        refused(&send(&envd, pid, "two\n").await),
        (400, Some("failed_precondition"), Some(UNAVAILABLE)),
    );
    assert_eq!(close(&envd, pid).await.0, 200, "a second CloseStdin");

    // Open on the daemon's side, but the process closed its end: a broken pipe, also a
    // precondition rather than a fault of the daemon.
    let (pid, mut events) = envd.start_sh("exec 0<&-; echo ready; sleep 30", true).await;
    events.stdout_until("ready", WAIT).await;
    let answer = send(&envd, pid, "x").await;
    let (status, code, message) = refused(&answer);
    assert_eq!(
        (status, code),
        (400, Some("failed_precondition")),
        "{answer:?}"
    );
    let message = message.unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "error writing to stdin: error writing to stdin of process '{pid}': "
        )) && message.to_lowercase().contains("broken pipe"),
        "{message}"
    );
}
