//! Pause and resume against real sandboxes: the processes stop where they are (the cgroup
//! freezer) and go on after a connect; a paused sandbox's time stands still, its daemon and
//! ports answer 502, and killing it works.

mod common;

use common::envd::{Envd, isolated, start_isolated, start_with_sandboxes};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The counter a background loop writes every 50 ms (0 before its first write).
async fn counter(envd: &Envd) -> u64 {
    envd.ok("cat /tmp/count 2>/dev/null || echo 0")
        .await
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Sets sandbox `id`'s timeout to one second. The auto-pause tests create their sandboxes with
/// a long one and shorten it after their commands ran: made with one second, a sandbox on a busy
/// machine could be paused in the middle of its first command.
async fn ends_in_a_second(api: &common::Api, id: &str) {
    let shortened = api
        .post(&format!("/sandboxes/{id}/timeout"), json!({"timeout": 1}))
        .await;
    assert_eq!(shortened.status, 204);
}

/// Waits (10 s at most) until sandbox `id` is reported paused, as it is at its timeout.
async fn paused_at_its_timeout(api: &common::Api, id: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let info: Value = api.get(&format!("/sandboxes/{id}")).await.expect_json(200);
        if info["state"] == "paused" {
            return;
        }
        assert!(Instant::now() < until, "not paused at its timeout: {info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_paused_sandbox_stops_where_it_is_and_goes_on_after_a_connect() {
    let Some(server) = start_isolated("sandboxes without isolation have no cgroup to freeze").await
    else {
        return;
    };
    let envd = Envd::create(&server).await;
    let api = envd.api.clone();
    let id = envd.id.clone();
    envd.ok("(setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done' >/dev/null 2>&1 &)")
        .await;
    let started = Instant::now();
    while counter(&envd).await < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the counter never counted"
        );
    }

    let before = counter(&envd).await;
    let booted = boot_id(&envd).await;
    assert_eq!(
        api.post(&format!("/sandboxes/{id}/pause"), json!({}))
            .await
            .status,
        204
    );
    let paused_at = Instant::now();
    let again = api.post(&format!("/sandboxes/{id}/pause"), json!({})).await;
    assert_eq!(again.status, 409, "a second pause");
    assert_eq!(
        api.get(&format!("/sandboxes/{id}")).await.json()["state"],
        "paused"
    );
    let listed = api.get("/v2/sandboxes?state=paused").await.json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["sandboxID"] == id.as_str())
    );
    // Its daemon cannot answer while its processes are stopped.
    let (status, _) = envd.unary("process.Process/List", json!({})).await;
    assert_eq!(status, 502);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let resumed = api
        .post(
            &format!("/v2/sandboxes/{id}/connect"),
            json!({"timeout": 60}),
        )
        .await;
    assert_eq!(resumed.status, 201, "a connect resumes: {}", resumed.json());
    let paused_for = paused_at.elapsed();
    let after = counter(&envd).await;
    // Running, the loop would have counted about 30 times in 1.5 s; paused, only in the
    // moments around the two calls.
    assert!(
        after - before < 15,
        "counted {} while paused for {paused_for:?}",
        after - before
    );
    let until = Instant::now() + Duration::from_secs(10);
    while counter(&envd).await <= after {
        assert!(
            Instant::now() < until,
            "the counter did not go on after the resume"
        );
    }
    assert_eq!(boot_id(&envd).await, booted, "no reboot: the same boot id");
    let running = api
        .post(&format!("/v2/sandboxes/{id}/connect"), json!({}))
        .await;
    assert_eq!(running.status, 200, "a connect to a running sandbox");

    // A paused sandbox can be killed, and is gone at once.
    assert_eq!(
        api.post(&format!("/sandboxes/{id}/pause"), json!({}))
            .await
            .status,
        204
    );
    let killing = Instant::now();
    assert_eq!(api.delete(&format!("/sandboxes/{id}")).await.status, 204);
    assert!(killing.elapsed() < Duration::from_secs(5));
    assert_eq!(api.get(&format!("/sandboxes/{id}")).await.status, 404);
}

#[tokio::test]
async fn a_paused_sandbox_does_not_expire_and_refuses_what_it_cannot_do() {
    let Some(server) = start_isolated("sandboxes without isolation have no cgroup to freeze").await
    else {
        return;
    };
    let api = common::Api::new(&server.url(), common::KEY_A);
    let created = api
        .post("/v2/sandboxes", json!({"templateID": "base", "timeout": 1}))
        .await
        .expect_json(201);
    let id = created["sandboxID"].as_str().unwrap();
    assert_eq!(
        api.post(&format!("/sandboxes/{id}/pause"), json!({}))
            .await
            .status,
        204
    );
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let info: Value = api.get(&format!("/sandboxes/{id}")).await.expect_json(200);
    assert_eq!(info["state"], "paused", "past its end while paused: {info}");
    // Its time stands still: a timeout is refused, as E2B refuses it (connect sets it).
    let timeout = api
        .post(&format!("/sandboxes/{id}/timeout"), json!({"timeout": 60}))
        .await;
    assert_eq!(timeout.status, 404, "setTimeout of a paused sandbox");
    assert!(
        timeout.json()["message"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    let resumed = api
        .post(&format!("/sandboxes/{id}/resume"), json!({"timeout": 30}))
        .await;
    assert_eq!(resumed.status, 201);
    let running = api
        .post(&format!("/sandboxes/{id}/resume"), json!({}))
        .await;
    assert_eq!(running.status, 409, "resuming a running sandbox");
    assert_eq!(
        api.post("/sandboxes/nope/pause", json!({})).await.status,
        404
    );
}

#[tokio::test]
async fn auto_pause_at_the_timeout_and_auto_resume_on_traffic() {
    let Some(server) = start_isolated("sandboxes without isolation have no cgroup to freeze").await
    else {
        return;
    };
    let api = common::Api::new(&server.url(), common::KEY_A);
    let make = |auto_resume: bool| {
        json!({
            "templateID": "base",
            "timeout": 60,
            "autoPause": true,
            "autoResume": {"enabled": auto_resume},
        })
    };
    let mut sandboxes = Vec::new();
    for auto_resume in [true, false] {
        let envd = Envd::create_with(&api, make(auto_resume)).await;
        envd.ok("echo kept > /tmp/kept && (setsid sleep 600 >/dev/null 2>&1 &)")
            .await;
        ends_in_a_second(&api, &envd.id).await;
        sandboxes.push(envd);
    }
    // Past the timeout, both are paused, not gone.
    for envd in &sandboxes {
        paused_at_its_timeout(&api, &envd.id).await;
    }
    // Traffic resumes the one that asked for it, with its files and processes.
    let resuming = &sandboxes[0];
    let out = resuming
        .ok("cat /tmp/kept; pgrep -x sleep >/dev/null && echo sleeping")
        .await;
    assert_eq!(out, "kept\nsleeping\n");
    let info: Value = api
        .get(&format!("/sandboxes/{}", resuming.id))
        .await
        .expect_json(200);
    assert_eq!(info["state"], "running");
    // The other stays paused: its daemon answers 502.
    let (status, _) = sandboxes[1].unary("process.Process/List", json!({})).await;
    assert_eq!(status, 502);
    for envd in &sandboxes {
        assert_eq!(
            api.delete(&format!("/sandboxes/{}", envd.id)).await.status,
            204
        );
    }
}

/// The sandbox's boot id: its own where it is isolated (a new one at each boot), else the
/// host's.
async fn boot_id(envd: &Envd) -> String {
    envd.ok("cat /proc/sys/kernel/random/boot_id").await
}

/// What a reboot must keep (a file in the home directory, on the sandbox's disk) and what it
/// must not (a background process, the boot id); the boot id.
async fn writes_a_file_and_starts_a_sleeper(envd: &Envd) -> String {
    envd.ok("echo kept > $HOME/kept && (setsid sleep 600 >/dev/null 2>&1 &)")
        .await;
    boot_id(envd).await
}

/// A sandbox with `autoPause` without memory, a file written and a process started, whose
/// time is up a second from now; its boot id.
async fn pausing_without_memory_in_a_second(api: &common::Api) -> (Envd, String) {
    let envd = Envd::create_with(
        api,
        json!({"templateID": "base", "timeout": 60, "autoPause": true, "autoPauseMemory": false}),
    )
    .await;
    let booted = writes_a_file_and_starts_a_sleeper(&envd).await;
    ends_in_a_second(api, &envd.id).await;
    (envd, booted)
}

/// Files kept, processes gone and, where the sandbox has a boot id of its own, another one
/// than `booted` (what it had before).
async fn assert_rebooted(envd: &Envd, booted: &str) {
    let out = envd
        .ok("cat $HOME/kept; pgrep -x sleep >/dev/null && echo sleeping || echo fresh")
        .await;
    assert_eq!(out, "kept\nfresh\n", "files kept, processes gone");
    let host = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    if booted != host {
        assert_ne!(boot_id(envd).await, booted, "a reboot gets a new boot id");
    }
}

#[tokio::test]
async fn a_connect_before_the_reaper_has_paused_it_does_that_pause_first() {
    // The store marks a sandbox paused the moment its time is up (a read finds it so); the
    // reaper pauses its processes at its next sweep, here 30 s later. A connect in between
    // gets the sandbox as that pause would have left it: rebooted, its processes gone, and
    // the reaper's sweep later leaves it alone.
    let mut config = sandkit_server::ServerConfig::default();
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    config.sandboxes.agent_exe = Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    // Not `common::start_with`, which sweeps every 20 ms.
    config.api_keys = vec![(common::KEY_A.into(), "team-a".into())];
    config.reap_interval = Duration::from_secs(30);
    let server = sandkit_server::start(config).await.unwrap();
    if !isolated(&server) {
        eprintln!("skipped: a pause without memory needs isolated sandboxes");
        return;
    }
    let api = common::Api::new(&server.url(), common::KEY_A);
    let (envd, booted) = pausing_without_memory_in_a_second(&api).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    paused_at_its_timeout(&api, &envd.id).await;
    let resumed = api
        .post(&format!("/v2/sandboxes/{}/connect", envd.id), json!({}))
        .await;
    assert_eq!(resumed.status, 201, "{}", resumed.json());
    assert_rebooted(&envd, &booted).await;
    // Running, and its commands run to their end.
    assert_eq!(
        api.get(&format!("/sandboxes/{}", envd.id)).await.json()["state"],
        "running"
    );
    assert_eq!(envd.ok("echo on").await, "on\n");
}

#[tokio::test]
async fn a_pause_without_memory_keeps_the_files_and_the_resume_reboots() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;
    let api = envd.api.clone();
    let id = envd.id.clone();

    // Paused without memory: its processes end, its files stay.
    let booted = writes_a_file_and_starts_a_sleeper(&envd).await;
    let paused = api
        .post(&format!("/sandboxes/{id}/pause"), json!({"memory": false}))
        .await;
    assert_eq!(paused.status, 204, "{}", paused.json());
    assert_eq!(
        api.get(&format!("/sandboxes/{id}")).await.json()["state"],
        "paused"
    );
    let (status, _) = envd.unary("process.Process/List", json!({})).await;
    assert_eq!(
        status, 502,
        "nothing runs in a sandbox paused without memory"
    );
    let resumed = api
        .post(&format!("/v2/sandboxes/{id}/connect"), json!({}))
        .await;
    assert_eq!(resumed.status, 201, "{}", resumed.json());
    assert_rebooted(&envd, &booted).await;
    // And it works as any sandbox: a command, a file written again.
    let whoami = envd.ok("echo again >> $HOME/kept && whoami").await;
    assert_eq!(whoami, "root\n");

    // Paused with memory, resumed without: a reboot too.
    if isolated(&server) {
        let booted = writes_a_file_and_starts_a_sleeper(&envd).await;
        assert_eq!(
            api.post(&format!("/sandboxes/{id}/pause"), json!({}))
                .await
                .status,
            204
        );
        let resumed = api
            .post(
                &format!("/v2/sandboxes/{id}/connect"),
                json!({"memory": false}),
            )
            .await;
        assert_eq!(resumed.status, 201, "{}", resumed.json());
        assert_rebooted(&envd, &booted).await;
    }

    // A sandbox paused without memory is killed with its files.
    assert_eq!(
        api.post(&format!("/sandboxes/{id}/pause"), json!({"memory": false}))
            .await
            .status,
        204
    );
    assert_eq!(api.delete(&format!("/sandboxes/{id}")).await.status, 204);
    assert_eq!(api.get(&format!("/sandboxes/{id}")).await.status, 404);
}

#[tokio::test]
async fn auto_pause_without_memory_at_the_timeout_then_a_reboot_on_connect() {
    let server = start_with_sandboxes().await;
    let api = common::Api::new(&server.url(), common::KEY_A);
    let (envd, booted) = pausing_without_memory_in_a_second(&api).await;
    paused_at_its_timeout(&api, &envd.id).await;
    let resumed = api
        .post(&format!("/v2/sandboxes/{}/connect", envd.id), json!({}))
        .await;
    assert_eq!(resumed.status, 201, "{}", resumed.json());
    assert_rebooted(&envd, &booted).await;
    assert_eq!(
        api.delete(&format!("/sandboxes/{}", envd.id)).await.status,
        204
    );
}
