//! HTTP behaviour shared by every route: API keys and teams, JSON errors for everything that
//! goes wrong, body limits, and CORS.

mod common;

use common::{Api, KEY_A, KEY_B, start_server};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn no_key_or_an_unknown_key_gets_401() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let id = api.create(json!({"templateID": "base"})).await;
    let wrong = "sk_wrong_key_1234";
    for client in [
        api.with_key(None),
        api.with_key(Some(wrong)),
        api.with_key(Some("")),
    ] {
        for (method, path, body) in [
            (
                Method::POST,
                "/v2/sandboxes".to_string(),
                Some(json!({"templateID": "base"})),
            ),
            (
                Method::POST,
                "/sandboxes".to_string(),
                Some(json!({"templateID": "base"})),
            ),
            (Method::GET, "/v2/sandboxes".to_string(), None),
            (Method::GET, "/sandboxes".to_string(), None),
            (Method::GET, format!("/sandboxes/{id}"), None),
            (Method::DELETE, format!("/sandboxes/{id}"), None),
            (
                Method::POST,
                format!("/sandboxes/{id}/timeout"),
                Some(json!({"timeout": 5})),
            ),
            (
                Method::POST,
                format!("/v2/sandboxes/{id}/connect"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/sandboxes/{id}/connect"),
                Some(json!({})),
            ),
        ] {
            let reply = client.call(method.clone(), &path, body).await;
            let msg = reply.expect_error(401);
            assert!(!msg.contains(wrong) && !reply.text.contains(wrong), "{msg}");
        }
    }
    // A malformed body does not get past the missing key either.
    let reply = api
        .with_key(None)
        .send(
            api.with_key(None)
                .request(Method::POST, "/v2/sandboxes")
                .body("{"),
        )
        .await;
    reply.expect_error(401);
    // The key header matches case-insensitively.
    let reply = api
        .send(
            api.with_key(None)
                .request(Method::GET, &format!("/sandboxes/{id}"))
                .header("x-api-key", KEY_A),
        )
        .await;
    reply.expect_json(200);
    // The sandbox survived all of that.
    api.get(&format!("/sandboxes/{id}")).await.expect_json(200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_team_sees_only_its_own_sandboxes() {
    let server = start_server().await;
    let a = Api::new(&server.url(), KEY_A);
    let b = a.with_key(Some(KEY_B));
    let mine = a
        .create(json!({"templateID": "base", "metadata": {"x": "1"}}))
        .await;
    let theirs = b
        .create(json!({"templateID": "base", "metadata": {"x": "1"}}))
        .await;

    b.get(&format!("/sandboxes/{mine}")).await.expect_error(404);
    b.delete(&format!("/sandboxes/{mine}"))
        .await
        .expect_error(404);
    b.post(&format!("/sandboxes/{mine}/timeout"), json!({"timeout": 1}))
        .await
        .expect_error(404);
    b.post(&format!("/v2/sandboxes/{mine}/connect"), json!({}))
        .await
        .expect_error(404);
    assert_eq!(b.list_all("").await, vec![theirs.clone()]);
    assert_eq!(b.list_all("metadata=x%3D1").await, vec![theirs.clone()]);
    assert_eq!(a.list_all("").await, vec![mine.clone()]);
    let reply = b.get("/v2/sandboxes?state=running").await;
    assert_eq!(reply.header("x-total-running"), Some("1"));

    // Nothing b did touched a's sandbox.
    let info = a.get(&format!("/sandboxes/{mine}")).await.expect_json(200);
    let life = common::millis(&info["endAt"]) - common::millis(&info["startedAt"]);
    assert_eq!(life, 300_000);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_get_json_400s_naming_the_problem() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let raw = |body: &'static str| {
        let api = api.clone();
        async move {
            api.send(
                api.request(Method::POST, "/v2/sandboxes")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await
        }
    };
    assert!(raw("{").await.expect_error(400).contains("malformed JSON"));
    assert!(raw("").await.expect_error(400).contains("empty"));
    raw("[]").await.expect_error(400);
    raw("null").await.expect_error(400);
    raw(r#"{"templateID":"base"} trailing"#)
        .await
        .expect_error(400);
    assert!(raw("{}").await.expect_error(400).contains("templateID"));
    for (body, field) in [
        (r#"{"templateID":"base","metadata":{"k":1}}"#, "metadata.k"),
        (r#"{"templateID":"base","metadata":[]}"#, "metadata"),
        (r#"{"templateID":5}"#, "templateID"),
        (r#"{"templateID":"base","timeout":"300"}"#, "timeout"),
        (r#"{"templateID":"base","envVars":{"A":true}}"#, "envVars.A"),
        (r#"{"templateID":"base","autoPause":"yes"}"#, "autoPause"),
        (
            r#"{"templateID":"base","allow_internet_access":1}"#,
            "allow_internet_access",
        ),
        (
            r#"{"templateID":"base","network":{"allowOut":"x"}}"#,
            "network.allowOut",
        ),
    ] {
        let msg = raw(body).await.expect_error(400);
        assert!(msg.contains(&format!("`{field}`")), "{body}: {msg}");
    }
    for body in [
        json!({"templateID": "base", "timeout": -1}),
        json!({"templateID": "base", "timeout": 86_401}),
        json!({"templateID": "   "}),
        json!({"templateID": "base", "network": {"httpsPorts": [49983]}}),
        json!({"templateID": "base", "autoResume": {"enabled": true}}),
    ] {
        api.post("/v2/sandboxes", body).await.expect_error(400);
    }
    // A template the server does not have: 404, worded as E2B's API words it, on both paths.
    for path in ["/v2/sandboxes", "/sandboxes"] {
        let msg = api
            .post(path, json!({"templateID": "python-latest"}))
            .await
            .expect_error(404);
        assert_eq!(msg, "template 'python-latest' not found", "{path}");
    }
    // The edges of the timeout range are fine, and so is a body without a content type.
    api.post(
        "/v2/sandboxes",
        json!({"templateID": "base", "timeout": 86_400}),
    )
    .await
    .expect_json(201);
    let untyped = api
        .send(
            api.request(Method::POST, "/sandboxes")
                .body(r#"{"templateID":"base"}"#),
        )
        .await;
    untyped.expect_json(201);
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let big = format!(
        r#"{{"templateID":"base","metadata":{{"k":"{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    let reply = api
        .send(api.request(Method::POST, "/v2/sandboxes").body(big.clone()))
        .await;
    reply.expect_error(413);
    // Just under the cap is accepted.
    let fits = format!(
        r#"{{"templateID":"base","metadata":{{"k":"{}"}}}}"#,
        "x".repeat((1 << 20) - 100)
    );
    api.send(api.request(Method::POST, "/v2/sandboxes").body(fits))
        .await
        .expect_json(201);

    // A chunked body (Node's default) has no length up front; the cap holds while reading.
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let head = format!(
        "POST /v2/sandboxes HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY_A}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.as_bytes().chunks(64 * 1024) {
        tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        tcp.write_all(chunk).await.unwrap();
        tcp.write_all(b"\r\n").await.unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains(r#""code":413"#), "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    for path in [
        "/",
        "/nope",
        "/v3/sandboxes",
        "/sandboxes/",
        "/sandboxes//timeout",
        "/v2/sandboxes/x/y/z",
    ] {
        let reply = api.get(path).await;
        reply.expect_error(404);
        assert!(reply.header("access-control-allow-origin").is_some());
    }
    // Unknown routes are 404 with or without a key.
    api.with_key(None).get("/nope").await.expect_error(404);
    for (method, path) in [
        (Method::PUT, "/v2/sandboxes"),
        (Method::DELETE, "/v2/sandboxes"),
        (Method::PATCH, "/sandboxes/abc"),
        (Method::GET, "/sandboxes/abc/timeout"),
        (Method::GET, "/v2/sandboxes/abc/connect"),
    ] {
        let reply = api.call(method, path, None).await;
        reply.expect_error(405);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let origin = "http://app.example.test";
    // The preflight of a browser SDK's list call: no API key on it.
    let requested = "x-api-key,content-type,browser,lang,lang_version,package_version,publisher,sdk_runtime,system";
    let reply = api
        .send(
            api.with_key(None)
                .request(Method::OPTIONS, "/v2/sandboxes")
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", requested),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some(requested)
    );
    let methods = reply.header("access-control-allow-methods").unwrap();
    for m in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    assert!(reply.header("access-control-max-age").is_some());

    // Without a list of wanted headers, the standing list covers the SDKs' and envd's.
    let reply = api
        .send(
            api.with_key(None)
                .request(Method::OPTIONS, "/sandboxes/abc/connect")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let allowed = reply.header("access-control-allow-headers").unwrap();
    for h in [
        "x-api-key",
        "content-type",
        "browser",
        "lang",
        "lang_version",
        "package_version",
        "publisher",
        "sdk_runtime",
        "system",
        "user-agent",
        "e2b-sandbox-id",
        "e2b-sandbox-port",
        "x-access-token",
        "authorization",
        "connect-protocol-version",
        "connect-timeout-ms",
        "keepalive-ping-interval",
    ] {
        assert!(allowed.split(", ").any(|a| a == h), "{h} not in {allowed}");
    }
    // Any path, even an unknown one, answers the preflight.
    let reply = api.send(api.request(Method::OPTIONS, "/whatever")).await;
    assert_eq!(reply.status, 204);

    // Actual responses, successful or not, carry the origin and expose the paging headers.
    let ok = api
        .send(
            api.request(Method::GET, "/v2/sandboxes")
                .header("origin", origin),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("access-control-allow-origin"), Some(origin));
    let exposed = ok
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-next-token") && exposed.contains("x-total-running"));
    let denied = api
        .send(
            api.with_key(None)
                .request(Method::GET, "/v2/sandboxes")
                .header("origin", origin),
        )
        .await;
    denied.expect_error(401);
    assert_eq!(denied.header("access-control-allow-origin"), Some(origin));
    server.shutdown().await;
}
