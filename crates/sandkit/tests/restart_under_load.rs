//! sandkitd with a state directory, stopped and started again on the same port while clients
//! keep calling it: during the gap the calls fail with typed errors (a refused connection, a
//! deadline), never another kind and never a panic; after it every call works again, and the
//! listing holds the same sandboxes as before (paused now: processes do not outlive sandkitd,
//! records do).

mod common;

use common::{TEAM_A_KEY, agent_exe, config, conn, unique_tag};
use sandkit::{ConnectionOpts, ErrorKind, ListOpts, OnTimeout, Sandbox, SandboxOpts};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SANDBOXES: usize = 4;
/// Clients calling at once: half with the default retries (which may bridge a short gap),
/// half with none (which see it).
const CLIENTS: usize = 8;

struct StateDir(std::path::PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(dir: &std::path::Path, port: u16) -> sandkit_server::RunningServer {
    let mut config = config();
    config.port = port;
    config.sandboxes.agent_exe = Some(agent_exe());
    config.sandboxes.state_dir = Some(dir.to_path_buf());
    sandkit_server::start(config)
        .await
        .expect("sandkitd starts")
}

async fn listed(opts: &ConnectionOpts, tag: &str) -> BTreeMap<String, String> {
    common::list_all(ListOpts {
        metadata: Some([("tag".to_string(), tag.to_string())].into()),
        connection: opts.clone(),
        ..Default::default()
    })
    .await
    .into_iter()
    .map(|s| (s.sandbox_id, format!("{:?}", s.state)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_gives_typed_errors_then_works_and_loses_nothing() {
    let dir =
        StateDir(std::env::temp_dir().join(format!("sandkit-restart-load-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let server = start(&dir.0, 0).await;
    let port = server.local_addr().port();
    let url = server.url();
    let opts = ConnectionOpts {
        request_timeout_ms: Some(3_000),
        ..conn(&url, TEAM_A_KEY)
    };
    let tag = unique_tag("restart");
    let mut ids = Vec::new();
    for _ in 0..SANDBOXES {
        // Sandboxes that would be paused at their timeout are kept across a restart.
        let o = SandboxOpts {
            on_timeout: Some(OnTimeout::Pause),
            ..SandboxOpts::new()
                .connection(opts.clone())
                .metadata([("tag", tag.as_str())])
        };
        ids.push(Sandbox::create(o).await.unwrap().sandbox_id().to_string());
    }
    let before = listed(&opts, &tag).await;
    assert_eq!(before.len(), SANDBOXES);

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let o = ConnectionOpts {
            retries: (c % 2 == 1).then_some(0),
            ..opts.clone()
        };
        let (stop, ids, tag) = (stop.clone(), ids.clone(), tag.clone());
        clients.push(tokio::spawn(async move {
            let mut outcomes: Vec<Result<(), sandkit::Error>> = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let r = if n.is_multiple_of(3) {
                    Sandbox::list(ListOpts {
                        metadata: Some([("tag".to_string(), tag.clone())].into()),
                        connection: o.clone(),
                        ..Default::default()
                    })
                    .next_items()
                    .await
                    .map(|items| assert_eq!(items.len(), SANDBOXES))
                } else {
                    let id = &ids[n % ids.len()];
                    Sandbox::get_info_by_id(id, &o)
                        .await
                        .map(|info| assert_eq!(&info.sandbox_id, id))
                };
                // A refused connection comes back at once: do not spin.
                if r.is_err() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                outcomes.push(r);
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    server.shutdown().await;
    // The gap: nobody listens on the port.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let server = start(&dir.0, port).await;
    // Calls go on until each client has had several answers from the new server.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::Relaxed);

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let (mut calls, mut last_ok) = (0, 0);
    for (c, client) in clients.into_iter().enumerate() {
        let outcomes = client.await.expect("no client panicked");
        calls += outcomes.len();
        for r in &outcomes {
            if let Err(e) = r {
                assert!(
                    matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout),
                    "client {c}: {:?} {e}",
                    e.kind()
                );
                *kinds.entry(format!("{:?}", e.kind())).or_default() += 1;
            }
        }
        // Once the new server answered, the client's calls work again.
        let tail = outcomes.iter().rev().take_while(|r| r.is_ok()).count();
        assert!(tail > 0, "client {c}: its last call failed");
        last_ok += tail;
    }
    eprintln!(
        "{calls} calls over the restart; errors {kinds:?}; {last_ok} calls succeeded after the last error"
    );
    assert!(
        !kinds.is_empty(),
        "no client without retries met the gap: the restart was not under load"
    );

    // Nothing lost: the same sandboxes, kept paused.
    let after = listed(&opts, &tag).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(after.values().all(|s| s == "Paused"), "{after:?}");
    for id in &ids {
        Sandbox::kill_by_id(id, &opts).await.unwrap();
    }
    server.shutdown().await;
}
