//! `filesystem.Filesystem/WatchDir` against real sandboxes: events as files change, recursive
//! watches, keepalives, errors, confinement to the sandbox, and the watch's end (client gone,
//! timeout, sandbox killed) closing its inotify descriptor.
//!
//! One test on purpose: it counts the process's inotify descriptors, which other tests in the
//! same binary would disturb.

mod common;

use common::envd::{Envd, Frames, eventually, inotify_fds, start_isolated};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Reads events until every `(name, type)` in `want` has been seen; returns them all.
async fn expect_events(frames: &mut Frames, want: &[(&str, &str)]) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let missing = |seen: &[Value]| -> Vec<(String, String)> {
        want.iter()
            .filter(|(n, t)| {
                !seen
                    .iter()
                    .any(|e| e["name"] == *n && e["type"] == format!("EVENT_TYPE_{t}"))
            })
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    };
    let until = tokio::time::Instant::now() + WAIT;
    while !missing(&seen).is_empty() {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let frame = match tokio::time::timeout(left, frames.next()).await {
            Ok(Some(frame)) => frame,
            _ => panic!("missing {:?}; saw {seen:#?}", missing(&seen)),
        };
        assert!(!frame.is_end(), "the watch ended: {}", frame.json());
        let msg = frame.json();
        if let Some(event) = msg.get("filesystem") {
            seen.push(event.clone());
        } else {
            assert_eq!(msg, json!({"keepalive": {}}));
        }
    }
    seen
}

fn find<'a>(events: &'a [Value], name: &str, kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["name"] == name && e["type"] == format!("EVENT_TYPE_{kind}"))
        .unwrap()
}

/// The stream's end-stream error code (the stream must end at once).
async fn end_code(frames: &mut Frames) -> String {
    let frame = frames.next_within(WAIT).await;
    assert!(frame.is_end(), "expected the end, got {}", frame.json());
    frame.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn watch(envd: &Envd, body: Value, headers: &[(&str, &str)]) -> Frames {
    envd.stream("filesystem.Filesystem/WatchDir", body, headers)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_dir_streams_changes_and_ends_cleanly() {
    // The paths below are the sandbox's own (`/home/user`), which only isolation gives.
    let Some(server) = start_isolated("sandboxes are not isolated here").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    let other = Envd::create(&server).await;
    let before = inotify_fds();

    envd.ok("mkdir -p /home/user/w/old && touch /home/user/w/old/f")
        .await;
    let mut frames = watch(
        &envd,
        json!({"path": "/home/user/w", "recursive": true, "includeEntry": true}),
        &[("Keepalive-Ping-Interval", "1")],
    )
    .await;
    assert_eq!(
        frames.res.headers()["content-type"],
        "application/connect+json"
    );
    assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
    assert_eq!(inotify_fds(), before + 1);

    // Create, write, chmod, rename, remove, mkdir: each reported, named relative to the watch.
    envd.ok(
        "cd /home/user/w && echo hi > a.txt && chmod 600 a.txt && mv a.txt b.txt && rm b.txt && mkdir sub",
    )
    .await;
    let events = expect_events(
        &mut frames,
        &[
            ("a.txt", "CREATE"),
            ("a.txt", "WRITE"),
            ("a.txt", "CHMOD"),
            ("a.txt", "RENAME"),
            ("b.txt", "CREATE"),
            ("b.txt", "REMOVE"),
            ("sub", "CREATE"),
        ],
    )
    .await;
    let sub = find(&events, "sub", "CREATE");
    assert_eq!(sub["entry"]["type"], "FILE_TYPE_DIRECTORY", "{sub}");
    assert_eq!(sub["entry"]["path"], "/home/user/w/sub", "{sub}");
    assert_eq!(sub["entry"]["name"], "sub", "{sub}");
    // Gone by the time it is reported: no entry.
    assert!(find(&events, "b.txt", "REMOVE").get("entry").is_none());

    // Recursive: the new subdirectory is watched, and so was the one there before.
    envd.ok("echo x > /home/user/w/sub/c.txt && echo y >> /home/user/w/old/f && mkdir -p /home/user/w/sub/deep && touch /home/user/w/sub/deep/d")
        .await;
    let events = expect_events(
        &mut frames,
        &[
            ("sub/c.txt", "CREATE"),
            ("sub/c.txt", "WRITE"),
            ("old/f", "WRITE"),
            ("sub/deep", "CREATE"),
        ],
    )
    .await;
    let c = find(&events, "sub/c.txt", "WRITE");
    assert_eq!(c["entry"]["type"], "FILE_TYPE_FILE", "{c}");
    assert_eq!(c["entry"]["size"], "2", "{c}");
    // A directory moved away is no longer watched; one moved in is (with what is inside it),
    // from when its event is out: like envd's, the watch is added on that event, so what
    // happens in a new directory before then is not seen.
    envd.ok("mv /home/user/w/old /home/user/old && mkdir -p /home/user/in/x && mv /home/user/in /home/user/w/in")
        .await;
    expect_events(&mut frames, &[("old", "RENAME"), ("in", "CREATE")]).await;
    envd.ok("touch /home/user/w/in/x/z").await;
    expect_events(&mut frames, &[("in/x/z", "CREATE")]).await;
    envd.ok("touch /home/user/old/outside && touch /home/user/w/marker")
        .await;
    let events = expect_events(&mut frames, &[("marker", "CREATE")]).await;
    assert!(
        events
            .iter()
            .all(|e| !e["name"].as_str().unwrap().contains("outside")),
        "{events:?}"
    );

    // Idle: keepalives every second (after what is left of the events above).
    loop {
        let frame = frames.next_within(Duration::from_secs(3)).await.json();
        if frame.get("filesystem").is_none() {
            assert_eq!(frame, json!({"keepalive": {}}));
            break;
        }
    }

    // The client leaves: the watch ends and its descriptor is closed.
    drop(frames);
    assert!(
        eventually(WAIT, || inotify_fds() == before).await,
        "the inotify descriptor stays open after the client left"
    );

    // Not recursive: only the directory's own entries.
    let mut frames = watch(&envd, json!({"path": "/home/user/w"}), &[]).await;
    assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
    envd.ok("touch /home/user/w/sub/nested && touch /home/user/w/top")
        .await;
    let events = expect_events(&mut frames, &[("top", "CREATE")]).await;
    assert!(
        events.iter().all(|e| e["name"] != "sub/nested"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e.get("entry").is_none()),
        "{events:?}"
    );
    drop(frames);

    // Relative paths are the user's home; `~` too.
    let mut frames = watch(&envd, json!({"path": "w/sub"}), &[]).await;
    assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
    envd.ok("touch /home/user/w/sub/rel").await;
    expect_events(&mut frames, &[("rel", "CREATE")]).await;
    drop(frames);

    // Errors come before any start event: missing → not_found, a file → invalid_argument.
    let mut frames = watch(&envd, json!({"path": "/home/user/nope"}), &[]).await;
    assert_eq!(end_code(&mut frames).await, "not_found");
    let mut frames = watch(&envd, json!({"path": "/home/user/w/top"}), &[]).await;
    assert_eq!(end_code(&mut frames).await, "invalid_argument");
    let mut frames = watch(
        &envd,
        json!({"path": "/home/user/w"}),
        // "no-such-user:" (`nobody` is an account of the sandbox's, as it is of envd's).
        &[("Authorization", "Basic bm8tc3VjaC11c2VyOg==")],
    )
    .await;
    assert_eq!(end_code(&mut frames).await, "unauthenticated");

    // Odd keepalive values are envd's default, never a failure.
    for interval in ["0", "-5", "abc", "99999999999999999999"] {
        let mut frames = watch(
            &envd,
            json!({"path": "/home/user/w"}),
            &[("Keepalive-Ping-Interval", interval)],
        )
        .await;
        assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
    }

    // Connect-Timeout-Ms ends the stream with deadline_exceeded, as envd's context does.
    let mut frames = watch(
        &envd,
        json!({"path": "/home/user/w"}),
        &[("Connect-Timeout-Ms", "300")],
    )
    .await;
    assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
    assert_eq!(end_code(&mut frames).await, "deadline_exceeded");
    assert!(frames.next().await.is_none());

    // Confinement: `..` and symlinks stop at the sandbox's root; the other sandbox's files,
    // which are on the host, cannot be watched.
    {
        // The sandbox's /tmp is its own: a host file written there is not the sandbox's.
        let host_tmp = std::env::temp_dir();
        let escape = format!("/home/user/../../../../../..{}", host_tmp.display());
        let mut frames = watch(&envd, json!({ "path": escape }), &[]).await;
        let first = frames.next_within(WAIT).await;
        if !first.is_end() {
            assert_eq!(first.json(), json!({"start": {}}));
            let host_file = host_tmp.join(format!("sandkit-watch-{}", std::process::id()));
            std::fs::write(&host_file, "x").unwrap();
            let quiet = tokio::time::timeout(Duration::from_millis(500), frames.next()).await;
            let _ = std::fs::remove_file(&host_file);
            assert!(quiet.is_err(), "a host write was reported: {quiet:?}");
        }
        drop(frames);
        // Another sandbox's home, by absolute host path, by symlink, by relative symlink.
        let state_dir = common::state_dir(&server);
        // Its directory: where what it writes (its home too) is on the host, in its disk image
        // or (where disks are not limited) its writable layers.
        let target = format!("{}/{}", state_dir.display(), other.id);
        assert!(std::path::Path::new(&target).is_dir(), "{target}");
        let mut frames = watch(&envd, json!({ "path": target }), &[]).await;
        assert_eq!(end_code(&mut frames).await, "not_found");
        envd.ok(&format!(
            "ln -s {target} /home/user/abs && ln -s ../../../../../../../..{target} /home/user/rel"
        ))
        .await;
        for link in ["/home/user/abs", "/home/user/rel"] {
            let mut frames = watch(&envd, json!({ "path": link }), &[]).await;
            assert_eq!(end_code(&mut frames).await, "not_found", "{link}");
        }
        // A symlink inside a recursive watch is not followed out of it.
        envd.ok("mkdir -p /home/user/r && ln -s / /home/user/r/root")
            .await;
        let mut frames = watch(
            &envd,
            json!({"path": "/home/user/r", "recursive": true}),
            &[],
        )
        .await;
        assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
        envd.ok("touch /tmp/via-link && touch /home/user/r/here")
            .await;
        let events = expect_events(&mut frames, &[("here", "CREATE")]).await;
        assert!(
            events
                .iter()
                .all(|e| !e["name"].as_str().unwrap().contains("via-link")),
            "{events:?}"
        );
        drop(frames);
    }

    // The sandbox is killed: open watches break off as a dead VM's would (no end frame) and
    // their descriptors close.
    let mut frames = watch(&envd, json!({"path": "/home/user/w"}), &[]).await;
    assert_eq!(frames.next_within(WAIT).await.json(), json!({"start": {}}));
    let killed = envd.api.delete(&format!("/sandboxes/{}", envd.id)).await;
    assert_eq!(killed.status, 204, "{}", killed.text);
    assert!(frames.is_cut_within(WAIT).await, "the watch was not cut");
    drop(frames);
    assert!(
        eventually(WAIT, || inotify_fds() == before).await,
        "inotify descriptors stay open after the sandbox was killed: {} > {before}",
        inotify_fds()
    );
    server.shutdown().await;
}
