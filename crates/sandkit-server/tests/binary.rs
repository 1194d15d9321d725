//! The `sandkitd` binary itself: flags, the banner, one real call, and a clean exit on signals.

mod common;

use common::http_client;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sandkitd");

/// A running `sandkitd` that is killed if a test fails before stopping it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn spawn(args: &[&str]) -> Daemon {
    Daemon(
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sandkitd starts"),
    )
}

/// The four banner lines, read without blocking the test forever.
fn banner(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for _ in 0..4 {
            match lines.next() {
                Some(Ok(line)) => tx.send(line).unwrap(),
                _ => return,
            }
        }
    });
    (0..4)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("a banner line")
        })
        .collect()
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "sandkitd did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

async fn call(url: &str, key: &str) -> u16 {
    let http = http_client();
    let created = http
        .post(format!("{url}/v2/sandboxes"))
        .header("X-API-KEY", key)
        .json(&serde_json::json!({"templateID": "base"}))
        .send()
        .await
        .unwrap();
    created.status().as_u16()
}

#[tokio::test]
async fn prints_the_banner_serves_and_exits_cleanly_on_sigterm_and_sigint() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut child = spawn(&["--port", "0"]);
        let lines = banner(&mut child);
        let url = lines[0]
            .strip_prefix(&format!(
                "sandkitd {} listening on ",
                env!("CARGO_PKG_VERSION")
            ))
            .unwrap_or_else(|| panic!("first line: {:?}", lines[0]))
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        assert_ne!(port, 0);
        assert_eq!(lines[1], format!("E2B_API_URL={url}"));
        assert_eq!(lines[2], format!("E2B_SANDBOX_URL={url}"));
        let key = lines[3].strip_prefix("E2B_API_KEY=").unwrap().to_string();
        assert!(key.starts_with("sk_sandkit_") && key.len() == 43, "{key}");
        assert!(key[11..].bytes().all(|b| b.is_ascii_hexdigit()));

        assert_eq!(call(&url, &key).await, 201);
        assert_eq!(call(&url, "not-the-key").await, 401);

        signal(&child, sig);
        let status = wait(&mut child);
        assert!(
            status.success(),
            "exit status {status:?} after signal {sig}"
        );
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!stderr.contains(&key), "the key leaked to stderr: {stderr}");
    }
}

#[tokio::test]
async fn given_keys_map_to_teams_and_the_first_is_printed() {
    let mut child = spawn(&[
        "--port=0",
        "--host",
        "127.0.0.1",
        "--api-key",
        "key-one=team-1",
        "--api-key=key-two",
        "--domain",
        "sbx.test",
    ]);
    let lines = banner(&mut child);
    assert_eq!(lines[3], "E2B_API_KEY=key-one");
    let url = lines[1].strip_prefix("E2B_API_URL=").unwrap().to_string();
    assert_eq!(call(&url, "key-one").await, 201);
    assert_eq!(call(&url, "key-two").await, 201);
    let http = http_client();
    let listed: serde_json::Value = http
        .get(format!("{url}/v2/sandboxes"))
        .header("X-API-KEY", "key-two")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "teams are separate");
    signal(&child, libc::SIGTERM);
    assert!(wait(&mut child).success());
}

#[test]
fn help_version_and_bad_flags() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--api-key",
        "--domain",
        "--help",
        "--version",
    ] {
        assert!(text.contains(flag), "--help does not document {flag}");
    }
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("sandkitd {}", env!("CARGO_PKG_VERSION"))
    );
    for bad in [&["--bogus"][..], &["--port", "x"], &["--api-key"]] {
        let out = Command::new(BIN).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
    // A port that is taken is an error, not a hang.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN).args(["--port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(!stderr.contains("sk_sandkit_"), "{stderr}");
}
