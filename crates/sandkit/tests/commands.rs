//! `sandbox.commands` against an in-process sandkitd whose sandboxes run real processes.

mod common;

use common::{TEAM_A_KEY, conn, start_server_with_sandboxes};
use sandkit::commands::{Output, OutputText, RunOpts};
use sandkit::config::ProcessEnv;
use sandkit::maybe_send::BoxFuture;
use sandkit::runtime::{Runtime, TokioRuntime};
use sandkit::transport::NativeTransport;
use sandkit::{Client, ErrorKind, Platform, Sandbox, SandboxOpts};
use std::time::Duration;

fn opts(url: &str) -> SandboxOpts {
    let mut o = SandboxOpts::new();
    o.connection = conn(url, TEAM_A_KEY);
    o.connection.sandbox_url = Some(url.to_string());
    o
}

#[tokio::test]
async fn runs_commands_end_to_end() {
    let server = start_server_with_sandboxes().await;
    let url = server.url();
    let mut o = opts(&url);
    o.envs = Some(
        [("GLOBAL".to_string(), "g".to_string())]
            .into_iter()
            .collect(),
    );
    let sandbox = Sandbox::create(o).await.unwrap();
    let commands = sandbox.commands();

    let r = commands
        .run(
            "echo $E2B_SANDBOX_ID $GLOBAL $LOCAL",
            RunOpts {
                envs: [("LOCAL".to_string(), "l".to_string())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.stdout, format!("{} g l\n", sandbox.sandbox_id()));
    assert_eq!(r.exit_code, 0);

    // A non-zero exit carries the output.
    let e = commands
        .run("echo out; echo err >&2; exit 3", RunOpts::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandExit);
    let c = e.command().unwrap();
    assert_eq!(
        (c.exit_code, c.stdout.as_str(), c.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    assert_eq!(e.message(), "exit status 3");

    // Output streams in pieces, in order.
    let mut h = commands
        .spawn(
            "for i in 1 2 3; do echo $i; sleep 0.05; done",
            RunOpts::default(),
        )
        .await
        .unwrap();
    let mut pieces = Vec::new();
    while let Some(out) = h.next_output().await.unwrap() {
        if let Output::Stdout(b) = out {
            pieces.push(String::from_utf8_lossy(&b).into_owned());
        }
    }
    assert_eq!(pieces.concat(), "1\n2\n3\n");
    assert!(pieces.len() >= 2, "{pieces:?}");

    // stdin, list, kill.
    let h = commands
        .spawn(
            "cat",
            RunOpts {
                stdin: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    h.send_stdin(b"hi\n").await.unwrap();
    commands.close_stdin(h.pid()).await.unwrap();
    assert_eq!(h.wait().await.unwrap().stdout, "hi\n");

    let h = commands
        .spawn("sleep 100", RunOpts::default())
        .await
        .unwrap();
    assert!(
        commands
            .list()
            .await
            .unwrap()
            .iter()
            .any(|p| p.pid == h.pid())
    );
    assert!(commands.kill(h.pid()).await.unwrap());
    let e = h.wait().await.unwrap_err();
    assert_eq!(e.command().unwrap().exit_code, -1);
    assert!(!commands.kill(999_999).await.unwrap());

    // The timeout ends the command.
    let e = commands
        .run(
            "sleep 30",
            RunOpts {
                timeout: Some(Duration::from_millis(300)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");

    // Bad input gets typed errors; the sandbox keeps working.
    let e = commands
        .run(
            "true",
            RunOpts {
                cwd: Some("/no/such/dir".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e:?}");
    let e = commands
        .run(
            "true",
            RunOpts {
                user: Some("nobody-here".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e:?}");

    assert!(sandbox.is_running().await.unwrap());
    assert!(sandbox.kill().await.unwrap());
    assert!(!sandbox.is_running().await.unwrap());
    server.shutdown().await;
}

/// Tokio's clock with timers that fire late, as under a busy event loop.
struct LateTimers(TokioRuntime, u64);

impl Runtime for LateTimers {
    fn now_ms(&self) -> f64 {
        self.0.now_ms()
    }
    fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
        self.0.sleep(ms + self.1)
    }
    fn random(&self) -> f64 {
        self.0.random()
    }
}

#[tokio::test]
async fn a_timeout_seen_late_is_still_a_timeout() {
    // The daemon kills a command when its timeout runs out on its own clock, which starts a
    // little after the client's; a client whose timer is late sees that kill first. It is
    // still the timeout, not an exit by a signal.
    let server = start_server_with_sandboxes().await;
    let url = server.url();
    let mut o = opts(&url);
    o.connection.client = Some(Client::new(
        NativeTransport::new(),
        LateTimers(TokioRuntime::default(), 3_000),
        ProcessEnv,
        Platform::new("test", false),
    ));
    let sandbox = Sandbox::create(o).await.unwrap();
    let commands = sandbox.commands();
    let run = |cmd: &'static str| {
        commands.run(
            cmd,
            RunOpts {
                timeout: Some(Duration::from_millis(300)),
                ..Default::default()
            },
        )
    };
    let e = run("sleep 30").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    // Killed by a signal before the timeout is that exit, as before.
    let e = run("kill -9 $$").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandExit, "{e:?}");
    assert_eq!(
        e.command().unwrap().error.as_deref(),
        Some("signal: killed")
    );
    sandbox.kill().await.unwrap();
}

#[tokio::test]
async fn batched_output_keeps_each_stream_whole_and_in_order() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    // Interleaved stdout and stderr, several MB of each, then a non-zero exit.
    let mut h = sandbox
        .commands()
        .spawn(
            "for i in $(seq 1 40); do seq -f \"o$i-%g\" 1 5000; seq -f \"e$i-%g\" 1 5000 >&2; done; exit 4",
            RunOpts::default(),
        )
        .await
        .unwrap();
    h.discard_output();
    let (mut out, mut err, mut batches) = (Vec::new(), Vec::new(), 0);
    while let Some(piece) = h.next_output_batch(256 * 1024).await.unwrap() {
        batches += 1;
        match piece {
            Output::Stdout(b) => out.extend_from_slice(&b),
            Output::Stderr(b) => err.extend_from_slice(&b),
            Output::Pty(_) => panic!("no terminal was asked for"),
        }
    }
    let expect = |tag: &str| -> String {
        (1..=40)
            .flat_map(|i| (1..=5000).map(move |n| format!("{tag}{i}-{n}\n")))
            .collect()
    };
    assert!(
        String::from_utf8(out).unwrap() == expect("o"),
        "stdout differs"
    );
    assert!(
        String::from_utf8(err).unwrap() == expect("e"),
        "stderr differs"
    );
    assert!(batches > 1);
    // The end comes after the batches; with the output discarded the result carries none.
    let e = h.wait().await.unwrap_err();
    let outcome = e.command().unwrap();
    assert_eq!((outcome.exit_code, outcome.stdout.as_str()), (4, ""));
    sandbox.kill().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn output_as_text_is_decoded_across_pieces() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    // '€' and '😀' written in parts, a pause between, so that pieces end inside them; each
    // stream then ends inside a character, which becomes U+FFFD.
    let mut h = sandbox
        .commands()
        .spawn(
            r"printf '\342\202'; sleep 0.2; printf '\254-\360\237'; sleep 0.2; printf '\230\200!\303'; printf 'e\342\202' >&2",
            RunOpts::default(),
        )
        .await
        .unwrap();
    let (mut out, mut err, mut pieces) = (String::new(), String::new(), 0);
    while let Some(piece) = h.next_output_text(1 << 20).await.unwrap() {
        pieces += 1;
        match piece {
            OutputText::Stdout(s) => out.push_str(&s),
            OutputText::Stderr(s) => err.push_str(&s),
            OutputText::Pty(_) => panic!("no terminal was asked for"),
        }
    }
    assert_eq!(out, "€-😀!\u{fffd}");
    assert_eq!(err, "e\u{fffd}");
    assert!(pieces >= 4, "{pieces} pieces");
    // The end has been read: the next call says so again.
    assert!(h.next_output_text(1 << 20).await.unwrap().is_none());
    assert_eq!(h.wait().await.unwrap().exit_code, 0);
    sandbox.kill().await.unwrap();
    server.shutdown().await;
}

/// A disconnect from another task ends the read pending on an idle command at once; the
/// process goes on, and a new connection follows it to its end.
#[tokio::test]
async fn a_disconnect_ends_the_pending_read_and_leaves_the_process_running() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let mut h = sandbox
        .commands()
        .spawn("echo first; sleep 1; echo last", RunOpts::default())
        .await
        .unwrap();
    let pid = h.pid();
    let first = h.next_output().await.unwrap();
    assert!(matches!(first, Some(Output::Stdout(b)) if &b[..] == b"first\n"));
    let disconnect = h.disconnector();
    let reading = tokio::spawn(async move {
        let read = h.next_output().await;
        (read, h)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    disconnect.cancel();
    let (read, h) = tokio::time::timeout(Duration::from_millis(500), reading)
        .await
        .expect("the pending read outlived the disconnect")
        .unwrap();
    let e = read.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Sandbox, "{e}");
    assert!(e.message().contains("still running"), "{e}");
    assert_eq!(h.wait().await.unwrap_err().kind(), ErrorKind::Sandbox);
    let again = sandbox.commands().connect(pid, None).await.unwrap();
    let r = again.wait().await.unwrap();
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "last\n"));
    sandbox.kill().await.unwrap();
    server.shutdown().await;
}

/// A sandbox killed under a running command: its stream is cut and `/health` answers 502, so
/// the command fails as the official SDK reports it, with a `TimeoutError`.
#[tokio::test]
async fn a_command_in_flight_when_the_sandbox_is_killed_times_out() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let commands = sandbox.commands();
    let running = tokio::spawn(async move { commands.run("sleep 30", RunOpts::default()).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sandbox.kill().await.unwrap());
    let e = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the command still runs after the kill")
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        e.message().ends_with(
            "The sandbox was killed or reached its end of life while the request was in flight."
        ),
        "{e}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pause_then_connect_resumes_the_same_processes() {
    let server = start_server_with_sandboxes().await;
    if !server.sandbox_mode().starts_with("isolated") {
        eprintln!("skipped: sandboxes without isolation cannot be paused");
        return;
    }
    let url = server.url();
    let sandbox = Sandbox::create(opts(&url)).await.unwrap();
    let commands = sandbox.commands();
    let sleeper = commands
        .spawn("sleep 600", RunOpts::default())
        .await
        .unwrap();
    assert!(sandbox.pause(None).await.unwrap(), "the first pause");
    assert!(!sandbox.pause(None).await.unwrap(), "a second pause");
    let info = sandbox.get_info().await.unwrap();
    assert_eq!(info.state, sandkit::SandboxState::Paused);
    let resumed = sandbox.reconnect(None, None).await.unwrap();
    // The process from before the pause is still there.
    let listed = resumed.commands().list().await.unwrap();
    assert!(listed.iter().any(|p| p.pid == sleeper.pid()), "{listed:?}");
    let missing = Sandbox::pause_by_id("no-such-sandbox", None, &opts(&url).connection)
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::SandboxNotFound);
    assert!(resumed.kill().await.unwrap());
}

#[tokio::test]
async fn a_pause_without_memory_reboots_and_metrics_come_through_the_sdk() {
    let server = start_server_with_sandboxes().await;
    let url = server.url();
    let sandbox = Sandbox::create(opts(&url)).await.unwrap();
    sandbox
        .files()
        .write("/home/user/kept", "kept".into(), &Default::default())
        .await
        .unwrap();
    let sleeper = sandbox
        .commands()
        .spawn("sleep 600", RunOpts::default())
        .await
        .unwrap();
    assert!(sandbox.pause(Some(false)).await.unwrap());
    let rebooted = Sandbox::connect(
        sandbox.sandbox_id(),
        sandkit::ConnectOpts {
            connection: opts(&url).connection,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let listed = rebooted.commands().list().await.unwrap();
    assert!(listed.iter().all(|p| p.pid != sleeper.pid()), "{listed:?}");
    let kept = rebooted
        .commands()
        .run("cat /home/user/kept", RunOpts::default())
        .await
        .unwrap();
    assert_eq!(kept.stdout, "kept");

    // Samples arrive every 100 ms here (the second one carries the first CPU rate).
    let mut samples = Vec::new();
    for _ in 0..100 {
        samples = rebooted
            .get_metrics(&sandkit::MetricsOpts::default())
            .await
            .unwrap();
        if !samples.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sample = samples.last().expect("a sample within 10 s");
    assert_eq!(sample.cpu_count, 2);
    assert_eq!(sample.mem_total, 512 * 1024 * 1024);
    assert!(sample.timestamp.unix_millis() > 0);
    let missing = Sandbox::get_metrics_by_id(
        "no-such-sandbox",
        &sandkit::MetricsOpts {
            connection: opts(&url).connection,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::SandboxNotFound);
    assert!(rebooted.kill().await.unwrap());
}
