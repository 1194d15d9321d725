//! `sandbox.pty` against an in-process sandkitd whose terminals are real pseudo-terminals.

mod common;

use common::{TEAM_A_KEY, conn, start_server_with_sandboxes};
use sandkit::commands::{CommandHandle, Output};
use sandkit::pty::{PtyOpts, PtySize};
use sandkit::{ErrorKind, Sandbox, SandboxOpts};
use std::time::Duration;

fn opts(url: &str) -> SandboxOpts {
    let mut o = SandboxOpts::new();
    o.connection = conn(url, TEAM_A_KEY);
    o.connection.sandbox_url = Some(url.to_string());
    o
}

/// Reads the terminal's output into `seen` until it contains `needle`. A generous bound turns
/// a hang into a failure; it is not a measure of speed.
async fn read_until(h: &mut CommandHandle, seen: &mut String, needle: &str) {
    let read = async {
        while !seen.contains(needle) {
            match h.next_output().await.unwrap() {
                Some(Output::Pty(b)) => seen.push_str(&String::from_utf8_lossy(&b)),
                Some(other) => panic!("a terminal sent {other:?}"),
                None => panic!("the terminal ended before {needle:?}; it showed {seen:?}"),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .is_err()
    {
        panic!("no {needle:?} from the terminal; it showed {seen:?}");
    }
}

#[tokio::test]
async fn a_terminal_takes_input_resizes_and_ends() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let pty = sandbox.pty();

    let mut o = PtyOpts::new(PtySize::new(80, 24).unwrap());
    o.envs.insert("PTY_VAR".into(), "here".into());
    let mut h = pty.create(o).run().await.unwrap();
    let pid = h.pid();
    let mut seen = String::new();

    // The echoed command line shows `$(…)` as typed; only the output has the values.
    pty.send_input(pid, b"echo \"S=$(stty size) T=$TERM V=$PTY_VAR\"\n")
        .run()
        .await
        .unwrap();
    read_until(&mut h, &mut seen, "S=24 80 T=xterm-256color V=here").await;

    // A program in the foreground sees the resize as SIGWINCH and the new size.
    pty.send_input(
        pid,
        b"sh -c 'trap \"echo WINCH-\\$(stty size); exit 0\" WINCH; echo ARM$((1+1)); while :; do sleep 0.1; done'\n",
    )
    .run()
    .await
    .unwrap();
    read_until(&mut h, &mut seen, "ARM2").await;
    pty.resize(pid, PtySize::new(100, 40).unwrap())
        .run()
        .await
        .unwrap();
    read_until(&mut h, &mut seen, "WINCH-40 100").await;

    // A second handle gets what the terminal prints from then on.
    let mut second = pty.connect(pid, None).run().await.unwrap();
    assert_eq!(second.pid(), pid);
    let mut seen_second = String::new();
    pty.send_input(pid, b"echo B$((2+3))B\n")
        .run()
        .await
        .unwrap();
    read_until(&mut second, &mut seen_second, "B5B").await;
    read_until(&mut h, &mut seen, "B5B").await;

    // A terminal has no stdin pipe: its input goes to the terminal, Ctrl-D ends it. Both
    // are refused as envd refuses them (the process is fine; the request is not for it).
    let e = sandbox.commands().close_stdin(pid).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Sandbox, "{e}");
    assert!(e.message().contains("send Ctrl+D (0x04) instead"), "{e}");
    let e = sandbox.commands().send_stdin(pid, b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Sandbox, "{e}");
    assert!(e.message().contains("tty assigned to process"), "{e}");

    pty.send_input(pid, b"exit\n").run().await.unwrap();
    let r = h.wait().await.unwrap();
    assert_eq!(r.exit_code, 0);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    assert!(!pty.kill(pid).run().await.unwrap(), "killed after it ended");
}

#[tokio::test]
async fn a_terminal_runs_as_the_user_in_the_directory_asked_and_can_be_killed() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let pty = sandbox.pty();

    let mut o = PtyOpts::new(PtySize::new(80, 24).unwrap());
    o.user = Some("root".into());
    o.cwd = Some("/tmp".into());
    let mut h = pty.create(o).run().await.unwrap();
    let mut seen = String::new();
    pty.send_input(h.pid(), b"echo \"W=$(whoami)@$(pwd)\"\n")
        .run()
        .await
        .unwrap();
    read_until(&mut h, &mut seen, "W=root@/tmp").await;

    // A plain command has no terminal to type into or resize.
    let plain = sandbox
        .commands()
        .spawn("sleep 30", Default::default())
        .await
        .unwrap();
    let e = pty.send_input(plain.pid(), b"x").run().await.unwrap_err();
    assert!(e.message().contains("tty not assigned to process"), "{e}");
    let e = pty
        .resize(plain.pid(), PtySize::new(10, 10).unwrap())
        .run()
        .await
        .unwrap_err();
    assert!(e.message().contains("tty not assigned to process"), "{e}");
    assert!(sandbox.commands().kill(plain.pid()).await.unwrap());

    assert!(pty.kill(h.pid()).run().await.unwrap());
    let e = h.wait().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandExit);
    assert_eq!(e.command().unwrap().exit_code, -1);
}

#[tokio::test]
async fn a_terminal_ends_when_its_timeout_passes() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let mut o = PtyOpts::new(PtySize::new(80, 24).unwrap());
    o.timeout = Some(Duration::from_millis(800));
    let h = sandbox.pty().create(o).run().await.unwrap();
    let pid = h.pid();
    let e = h.wait().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // The daemon kills it too: a handle attached now sees it end (or finds it gone).
    match sandbox.pty().connect(pid, None).run().await {
        Ok(late) => {
            let e = late.wait().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::CommandExit, "{e}");
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
    }
    let listed = sandbox.commands().list().await.unwrap();
    assert!(listed.iter().all(|p| p.pid != pid), "{listed:?}");
}
