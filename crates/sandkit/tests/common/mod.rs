//! Shared test plumbing: an in-process sandkitd and a fault-injecting proxy.
#![allow(dead_code)]

pub mod fault_proxy;

use sandkit::ConnectionOpts;
use sandkit_server::{RunningServer, ServerConfig};

pub const TEAM_A_KEY: &str = "sk_test_team_a";
pub const TEAM_B_KEY: &str = "sk_test_team_b";

pub async fn start_server() -> RunningServer {
    sandkit_server::start(ServerConfig {
        api_keys: vec![
            (TEAM_A_KEY.into(), "team-a".into()),
            (TEAM_B_KEY.into(), "team-b".into()),
        ],
        reap_interval: std::time::Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .expect("sandkitd starts")
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
