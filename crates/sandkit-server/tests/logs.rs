//! Sandbox logs over real HTTP: `GET /sandboxes/{id}/logs` and `/v2/sandboxes/{id}/logs` show
//! a sandbox's own events in order, with levels; v2 pages by timestamp cursor both ways
//! without duplicates or gaps, filters by level and text; the log is bounded, scoped to the
//! team, and outlives a killed or expired sandbox.

mod common;

use common::envd::{Envd, start_isolated};
use common::{Api, KEY_A, KEY_B, start_server};
use serde_json::{Value, json};
use std::time::Duration;

trait NoContent {
    fn expect_no_content(&self);
}

impl NoContent for common::Reply {
    #[track_caller]
    fn expect_no_content(&self) {
        assert_eq!(self.status, 204, "body: {}", self.text);
    }
}

/// The v2 entries for `query`.
async fn v2(api: &Api, id: &str, query: &str) -> Vec<Value> {
    let body = api
        .get(&format!("/v2/sandboxes/{id}/logs?{query}"))
        .await
        .expect_json(200);
    body["logs"].as_array().expect("logs is an array").clone()
}

fn events(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["fields"]["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn millis(e: &Value) -> i64 {
    common::millis(&e["timestamp"])
}

async fn pause_and_resume(api: &Api, id: &str) {
    api.post(&format!("/sandboxes/{id}/pause"), json!({}))
        .await
        .expect_no_content();
    api.post(&format!("/v2/sandboxes/{id}/connect"), json!({}))
        .await
        .expect_json(201);
}

#[tokio::test]
async fn a_sandbox_s_life_is_logged_in_order_with_levels_and_no_secrets() {
    let Some(server) = start_isolated("sandboxes without isolation cannot be paused").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    let (api, id) = (envd.api.clone(), envd.id.clone());
    let secret = "s3cr3t-value-never-logged";
    let (_, end) = envd
        .run_as(
            "root",
            "/bin/sh",
            &["-c", "exit 3"],
            json!({ "MY_TOKEN": secret }),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(end["exitCode"], 3);
    pause_and_resume(&api, &id).await;

    let v1 = api
        .get(&format!("/sandboxes/{id}/logs"))
        .await
        .expect_json(200);
    let entries = v1["logEntries"].as_array().unwrap().clone();
    assert_eq!(
        events(&entries),
        [
            "created",
            "process-started",
            "process-ended",
            "paused",
            "resumed"
        ]
    );
    let levels: Vec<&str> = entries
        .iter()
        .map(|e| e["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["info", "info", "warn", "info", "info"]);
    assert_eq!(entries[1]["fields"]["cmd"], "/bin/sh -c 'exit 3'");
    assert_eq!(entries[2]["fields"]["exitCode"], "3");
    assert!(
        entries[2]["message"]
            .as_str()
            .unwrap()
            .contains("exit status 3")
    );
    assert_eq!(entries[1]["fields"]["pid"], entries[2]["fields"]["pid"]);
    assert!(entries.windows(2).all(|w| millis(&w[0]) < millis(&w[1])));
    // v1's lines are the same entries as JSON objects, as the CLI parses them.
    let lines = v1["logs"].as_array().unwrap();
    assert_eq!(lines.len(), entries.len());
    for (line, entry) in lines.iter().zip(&entries) {
        assert_eq!(line["timestamp"], entry["timestamp"]);
        let parsed: Value = serde_json::from_str(line["line"].as_str().unwrap()).unwrap();
        assert_eq!(parsed["level"], entry["level"]);
        assert_eq!(parsed["message"], entry["message"]);
        assert_eq!(parsed["logger"], "sandkitd");
    }

    // v2: newest first by default, oldest first forward; filters.
    let backward = v2(&api, &id, "").await;
    let mut reversed = entries.clone();
    reversed.reverse();
    assert_eq!(backward, reversed);
    assert_eq!(v2(&api, &id, "direction=forward").await, entries);
    assert_eq!(
        events(&v2(&api, &id, "level=warn").await),
        ["process-ended"]
    );
    assert_eq!(
        events(&v2(&api, &id, "level=error").await),
        Vec::<String>::new()
    );
    assert_eq!(
        events(&v2(&api, &id, "direction=forward&search=Sandbox%20").await),
        ["created", "paused", "resumed"]
    );
    assert!(
        v2(&api, &id, "search=sandbox%20").await.is_empty(),
        "case-sensitive"
    );

    let everything = format!(
        "{}{}",
        v1,
        api.get(&format!("/v2/sandboxes/{id}/logs")).await.text
    );
    for never in [secret, envd.token.as_str(), KEY_A, "MY_TOKEN"] {
        assert!(!everything.contains(never), "{never} appears in the logs");
    }
    api.delete(&format!("/sandboxes/{id}"))
        .await
        .expect_no_content();
    server.shutdown().await;
}

#[tokio::test]
async fn v2_pages_by_cursor_both_ways_without_duplicates_or_gaps() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api.create(json!({"templateID": "base"})).await;
    for _ in 0..20 {
        pause_and_resume(&api, &id).await;
    }
    let all = v2(&api, &id, "direction=forward").await;
    assert_eq!(all.len(), 41);
    assert_eq!(events(&all)[0], "created");

    let mut forward = Vec::new();
    let mut cursor = None;
    loop {
        let query = match cursor {
            None => "direction=forward&limit=7".to_string(),
            Some(c) => format!("direction=forward&limit=7&cursor={c}"),
        };
        let page = v2(&api, &id, &query).await;
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        cursor = Some(millis(last) + 1);
        forward.extend(page);
    }
    assert_eq!(forward, all);

    let mut backward = Vec::new();
    let mut cursor = None;
    loop {
        let query = match cursor {
            None => "direction=backward&limit=6".to_string(),
            Some(c) => format!("direction=backward&limit=6&cursor={c}"),
        };
        let page = v2(&api, &id, &query).await;
        let Some(last) = page.last() else { break };
        cursor = Some(millis(last) - 1);
        backward.extend(page);
    }
    backward.reverse();
    assert_eq!(backward, all);

    // v1 reads forward from `start`, inclusive, and honours `limit`.
    let from = millis(&all[10]);
    let v1 = api
        .get(&format!("/sandboxes/{id}/logs?start={from}&limit=5"))
        .await
        .expect_json(200);
    assert_eq!(v1["logEntries"].as_array().unwrap()[..], all[10..15]);
    assert_eq!(v1["logs"].as_array().unwrap().len(), 5);

    for bad in [
        "limit=1001",
        "limit=-1",
        "cursor=-1",
        "direction=sideways",
        "level=fatal",
        "cursor=soon",
    ] {
        api.get(&format!("/v2/sandboxes/{id}/logs?{bad}"))
            .await
            .expect_error(400);
    }
    api.get(&format!("/sandboxes/{id}/logs?start=-5"))
        .await
        .expect_error(400);
    let long = "x".repeat(257);
    api.get(&format!("/v2/sandboxes/{id}/logs?search={long}"))
        .await
        .expect_error(400);
    server.shutdown().await;
}

#[tokio::test]
async fn the_log_keeps_the_newest_entries_only() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api.create(json!({"templateID": "base"})).await;
    let bound = sandkit_server::logs::MAX_ENTRIES;
    // Each round writes two entries: with `created`, one more than the bound.
    for _ in 0..bound / 2 {
        pause_and_resume(&api, &id).await;
    }
    let kept = v2(&api, &id, "direction=forward").await;
    assert_eq!(kept.len(), bound);
    assert_eq!(
        events(&kept)[0],
        "paused",
        "the oldest, created, was dropped"
    );
    assert!(!events(&kept).contains(&"created".to_string()));
    assert_eq!(events(&kept).last().unwrap(), "resumed");
    let v1 = api
        .get(&format!("/sandboxes/{id}/logs"))
        .await
        .expect_json(200);
    assert_eq!(v1["logEntries"].as_array().unwrap().len(), bound);
    server.shutdown().await;
}

#[tokio::test]
async fn another_team_s_or_an_unknown_sandbox_is_not_found() {
    let server = start_server().await;
    let a = Api::new(&server.url(), KEY_A);
    let b = Api::new(&server.url(), KEY_B);
    let id = a.create(json!({"templateID": "base"})).await;
    for path in [
        format!("/sandboxes/{id}/logs"),
        format!("/v2/sandboxes/{id}/logs"),
        "/sandboxes/nosuchsandbox/logs".to_string(),
        "/v2/sandboxes/nosuchsandbox/logs".to_string(),
    ] {
        let reply = b.get(&path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json()["code"], 404);
        assert!(reply.json()["message"].is_string());
    }
    a.get("/v2/sandboxes/nosuchsandbox/logs")
        .await
        .expect_error(404);
    a.with_key(None)
        .get(&format!("/v2/sandboxes/{id}/logs"))
        .await
        .expect_error(401);
    // The owner still reads it, and so does nobody else once it is killed.
    a.delete(&format!("/sandboxes/{id}"))
        .await
        .expect_no_content();
    b.get(&format!("/v2/sandboxes/{id}/logs"))
        .await
        .expect_error(404);
    server.shutdown().await;
}

#[tokio::test]
async fn killed_expired_and_auto_paused_sandboxes_keep_their_records() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);

    let killed = api.create(json!({"templateID": "base"})).await;
    api.delete(&format!("/sandboxes/{killed}"))
        .await
        .expect_no_content();
    api.get(&format!("/sandboxes/{killed}"))
        .await
        .expect_error(404);
    assert_eq!(
        events(&v2(&api, &killed, "direction=forward").await),
        ["created", "killed"]
    );

    let expiring = api
        .create(json!({"templateID": "base", "timeout": 1}))
        .await;
    let pausing = api
        .create(json!({"templateID": "base", "timeout": 1, "autoPause": true}))
        .await;
    // The reaper ends one and pauses the other at their timeout, unasked.
    let mut gone = false;
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !gone && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        gone = api.get(&format!("/sandboxes/{expiring}")).await.status == 404;
    }
    assert!(gone, "the sandbox did not expire");
    assert_eq!(
        events(&v2(&api, &expiring, "direction=forward").await),
        ["created", "expired"]
    );
    assert_eq!(
        api.get(&format!("/sandboxes/{pausing}")).await.json()["state"],
        "paused"
    );
    let paused = v2(&api, &pausing, "direction=forward").await;
    assert_eq!(events(&paused), ["created", "auto-paused"]);
    assert_eq!(paused[1]["level"], "info");

    // A request to the daemon of a paused sandbox with `autoResume` resumes it.
    let resuming = api
        .create(
            json!({"templateID": "base", "timeout": 1, "autoPause": true,
                       "autoResume": {"enabled": true}}),
        )
        .await;
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while api.get(&format!("/sandboxes/{resuming}")).await.json()["state"] != "paused" {
        assert!(std::time::Instant::now() < until, "it was not auto-paused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.http
        .get(format!("{}/health", api.url))
        .header("E2b-Sandbox-Id", &resuming)
        .header("E2b-Sandbox-Port", "49983")
        .send()
        .await
        .unwrap();
    let resumed = events(&v2(&api, &resuming, "direction=forward").await);
    assert_eq!(resumed[..3], ["created", "auto-paused", "auto-resumed"]);
    server.shutdown().await;
}
