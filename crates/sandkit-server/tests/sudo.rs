//! `sudo` in a real sandbox: as E2B's `user` has it (root without a password, `-u`, `-i`,
//! sudo's environment), refused to accounts outside `sudo`, with the command's exit and
//! signals carried through, and the command gone with its client.

mod common;

use common::envd::{Envd, start_isolated};
use serde_json::json;
use std::time::Duration;

/// `script` with `sh -c` as `user`: its output (stderr after stdout) and exit code (0 when
/// the end event has none, as envd leaves it out).
async fn as_user(envd: &Envd, user: &str, script: &str) -> (String, i64) {
    let (out, end) = envd
        .run_as(
            user,
            "/bin/sh",
            &["-c", script],
            json!({}),
            Duration::from_secs(30),
        )
        .await;
    (out, end["exitCode"].as_i64().unwrap_or(0))
}

#[tokio::test]
async fn sudo_runs_as_root_for_user_as_e2bs_does() {
    let Some(server) = start_isolated("sudo needs an isolated sandbox").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    let run = |script: &'static str| as_user(&envd, "user", script);
    assert_eq!(run("sudo id -un").await, ("root\n".into(), 0));
    assert_eq!(run("sudo -u user id -un").await, ("user\n".into(), 0));
    assert_eq!(
        run("cd /tmp && sudo pwd && sudo -i pwd").await,
        ("/tmp\n/root\n".into(), 0)
    );
    assert_eq!(run("echo piped | sudo cat").await, ("piped\n".into(), 0));
    assert_eq!(run("sudo sh -c 'exit 7'").await.1, 7);
    let (out, code) = run("sudo no-such-command").await;
    assert_eq!(code, 1);
    assert!(out.contains("no-such-command: command not found"), "{out}");
    // sudo's environment: reset, its own variables, then what the command line sets.
    let (env, _) = run("MINE=x sudo A=1 env | sort").await;
    for line in [
        "HOME=/root",
        "USER=root",
        "SUDO_USER=user",
        "SUDO_UID=1000",
        "A=1",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in {env}");
    }
    assert!(!env.contains("MINE="), "{env}");
    let (kept, _) = run("MINE=x sudo -E sh -c 'echo $MINE'").await;
    assert_eq!(kept, "x\n");
    // Root writes where user may not.
    assert_eq!(
        run("sudo touch /etc/by-sudo && stat -c %U /etc/by-sudo").await,
        ("root\n".into(), 0)
    );

    // An account outside `sudo` is refused until it joins the group.
    envd.ok("useradd -m alice").await;
    let (out, code) = as_user(&envd, "alice", "sudo id -un").await;
    assert_eq!(
        (out.as_str(), code),
        ("alice is not in the sudoers file.\n", 1)
    );
    envd.ok("groupadd -f sudo && usermod -aG sudo alice").await;
    assert_eq!(
        as_user(&envd, "alice", "sudo id -un").await,
        ("root\n".into(), 0)
    );
}

#[tokio::test]
async fn a_sudo_command_gets_its_clients_signals_and_ends_with_it() {
    let Some(server) = start_isolated("sudo needs an isolated sandbox").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    // A signal to the client reaches the command, and the client ends as the command did.
    let (out, code) = as_user(
        &envd,
        "user",
        "sudo sh -c 'trap \"echo got TERM; exit 3\" TERM; echo ready; sleep 30 & wait' & \
         sleep 1; kill -TERM $!; wait $!",
    )
    .await;
    assert_eq!((out.as_str(), code), ("ready\ngot TERM\n", 3));
    // Killed by a signal: the client dies of the same one.
    let (out, _) = as_user(&envd, "user", "sudo sh -c 'kill -USR1 $$'; echo $?").await;
    // (Then the shell's report of the signal, on stderr.)
    assert_eq!(
        out.lines().next(),
        Some((128 + libc::SIGUSR1).to_string().as_str()),
        "{out}"
    );

    // A client killed outright (as commands.kill kills a command's group) takes its
    // command with it.
    let (pid, _events) = envd.start_sh("sudo sleep 300", false).await;
    let sleeping = || async {
        let (out, _) = envd.run("pgrep -x sleep || true").await;
        out.trim().to_string()
    };
    let mut running = String::new();
    for _ in 0..50 {
        running = sleeping().await;
        if !running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!running.is_empty(), "the command never ran");
    let (status, answer) = envd
        .unary(
            "process.Process/SendSignal",
            json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut gone = false;
    for _ in 0..50 {
        if sleeping().await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the command outlived its client");
}
