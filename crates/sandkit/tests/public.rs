//! Public URLs, traffic tokens and handles against an in-process sandkitd whose sandboxes run
//! real processes: the core makes the URL and headers, reqwest plays the runtime's fetch.

mod common;

use common::{TEAM_A_KEY, conn, start_server_with_sandboxes};
use sandkit::commands::RunOpts;
use sandkit::{ConnectionOpts, ErrorKind, NetworkConfig, Sandbox, SandboxOpts};

#[tokio::test]
async fn a_protected_port_is_reached_with_the_core_made_request_and_a_handle_works_without_a_key() {
    let server = start_server_with_sandboxes().await;
    let url = server.url();
    let mut o = SandboxOpts::new();
    o.connection = conn(&url, TEAM_A_KEY);
    o.connection.sandbox_url = Some(url.clone());
    o.network = Some(NetworkConfig {
        allow_public_traffic: Some(false),
        ..Default::default()
    });
    let sandbox = Sandbox::create(o).await.unwrap();
    let token = sandbox
        .traffic_access_token()
        .expect("a traffic token")
        .to_string();
    sandbox
        .commands()
        .run(
            "cd /tmp && echo served > index.html && (setsid python3 -m http.server 8000 >/dev/null 2>&1 &)",
            RunOpts::default(),
        )
        .await
        .unwrap();

    let port = server.local_addr().port();
    assert_eq!(
        sandbox.get_url(8000, Some("/index.html")).unwrap(),
        format!(
            "http://8000-{}.localhost:{port}/index.html",
            sandbox.sandbox_id()
        )
    );
    assert!(sandbox.get_url(8000, Some("//elsewhere.example/")).is_err());
    let req = sandbox.public_request(8000, Some("/index.html")).unwrap();
    assert_eq!(req.url, format!("{url}/index.html"));
    assert!(
        req.headers
            .contains(&("e2b-traffic-access-token".into(), token.clone()))
    );
    assert_eq!(common::get_public_when_up(&req).await, "served\n");

    // A handle gives the daemon and the ports, not the control plane.
    let handle = sandbox.to_handle();
    assert_eq!(handle.traffic_access_token.as_deref(), Some(token.as_str()));
    let browser = ConnectionOpts {
        sandbox_url: Some(url.clone()),
        ..Default::default()
    };
    let from = Sandbox::from_handle(handle.clone(), &browser).unwrap();
    let out = from
        .commands()
        .run("echo $E2B_SANDBOX_ID", RunOpts::default())
        .await
        .unwrap();
    assert_eq!(out.stdout.trim(), sandbox.sandbox_id());
    let e = from.kill().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("fromHandle"), "{}", e.message());
    assert!(!e.message().contains(&token));
    let mut bad = handle.clone();
    bad.sandbox_id = "../x".into();
    assert_eq!(
        Sandbox::from_handle(bad, &browser).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(sandbox.kill().await.unwrap());
}
