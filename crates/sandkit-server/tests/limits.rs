//! Rate limits and quotas over real HTTP: each refuses beyond its limit with 429, E2B's JSON
//! body and the `Retry-After` / `RateLimit-*` headers, admits again once its window has
//! passed, and counts per team (control plane, creations, running sandboxes) or per client
//! address (sandbox operations). Timeouts beyond `--max-timeout` get 400.

mod common;

use common::envd::Envd;
use common::{Api, KEY_A, KEY_B, Reply, start_with};
use sandkit_server::ServerConfig;
use sandkit_server::config::LimitsConfig;
use sandkit_server::limits::Rate;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A records-only server with these limits.
async fn server_with(limits: LimitsConfig) -> sandkit_server::RunningServer {
    let mut config = ServerConfig::default();
    config.sandboxes.enabled = false;
    config.limits = limits;
    start_with(config).await
}

/// `Retry-After` of a refusal: whole seconds, digits only, at least 1.
#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    let value = reply.header("retry-after").expect("a Retry-After header");
    assert!(
        !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
        "Retry-After {value:?} is not whole seconds"
    );
    let secs: u64 = value.parse().unwrap();
    assert!(secs >= 1, "Retry-After {secs}");
    secs
}

/// Asserts a 429 refusal in the control plane's `{code, message}` shape, with its headers,
/// and returns the message and the `Retry-After` seconds.
#[track_caller]
fn expect_refusal(reply: &Reply, limit: u32) -> (String, u64) {
    let message = reply.expect_error(429);
    let secs = retry_after(reply);
    assert_eq!(
        reply.header("ratelimit-limit"),
        Some(limit.to_string().as_str())
    );
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        reply.header("ratelimit-reset"),
        Some(secs.to_string().as_str())
    );
    (message, secs)
}

/// Waits out a refusal's `Retry-After`.
async fn wait(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test]
async fn control_plane_requests_are_limited_per_team() {
    let server = server_with(LimitsConfig {
        rate_limit: Rate::new(3, 2),
        ..LimitsConfig::default()
    })
    .await;
    let a = Api::new(&server.url(), KEY_A);
    let b = Api::new(&server.url(), KEY_B);

    for left in (0..3).rev() {
        let ok = a.get("/v2/sandboxes").await;
        assert_eq!(ok.status, 200, "{}", ok.text);
        assert_eq!(ok.header("ratelimit-limit"), Some("3"));
        assert_eq!(
            ok.header("ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
        assert!(ok.header("ratelimit-reset").is_some());
        assert!(ok.header("retry-after").is_none());
    }
    // Every control-plane route counts, and a browser can read the headers that matter.
    let refused = a
        .send(
            a.request(reqwest::Method::DELETE, "/sandboxes/nope")
                .header("Origin", "http://page.test"),
        )
        .await;
    let (message, secs) = expect_refusal(&refused, 3);
    assert!(
        message.contains("team-a") && message.contains("--rate-limit"),
        "{message}"
    );
    assert!(secs <= 2, "Retry-After {secs} is beyond the 2 s window");
    let exposed = refused
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
    // The key never shows, and the refusal is not a 401.
    assert!(!refused.text.contains(KEY_A));

    // Another team has its own window; an unknown key is answered 401, not counted.
    assert_eq!(b.get("/v2/sandboxes").await.status, 200);
    let stranger = a.with_key(Some("sk_unknown"));
    for _ in 0..5 {
        assert_eq!(stranger.get("/v2/sandboxes").await.status, 401);
    }

    wait(secs).await;
    let again = a.get("/v2/sandboxes").await;
    assert_eq!(again.status, 200, "after Retry-After: {}", again.text);
    assert_eq!(again.header("ratelimit-remaining"), Some("2"));
}

#[tokio::test]
async fn creations_are_limited_per_team() {
    let server = server_with(LimitsConfig {
        create_rate: Rate::new(2, 2),
        ..LimitsConfig::default()
    })
    .await;
    let a = Api::new(&server.url(), KEY_A);
    let b = Api::new(&server.url(), KEY_B);
    let base = json!({"templateID": "base"});
    a.create(base.clone()).await;
    a.create(base.clone()).await;
    let refused = a.post("/v2/sandboxes", base.clone()).await;
    let (message, secs) = expect_refusal(&refused, 2);
    assert!(message.contains("--create-rate"), "{message}");
    // Other calls of the team go on; the refused create made nothing.
    let listed = a.get("/v2/sandboxes").await.expect_json(200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    b.create(base.clone()).await;

    wait(secs).await;
    a.create(base).await;
}

#[tokio::test]
async fn running_sandboxes_are_limited_per_team_and_paused_ones_do_not_count() {
    let server = server_with(LimitsConfig {
        max_sandboxes: 2,
        ..LimitsConfig::default()
    })
    .await;
    let a = Api::new(&server.url(), KEY_A);
    let b = Api::new(&server.url(), KEY_B);
    let create = |timeout: u32| json!({"templateID": "base", "timeout": timeout});
    let first = a.create(create(30)).await;
    let second = a.create(create(600)).await;

    let refused = a.post("/v2/sandboxes", create(60)).await;
    let (message, secs) = expect_refusal(&refused, 2);
    assert!(
        message.contains("--max-sandboxes") && message.contains("running"),
        "{message}"
    );
    // Retry when the first of the team's sandboxes ends: at most its 30 s.
    assert!(secs <= 30, "Retry-After {secs}");
    // Team B is not held back by team A's sandboxes.
    b.create(create(60)).await;

    // A paused sandbox does not count: its slot is free for a new one.
    assert_eq!(
        a.post(&format!("/sandboxes/{first}/pause"), json!({}))
            .await
            .status,
        204
    );
    let third = a.create(create(60)).await;
    // Resuming it now would make three running: refused, and it stays paused.
    for resume in [
        format!("/v2/sandboxes/{first}/connect"),
        format!("/sandboxes/{first}/resume"),
    ] {
        let refused = a.post(&resume, json!({"timeout": 60})).await;
        let (message, _) = expect_refusal(&refused, 2);
        assert!(message.contains("--max-sandboxes"), "{message}");
    }
    assert_eq!(
        a.get(&format!("/sandboxes/{first}")).await.json()["state"],
        "paused"
    );
    // A connect to a running sandbox is no resume: it goes through at the limit.
    assert_eq!(
        a.post(&format!("/v2/sandboxes/{second}/connect"), json!({}))
            .await
            .status,
        200
    );
    // Once one is killed, the paused one may resume.
    assert_eq!(a.delete(&format!("/sandboxes/{third}")).await.status, 204);
    assert_eq!(
        a.post(
            &format!("/v2/sandboxes/{first}/connect"),
            json!({"timeout": 60})
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn timeouts_beyond_the_maximum_are_refused_as_e2b_refuses_them() {
    let server = server_with(LimitsConfig {
        max_timeout_secs: 60,
        ..LimitsConfig::default()
    })
    .await;
    let a = Api::new(&server.url(), KEY_A);
    let refused = a
        .post(
            "/v2/sandboxes",
            json!({"templateID": "base", "timeout": 61}),
        )
        .await;
    let message = refused.expect_error(400);
    assert!(message.contains("60 seconds"), "{message}");
    let id = a.create(json!({"templateID": "base", "timeout": 60})).await;
    // Without a timeout, the API's 300 s default is cut to the maximum.
    let default = a.create(json!({"templateID": "base"})).await;
    let info = a.get(&format!("/sandboxes/{default}")).await.json();
    let lifetime = common::millis(&info["endAt"]) - common::millis(&info["startedAt"]);
    assert_eq!(lifetime, 60_000);

    let set = a
        .post(&format!("/sandboxes/{id}/timeout"), json!({"timeout": 61}))
        .await;
    assert!(set.expect_error(400).contains("60 seconds"));
    assert_eq!(
        a.post(&format!("/sandboxes/{id}/timeout"), json!({"timeout": 60}))
            .await
            .status,
        204
    );
    let connect = a
        .post(
            &format!("/v2/sandboxes/{id}/connect"),
            json!({"timeout": 61}),
        )
        .await;
    assert!(connect.expect_error(400).contains("60 seconds"));

    // The default maximum is 24 hours, named as E2B names it.
    let server = server_with(LimitsConfig::default()).await;
    let a = Api::new(&server.url(), KEY_A);
    let refused = a
        .post(
            "/v2/sandboxes",
            json!({"templateID": "base", "timeout": 86_401}),
        )
        .await;
    assert!(refused.expect_error(400).contains("24 hours"));
    a.create(json!({"templateID": "base", "timeout": 86_400}))
        .await;
}

/// A client whose requests come from `ip` (any 127/8 address reaches a loopback server).
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    common::http_client();
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(ip))
        .build()
        .unwrap()
}

async fn reply(res: reqwest::Response) -> Reply {
    Reply {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        text: res.text().await.unwrap(),
    }
}

#[tokio::test]
async fn sandbox_operations_are_limited_per_client_address() {
    let mut config = ServerConfig::default();
    config.sandboxes.agent_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    config.limits.ops_rate_limit = Rate::new(3, 2);
    let server = start_with(config).await;
    let envd = Envd::create(&server).await;
    let health = || envd.request(reqwest::Method::GET, "/health");

    // Wait for a fresh window, so the three calls below share one.
    let started = Instant::now();
    loop {
        let r = reply(health().send().await.unwrap()).await;
        if r.status == 429 {
            wait(retry_after(&r)).await;
            break;
        }
        assert_eq!(r.status, 204, "{}", r.text);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    for _ in 0..3 {
        assert_eq!(health().send().await.unwrap().status(), 204);
    }
    // The daemon's REST routes answer in their `{code, message}` shape.
    let refused = reply(health().send().await.unwrap()).await;
    let message = refused.expect_error(429);
    assert!(message.contains("--ops-rate-limit"), "{message}");
    let secs = retry_after(&refused);
    assert!(secs <= 2);
    assert_eq!(refused.header("ratelimit-limit"), Some("3"));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    assert!(
        refused
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("Retry-After"))
    );
    // RPCs get a Connect error, which the SDKs turn into a RateLimitError.
    let (status, body) = envd.unary("process.Process/List", json!({})).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "resource_exhausted", "{body}");
    // Other ports (the public-URL proxy) answer in the proxy's shape.
    let proxied = reply(
        envd.api
            .http
            .get(format!("{}/", envd.api.url))
            .header("E2b-Sandbox-Id", &envd.id)
            .header("E2b-Sandbox-Port", "8080")
            .header("Origin", "http://page.test")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(proxied.status, 429, "{}", proxied.text);
    let body: Value = proxied.json();
    assert_eq!(body["code"], 429);
    assert_eq!(body["sandboxId"], envd.id.as_str());
    assert_eq!(body["port"], 8080);
    assert!(retry_after(&proxied) <= 2);
    assert!(
        proxied
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("Retry-After"))
    );
    // The control plane is a different limit.
    assert_eq!(
        envd.api
            .get(&format!("/sandboxes/{}", envd.id))
            .await
            .status,
        200
    );

    // Another client address has its own window.
    let other = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let from_other = other
        .get(format!("{}/health", envd.api.url))
        .header("E2b-Sandbox-Id", &envd.id)
        .header("E2b-Sandbox-Port", "49983")
        .send()
        .await
        .unwrap();
    assert_eq!(from_other.status(), 204);

    wait(secs).await;
    assert_eq!(health().send().await.unwrap().status(), 204);
}
