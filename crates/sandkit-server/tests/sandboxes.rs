//! One sandbox at a time over real HTTP: create, info, kill, timeout, connect and expiry.

mod common;

use common::{Api, KEY_A, millis, now_ms, start_server, start_with};
use reqwest::Method;
use sandkit_server::ServerConfig;
use serde_json::{Value, json};
use std::time::Duration;

fn is_id(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 20
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_token(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn info(api: &Api, id: &str) -> Value {
    api.get(&format!("/sandboxes/{id}")).await.expect_json(200)
}

#[tokio::test]
async fn create_on_both_paths_returns_every_field_with_defaults() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let domain = format!("localhost:{}", server.local_addr().port());
    assert_eq!(
        server.url(),
        format!("http://127.0.0.1:{}", server.local_addr().port())
    );

    let before = now_ms();
    let created = api
        .post("/v2/sandboxes", json!({"templateID": "base"}))
        .await
        .expect_json(201);
    assert!(is_id(&created["sandboxID"]), "{created}");
    assert_eq!(created["templateID"], "base");
    assert!(created["clientID"].is_string());
    assert_eq!(created["envdVersion"], sandkit::wire::ENVD_VERSION);
    assert!(is_token(&created["envdAccessToken"]), "{created}");
    // Only a sandbox that refuses public traffic has a traffic token, as with E2B.
    assert!(created["trafficAccessToken"].is_null(), "{created}");
    let closed = api
        .post(
            "/v2/sandboxes",
            json!({"templateID": "base", "network": {"allowPublicTraffic": false}}),
        )
        .await
        .expect_json(201);
    assert!(is_token(&closed["trafficAccessToken"]), "{closed}");
    assert_ne!(closed["envdAccessToken"], closed["trafficAccessToken"]);
    assert_eq!(created["domain"], json!(domain));

    let id = created["sandboxID"].as_str().unwrap();
    let detail = info(&api, id).await;
    assert_eq!(detail["sandboxID"], created["sandboxID"]);
    assert_eq!(detail["templateID"], "base");
    assert_eq!(detail["state"], "running");
    assert_eq!(detail["cpuCount"], 2);
    assert_eq!(detail["memoryMB"], 512);
    assert_eq!(detail["diskSizeMB"], 1024);
    assert_eq!(detail["envdVersion"], sandkit::wire::ENVD_VERSION);
    assert_eq!(detail["metadata"], json!({}));
    assert_eq!(detail["envdAccessToken"], created["envdAccessToken"]);
    assert_eq!(detail["domain"], json!(domain));
    assert_eq!(detail["allowInternetAccess"], true);
    assert_eq!(detail["network"], json!({}));
    assert_eq!(
        detail["lifecycle"],
        json!({"onTimeout": "kill", "autoResume": false})
    );
    let started = millis(&detail["startedAt"]);
    assert!(
        detail["startedAt"].as_str().unwrap().ends_with('Z')
            && detail["startedAt"].as_str().unwrap().len() == 24,
        "RFC 3339 with milliseconds: {}",
        detail["startedAt"]
    );
    assert!((before..=now_ms()).contains(&started));
    assert_eq!(millis(&detail["endAt"]) - started, 300_000, "default 300 s");

    // The older path, with the body of SDKs 2.5–2.50 and every optional field.
    let created = api
        .post(
            "/sandboxes",
            json!({
                "templateID": "code-interpreter-v1",
                "timeout": 60,
                "secure": true,
                "allow_internet_access": false,
                "metadata": {"k": "v"},
                "envVars": {"A": "1"},
                "autoPause": false,
                "autoResume": {"enabled": false},
                "network": {"allowOut": ["1.1.1.1"], "denyOut": ["0.0.0.0/0"], "allowPublicTraffic": false},
                "mcp": null,
                "volumeMounts": []
            }),
        )
        .await
        .expect_json(201);
    assert_eq!(created["templateID"], "code-interpreter-v1");
    let detail = info(&api, created["sandboxID"].as_str().unwrap()).await;
    assert_eq!(detail["metadata"], json!({"k": "v"}));
    assert_eq!(detail["allowInternetAccess"], false);
    assert_eq!(
        detail["network"],
        json!({"allowOut": ["1.1.1.1"], "denyOut": ["0.0.0.0/0"], "allowPublicTraffic": false})
    );
    assert_eq!(
        detail["lifecycle"],
        json!({"onTimeout": "kill", "autoResume": false})
    );
    assert_eq!(
        millis(&detail["endAt"]) - millis(&detail["startedAt"]),
        60_000
    );
    assert_ne!(created["sandboxID"], json!(id));
    server.shutdown().await;
}

/// What sandkitd cannot give is refused by name, never accepted and ignored.
#[tokio::test]
async fn creates_asking_for_what_sandkitd_lacks_are_refused() {
    let mut config = ServerConfig::default();
    config.sandboxes.enabled = false;
    let server = start_with(config).await;
    let api = Api::new(&server.url(), KEY_A);
    for (extra, named) in [
        (json!({"mcp": {"github": {}}}), "`mcp`"),
        (
            json!({"volumeMounts": [{"name": "v", "path": "/data"}]}),
            "`volumeMounts`",
        ),
        (
            json!({"autoResume": {"enabled": true}}),
            "autoResume.enabled",
        ),
    ] {
        let mut body = json!({"templateID": "base"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let reply = api.post("/v2/sandboxes", body.clone()).await;
        let error = reply.expect_json(400);
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    let listed = api.get("/v2/sandboxes").await.expect_json(200);
    assert_eq!(listed, json!([]), "no refused create left a sandbox");
    server.shutdown().await;
}

/// Routes of features still to come answer 501 naming them, not a 404 that the official SDKs
/// would report as a missing sandbox.
#[tokio::test]
async fn endpoints_not_served_yet_answer_501() {
    let mut config = ServerConfig::default();
    config.sandboxes.enabled = false;
    let server = start_with(config).await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api
        .post("/v2/sandboxes", json!({"templateID": "base"}))
        .await
        .expect_json(201)["sandboxID"]
        .as_str()
        .unwrap()
        .to_string();
    // Snapshots and forks need sandboxes with disks: a records-only server says so.
    let cannot = "this sandkitd cannot make snapshots or forks: no sandbox processes";
    for (method, path, says) in [
        (Method::POST, format!("/sandboxes/{id}/snapshots"), cannot),
        (Method::POST, format!("/sandboxes/{id}/fork"), cannot),
        (
            Method::GET,
            "/templates/t".to_string(),
            "templates is not implemented",
        ),
        (
            Method::DELETE,
            "/templates/base".to_string(),
            "deleting templates is not implemented",
        ),
    ] {
        let reply = api.call(method.clone(), &path, Some(json!({}))).await;
        let error = reply.expect_json(501);
        assert_eq!(error["code"], 501);
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(says), "{method} {path}: {message}");
        // The key is checked first.
        api.with_key(None)
            .call(method, &path, None)
            .await
            .expect_error(401);
    }
    // No snapshot has that name (the official `deleteSnapshot` reads the 404 as `false`), and
    // where none can be made none are listed.
    api.delete("/templates/t").await.expect_error(404);
    assert_eq!(api.get("/snapshots").await.expect_json(200), json!([]));
    server.shutdown().await;
}

#[tokio::test]
async fn the_configured_domain_is_reported() {
    let mut config = ServerConfig {
        domain: Some("sandkit.test".into()),
        ..Default::default()
    };
    config.sandboxes.enabled = false;
    let server = start_with(config).await;
    let api = Api::new(&server.url(), KEY_A);
    let created = api
        .post("/v2/sandboxes", json!({"templateID": "base"}))
        .await
        .expect_json(201);
    assert_eq!(created["domain"], "sandkit.test");
    let detail = info(&api, created["sandboxID"].as_str().unwrap()).await;
    assert_eq!(detail["domain"], "sandkit.test");
    server.shutdown().await;
}

#[tokio::test]
async fn kill_answers_204_then_404() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api.create(json!({"templateID": "base"})).await;
    let killed = api.delete(&format!("/sandboxes/{id}")).await;
    assert_eq!(killed.status, 204);
    assert!(killed.text.is_empty());
    // What the official SDK's `kill` needs to return false: a JSON body whose code is 404.
    let again = api.delete(&format!("/sandboxes/{id}")).await;
    assert!(again.expect_error(404).contains(&id));
    api.get(&format!("/sandboxes/{id}")).await.expect_error(404);
    api.post(&format!("/sandboxes/{id}/timeout"), json!({"timeout": 10}))
        .await
        .expect_error(404);
    api.post(&format!("/v2/sandboxes/{id}/connect"), json!({}))
        .await
        .expect_error(404);
    assert!(!api.list_all("").await.contains(&id));
    // Ids that never existed, or cannot exist.
    for path in [
        "/sandboxes/doesnotexist0000000",
        "/sandboxes/..%2F..%2Fv2%2Fsandboxes",
        "/sandboxes/%FF%FE",
        "/sandboxes/%20",
    ] {
        api.get(path).await.expect_error(404);
        api.delete(path).await.expect_error(404);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn set_timeout_resets_the_end() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api.create(json!({"templateID": "base"})).await;
    let path = format!("/sandboxes/{id}/timeout");
    let first = millis(&info(&api, &id).await["endAt"]);

    let reply = api.post(&path, json!({"timeout": 600})).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let later = millis(&info(&api, &id).await["endAt"]);
    assert!(
        (first + 299_000..=first + 310_000).contains(&later),
        "{first} → {later}"
    );
    let expected = now_ms() + 600_000;
    assert!((expected - 5_000..=expected).contains(&later));

    // A timeout may also shorten the life: it is "now + timeout", not "at least".
    assert_eq!(api.post(&path, json!({"timeout": 30})).await.status, 204);
    let shorter = millis(&info(&api, &id).await["endAt"]);
    assert!((now_ms() + 25_000..=now_ms() + 30_000).contains(&shorter));

    for bad in [
        json!({"timeout": -1}),
        json!({"timeout": 86_401}),
        json!({"timeout": "60"}),
        json!({"timeout": 1.5}),
        json!({}),
    ] {
        api.post(&path, bad).await.expect_error(400);
    }
    let empty = api.send(api.request(Method::POST, &path)).await;
    empty.expect_error(400);
    server.shutdown().await;
}

/// The keep-alive of older clients: at least `duration` (15 s at least and by default, an hour
/// at most), never shorter than before; 404 for a paused or missing sandbox.
#[tokio::test]
async fn refreshes_keep_a_sandbox_alive_and_never_shorten_it() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let created = api
        .post("/v2/sandboxes", json!({"templateID": "base", "timeout": 5}))
        .await
        .expect_json(201);
    let id = created["sandboxID"].as_str().unwrap().to_string();
    let path = format!("/sandboxes/{id}/refreshes");
    let end = || async { millis(&info(&api, &id).await["endAt"]) };

    // A duration under the shortest is 15 s (the sandbox had 5 left), and so is none.
    let in_15s = |end: i64| (now_ms() + 10_000..=now_ms() + 15_000).contains(&end);
    assert_eq!(api.post(&path, json!({"duration": 1})).await.status, 204);
    let first = end().await;
    assert!(in_15s(first), "{first}");
    assert_eq!(api.send(api.request(Method::POST, &path)).await.status, 204);
    let second = end().await;
    assert!(in_15s(second) && second >= first, "{first} → {second}");
    // Longer moves the end; shorter leaves it.
    assert_eq!(api.post(&path, json!({"duration": 600})).await.status, 204);
    let longer = end().await;
    assert!(
        (now_ms() + 595_000..=now_ms() + 600_000).contains(&longer),
        "{longer}"
    );
    assert_eq!(api.post(&path, json!({"duration": 60})).await.status, 204);
    assert_eq!(end().await, longer);

    for bad in [
        json!({"duration": -1}),
        json!({"duration": 3601}),
        json!({"duration": "60"}),
    ] {
        api.post(&path, bad).await.expect_error(400);
    }
    api.post("/sandboxes/nope/refreshes", json!({"duration": 60}))
        .await
        .expect_error(404);
    api.with_key(None)
        .call(Method::POST, &path, None)
        .await
        .expect_error(401);
    server.shutdown().await;
}

#[tokio::test]
async fn connect_extends_but_never_shortens() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let created = api
        .post(
            "/v2/sandboxes",
            json!({"templateID": "base", "timeout": 600}),
        )
        .await
        .expect_json(201);
    let id = created["sandboxID"].as_str().unwrap().to_string();
    let end = millis(&info(&api, &id).await["endAt"]);

    // A shorter connect leaves the end where it was, on both paths, with any body shape.
    let connected = api
        .post(
            &format!("/v2/sandboxes/{id}/connect"),
            json!({"timeout": 60}),
        )
        .await
        .expect_json(200);
    for field in [
        "sandboxID",
        "templateID",
        "envdAccessToken",
        "trafficAccessToken",
        "domain",
        "envdVersion",
    ] {
        assert_eq!(connected[field], created[field], "{field}");
    }
    let empty = api
        .send(api.request(Method::POST, &format!("/sandboxes/{id}/connect")))
        .await;
    empty.expect_json(200);
    api.post(&format!("/sandboxes/{id}/connect"), json!({}))
        .await
        .expect_json(200);
    api.post(
        &format!("/v2/sandboxes/{id}/connect"),
        json!({"memory": false}),
    )
    .await
    .expect_json(200);
    assert_eq!(millis(&info(&api, &id).await["endAt"]), end);

    // A longer one extends.
    api.post(
        &format!("/sandboxes/{id}/connect"),
        json!({"timeout": 1200}),
    )
    .await
    .expect_json(200);
    let extended = millis(&info(&api, &id).await["endAt"]);
    assert!((now_ms() + 1_195_000..=now_ms() + 1_200_000).contains(&extended));

    // Without a timeout, connect means "at least 300 s from now".
    let short = api
        .create(json!({"templateID": "base", "timeout": 10}))
        .await;
    api.post(&format!("/v2/sandboxes/{short}/connect"), json!({}))
        .await
        .expect_json(200);
    let end = millis(&info(&api, &short).await["endAt"]);
    assert!((now_ms() + 295_000..=now_ms() + 300_000).contains(&end));

    for bad in [
        json!({"timeout": -5}),
        json!({"timeout": 100_000}),
        json!([]),
    ] {
        api.post(&format!("/v2/sandboxes/{id}/connect"), bad)
            .await
            .expect_error(400);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_whose_time_is_up_is_gone() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api
        .create(json!({"templateID": "base", "timeout": 1, "metadata": {"t": "expiry"}}))
        .await;
    let keeper = api.create(json!({"templateID": "base"})).await;
    api.get(&format!("/sandboxes/{id}")).await.expect_json(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reply = api.get(&format!("/sandboxes/{id}")).await;
        if reply.status == 404 {
            reply.expect_error(404);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still alive");
    }
    assert!(api.list_all("metadata=t%3Dexpiry").await.is_empty());
    api.delete(&format!("/sandboxes/{id}"))
        .await
        .expect_error(404);
    api.post(&format!("/v2/sandboxes/{id}/connect"), json!({}))
        .await
        .expect_error(404);
    // Others live on.
    api.get(&format!("/sandboxes/{keeper}"))
        .await
        .expect_json(200);
    server.shutdown().await;
}

#[tokio::test]
async fn the_reaper_frees_ended_sandboxes_without_being_asked() {
    use sandkit_server::store::{SandboxSpec, Store, now_ns};
    use std::sync::Arc;
    let store = Arc::new(Store::new());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let live = Arc::new(sandkit_server::live::Live::new(Err("records only".into())));
    let reaper = tokio::spawn(sandkit_server::reaper::run(
        store.clone(),
        live,
        sandkit_server::reaper::Timing {
            interval: Duration::from_millis(10),
            max_paused_age: Duration::from_secs(60),
        },
        stop_rx,
    ));
    let spec = |secs| SandboxSpec {
        team: "t".into(),
        template_id: "base".into(),
        timeout_secs: secs,
        ..Default::default()
    };
    store.create(spec(0), now_ns());
    store.create(spec(300), now_ns());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.len() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the ended sandbox is still held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.len(), 1, "the live sandbox was reaped");
    stop.send(true).unwrap();
    reaper.await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_everything_and_closes_the_port() {
    let server = start_server().await;
    let url = server.url();
    let api = Api::new(&url, KEY_A);
    api.create(json!({"templateID": "base"})).await;
    server.shutdown().await;
    let refused = api
        .request(Method::GET, "/v2/sandboxes")
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(refused.is_err(), "still answering after shutdown");
}
