//! Retries and deadlines, with a real proxy that injects 429s, 503s, resets and stalls
//! between the client and a real sandkitd.

mod common;

use common::fault_proxy::{Fault, FaultProxy};
use common::{TEAM_A_KEY, conn, start_server};
use sandkit::{ErrorKind, Sandbox, SandboxOpts};
use std::time::{Duration, Instant};

async fn setup(script: Vec<Fault>) -> (sandkit_server::RunningServer, FaultProxy, String) {
    let server = start_server().await;
    let sbx = Sandbox::create(SandboxOpts::new().connection(conn(&server.url(), TEAM_A_KEY)))
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.local_addr().to_string(), script).await;
    (server, proxy, sbx.sandbox_id().to_string())
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let (server, proxy, id) =
        setup(vec![Fault::Status(429, vec![("retry-after", "1".into())])]).await;
    let started = Instant::now();
    let info = Sandbox::get_info_by_id(&id, &conn(&proxy.url, TEAM_A_KEY))
        .await
        .unwrap();
    assert_eq!(info.sandbox_id, id);
    assert_eq!(proxy.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retried after {:?}, not after Retry-After",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn retries_busy_gateways_and_resets_for_idempotent_calls() {
    let script = vec![
        Fault::Status(503, vec![]),
        Fault::Status(502, vec![]),
        Fault::Reset,
    ];
    let (server, proxy, id) = setup(script).await;
    let info = Sandbox::get_info_by_id(&id, &conn(&proxy.url, TEAM_A_KEY))
        .await
        .unwrap();
    assert_eq!(info.sandbox_id, id);
    assert_eq!(proxy.requests().len(), 4, "{:?}", proxy.requests());
    server.shutdown().await;
}

#[tokio::test]
async fn gives_up_after_the_retry_budget() {
    let script = vec![Fault::Status(503, vec![]); 10];
    let (server, proxy, id) = setup(script).await;
    let err = Sandbox::get_info_by_id(&id, &conn(&proxy.url, TEAM_A_KEY))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.status_code()),
        (ErrorKind::ServiceBusy, Some(503))
    );
    assert_eq!(proxy.requests().len(), 4, "one try and three retries");
    server.shutdown().await;
}

#[tokio::test]
async fn create_is_not_retried_blindly() {
    for fault in [
        Fault::Status(503, vec![]),
        Fault::Reset,
        Fault::Status(502, vec![]),
    ] {
        let (server, proxy, _) = setup(vec![fault.clone()]).await;
        let err = Sandbox::create(SandboxOpts::new().connection(conn(&proxy.url, TEAM_A_KEY)))
            .await
            .unwrap_err();
        assert_eq!(proxy.requests().len(), 1, "{fault:?} was retried");
        assert_ne!(err.kind(), ErrorKind::InvalidArgument);
        server.shutdown().await;
    }
    // A 429 means the server did not act on it: that one may go again.
    let (server, proxy, _) =
        setup(vec![Fault::Status(429, vec![("retry-after", "0".into())])]).await;
    Sandbox::create(SandboxOpts::new().connection(conn(&proxy.url, TEAM_A_KEY)))
        .await
        .unwrap();
    assert_eq!(proxy.requests().len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_server_hits_the_request_timeout() {
    let (server, proxy, id) = setup(vec![Fault::Stall]).await;
    let opts = sandkit::ConnectionOpts {
        request_timeout_ms: Some(300),
        ..conn(&proxy.url, TEAM_A_KEY)
    };
    let err = Sandbox::get_info_by_id(&id, &opts).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(proxy.requests().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn never_waits_past_the_deadline_for_a_rate_limit() {
    let (server, proxy, id) =
        setup(vec![Fault::Status(429, vec![("retry-after", "30".into())])]).await;
    let opts = sandkit::ConnectionOpts {
        request_timeout_ms: Some(2_000),
        ..conn(&proxy.url, TEAM_A_KEY)
    };
    let started = Instant::now();
    let err = Sandbox::get_info_by_id(&id, &opts).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.status_code()),
        (ErrorKind::RateLimit, Some(429))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(proxy.requests().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn the_api_key_goes_only_to_the_api() {
    let (server, proxy, id) = setup(vec![Fault::Status(500, vec![])]).await;
    let err = Sandbox::get_info_by_id(&id, &conn(&proxy.url, TEAM_A_KEY))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(TEAM_A_KEY));
    assert!(!format!("{err:?}").contains(TEAM_A_KEY));
    let opts = conn(&proxy.url, TEAM_A_KEY);
    assert!(
        !format!("{opts:?}").contains(TEAM_A_KEY),
        "Debug of the options shows the key"
    );
    server.shutdown().await;
}

/// A redirect would carry `X-API-Key` or `X-Access-Token` to wherever it points: the SDK
/// follows none. The target here is a second proxy in front of the same server, so a client
/// that followed would succeed there, and the test would see it.
#[tokio::test]
async fn redirects_are_refused_and_credentials_stay() {
    let (server, catcher, id) = setup(vec![]).await;
    let to = |path: &str| vec![("location", format!("{}{path}?sig=x", catcher.url))];
    let script = vec![
        Fault::Status(307, to(&format!("/sandboxes/{id}"))),
        Fault::Status(302, to("/files")),
    ];
    let redirector = FaultProxy::start(server.local_addr().to_string(), script).await;

    let err = Sandbox::get_info_by_id(&id, &conn(&redirector.url, TEAM_A_KEY))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sandbox, "{err}");
    let message = err.to_string();
    assert!(message.contains("redirect to http://"), "{message}");
    assert!(
        !message.contains("sig=x"),
        "the target's query is shown: {message}"
    );
    assert_eq!(redirector.requests().len(), 1, "a redirect was retried");

    // The daemon's routes: the access token must not travel either.
    let opts = sandkit::ConnectOpts {
        connection: sandkit::ConnectionOpts {
            sandbox_url: Some(redirector.url.clone()),
            ..conn(&server.url(), TEAM_A_KEY)
        },
        ..Default::default()
    };
    let sbx = Sandbox::connect(&id, opts).await.unwrap();
    let err = sbx
        .files()
        .read("a.txt", &Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sandbox, "{err}");
    assert!(
        err.to_string()
            .starts_with("The sandbox answered with a redirect"),
        "{err}"
    );

    assert_eq!(
        catcher.requests(),
        Vec::<String>::new(),
        "a redirect was followed"
    );
    server.shutdown().await;
}
