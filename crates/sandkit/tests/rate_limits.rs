//! The core's retries against a real sandkitd with small rate limits: a refused call waits
//! the server's `Retry-After` and goes again; when the retries or the deadline run out, the
//! caller gets `RateLimitError` with the server's message.

mod common;

use common::{TEAM_A_KEY, conn};
use sandkit::{ConnectionOpts, ErrorKind, ListOpts, Sandbox, SandboxOpts};
use sandkit_server::RunningServer;
use sandkit_server::config::LimitsConfig;
use sandkit_server::limits::Rate;
use std::time::Instant;

async fn server_with(limits: LimitsConfig) -> RunningServer {
    let mut config = common::config();
    config.sandboxes.enabled = false;
    config.limits = limits;
    sandkit_server::start(config)
        .await
        .expect("sandkitd starts")
}

/// `n` first pages of a listing at once.
async fn burst(
    n: usize,
    connection: &ConnectionOpts,
) -> Vec<sandkit::Result<Vec<sandkit::SandboxInfo>>> {
    futures_util::future::join_all((0..n).map(|_| {
        let opts = ListOpts {
            limit: Some(1),
            connection: connection.clone(),
            ..Default::default()
        };
        async move { Sandbox::list(opts).next_items().await }
    }))
    .await
}

#[tokio::test]
async fn a_burst_over_the_limit_succeeds_after_waiting_retry_after() {
    let server = server_with(LimitsConfig {
        rate_limit: Rate::new(3, 1),
        ..LimitsConfig::default()
    })
    .await;
    let c = conn(&server.url(), TEAM_A_KEY);
    let started = Instant::now();
    // More than two windows admit, so some call is refused however the burst falls.
    for page in burst(7, &c).await {
        page.expect("every call succeeds in the end");
    }
    // A refused call waited Retry-After (whole seconds, at least one) before going again.
    assert!(
        started.elapsed().as_millis() >= 1000,
        "{:?}",
        started.elapsed()
    );

    // Without retries, the refused calls fail with the server's message.
    let no_retries = ConnectionOpts {
        retries: Some(0),
        ..c
    };
    let refused: Vec<_> = burst(7, &no_retries)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(!refused.is_empty(), "7 calls over 3 a second, none refused");
    for e in refused {
        assert_eq!(e.kind(), ErrorKind::RateLimit, "{e}");
        assert_eq!(e.status_code(), Some(429));
        assert!(
            e.message()
                .starts_with("Rate limit exceeded, please try again later - ")
                && e.message().contains("--rate-limit"),
            "{}",
            e.message()
        );
    }
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited() {
    let server = server_with(LimitsConfig {
        create_rate: Rate::new(1, 60),
        ..LimitsConfig::default()
    })
    .await;
    let c = conn(&server.url(), TEAM_A_KEY);
    let first = Sandbox::create(SandboxOpts::new().connection(c.clone()))
        .await
        .expect("the first creation");
    // The next may come in 60 s, beyond the default 60 s deadline: no retry.
    let e = Sandbox::create(SandboxOpts::new().connection(c))
        .await
        .expect_err("a second creation within the minute");
    assert_eq!(e.kind(), ErrorKind::RateLimit, "{e}");
    assert!(e.message().contains("--create-rate"), "{}", e.message());
    assert!(first.kill().await.unwrap());
}
