//! A polling watcher's poll sees every event of what ended before it began, over real HTTP
//! in a real sandbox. (Its own binary: `envd_watchers.rs` counts this process's inotify
//! descriptors, which this watcher's would disturb.)

mod common;

use common::envd::{Envd, start_isolated};
use serde_json::json;

/// A poll right after a change has ended sees its events, those in directories made by the
/// same change included (`mkdir -p` and a write inside, faster than the watch of the new
/// directories can begin): E2B's clients poll once, right after the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_sees_every_event_of_what_ended_before_it() {
    let Some(server) = start_isolated("sandboxes are not isolated here").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    envd.ok("mkdir -p /home/user/deep").await;
    let (status, created) = envd
        .unary(
            "filesystem.Filesystem/CreateWatcher",
            json!({ "path": "/home/user/deep", "recursive": true }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["watcherId"].as_str().unwrap().to_string();
    // Trees made as fast as a shell makes them, then one poll.
    envd.ok(
        "cd /home/user/deep && for r in $(seq 40); do mkdir -p r$r/a/b/c && echo x > r$r/a/b/c/f; done",
    )
    .await;
    let (status, got) = envd.poll_watcher(&id).await;
    assert_eq!(status, 200, "{got}");
    let seen: Vec<(String, String)> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let kind = e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("EVENT_TYPE_");
            (e["name"].as_str().unwrap().to_string(), kind.to_string())
        })
        .collect();
    let mut missing = Vec::new();
    for r in 1..=40 {
        for (name, kind) in [
            (format!("r{r}"), "CREATE"),
            (format!("r{r}/a"), "CREATE"),
            (format!("r{r}/a/b"), "CREATE"),
            (format!("r{r}/a/b/c"), "CREATE"),
            (format!("r{r}/a/b/c/f"), "CREATE"),
            (format!("r{r}/a/b/c/f"), "WRITE"),
        ] {
            if !seen.iter().any(|(n, k)| *n == name && k == kind) {
                missing.push(format!("{kind} {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing {missing:?} of {} events",
        seen.len()
    );
    // An upload, then at once a poll: its events are there, every time.
    for n in 0..20 {
        envd.upload(&format!("/home/user/deep/up{n}.txt"), b"x")
            .await;
        let (_, got) = envd.poll_watcher(&id).await;
        let names: Vec<&str> = got["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(
            names.contains(&format!("up{n}.txt").as_str()),
            "upload {n}: {names:?}"
        );
    }
}
