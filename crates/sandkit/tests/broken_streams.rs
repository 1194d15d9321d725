//! Streams cut mid-way by a real proxy between the SDK and sandkitd: a command's output, a
//! file download (whole and streamed), a directory watch and a code execution each end in a
//! typed error, never in a shorter result. Each is cut both ways: with a reset, and with a
//! clean end of the connection (which only the HTTP framing tells from a finished answer).
//! Through the same proxy without a cut, each call succeeds whole: the proxy alone breaks
//! nothing.

mod common;

use common::fault_proxy::{Fault, FaultProxy};
use common::{TEAM_A_KEY, conn, start_server_with_sandboxes};
use sandkit::commands::RunOpts;
use sandkit::files::{FileData, FsOpts, WatchOpts, WriteOpts};
use sandkit::interpreter::RunCodeOpts;
use sandkit::{ConnectOpts, ConnectionOpts, ErrorKind, Sandbox, SandboxOpts};
use std::time::Duration;

/// A proxy that cuts answers to paths starting with `prefix` after `bytes` (head included).
async fn cutter(
    server: &sandkit_server::RunningServer,
    prefix: &'static str,
    bytes: usize,
    reset: bool,
) -> FaultProxy {
    FaultProxy::deciding(server.local_addr().to_string(), move |_, head| {
        if head.path.starts_with(prefix) {
            Fault::CutAfter { bytes, reset }
        } else {
            Fault::Forward
        }
    })
    .await
}

/// The sandbox `id` reached (daemon and interpreter) through `proxy`.
async fn through(server: &sandkit_server::RunningServer, proxy: &FaultProxy, id: &str) -> Sandbox {
    let connection = ConnectionOpts {
        sandbox_url: Some(proxy.url.clone()),
        request_timeout_ms: Some(20_000),
        ..conn(&server.url(), TEAM_A_KEY)
    };
    Sandbox::connect(
        id,
        ConnectOpts {
            connection,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn broken(e: &sandkit::Error) -> bool {
    matches!(e.kind(), ErrorKind::Connection | ErrorKind::Sandbox)
}

async fn setup() -> (sandkit_server::RunningServer, Sandbox) {
    let server = start_server_with_sandboxes().await;
    let mut o = SandboxOpts::new();
    o.connection = conn(&server.url(), TEAM_A_KEY);
    o.connection.sandbox_url = Some(server.url());
    let sbx = Sandbox::create(o).await.unwrap();
    (server, sbx)
}

#[tokio::test]
async fn a_cut_command_output_is_an_error() {
    let (server, sbx) = setup().await;
    let cmd = "head -c 300000 /dev/zero | tr '\\0' a";
    for (bytes, reset) in [(usize::MAX, false), (20_000, true), (20_000, false)] {
        let proxy = cutter(&server, "/process.Process/Start", bytes, reset).await;
        let s = through(&server, &proxy, sbx.sandbox_id()).await;
        let result = s.commands().run(cmd, RunOpts::default()).await;
        if bytes == usize::MAX {
            assert_eq!(result.unwrap().stdout.len(), 300_000);
            continue;
        }
        let err = result.expect_err("a cut output came back as a result");
        assert!(broken(&err), "reset {reset}: {:?} {err}", err.kind());
    }
    sbx.kill().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_cut_download_is_an_error_not_a_shorter_file() {
    let (server, sbx) = setup().await;
    // Incompressible (xorshift): a cut must fall inside the body however it is encoded.
    let mut x: u32 = 0x9e37_79b9;
    let data: Vec<u8> = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    sbx.files()
        .write(
            "big.bin",
            FileData::from(data.clone()),
            &WriteOpts::default(),
        )
        .await
        .unwrap();
    let none = FsOpts::default();
    for (bytes, reset) in [(usize::MAX, false), (300_000, true), (300_000, false)] {
        let proxy = cutter(&server, "/files", bytes, reset).await;
        let s = through(&server, &proxy, sbx.sandbox_id()).await;
        let whole = s.files().read("big.bin", &none).await;
        let mut stream = s.files().read_stream("big.bin", &none).await.unwrap();
        let mut streamed = Vec::new();
        let streamed = loop {
            match stream.next_chunk().await {
                Ok(Some(chunk)) => streamed.extend_from_slice(&chunk),
                Ok(None) => break Ok(streamed),
                Err(e) => break Err(e),
            }
        };
        if bytes == usize::MAX {
            assert!(whole.unwrap() == data && streamed.unwrap() == data);
            continue;
        }
        for (how, r) in [
            ("read", whole.map(|b| b.to_vec())),
            ("read_stream", streamed),
        ] {
            let err = match r {
                Ok(got) => panic!(
                    "{how}, reset {reset}: a cut download gave {} bytes",
                    got.len()
                ),
                Err(e) => e,
            };
            assert!(broken(&err), "{how}, reset {reset}: {:?} {err}", err.kind());
        }
    }
    sbx.kill().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_cut_watch_is_an_error() {
    let (server, sbx) = setup().await;
    sbx.files()
        .make_dir("watched", &FsOpts::default())
        .await
        .unwrap();
    for (bytes, reset) in [(usize::MAX, false), (1_500, true), (1_500, false)] {
        let proxy = cutter(&server, "/filesystem.Filesystem/WatchDir", bytes, reset).await;
        let s = through(&server, &proxy, sbx.sandbox_id()).await;
        let mut watch = s
            .files()
            .watch_dir("watched", &WatchOpts::default())
            .await
            .unwrap();
        // Events enough to pass the cut, made directly.
        for i in 0..40 {
            let path = format!("watched/f{i}-{bytes}-{reset}");
            sbx.files()
                .write(&path, FileData::from("x"), &WriteOpts::default())
                .await
                .unwrap();
        }
        let mut events = 0;
        let end = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match watch.next_event().await {
                    Ok(Some(_)) => {
                        events += 1;
                        if bytes == usize::MAX && events >= 40 {
                            return Ok(None);
                        }
                    }
                    other => return other,
                }
            }
        })
        .await
        .expect("the watch neither ended nor failed");
        if bytes == usize::MAX {
            assert!(events >= 40);
            continue;
        }
        let err = match end {
            Ok(_) => panic!("reset {reset}: a cut watch ended cleanly after {events} events"),
            Err(e) => e,
        };
        assert!(broken(&err), "reset {reset}: {:?} {err}", err.kind());
    }
    sbx.kill().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_cut_execution_is_an_error() {
    let (server, sbx) = setup().await;
    let code = "for i in range(3000):\n    print('x' * 60, flush=True)";
    for (bytes, reset) in [(usize::MAX, false), (20_000, true), (20_000, false)] {
        let proxy = cutter(&server, "/execute", bytes, reset).await;
        let s = through(&server, &proxy, sbx.sandbox_id()).await;
        let result = match s.interpreter().run_code(code, RunCodeOpts::default()).await {
            Ok(run) => run.collect().await,
            Err(e) => Err(e),
        };
        if bytes == usize::MAX {
            assert_eq!(result.unwrap().stdout.concat().len(), 3000 * 61);
            continue;
        }
        let err = result.expect_err("a cut execution came back as a result");
        assert!(broken(&err), "reset {reset}: {:?} {err}", err.kind());
    }
    sbx.kill().await.unwrap();
    server.shutdown().await;
}
