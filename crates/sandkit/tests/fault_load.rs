//! Ten thousand idempotent calls, control plane and daemon, through a real proxy that answers
//! 30% of requests 429 (Retry-After in seconds, Retry-After as an HTTP date, RateLimit-Reset),
//! resets 10% of connections (half before, half after the server answered), answers 5% 503
//! and stalls 2% past the request timeout: every call succeeds but those that met a stall,
//! which fail with a TimeoutError, one per stall. Then creates through the same proxy: the
//! server holds no sandbox twice, and exactly the creates it acted on.
//!
//! The faults follow a seed (`SANDKIT_FAULT_SEED`, printed) so a failing run can be replayed.

mod common;

use common::fault_proxy::{FaultProxy, Rates};
use common::{TEAM_A_KEY, conn, start_server_with_sandboxes, unique_tag};
use futures_util::StreamExt;
use sandkit::files::{FileData, FsOpts, WriteOpts};
use sandkit::{ConnectOpts, ConnectionOpts, ErrorKind, ListOpts, Sandbox, SandboxOpts};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CALLS: usize = 10_000;
const CREATES: usize = 60;
/// Calls in flight at once: a stalled one holds its slot for the whole request timeout.
const CONCURRENCY: usize = 600;
/// Long enough that no chain of retries reaches it, only a stall: backoff doubles from 100 ms
/// per attempt (429s count as attempts) up to 10 s, so passing 30 s takes about ten failed
/// attempts in a row (0.45^10 per call, 3 in 10,000) of which the last three or more are
/// resets or 503s rather than 429s.
const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Creates are not retried after a 503 or a reset: a stall is the only long wait.
const CREATE_TIMEOUT_MS: u64 = 10_000;

fn seed() -> u64 {
    std::env::var("SANDKIT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F417)
}

fn rates() -> Rates {
    Rates {
        rate_limited: 0.30,
        reset: 0.10,
        busy: 0.05,
        stall: 0.02,
    }
}

fn through(proxy: &FaultProxy) -> ConnectionOpts {
    ConnectionOpts {
        sandbox_url: Some(proxy.url.clone()),
        request_timeout_ms: Some(REQUEST_TIMEOUT_MS),
        // The deadline bounds the retries; at a 45% failure rate three would not do.
        retries: Some(40),
        ..conn(&proxy.url, TEAM_A_KEY)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idempotent_calls_through_faults() {
    let server = start_server_with_sandboxes().await;
    let direct = ConnectionOpts {
        sandbox_url: Some(server.url()),
        ..conn(&server.url(), TEAM_A_KEY)
    };
    let tag = unique_tag("faults");
    let mut made = Vec::new();
    for i in 0..7 {
        let n = i.to_string();
        let opts = SandboxOpts::new()
            .connection(direct.clone())
            .metadata([("tag", tag.as_str()), ("i", n.as_str())]);
        made.push(Sandbox::create(opts).await.unwrap());
    }
    let files = made[0].files();
    let none = FsOpts::default();
    files
        .write(
            "fault.txt",
            FileData::from("fault data"),
            &WriteOpts::default(),
        )
        .await
        .unwrap();
    for name in ["a", "b", "c"] {
        files
            .write(
                &format!("faultdir/{name}"),
                FileData::from(name),
                &WriteOpts::default(),
            )
            .await
            .unwrap();
    }
    let id = made[0].sandbox_id().to_string();
    let first_page = {
        let mut p = Sandbox::list(ListOpts {
            metadata: Some([("tag".to_string(), tag.clone())].into()),
            limit: Some(3),
            connection: direct.clone(),
            ..Default::default()
        });
        p.next_items().await.unwrap();
        p.next_token().expect("a second page").to_string()
    };

    let seed = seed();
    let proxy = FaultProxy::chaos(server.local_addr().to_string(), rates(), seed).await;
    let opts = through(&proxy);
    // The handle's daemon calls go through the proxy; it is made directly.
    let sbx = Sandbox::connect(
        &id,
        ConnectOpts {
            connection: ConnectionOpts {
                api_url: Some(server.url()),
                ..opts.clone()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let started = Instant::now();
    let outcomes: Vec<(usize, Result<(), sandkit::Error>)> = futures_util::stream::iter(0..CALLS)
        .map(|i| {
            let (opts, sbx, id, tag, token) = (
                opts.clone(),
                sbx.clone(),
                id.clone(),
                tag.clone(),
                first_page.clone(),
            );
            let none = none.clone();
            async move {
                let r = async {
                    match i % 6 {
                        0 => {
                            let info = Sandbox::get_info_by_id(&id, &opts).await?;
                            assert_eq!(info.sandbox_id, id);
                        }
                        1 | 2 => {
                            // The first page, or the one after a token: 3 and 3 of 7.
                            let mut p = Sandbox::list(ListOpts {
                                metadata: Some([("tag".to_string(), tag)].into()),
                                limit: Some(3),
                                next_token: (i % 6 == 2).then_some(token),
                                connection: opts,
                                ..Default::default()
                            });
                            assert_eq!(p.next_items().await?.len(), 3);
                        }
                        3 => {
                            Sandbox::set_timeout_by_id(&id, Duration::from_secs(600), &opts).await?
                        }
                        4 => {
                            let data = sbx.files().read("fault.txt", &none).await?;
                            assert_eq!(&data[..], b"fault data");
                        }
                        _ => {
                            let entries = sbx.files().list("faultdir", 1, &none).await?;
                            assert_eq!(entries.len(), 3);
                            assert!(sbx.files().exists("fault.txt", &none).await?);
                        }
                    }
                    Ok::<(), sandkit::Error>(())
                }
                .await;
                (i, r)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let took = started.elapsed();

    let counts = proxy.counts();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for (_, r) in &outcomes {
        if let Err(e) = r {
            *errors.entry(format!("{:?}", e.kind())).or_default() += 1;
        }
    }
    let requests: u64 = counts.values().sum();
    // Case 5 makes two calls: `list` and `exists`.
    let first_attempts = (CALLS + CALLS / 6) as u64;
    eprintln!(
        "seed {seed}: {CALLS} calls, {requests} requests ({} retries) in {took:?}; faults {counts:?}; errors {errors:?}",
        requests - first_attempts
    );
    let wrong: Vec<_> = outcomes
        .iter()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .filter(|(_, e)| e.kind() != ErrorKind::Timeout)
        .take(5)
        .map(|(i, e)| format!("call {i}: {:?} {e}", e.kind()))
        .collect();
    assert!(wrong.is_empty(), "errors other than timeouts: {wrong:#?}");
    // Each stall holds one call until its deadline; nothing else may time out.
    let stalls = proxy.count("stall") as usize;
    assert_eq!(errors.get("Timeout").copied().unwrap_or(0), stalls);
    // Every kind of fault was met, many times.
    for kind in [
        "429 Retry-After seconds",
        "429 Retry-After date",
        "429 RateLimit-Reset",
        "reset before the server",
        "reset after the server",
        "503",
        "stall",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= 50,
            "{kind}: {counts:?}"
        );
    }
    assert!(requests as usize > CALLS * 3 / 2, "{requests} requests");

    // Creates through the same proxy: an error may surface (a 503, a reset, a stall), a
    // duplicate may not, and the server holds exactly the creates it acted on.
    let create_tag = unique_tag("fault-creates");
    let created: Vec<(usize, sandkit::Result<Sandbox>)> = futures_util::stream::iter(0..CREATES)
        .map(|i| {
            let n = i.to_string();
            let connection = ConnectionOpts {
                request_timeout_ms: Some(CREATE_TIMEOUT_MS),
                ..through(&proxy)
            };
            let opts = SandboxOpts::new()
                .connection(connection)
                .metadata([("tag", create_tag.as_str()), ("i", n.as_str())]);
            async move { (i, Sandbox::create(opts).await) }
        })
        .buffer_unordered(CREATES)
        .collect()
        .await;
    let listed = common::list_all(ListOpts {
        metadata: Some([("tag".to_string(), create_tag.clone())].into()),
        connection: direct.clone(),
        ..Default::default()
    })
    .await;
    let mut per_create: BTreeMap<String, usize> = BTreeMap::new();
    for s in &listed {
        *per_create.entry(s.metadata["i"].clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_create.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sandboxes made twice: {twice:?}");
    let mut create_errors: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in &created {
        match r {
            Ok(s) => assert!(
                listed.iter().any(|l| l.sandbox_id == s.sandbox_id()),
                "create {i} succeeded but the server does not have it"
            ),
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::ServiceBusy | ErrorKind::Connection | ErrorKind::Timeout
                    ),
                    "create {i}: {:?} {e}",
                    e.kind()
                );
                *create_errors.entry(format!("{:?}", e.kind())).or_default() += 1;
            }
        }
    }
    let acted = proxy
        .log()
        .iter()
        .filter(|(line, kind)| {
            line.starts_with("POST /v2/sandboxes ")
                && matches!(*kind, "forwarded" | "reset after the server")
        })
        .count();
    let succeeded = created.iter().filter(|(_, r)| r.is_ok()).count();
    eprintln!(
        "{CREATES} creates: {succeeded} succeeded, errors {create_errors:?}; the server acted on {acted}, holds {}",
        listed.len()
    );
    assert_eq!(
        listed.len(),
        acted,
        "the server holds other than what it acted on"
    );
    assert!(succeeded > 0);

    for s in listed {
        Sandbox::kill_by_id(&s.sandbox_id, &direct).await.unwrap();
    }
    for s in made {
        s.kill().await.unwrap();
    }
    server.shutdown().await;
}
