//! Metrics and resource limits against real sandboxes: a busy sandbox's samples show its CPU,
//! memory and disk use, an idle one's stay near zero; a sandbox that asks for more memory than
//! its limit loses the process that asked, and nothing else; CPU time is held to its quota.

mod common;

use common::envd::{Envd, isolated};
use common::{Api, KEY_B, start_with};
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const MIB: i64 = 1024 * 1024;

/// A server with processes, sampling every 100 ms, each sandbox limited to `cpus` CPUs and
/// `memory_mb` MiB.
async fn start(cpus: u32, memory_mb: u32) -> RunningServer {
    let mut config = ServerConfig::default();
    config.sandboxes.agent_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    config.sandboxes.cpu_count = cpus;
    config.sandboxes.memory_mb = memory_mb;
    config.sandboxes.metrics_interval = Duration::from_millis(100);
    start_with(config).await
}

async fn samples(api: &Api, id: &str) -> Vec<Value> {
    let reply = api.get(&format!("/sandboxes/{id}/metrics")).await;
    reply.expect_json(200).as_array().unwrap().clone()
}

/// Polls the samples until one satisfies `wanted`, for 15 s at most.
async fn a_sample_where(api: &Api, id: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let all = samples(api, id).await;
        if let Some(found) = all.iter().find(|s| wanted(s)) {
            return found.clone();
        }
        assert!(
            Instant::now() < until,
            "no such sample among {}: {:?}",
            all.len(),
            all.last()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_busy_sandbox_shows_its_use_and_an_idle_one_does_not() {
    let server = start(2, 512).await;
    let busy = Envd::create(&server).await;
    let idle = Envd::create(&server).await;
    let api = busy.api.clone();
    // One CPU kept busy, 40 MiB held, 8 MiB written to its disk.
    busy.ok(
        "head -c 8388608 /dev/urandom > /home/user/blob && \
         (setsid timeout 20 sh -c 'while :; do :; done' >/dev/null 2>&1 &) && \
         (setsid /usr/bin/python3 -c 'import time; a = bytearray(40 << 20); a[::4096] = b\"x\" * len(a[::4096]); time.sleep(20)' >/dev/null 2>&1 &)",
    )
    .await;
    let has_cgroup = isolated(&server);
    let sample = a_sample_where(&api, &busy.id, |s| {
        let disk = s["diskUsed"].as_i64().unwrap() >= 8 * MIB;
        let cpu_mem =
            s["cpuUsedPct"].as_f64().unwrap() > 20.0 && s["memUsed"].as_i64().unwrap() > 30 * MIB;
        disk && (cpu_mem || !has_cgroup)
    })
    .await;
    assert_eq!(sample["cpuCount"], 2);
    assert_eq!(sample["memTotal"], 512 * MIB);
    assert_eq!(sample["diskTotal"], 1024 * MIB);
    let unix = sample["timestampUnix"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 30..=now).contains(&unix), "timestampUnix {unix}");
    assert!(sample["timestamp"].as_str().unwrap().ends_with('Z'));

    // The idle one, measured over the same time, used next to nothing. A sample is a rate
    // between two readings, and on two loaded cores the busy one's can come before the idle
    // one has its second: wait for one.
    if has_cgroup {
        let last = a_sample_where(&api, &idle.id, |_| true).await;
        assert!(last["cpuUsedPct"].as_f64().unwrap() < 10.0, "idle: {last}");
        assert!(last["memUsed"].as_i64().unwrap() < 30 * MIB, "idle: {last}");
    }

    // start and end (Unix seconds) select a span; the latest of several at once.
    let later = api
        .get(&format!(
            "/sandboxes/{}/metrics?start={}",
            busy.id,
            now + 3600
        ))
        .await
        .expect_json(200);
    assert_eq!(later, json!([]));
    let span = api
        .get(&format!(
            "/sandboxes/{}/metrics?start={unix}&end={unix}",
            busy.id
        ))
        .await
        .expect_json(200);
    assert!(!span.as_array().unwrap().is_empty());
    assert!(
        span.as_array()
            .unwrap()
            .iter()
            .all(|s| s["timestampUnix"] == unix)
    );
    let many = api
        .get(&format!(
            "/sandboxes/metrics?sandbox_ids={},{},nope",
            busy.id, idle.id
        ))
        .await
        .expect_json(200);
    let map = many["sandboxes"].as_object().unwrap();
    assert!(map.contains_key(&busy.id) && map.contains_key(&idle.id) && map.len() == 2);
    // Another team sees none of them.
    let other = Api::new(&server.url(), KEY_B);
    assert_eq!(
        other
            .get(&format!("/sandboxes/{}/metrics", busy.id))
            .await
            .status,
        404
    );
    let none = other
        .get(&format!("/sandboxes/metrics?sandbox_ids={}", busy.id))
        .await
        .expect_json(200);
    assert_eq!(none, json!({"sandboxes": {}}));
    // Bad input is a 400 naming it.
    let bad = api
        .get(&format!("/sandboxes/{}/metrics?start=yesterday", busy.id))
        .await;
    assert!(bad.expect_error(400).contains("start"));
    assert!(
        api.get("/sandboxes/metrics")
            .await
            .expect_error(400)
            .contains("sandbox_ids")
    );
    assert_eq!(api.get("/sandboxes/nope/metrics").await.status, 404);

    // A paused sandbox keeps its samples and gets no new ones.
    if has_cgroup {
        assert_eq!(
            api.post(&format!("/sandboxes/{}/pause", busy.id), json!({}))
                .await
                .status,
            204
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = samples(&api, &busy.id).await.len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(samples(&api, &busy.id).await.len(), before);
    }
    for envd in [&busy, &idle] {
        assert_eq!(
            api.delete(&format!("/sandboxes/{}", envd.id)).await.status,
            204
        );
    }
}

#[tokio::test]
async fn a_memory_hog_loses_its_process_and_nothing_else() {
    let server = start(2, 64).await;
    if !isolated(&server) {
        eprintln!("skipped: sandboxes without isolation have no cgroup");
        return;
    }
    let hog = Envd::create(&server).await;
    let neighbour = Envd::create(&server).await;
    let info: Value = hog
        .api
        .get(&format!("/sandboxes/{}", hog.id))
        .await
        .expect_json(200);
    assert_eq!(info["memoryMB"], 64);
    assert_eq!(info["cpuCount"], 2);
    // 256 MiB, touched page by page, in a sandbox allowed 64.
    let (out, end) = hog
        .run("/usr/bin/python3 -c 'a = bytearray(256 << 20); a[::4096] = b\"x\" * len(a[::4096]); print(\"survived\")'; echo \"status $?\"")
        .await;
    assert!(!out.contains("survived"), "the hog got its memory: {out}");
    // Killed by the kernel (SIGKILL: 128 + 9), or refused the allocation (MemoryError: 1).
    assert!(
        out.contains("status 137") || out.contains("status 1"),
        "{out} {end}"
    );
    // The sandbox goes on, and so do its neighbour and the server.
    assert_eq!(hog.ok("echo alive").await, "alive\n");
    assert_eq!(neighbour.ok("echo fine").await, "fine\n");
    let list = hog.api.get("/v2/sandboxes").await.expect_json(200);
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cpu_time_is_held_to_the_quota() {
    let server = start(1, 512).await;
    if !isolated(&server) {
        return;
    }
    let envd = Envd::create(&server).await;
    // Two processes spin for 1.5 s of wall time each; with a quota of one CPU they share one.
    let script = "import os, time\n\
                  start = time.time()\n\
                  for _ in range(2):\n\
                  \x20   if os.fork() == 0:\n\
                  \x20       while time.time() - start < 1.5: pass\n\
                  \x20       os._exit(0)\n\
                  os.wait(); os.wait()\n\
                  t = os.times()\n\
                  print(t.children_user + t.children_system, time.time() - start)\n";
    envd.upload("/tmp/spin.py", script.as_bytes()).await;
    let out = envd.ok("/usr/bin/python3 /tmp/spin.py").await;
    let numbers: Vec<f64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    let (cpu, wall) = (numbers[0], numbers[1]);
    assert!(
        cpu <= wall * 1.25,
        "{cpu:.2} s of CPU in {wall:.2} s with a quota of one CPU"
    );
}
