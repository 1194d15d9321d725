//! The public-URL proxy against real servers inside real sandboxes: Host and header routing,
//! traffic tokens, the Host a server sees, streaming both ways, WebSocket upgrades, the
//! proxy's own answers, and sandboxes that cannot reach each other's ports.

mod common;

use common::envd::{Envd, start_with_sandboxes};
use common::{Api, KEY_A};
use sandkit_server::RunningServer;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The program in tests/fixtures/web-server.mjs: the string after `WEB_SERVER = `.
fn web_server_program() -> &'static str {
    let source = include_str!("../../../tests/fixtures/web-server.mjs");
    let start = source.rfind("WEB_SERVER = `").expect("the program's start") + 14;
    let end = source.rfind('`').expect("a closing backquote");
    &source[start..end]
}

/// A sandbox made with `body`, its tokens, and a client that resolves its public names to
/// sandkitd (what `libnss-myhostname` does for every program).
struct Target {
    envd: Envd,
    traffic_token: Option<String>,
    server_port: u16,
}

impl Target {
    async fn create(server: &RunningServer, body: Value) -> Target {
        let api = Api::new(&server.url(), KEY_A);
        let created = api.post("/v2/sandboxes", body).await.expect_json(201);
        Target {
            envd: Envd {
                api,
                id: created["sandboxID"].as_str().unwrap().to_string(),
                token: created["envdAccessToken"].as_str().unwrap().to_string(),
            },
            traffic_token: created["trafficAccessToken"].as_str().map(str::to_string),
            server_port: server.local_addr().port(),
        }
    }

    fn host(&self, port: u16) -> String {
        format!("{port}-{}.localhost:{}", self.envd.id, self.server_port)
    }

    fn url(&self, port: u16, path: &str) -> String {
        format!("http://{}{path}", self.host(port))
    }

    fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.server_port));
        let mut b = reqwest::Client::builder().no_proxy();
        for port in [8000, 8001, 8002, 8003, 49983] {
            b = b.resolve(&format!("{port}-{}.localhost", self.envd.id), addr);
        }
        b.build().unwrap()
    }

    /// Starts the fixture server on `port` (listening on `host`) and waits until it answers.
    async fn serve(&self, port: u16, host: &str) {
        self.envd
            .upload("/tmp/web.cjs", web_server_program().as_bytes())
            .await;
        self.envd
            .ok(&format!(
                "setsid node /tmp/web.cjs {port} {host} >/tmp/web-{port}.log 2>&1 &"
            ))
            .await;
        let client = self.client();
        for _ in 0..100 {
            let res = self
                .with_token(client.get(self.url(port, "/echo")))
                .send()
                .await
                .unwrap();
            if res.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = self.envd.run(&format!("cat /tmp/web-{port}.log")).await.0;
        panic!("the server on port {port} never answered: {log}");
    }

    fn with_token(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.traffic_token {
            Some(t) => rb.header("e2b-traffic-access-token", t),
            None => rb,
        }
    }
}

#[tokio::test]
async fn a_protected_port_wants_its_token_and_the_server_sees_a_proxied_request() {
    let server = start_with_sandboxes().await;
    let t = Target::create(
        &server,
        json!({"templateID": "base", "network": {"allowPublicTraffic": false}}),
    )
    .await;
    let token = t
        .traffic_token
        .clone()
        .expect("a token when public traffic is off");
    t.serve(8000, "0.0.0.0").await;
    let client = t.client();

    let res = client.get(t.url(8000, "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 403);
    assert_eq!(body["sandboxId"], t.envd.id.as_str());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("e2b-traffic-access-token")
    );

    let wrong = client
        .get(t.url(8000, "/echo"))
        .header("e2b-traffic-access-token", format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    let res = client
        .post(t.url(8000, "/echo?x=1"))
        .header("e2b-traffic-access-token", &token)
        .header("x-app", "kept")
        .body("hello body")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["url"], "/echo?x=1");
    assert_eq!(seen["body"], "hello body");
    assert_eq!(seen["host"], t.host(8000).as_str());
    let h = &seen["headers"];
    assert_eq!(h["x-app"], "kept");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], t.host(8000).as_str());
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(
        h.get("e2b-traffic-access-token").is_none(),
        "the token stays with sandkitd"
    );

    // Header routing (E2B_SANDBOX_URL) reaches the same server.
    let res = client
        .get(format!("{}/echo", server.url()))
        .header("E2b-Sandbox-Id", &t.envd.id)
        .header("E2b-Sandbox-Port", "8000")
        .header("e2b-traffic-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.json::<Value>().await.unwrap()["headers"]
            .get("e2b-sandbox-id")
            .is_none()
    );

    // A page on another origin: the preflight is answered, the answer is readable.
    let pre = client
        .request(reqwest::Method::OPTIONS, t.url(8000, "/echo"))
        .header("Origin", "http://page.example")
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "e2b-traffic-access-token, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "http://page.example"
    );
    assert_eq!(pre.headers()["access-control-allow-methods"], "PUT");
    assert!(
        pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("e2b-traffic-access-token")
    );
    // A server that sets no CORS headers of its own (the fixture sets `*`): the answer to a
    // request that carried the token is made readable to the page's origin.
    t.envd
        .ok("cd /tmp && (setsid python3 -m http.server 8003 >/dev/null 2>&1 &)")
        .await;
    let mut res = None;
    for _ in 0..100 {
        let r = client
            .get(t.url(8003, "/"))
            .header("Origin", "http://page.example")
            .header("e2b-traffic-access-token", &token)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            res = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = res.expect("python's http.server answers");
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://page.example"
    );

    // The daemon's port still wants the daemon's token, whatever the route.
    let res = client
        .post(t.url(49983, "/process.Process/List"))
        .header("Content-Type", "application/json")
        .header("e2b-traffic-access-token", &token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn open_ports_need_no_token_and_a_masked_host_is_what_the_server_sees() {
    let server = start_with_sandboxes().await;
    let t = Target::create(
        &server,
        json!({"templateID": "base", "network": {"maskRequestHost": "localhost:${PORT}"}}),
    )
    .await;
    assert!(
        t.traffic_token.is_none(),
        "no token when public traffic is allowed"
    );
    // Servers on the IPv4 loopback only and on the IPv6 one only are both reached.
    t.serve(8001, "127.0.0.1").await;
    t.serve(8002, "::1").await;
    let client = t.client();
    for port in [8001, 8002] {
        let seen: Value = client
            .get(t.url(port, "/echo"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen["host"], format!("localhost:{port}"));
        assert_eq!(seen["headers"]["x-forwarded-host"], t.host(port).as_str());
    }
    // Nothing on 8003: the proxy says so, in JSON a page can read.
    let res = client
        .get(t.url(8003, "/"))
        .header("Origin", "http://page.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://page.example"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["port"], 8003);
    assert!(
        body["message"].as_str().unwrap().contains("not open"),
        "{body}"
    );
}

#[tokio::test]
async fn bodies_stream_both_ways_and_websockets_are_tunnelled() {
    let server = start_with_sandboxes().await;
    let t = Target::create(&server, json!({"templateID": "base"})).await;
    t.serve(8000, "0.0.0.0").await;
    let client = t.client();

    // The first line arrives while the server still holds the last.
    let mut res = client.get(t.url(8000, "/stream")).send().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), res.chunk())
        .await
        .expect("the first chunk before the last is made")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    let released = client.get(t.url(8000, "/release")).send().await.unwrap();
    assert_eq!(released.text().await.unwrap(), "1");
    let mut rest = Vec::new();
    while let Some(c) = res.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert_eq!(rest, b"last\n");

    // 64 MiB up, streamed from a generator, counted by the server.
    let chunks = futures_util::stream::iter(
        (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 1 << 20]))),
    );
    let counted = client
        .post(t.url(8000, "/count"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counted, (64u64 << 20).to_string());

    // 256 MiB down, read as it comes.
    let mut res = client
        .get(t.url(8000, "/bytes?mb=256"))
        .send()
        .await
        .unwrap();
    let mut total = 0u64;
    while let Some(c) = res.chunk().await.unwrap() {
        total += c.len() as u64;
    }
    assert_eq!(total, 256 << 20);

    // A WebSocket echo over the proxy, by hand.
    let mut ws = tokio::net::TcpStream::connect(("127.0.0.1", t.server_port))
        .await
        .unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        t.host(8000)
    );
    ws.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        ws.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    let mask = [1u8, 2, 3, 4];
    let text = b"hello through the proxy";
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    ws.write_all(&frame).await.unwrap();
    let mut answer = vec![0u8; 2 + text.len()];
    tokio::time::timeout(Duration::from_secs(10), ws.read_exact(&mut answer))
        .await
        .expect("an echo")
        .unwrap();
    assert_eq!(answer[0], 0x81);
    assert_eq!(&answer[2..], text);
}

#[tokio::test]
async fn sandboxes_do_not_reach_each_others_ports_and_ended_ones_answer_502() {
    let server = start_with_sandboxes().await;
    let a = Target::create(&server, json!({"templateID": "base"})).await;
    let b = Target::create(&server, json!({"templateID": "base"})).await;
    a.serve(8000, "0.0.0.0").await;
    // B has no server of its own on 8000, so nothing answers there even though A's listens
    // on every address of its namespace.
    let res = b.client().get(b.url(8000, "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 502);

    // A hundred requests at once on one port.
    let client = a.client();
    let all = futures_util::future::join_all((0..100).map(|i| {
        let rb = client.get(a.url(8000, &format!("/echo?i={i}")));
        async move { rb.send().await.unwrap().json::<Value>().await.unwrap() }
    }))
    .await;
    for (i, seen) in all.iter().enumerate() {
        assert_eq!(seen["url"], format!("/echo?i={i}"));
    }

    assert_eq!(
        a.envd
            .api
            .delete(&format!("/sandboxes/{}", a.envd.id))
            .await
            .status,
        204
    );
    let res = client.get(a.url(8000, "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    let res = client
        .get(format!("{}/", server.url()))
        .header("E2b-Sandbox-Id", "no-such-sandbox")
        .header("E2b-Sandbox-Port", "8000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// A server that answers the first request on each connection, keeps the connection open,
/// and drops it without an answer when a second request comes on it: what a kept-alive
/// connection looks like when the server closes it as idle just as the proxy reuses it.
const ONE_PER_CONNECTION: &str = r#"
const port = Number(process.argv[2])
require('net').createServer((socket) => {
  let seen = ''
  let answered = false
  socket.on('data', (chunk) => {
    if (answered) return socket.destroy()
    seen += chunk
    if (!seen.includes('\r\n\r\n')) return
    answered = true
    const body = `first on its connection: ${seen.split(' ')[0]}`
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
  })
}).listen(port)
"#;

#[tokio::test]
async fn a_kept_connection_closed_as_it_is_reused_costs_a_get_nothing_and_a_post_its_answer() {
    let server = start_with_sandboxes().await;
    let t = Target::create(&server, json!({"templateID": "base"})).await;
    t.envd
        .upload("/tmp/one.cjs", ONE_PER_CONNECTION.as_bytes())
        .await;
    t.envd
        .ok("setsid node /tmp/one.cjs 8002 >/tmp/one.log 2>&1 &")
        .await;
    let client = t.client();
    let get = || async {
        let res = client.get(t.url(8002, "/")).send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    };
    let mut up = false;
    for _ in 0..100 {
        if get().await.0 == 200 {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server never answered");
    // Each of these goes on the connection the one before left, which the server drops.
    for n in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, body) = get().await;
        assert_eq!(status, 200, "GET {n}: {body}");
        assert_eq!(body, "first on its connection: GET");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = client
        .post(t.url(8002, "/"))
        .body("once")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502, "a POST is never sent twice");
    let answer: Value = res.json().await.unwrap();
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("failed to answer"), "{message}");
}
