//! A process call's own deadline (`Connect-Timeout-Ms`), as envd keeps it: a `Start` whose
//! deadline passes ends with `deadline_exceeded` and no end event, its process killed; a
//! `Connect` whose deadline passes ends the same way and leaves the process running. The
//! official Python package reads the first as its `TimeoutException`.

mod common;

use common::envd::{Envd, basic_auth, start_with_sandboxes};
use serde_json::json;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// Whether a `sleep <secs>` is still running in the sandbox.
async fn sleeping(envd: &Envd, secs: &str) -> bool {
    let (status, list) = envd.unary("process.Process/List", json!({})).await;
    assert_eq!(status, 200);
    list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["config"]["args"].to_string().contains(secs))
}

#[tokio::test]
async fn a_process_call_past_its_deadline_ends_with_deadline_exceeded() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;
    let auth = basic_auth("root");
    let start = |secs: &'static str, timeout: &'static str| {
        let (envd, auth) = (envd.clone(), auth.clone());
        async move {
            envd.stream(
                "process.Process/Start",
                json!({"process": {"cmd": "/bin/sleep", "args": [secs]}, "stdin": false}),
                &[
                    ("Authorization", auth.as_str()),
                    ("Connect-Timeout-Ms", timeout),
                ],
            )
            .await
        }
    };

    let began = Instant::now();
    let mut frames = start("31", "500").await;
    assert!(frames.next_within(WAIT).await.json()["event"]["start"]["pid"].is_u64());
    let last = frames.next_within(WAIT).await;
    assert!(
        last.is_end(),
        "no end event before the error: {:?}",
        last.json()
    );
    assert_eq!(last.json()["error"]["code"], "deadline_exceeded");
    assert!(began.elapsed() < Duration::from_secs(5));
    let until = Instant::now() + WAIT;
    while sleeping(&envd, "31").await {
        assert!(
            Instant::now() < until,
            "the process outlived its call's deadline"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Within its deadline a process ends as usual, with its end event.
    let mut frames = start("0.1", "20000").await;
    frames.next_within(WAIT).await;
    let end = frames.next_within(WAIT).await.json();
    assert_eq!(end["event"]["end"]["exited"], true, "{end}");
    assert!(frames.next_within(WAIT).await.is_end());

    // A Connect's deadline ends the connection, not the process.
    let mut started = start("32", "0").await;
    let pid = started.next_within(WAIT).await.json()["event"]["start"]["pid"].clone();
    let mut attached = envd
        .stream(
            "process.Process/Connect",
            json!({"process": {"pid": pid}}),
            &[("Connect-Timeout-Ms", "300")],
        )
        .await;
    assert!(attached.next_within(WAIT).await.json()["event"]["start"].is_object());
    let last = attached.next_within(WAIT).await;
    assert_eq!(last.json()["error"]["code"], "deadline_exceeded");
    assert!(
        sleeping(&envd, "32").await,
        "the process ended with the connection"
    );
}
