//! Network egress against real sandboxes and a test "internet" (tests/harness/outside.mjs: a
//! network namespace with HTTP, HTTPS, TCP and DNS servers on addresses of its own): what the
//! rules let through and what they stop, live updates, isolation from the host and from other
//! sandboxes, the connection limit, and nothing left behind.

mod common;

use common::envd::{Envd, isolated};
use common::{Api, KEY_A, start_with};
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The outside world, up while this lives.
struct World {
    desc: Value,
    _guardian: Child,
}

impl World {
    fn start() -> World {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/harness/outside.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs tests/harness/outside.mjs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let desc: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the outside world did not start: {line:?}"));
        World {
            desc,
            _guardian: child,
        }
    }
    fn web(&self) -> &str {
        self.desc["web"].as_str().unwrap()
    }
    fn second(&self) -> &str {
        self.desc["second"].as_str().unwrap()
    }
    fn dns(&self) -> &str {
        self.desc["dns"].as_str().unwrap()
    }
    fn host_address(&self) -> &str {
        self.desc["hostAddress"].as_str().unwrap()
    }
    fn ca_pem(&self) -> &str {
        self.desc["caPem"].as_str().unwrap()
    }
}

/// A server whose sandboxes run real processes, without rate limits.
fn with_processes() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    config.sandboxes.agent_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    config
}

/// A server with processes whose sandboxes' DNS goes to the world's server.
async fn start(world: &World, max_connections: u32) -> RunningServer {
    let mut config = with_processes();
    config.network.upstream_dns = Some(format!("{}:53", world.dns()).parse().unwrap());
    config.network.max_connections = max_connections;
    let server = start_with(config).await;
    assert!(isolated(&server), "{}", server.sandbox_mode());
    assert!(
        server.network_mode().starts_with("egress on"),
        "{}",
        server.network_mode()
    );
    server
}

/// A sandbox of the base template with the rest of the create body `body`.
async fn create(server: &RunningServer, mut body: Value) -> Envd {
    body["templateID"] = json!("base");
    Envd::create_with(&Api::new(&server.url(), KEY_A), body).await
}

/// What `curl` got: the body, or `ERR <exit code>`. Bounded: 5 s per attempt.
async fn curl(sbx: &Envd, args: &str) -> String {
    let (out, end) = sbx
        .run(&format!(
            "curl -sS --max-time 5 --cacert /tmp/ca.pem {args} 2>&1"
        ))
        .await;
    match end["exitCode"].as_i64() {
        None | Some(0) => out,
        Some(code) => format!("ERR {code}: {out}"),
    }
}

/// Whether a TCP connection to `ip:port` gets the world's banner.
async fn tcp_banner(sbx: &Envd, ip: &str, port: u16) -> bool {
    let (out, _) = sbx
        .run(&format!(
            "python3 -c \"import socket; s = socket.create_connection(('{ip}', {port}), 5); s.settimeout(5); print(s.recv(200).decode())\" 2>&1"
        ))
        .await;
    out.contains("sandkit-world tcp")
}

async fn put_network(sbx: &Envd, body: Value) -> u16 {
    sbx.api
        .call(
            reqwest::Method::PUT,
            &format!("/sandboxes/{}/network", sbx.id),
            Some(body),
        )
        .await
        .status
}

async fn address_of(sbx: &Envd) -> String {
    sbx.ok("ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1")
        .await
        .trim()
        .to_string()
}

#[tokio::test]
async fn by_default_a_sandbox_reaches_the_world_by_name_and_address_over_ipv4_only() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let sbx = create(&server, json!({})).await;
    sbx.upload("/tmp/ca.pem", world.ca_pem().as_bytes()).await;
    let http = curl(&sbx, "http://api.example.test/").await;
    assert!(http.contains("\"host\":\"api.example.test\""), "{http}");
    let https = curl(&sbx, "https://www.github.test/").await;
    assert!(https.contains("www.github.test"), "{https}");
    assert!(tcp_banner(&sbx, world.web(), 7000).await);
    // No IPv6 address but loopback's, no IPv6 route out.
    let v6 = sbx.ok("cat /proc/net/if_inet6").await;
    assert!(v6.lines().all(|l| l.ends_with(" lo")), "{v6}");
    let (out, end) = sbx
        .run("python3 -c \"import socket; socket.create_connection(('2001:db8::1', 80), 3)\" 2>&1")
        .await;
    assert!(end["exitCode"].as_i64().is_some(), "IPv6 got out: {out}");
    server.shutdown().await;
}

#[tokio::test]
async fn without_internet_access_nothing_outside_is_reached_but_loopback_works() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let sbx = create(&server, json!({"allow_internet_access": false})).await;
    sbx.upload("/tmp/ca.pem", world.ca_pem().as_bytes()).await;
    let by_ip = curl(&sbx, &format!("http://{}/", world.web())).await;
    assert!(by_ip.starts_with("ERR"), "{by_ip}");
    assert!(!tcp_banner(&sbx, world.web(), 7000).await);
    // DNS is refused at once, not left to time out.
    let (out, end) = sbx.run("getent hosts api.example.test").await;
    assert!(end["exitCode"].as_i64().is_some(), "resolved: {out}");
    sbx.ok("(python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &) && sleep 1")
        .await;
    let local = curl(&sbx, "-o /dev/null -w %{http_code} http://127.0.0.1:8000/").await;
    assert_eq!(local, "200");
    server.shutdown().await;
}

/// The host-side interfaces of sandboxes of the server whose table is `table`.
fn links_of(server: &RunningServer) -> Vec<String> {
    let mode = server.network_mode();
    let index = mode
        .split("table inet sandkitd")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap()
        .to_string();
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("sk{index}x")))
        .collect()
}

/// The host-side interface `address` is routed through.
fn link_of(address: &str) -> String {
    let out = Command::new("ip")
        .args(["-o", "route", "show", &format!("{address}/32")])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&out.stdout).into_owned();
    route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .unwrap_or_else(|| panic!("no route to {address}: {route:?}"))
        .to_string()
}

#[tokio::test]
async fn a_sandbox_whose_interface_the_warm_pool_made_ahead_gets_its_rules() {
    let world = World::start();
    let server = start(&world, 2500).await;
    // The pool (two by default) has made its sandboxes' interfaces before any create.
    assert!(
        common::envd::eventually(std::time::Duration::from_secs(20), || {
            links_of(&server).len() == 2
        })
        .await,
        "the warm pool made no interfaces: {:?}",
        links_of(&server)
    );
    let ahead = links_of(&server);
    let closed = create(&server, json!({"allow_internet_access": false})).await;
    let open = create(&server, json!({})).await;
    for sbx in [&closed, &open] {
        let own = link_of(&address_of(sbx).await);
        assert!(ahead.contains(&own), "{own} was not made ahead: {ahead:?}");
    }
    assert!(!tcp_banner(&closed, world.web(), 7000).await);
    assert!(tcp_banner(&open, world.web(), 7000).await);
    server.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_set_up_at_its_create_gets_its_interface_and_rules_and_leaves_neither() {
    // No warm pool: each sandbox is set up at its create, its interface made meanwhile.
    let world = World::start();
    let mut config = with_processes();
    config.network.upstream_dns = Some(format!("{}:53", world.dns()).parse().unwrap());
    config.sandboxes.warm_pool = 0;
    let server = start_with(config).await;
    assert!(server.network_mode().starts_with("egress on"));
    assert_eq!(links_of(&server), Vec::<String>::new());
    let closed = create(&server, json!({"allow_internet_access": false})).await;
    let open = create(&server, json!({})).await;
    assert!(!tcp_banner(&closed, world.web(), 7000).await);
    assert!(tcp_banner(&open, world.web(), 7000).await);
    // A sandbox made from a snapshot of the closed one is set up at its create too, and the
    // rules are its own (open), not its source's.
    let api = Api::new(&server.url(), KEY_A);
    let snapshot = api
        .post(&format!("/sandboxes/{}/snapshots", closed.id), json!({}))
        .await
        .expect_json(201);
    let copy = Envd::create_with(
        &api,
        json!({"templateID": snapshot["snapshotID"], "allow_internet_access": true}),
    )
    .await;
    assert!(tcp_banner(&copy, world.web(), 7000).await);
    assert_eq!(links_of(&server).len(), 3, "{:?}", links_of(&server));
    for sbx in [&closed, &open, &copy] {
        assert_eq!(
            api.delete(&format!("/sandboxes/{}", sbx.id)).await.status,
            204
        );
    }
    assert!(
        common::envd::eventually(std::time::Duration::from_secs(5), || {
            links_of(&server).is_empty()
        })
        .await,
        "interfaces stayed: {:?}",
        links_of(&server)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deny_all_with_an_allowed_address_reaches_that_address_only() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let sbx = create(
        &server,
        json!({"network": {"denyOut": ["0.0.0.0/0"], "allowOut": [format!("{}/32", world.second())]}}),
    )
    .await;
    assert!(tcp_banner(&sbx, world.second(), 7000).await);
    assert!(!tcp_banner(&sbx, world.web(), 7000).await);
    let web = curl(&sbx, &format!("http://{}/", world.web())).await;
    assert!(web.starts_with("ERR"), "{web}");
    server.shutdown().await;
}

#[tokio::test]
async fn domain_rules_pass_the_allowed_names_over_http_and_https_and_nothing_else() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let sbx = create(
        &server,
        json!({"network": {"denyOut": ["0.0.0.0/0"], "allowOut": ["api.example.test", "*.github.test"]}}),
    )
    .await;
    sbx.upload("/tmp/ca.pem", world.ca_pem().as_bytes()).await;
    for url in [
        "http://api.example.test/",
        "https://api.example.test/",
        "http://www.github.test/",
        "https://api.github.test/",
    ] {
        let got = curl(&sbx, url).await;
        let name = url.split('/').nth(2).unwrap();
        assert!(
            got.contains(&format!("\"host\":\"{name}\"")),
            "{url}: {got}"
        );
    }
    // The same address under another name, by raw address, or on another port: refused.
    for url in [
        "http://other.test/".to_string(),
        "https://other.test/".to_string(),
        "https://github.test/".to_string(),
        format!("http://{}/", world.web()),
    ] {
        let got = curl(&sbx, &url).await;
        assert!(got.starts_with("ERR"), "{url}: {got}");
    }
    // A process that ignores proxies and connects by address to another port gets nothing.
    assert!(!tcp_banner(&sbx, world.web(), 7000).await);
    server.shutdown().await;
}

#[tokio::test]
async fn updates_change_what_is_reached_at_once() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let sbx = create(&server, json!({"network": {"allowPublicTraffic": true}})).await;
    let reach = |ip: String| {
        let sbx = sbx.clone();
        async move { tcp_banner(&sbx, &ip, 7000).await }
    };
    assert!(reach(world.web().into()).await);
    assert_eq!(
        put_network(&sbx, json!({"denyOut": ["0.0.0.0/0"]})).await,
        204
    );
    assert!(!reach(world.web().into()).await);
    assert_eq!(
        put_network(
            &sbx,
            json!({"denyOut": ["0.0.0.0/0"], "allowOut": [world.web()]})
        )
        .await,
        204
    );
    assert!(reach(world.web().into()).await);
    assert!(!reach(world.second().into()).await);
    let info = sbx
        .api
        .get(&format!("/sandboxes/{}", sbx.id))
        .await
        .expect_json(200);
    assert_eq!(
        info["network"],
        json!({"allowOut": [world.web()], "denyOut": ["0.0.0.0/0"], "allowPublicTraffic": true})
    );
    assert_eq!(
        put_network(&sbx, json!({"allow_internet_access": false})).await,
        204
    );
    assert!(!reach(world.web().into()).await);
    // Everything cleared: open again.
    assert_eq!(put_network(&sbx, json!({})).await, 204);
    assert!(reach(world.second().into()).await);
    // Bad rules change nothing; unenforceable parts are refused; unknown sandboxes are 404.
    assert_eq!(
        put_network(&sbx, json!({"allowOut": ["1.2.3.4/40"]})).await,
        400
    );
    assert_eq!(
        put_network(&sbx, json!({"denyOut": ["example.test"]})).await,
        400
    );
    assert_eq!(
        put_network(&sbx, json!({"allowOut": ["2001:db8::/32"]})).await,
        400
    );
    assert_eq!(
        put_network(&sbx, json!({"egressProxy": {"address": "198.18.0.9:1080"}})).await,
        501
    );
    assert_eq!(
        put_network(
            &sbx,
            json!({"rules": {"api.example.test": [{"transform": {"headers": {"a": "b"}}}]}})
        )
        .await,
        501
    );
    assert!(reach(world.second().into()).await);
    let missing = Envd {
        id: "nosuchsandbox".into(),
        ..sbx.clone()
    };
    assert_eq!(put_network(&missing, json!({})).await, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_reaches_neither_another_sandbox_nor_the_host() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let a = create(&server, json!({})).await;
    let b = create(&server, json!({})).await;
    b.ok("(python3 -m http.server 8080 --bind 0.0.0.0 >/dev/null 2>&1 &) && sleep 1")
        .await;
    let b_address = address_of(&b).await;
    assert_eq!(
        curl(&b, "-o /dev/null -w %{http_code} http://127.0.0.1:8080/").await,
        "200"
    );
    let got = curl(&a, &format!("http://{b_address}:8080/")).await;
    assert!(got.starts_with("ERR"), "A reached B: {got}");
    // A server on every address of the host, reached at the host's address on the world's
    // link; and sandkitd's own API port there.
    let host = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let host_port = host.local_addr().unwrap().port();
    let api_port = server.local_addr().port();
    for port in [host_port, api_port] {
        let got = curl(&a, &format!("http://{}:{port}/", world.host_address())).await;
        assert!(
            got.starts_with("ERR"),
            "reached the host at port {port}: {got}"
        );
    }
    // The same server is there for a client on the host: only the rules stop the sandbox.
    let from_host = std::net::TcpStream::connect((world.host_address(), host_port));
    assert!(from_host.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn beyond_the_connection_limit_new_connections_are_refused_and_open_ones_go_on() {
    let world = World::start();
    let server = start(&world, 3).await;
    let sbx = create(&server, json!({})).await;
    let web = world.web();
    let script = format!(
        r#"
import socket
def banner(s):
    s.settimeout(5)
    return s.recv(200).decode().startswith("sandkit-world tcp")
held = [socket.create_connection(("{web}", 7000), 5) for _ in range(3)]
print("held", all(banner(s) for s in held))
try:
    socket.create_connection(("{web}", 7000), 5)
    print("fourth connected")
except OSError as e:
    print("fourth refused")
held[0].sendall(b"still here\n")
print("echo", held[0].recv(200).decode().strip())
held.pop().close()
import time; time.sleep(0.5)
print("after a close", banner(socket.create_connection(("{web}", 7000), 5)))
"#
    );
    sbx.upload("/tmp/limit.py", script.as_bytes()).await;
    // DNS lookups (UDP, each its own flow) are not connections: they take none of the three.
    sbx.ok("for i in 1 2 3 4 5; do getent hosts api.example.test >/dev/null; done")
        .await;
    let out = sbx.ok("python3 /tmp/limit.py").await;
    assert_eq!(
        out,
        "held True\nfourth refused\necho still here\nafter a close True\n"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_killed_sandbox_and_a_stopped_server_leave_nothing_behind() {
    let world = World::start();
    let server = start(&world, 2500).await;
    let mode = server.network_mode();
    let table = mode
        .split("table inet ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap()
        .to_string();
    let index = table.trim_start_matches("sandkitd");
    // A sandbox adds no address to the host (browsers take that for a network change):
    // none on its interface, whatever other tests do to the host meanwhile.
    let host_addresses = || {
        let out = Command::new("ip").args(["-o", "addr"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&format!(" sk{index}x")))
            .count()
    };
    let sbx = create(
        &server,
        json!({"network": {"denyOut": ["0.0.0.0/0"], "allowOut": ["api.example.test"]}}),
    )
    .await;
    let address = address_of(&sbx).await;
    let links = || {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&format!("sk{index}x")))
            .count()
    };
    let ruleset = || {
        let out = Command::new("nft")
            .args(["list", "table", "inet", &table])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Its own interface: the one its address is routed through (the warm pool's sandboxes
    // have theirs too).
    let own = link_of(&address);
    assert!(own.starts_with(&format!("sk{index}x")), "{own}");
    let exists = |name: &str| std::path::Path::new("/sys/class/net").join(name).exists();
    assert!(exists(&own));
    assert_eq!(host_addresses(), 0);
    assert!(ruleset().contains(&address));
    sbx.api.delete(&format!("/sandboxes/{}", sbx.id)).await;
    assert!(
        common::envd::eventually(std::time::Duration::from_secs(5), || !exists(&own)).await,
        "its interface stayed"
    );
    assert!(!ruleset().contains(&address), "its rules stayed");
    server.shutdown().await;
    assert_eq!(ruleset(), "", "the table stayed");
    // Nor do the warm pool's sandboxes leave theirs.
    assert!(
        common::envd::eventually(std::time::Duration::from_secs(5), || links() == 0).await,
        "the warm pool's interfaces stayed"
    );
}

#[tokio::test]
async fn without_a_network_allow_rules_are_refused_and_a_sandbox_has_loopback_only() {
    let mut config = with_processes();
    config.network.enabled = false;
    let server = start_with(config).await;
    let mode = server.network_mode();
    assert!(mode.starts_with("egress off: turned off"), "{mode}");
    let api = Api::new(&server.url(), KEY_A);
    let refused = api
        .post(
            "/v2/sandboxes",
            json!({"templateID": "base", "network": {"denyOut": ["0.0.0.0/0"], "allowOut": ["1.1.1.1"]}}),
        )
        .await
        .expect_error(400);
    assert!(refused.contains("allowOut cannot be granted"), "{refused}");
    // Deny rules hold by themselves.
    let sbx = create(&server, json!({"network": {"denyOut": ["10.0.0.0/8"]}})).await;
    assert_eq!(sbx.ok("ls /sys/class/net").await, "lo\n");
    let update = sbx
        .api
        .call(
            reqwest::Method::PUT,
            &format!("/sandboxes/{}/network", sbx.id),
            Some(json!({"allowOut": ["api.example.test"]})),
        )
        .await;
    assert_eq!(update.status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn rules_changed_while_paused_hold_after_the_resume_with_or_without_memory() {
    let world = World::start();
    let server = start(&world, 2500).await;
    for memory in [true, false] {
        let sbx = create(&server, json!({})).await;
        assert!(tcp_banner(&sbx, world.web(), 7000).await);
        let paused = sbx
            .api
            .post(
                &format!("/sandboxes/{}/pause", sbx.id),
                json!({ "memory": memory }),
            )
            .await;
        assert_eq!(paused.status, 204);
        assert_eq!(
            put_network(
                &sbx,
                json!({"denyOut": ["0.0.0.0/0"], "allowOut": [world.second()]})
            )
            .await,
            204
        );
        let resumed = sbx
            .api
            .post(&format!("/v2/sandboxes/{}/connect", sbx.id), json!({}))
            .await;
        assert_eq!(resumed.status, 201, "memory {memory}");
        assert!(
            !tcp_banner(&sbx, world.web(), 7000).await,
            "memory {memory}"
        );
        assert!(
            tcp_banner(&sbx, world.second(), 7000).await,
            "memory {memory}"
        );
    }
    server.shutdown().await;
}
