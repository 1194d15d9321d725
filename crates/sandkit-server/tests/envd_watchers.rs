//! The polling watchers (`CreateWatcher`, `GetWatcherEvents`, `RemoveWatcher`) over real HTTP,
//! in a real sandbox: events queue between polls, removed and unknown ids answer `not_found`,
//! watchers are bounded per sandbox and end with it.

mod common;

use common::envd::{Envd, eventually, inotify_fds, start_isolated};
use sandkit_server::envd::watchers::MAX_WATCHERS;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_queue_events_between_polls_and_are_bounded() {
    let Some(server) = start_isolated("sandboxes are not isolated here").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    let before = inotify_fds();
    envd.ok("mkdir -p /home/user/pw").await;

    // A missing directory is refused as WatchDir refuses it.
    let (status, missing) = envd
        .unary(
            "filesystem.Filesystem/CreateWatcher",
            json!({ "path": "/home/user/nope" }),
        )
        .await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));

    let (status, created) = envd
        .unary(
            "filesystem.Filesystem/CreateWatcher",
            json!({ "path": "/home/user/pw" }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["watcherId"].as_str().unwrap().to_string();

    // Events made between two polls wait for the second.
    envd.ok("echo x > /home/user/pw/a.txt").await;
    let mut events = Vec::new();
    let until = std::time::Instant::now() + WAIT;
    let wrote = |events: &[Value]| {
        events
            .iter()
            .any(|e| e["name"] == "a.txt" && e["type"] == "EVENT_TYPE_WRITE")
    };
    while !wrote(&events) && std::time::Instant::now() < until {
        let (status, got) = envd.poll_watcher(&id).await;
        assert_eq!(status, 200, "{got}");
        events.extend(got["events"].as_array().cloned().unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(wrote(&events), "no write of a.txt in {events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "a.txt" && e["type"] == "EVENT_TYPE_CREATE")
    );
    // A poll takes what is there: the next one starts empty.
    let (_, next) = envd.poll_watcher(&id).await;
    assert_eq!(next["events"].as_array().map_or(0, Vec::len), 0, "{next}");

    // Removed and unknown ids are not found.
    let (status, _) = envd
        .unary(
            "filesystem.Filesystem/RemoveWatcher",
            json!({ "watcherId": id }),
        )
        .await;
    assert_eq!(status, 200);
    for unknown in [id.as_str(), "w0000"] {
        let (status, e) = envd.poll_watcher(unknown).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (404, Some("not_found")),
            "{e}"
        );
    }

    // At most MAX_WATCHERS at once; the next is refused until one goes.
    for _ in 0..MAX_WATCHERS {
        let (status, w) = envd
            .unary(
                "filesystem.Filesystem/CreateWatcher",
                json!({ "path": "/home/user/pw" }),
            )
            .await;
        assert_eq!(status, 200, "{w}");
    }
    let (status, refused) = envd
        .unary(
            "filesystem.Filesystem/CreateWatcher",
            json!({ "path": "/home/user/pw" }),
        )
        .await;
    assert_eq!(refused["code"], "resource_exhausted", "{status} {refused}");

    // Killing the sandbox frees every watcher's inotify descriptor.
    let killed = envd.api.delete(&format!("/sandboxes/{}", envd.id)).await;
    assert_eq!(killed.status, 204);
    assert!(
        eventually(WAIT, || inotify_fds() == before).await,
        "inotify descriptors stay open after the kill: {} > {before}",
        inotify_fds()
    );
    server.shutdown().await;
}
