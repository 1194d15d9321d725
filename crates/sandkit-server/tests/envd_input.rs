//! `process.Process/StreamInput` over real HTTP/1.1: a client stream whose request body is sent
//! as it is made (chunked), each message written to the process as it arrives, as the official
//! Python package's `commands.stream_input` and `pty.stream_input` use it.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use common::envd::{Envd, frames, start_with_sandboxes};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn envelope(msg: &Value) -> Bytes {
    let payload = msg.to_string().into_bytes();
    let mut out = vec![0u8];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Bytes::from(out)
}

fn stdin(text: &str) -> Value {
    json!({"data": {"input": {"stdin": B64.encode(text)}}})
}

/// A `StreamInput` call whose body is what `tx` is given, until it is dropped.
fn stream_input(
    envd: &Envd,
    content_type: &'static str,
) -> (
    mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<reqwest::Response>,
) {
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    }));
    let request = envd
        .request(reqwest::Method::POST, "/process.Process/StreamInput")
        .header("Content-Type", content_type)
        .header("Connect-Protocol-Version", "1")
        .body(body);
    (
        tx,
        tokio::spawn(async move { request.send().await.unwrap() }),
    )
}

/// The answer of a finished `StreamInput`: its frames' JSON, the end-stream frame last.
async fn answer(res: reqwest::Response) -> Vec<Value> {
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/connect+json");
    let mut frames = frames(res);
    let mut out = Vec::new();
    loop {
        let frame = frames.next_within(WAIT).await;
        let end = frame.is_end();
        out.push(frame.json());
        if end {
            return out;
        }
    }
}

#[tokio::test]
async fn stream_input_writes_each_message_as_it_arrives_and_answers_at_the_end() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;
    let (pid, mut events) = envd
        .start_sh("while read l; do echo \"got $l\"; done", true)
        .await;
    let (tx, call) = stream_input(&envd, "application/connect+json");

    tx.send(envelope(&json!({"start": {"process": {"pid": pid}}})))
        .await
        .unwrap();
    tx.send(envelope(&stdin("one\n"))).await.unwrap();
    // Before the stream ends: the line is read already.
    assert_eq!(events.stdout_until("got one", WAIT).await, "got one\n");
    // A message cut across two chunks, and a keepalive between two inputs.
    let two = envelope(&stdin("two\n"));
    tx.send(two.slice(..3)).await.unwrap();
    tx.send(two.slice(3..)).await.unwrap();
    tx.send(envelope(&json!({"keepalive": {}}))).await.unwrap();
    tx.send(envelope(&stdin("three\n"))).await.unwrap();
    assert_eq!(
        events.stdout_until("got three", WAIT).await,
        "got two\ngot three\n"
    );
    drop(tx);
    assert_eq!(
        answer(call.await.unwrap()).await,
        vec![json!({}), json!({})]
    );

    let (status, _) = envd
        .unary(
            "process.Process/CloseStdin",
            json!({"process": {"pid": pid}}),
        )
        .await;
    assert_eq!(status, 200);
    let end = events.next_within(WAIT).await.json();
    assert_eq!(end["event"]["end"]["exited"], true, "{end}");
}

#[tokio::test]
async fn stream_input_refuses_input_before_its_start_and_an_unknown_process() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;

    let (tx, call) = stream_input(&envd, "application/connect+json");
    tx.send(envelope(&stdin("early\n"))).await.unwrap();
    drop(tx);
    let frames = answer(call.await.unwrap()).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["error"]["code"], "invalid_argument", "{frames:?}");

    let (tx, call) = stream_input(&envd, "application/connect+json");
    tx.send(envelope(&json!({"start": {"process": {"pid": 999999}}})))
        .await
        .unwrap();
    drop(tx);
    let frames = answer(call.await.unwrap()).await;
    assert_eq!(frames[0]["error"]["code"], "not_found", "{frames:?}");

    // A body that stops inside an envelope is no whole message.
    let (pid, _events) = envd.start_sh("cat >/dev/null", true).await;
    let (tx, call) = stream_input(&envd, "application/connect+json");
    tx.send(envelope(&json!({"start": {"process": {"pid": pid}}})))
        .await
        .unwrap();
    tx.send(envelope(&stdin("cut\n")).slice(..7)).await.unwrap();
    drop(tx);
    let frames = answer(call.await.unwrap()).await;
    assert_eq!(frames[0]["error"]["code"], "invalid_argument", "{frames:?}");

    // A unary content type is no client stream.
    let res = envd
        .request(reqwest::Method::POST, "/process.Process/StreamInput")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("invalid_argument"), "{text}");
}

#[tokio::test]
async fn a_refused_stream_is_answered_after_the_rest_of_its_body() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;
    let (tx, call) = stream_input(&envd, "application/connect+json");
    tx.send(envelope(&json!({"start": {"process": {"pid": 999999}}})))
        .await
        .unwrap();
    // The refusal is known now, but the client is still sending: an answer (and a close) now
    // would meet the rest of its body as a broken pipe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !call.is_finished(),
        "answered while the client was still sending"
    );
    for _ in 0..64 {
        tx.send(envelope(&stdin(&"x".repeat(1000)))).await.unwrap();
    }
    drop(tx);
    let frames = answer(call.await.unwrap()).await;
    assert_eq!(frames[0]["error"]["code"], "not_found", "{frames:?}");
    // The connection was kept, and takes the next call.
    let (status, _) = envd.unary("process.Process/List", json!({})).await;
    assert_eq!(status, 200);
}
