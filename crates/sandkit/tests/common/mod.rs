//! Shared test plumbing: an in-process sandkitd and a fault-injecting proxy.
#![allow(dead_code)]

pub mod fault_proxy;

use sandkit::{ConnectionOpts, ListOpts, Sandbox, SandboxInfo};
use sandkit_server::{RunningServer, ServerConfig};

pub const TEAM_A_KEY: &str = "sk_test_team_a";
pub const TEAM_B_KEY: &str = "sk_test_team_b";

/// Every sandbox `opts` lists, page after page.
pub async fn list_all(opts: ListOpts) -> Vec<SandboxInfo> {
    let mut pages = Sandbox::list(opts);
    let mut all = Vec::new();
    while pages.has_next() {
        all.extend(pages.next_items().await.expect("a page"));
    }
    all
}

/// A control-plane sandkitd: sandboxes are records, no processes.
pub async fn start_server() -> RunningServer {
    let mut config = config();
    config.sandboxes.enabled = false;
    sandkit_server::start(config)
        .await
        .expect("sandkitd starts")
}

/// A sandkitd whose sandboxes run real processes. Each sandbox's agent is the `sandkitd`
/// binary: `$SANDKITD_BIN`, else `debug/sandkitd` in `$CARGO_TARGET_DIR` or the workspace's
/// `target` (built by `cargo test` of the workspace, or `cargo build -p sandkit-server`).
pub async fn start_server_with_sandboxes() -> RunningServer {
    let mut config = config();
    config.sandboxes.agent_exe = Some(agent_exe());
    sandkit_server::start(config)
        .await
        .expect("sandkitd starts")
}

/// The `sandkitd` binary each sandbox's agent runs (see [`start_server_with_sandboxes`]).
pub fn agent_exe() -> std::path::PathBuf {
    let agent = std::env::var_os("SANDKITD_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
                });
            target.join("debug/sandkitd")
        });
    assert!(
        agent.exists(),
        "{} is missing: run `cargo build -p sandkit-server` first (or set SANDKITD_BIN)",
        agent.display()
    );
    agent
}

pub fn config() -> ServerConfig {
    let mut config = ServerConfig {
        api_keys: vec![
            (TEAM_A_KEY.into(), "team-a".into()),
            (TEAM_B_KEY.into(), "team-b".into()),
        ],
        reap_interval: std::time::Duration::from_millis(50),
        // Fixtures are made in bulk; sandkitd's own tests test its limits.
        limits: sandkit_server::config::LimitsConfig::lifted(),
        ..Default::default()
    };
    config.sandboxes.metrics_interval = std::time::Duration::from_millis(100);
    config
}

pub fn conn(url: &str, key: &str) -> ConnectionOpts {
    ConnectionOpts {
        api_key: Some(key.into()),
        api_url: Some(url.into()),
        ..Default::default()
    }
}

/// A metadata value unique to one test, so tests sharing a server never see each other.
pub fn unique_tag(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// GETs a public request (sandkit's `public_request`: the URL and the headers it needs) until
/// the server in the sandbox answers 200, for up to 5 s while it starts; its body.
pub async fn get_public_when_up(req: &sandkit::public::PublicRequest) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..100 {
        let mut rb = http.get(&req.url);
        for (k, v) in &req.headers {
            rb = rb.header(k, v);
        }
        let res = rb.send().await.unwrap();
        if res.status() == 200 {
            return res.text().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} never answered 200", req.url);
}
