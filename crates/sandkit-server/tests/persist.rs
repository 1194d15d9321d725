//! A sandkitd with a state directory loses nothing across restarts: stopped (gracefully or by
//! SIGKILL) and started again on the same directory, its paused sandboxes are listed with their
//! metadata and files and can be resumed (as a reboot), running ones that asked for autoPause
//! come back paused, and others are gone.

mod common;

use common::envd::Envd;
use common::{Api, KEY_A, start_with};
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sandkitd");

/// A fresh state directory, removed at the end of the test.
struct StateDir(PathBuf);

impl StateDir {
    fn new(name: &str) -> StateDir {
        let dir = std::env::temp_dir().join(format!("sandkit-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StateDir(dir)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_on(dir: &Path) -> RunningServer {
    let mut config = ServerConfig::default();
    config.sandboxes.agent_exe = Some(PathBuf::from(BIN));
    config.sandboxes.state_dir = Some(dir.to_path_buf());
    start_with(config).await
}

async fn state_of(api: &Api, id: &str) -> (u16, Value) {
    let reply = api.get(&format!("/sandboxes/{id}")).await;
    (reply.status, reply.json())
}

/// What a restored sandbox must have kept: its file; and lost: its processes.
async fn resumes_as_a_reboot(envd: &Envd) {
    let resumed = envd
        .api
        .post(&format!("/v2/sandboxes/{}/connect", envd.id), json!({}))
        .await;
    assert_eq!(resumed.status, 201, "{}", resumed.json());
    let out = envd
        .ok("cat $HOME/kept; stat -c %U $HOME/kept; pgrep -x sleep >/dev/null && echo sleeping || echo fresh")
        .await;
    // Owned by the sandbox's root still (not `nobody`: its host ids are the sandbox's).
    assert_eq!(out, "kept\nroot\nfresh\n");
}

/// The host id range a sandbox's record names.
fn host_ids_of(dir: &Path, id: &str) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join("records").join(format!("{id}.json"))).ok()?;
    let record: Value = serde_json::from_str(&text).ok()?;
    record["host_ids"].as_u64().map(|b| b as u32)
}

#[tokio::test]
async fn a_restart_keeps_paused_sandboxes_with_their_files() {
    let dir = StateDir::new("graceful");
    let server = start_on(&dir.0).await;
    let api = Api::new(&server.url(), KEY_A);
    let paused = Envd::create_with(
        &api,
        json!({"templateID": "base", "metadata": {"role": "paused"}}),
    )
    .await;
    let auto = Envd::create_with(
        &api,
        json!({"templateID": "base", "autoPause": true, "metadata": {"role": "auto"}}),
    )
    .await;
    let plain = Envd::create_with(&api, json!({"templateID": "base"})).await;
    for envd in [&paused, &auto, &plain] {
        envd.ok("echo kept > $HOME/kept && (setsid sleep 600 >/dev/null 2>&1 &)")
            .await;
    }
    assert_eq!(
        api.post(&format!("/sandboxes/{}/pause", paused.id), json!({}))
            .await
            .status,
        204
    );
    server.shutdown().await;
    // Another sandkitd's sandbox takes the paused one's host id range meanwhile: its files
    // move to another range at the start.
    let squatter = host_ids_of(&dir.0, &paused.id).map(|base| {
        sandkit_server::sandbox::ids::IdRanges::new(&dir.0)
            .and_then(|r| r.claim_base(base))
            .expect("the range is free while no sandkitd runs")
    });

    let server = start_on(&dir.0).await;
    let api = Api::new(&server.url(), KEY_A);
    if let Some(squatter) = &squatter {
        assert_ne!(host_ids_of(&dir.0, &paused.id), Some(squatter.map.base));
    }
    for (envd, role) in [(&paused, "paused"), (&auto, "auto")] {
        let (status, info) = state_of(&api, &envd.id).await;
        assert_eq!(status, 200, "{role}: {info}");
        assert_eq!(info["state"], "paused", "{role}");
        assert_eq!(info["metadata"]["role"], role);
    }
    assert_eq!(
        state_of(&api, &plain.id).await.0,
        404,
        "a plain running one"
    );
    // Their logs came back too: created, then paused.
    let logs = api
        .get(&format!(
            "/v2/sandboxes/{}/logs?direction=forward",
            paused.id
        ))
        .await
        .expect_json(200);
    let events: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["fields"]["event"].as_str())
        .collect();
    assert!(
        events.first() == Some(&"created") && events.contains(&"paused"),
        "events after the restart: {events:?}"
    );
    let listed = api.get("/v2/sandboxes?state=paused").await.expect_json(200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // The daemon tokens are the same: the old handles work.
    let paused = Envd {
        api: api.clone(),
        ..paused
    };
    let auto = Envd {
        api: api.clone(),
        ..auto
    };
    resumes_as_a_reboot(&paused).await;
    resumes_as_a_reboot(&auto).await;
    // Another restart after the resume: running without autoPause, so gone; with it, paused.
    server.shutdown().await;
    let server = start_on(&dir.0).await;
    let api = Api::new(&server.url(), KEY_A);
    assert_eq!(state_of(&api, &paused.id).await.0, 404);
    assert_eq!(state_of(&api, &auto.id).await.1["state"], "paused");
    assert_eq!(
        api.delete(&format!("/sandboxes/{}", auto.id)).await.status,
        204
    );
    server.shutdown().await;
    // Nothing is left of them on disk.
    let left: Vec<_> = std::fs::read_dir(dir.0.join("records"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "records left: {left:?}");
    assert!(!dir.0.join(&auto.id).exists() && !dir.0.join(&plain.id).exists());
}

/// A `sandkitd` process on `dir`, and its URL.
fn spawn_daemon(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--host", "127.0.0.1", "--warm-pool", "0"])
        .args(["--api-key", &format!("{KEY_A}=team-a")])
        .arg("--state-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandkitd starts");
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .and_then(Result::ok)
        .expect("the banner");
    let url = first
        .rsplit(' ')
        .next()
        .expect("the URL ends the banner's first line")
        .to_string();
    (child, url)
}

#[tokio::test]
async fn a_sigkill_loses_no_record_written_before_it() {
    let dir = StateDir::new("sigkill");
    let (mut first, url) = spawn_daemon(&dir.0);
    let api = Api::new(&url, KEY_A);
    let auto = Envd::create_with(&api, json!({"templateID": "base", "autoPause": true})).await;
    auto.ok("echo kept > $HOME/kept").await;
    let paused =
        Envd::create_with(&api, json!({"templateID": "base", "metadata": {"k": "v"}})).await;
    paused.ok("echo kept > $HOME/kept").await;
    assert_eq!(
        api.post(
            &format!("/sandboxes/{}/pause", paused.id),
            json!({"memory": false})
        )
        .await
        .status,
        204
    );
    // Created, answered, and killed at once: the record was written before the answer.
    let last = Envd::create_with(&api, json!({"templateID": "base", "autoPause": true})).await;
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, url) = spawn_daemon(&dir.0);
    let api = Api::new(&url, KEY_A);
    for id in [&auto.id, &paused.id, &last.id] {
        let (status, info) = state_of(&api, id).await;
        assert_eq!(
            (status, info["state"].clone()),
            (200, json!("paused")),
            "{id}"
        );
    }
    assert_eq!(state_of(&api, &paused.id).await.1["metadata"]["k"], "v");
    for envd in [&auto, &paused] {
        let envd = Envd {
            api: api.clone(),
            ..envd.clone()
        };
        let resumed = api
            .post(&format!("/v2/sandboxes/{}/connect", envd.id), json!({}))
            .await;
        assert_eq!(resumed.status, 201, "{}", resumed.json());
        assert_eq!(envd.ok("cat $HOME/kept").await, "kept\n");
    }
    for id in [&auto.id, &paused.id, &last.id] {
        assert_eq!(api.delete(&format!("/sandboxes/{id}")).await.status, 204);
    }
    // SIGTERM: a clean stop.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "sandkitd did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
