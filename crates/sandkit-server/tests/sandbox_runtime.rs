//! The sandbox runtime on its own: real agents, real processes, real namespaces (when the
//! machine allows them; the tests say which mode they ran in).

use sandkit_server::config::SandboxesConfig;
use sandkit_server::sandbox::proto::SpawnRequest;
use sandkit_server::sandbox::{ProcessIo, Runtime, SandboxIdentity, Spawned};
use std::io::Read;
use std::path::PathBuf;

async fn runtime() -> (Runtime, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let config = SandboxesConfig {
        agent_exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd"))),
        ..Default::default()
    };
    let rt = Runtime::new(dir.path.clone(), &config, &[]).await.unwrap();
    eprintln!("sandboxes: {}", rt.describe());
    (rt, dir)
}

mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "sandkitd-test-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn identity(id: &str) -> SandboxIdentity {
    SandboxIdentity {
        sandbox_id: id.into(),
        template_id: "base".into(),
        team_id: "team".into(),
        base_template: None,
    }
}

fn shell(rt: &Runtime, id: &str, script: &str, user: &str) -> SpawnRequest {
    let user = rt.user(id, user).unwrap();
    let mut env = identity(id).env();
    env.push((
        "PATH".into(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    ));
    env.push(("HOME".into(), user.home.clone()));
    SpawnRequest {
        req: 0,
        cmd: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env,
        cwd: user.home.clone(),
        uid: user.uid,
        gid: user.gid,
        groups: vec![user.gid],
        stdin: false,
        pty: None,
    }
}

/// Runs to the end; returns stdout, stderr and the exit code.
async fn output(s: Spawned) -> (String, String, Option<i32>) {
    let ProcessIo::Pipes { stdout, stderr, .. } = s.io else {
        panic!("pipes")
    };
    let read = |fd: std::os::fd::OwnedFd| {
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::from(fd);
            let mut out = String::new();
            f.read_to_string(&mut out).unwrap();
            out
        })
    };
    let (out, err) = (read(stdout), read(stderr));
    let status = s.exit.await.unwrap();
    (out.await.unwrap(), err.await.unwrap(), status.code)
}

#[tokio::test]
async fn runs_processes_with_identity_and_isolation() {
    let (rt, _dir) = runtime().await;
    let a = rt.start(&identity("sbx-a"), None).await.unwrap();
    let b = rt.start(&identity("sbx-b"), None).await.unwrap();

    let s = a
        .spawn(shell(
            &rt,
            "sbx-a",
            "echo $E2B_SANDBOX_ID; id -un; pwd; echo err >&2; exit 3",
            "user",
        ))
        .await
        .unwrap();
    let (out, err, code) = output(s).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "sbx-a");
    assert_eq!(err, "err\n");
    assert_eq!(code, Some(3));
    if rt.isolated {
        assert_eq!(lines[1], "user");
        assert_eq!(lines[2], "/home/user");
        // Only the sandbox's own processes: the agent (PID 1), the shell, ps.
        let s = a
            .spawn(shell(
                &rt,
                "sbx-a",
                "ps -e -o pid= | wc -l; echo $(cat /run/e2b/.E2B_SANDBOX_ID); hostname",
                "user",
            ))
            .await
            .unwrap();
        let (out, _, code) = output(s).await;
        assert_eq!(code, Some(0), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].trim().parse::<u32>().unwrap() <= 4,
            "ps shows {}",
            lines[0]
        );
        assert_eq!(lines[1], "sbx-a");
        assert_eq!(lines[2], "sbx-a");
        // A's files are not B's. Root may write anywhere in its own sandbox, and only there.
        let marker = format!("sandkit-runtime-test-{}", std::process::id());
        let s = a
            .spawn(shell(
                &rt,
                "sbx-a",
                &format!("echo secret > ~/a.txt && echo x > /tmp/t && touch /tmp/{marker} && ls /home/user"),
                "user",
            ))
            .await
            .unwrap();
        assert_eq!(output(s).await.2, Some(0));
        let s = b
            .spawn(shell(
                &rt,
                "sbx-b",
                &format!("ls -A /home/user; cat /tmp/t 2>&1; touch /usr/{marker} && echo wrote; echo done"),
                "root",
            ))
            .await
            .unwrap();
        let (out, _, _) = output(s).await;
        assert!(!out.contains("a.txt"), "{out}");
        assert!(out.contains("No such file"), "{out}");
        assert!(out.contains("wrote"), "{out}");
        let s = a
            .spawn(shell(
                &rt,
                "sbx-a",
                &format!("ls /usr/{marker} 2>&1"),
                "root",
            ))
            .await
            .unwrap();
        assert!(output(s).await.0.contains("No such file"));
        assert!(!std::path::Path::new("/usr").join(&marker).exists());
        assert!(!std::path::Path::new("/tmp").join(&marker).exists());
    }

    // Bad input: a missing directory, a missing command.
    let mut req = shell(&rt, "sbx-a", "true", "user");
    req.cwd = "/nope".into();
    let e = a.spawn(req).await.unwrap_err();
    assert!(
        matches!(e, sandkit_server::sandbox::SpawnError::Invalid(ref m) if m.contains("cwd '/nope' does not exist")),
        "{e:?}"
    );
    let mut req = shell(&rt, "sbx-a", "true", "user");
    req.cmd = "/no/such/cmd".into();
    assert!(matches!(
        a.spawn(req).await.unwrap_err(),
        sandkit_server::sandbox::SpawnError::Invalid(_)
    ));

    // Signals end a process; unknown pids are reported as such.
    let s = a
        .spawn(shell(&rt, "sbx-a", "sleep 30", "user"))
        .await
        .unwrap();
    assert!(a.signal(s.pid, 15).await);
    let status = s.exit.await.unwrap();
    assert_eq!(status.signal, Some(15));
    assert!(!a.signal(999_999, 9).await);

    // Kill ends every process, background ones included, and removes the files.
    let _s = a
        .spawn(shell(&rt, "sbx-a", "sleep 30 & sleep 30", "user"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        processes_of("sbx-a"),
        3,
        "the shell and two sleeps before the kill"
    );
    let dir = a.dir().to_path_buf();
    a.kill().await;
    assert_eq!(processes_of("sbx-a"), 0);
    assert!(!dir.exists());
    b.kill().await;
}

/// Host processes whose environment names this sandbox.
fn processes_of(sandbox_id: &str) -> usize {
    let needle = format!("E2B_SANDBOX_ID={sandbox_id}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("environ")).ok())
        .filter(|env| {
            let mut env = env.clone();
            env.push(0);
            String::from_utf8_lossy(&env).contains(&needle)
        })
        .count()
}
