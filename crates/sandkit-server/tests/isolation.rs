//! A hostile root (and user) inside a sandbox cannot touch the host: `tests/hostile/
//! escape-attempts.sh` tries every way out, through the real daemon protocol of a real
//! sandkitd, and the host checks afterwards that nothing of its own changed. Then what root may
//! do inside: write anywhere in its own sandbox, install things, and leave nothing behind.

mod common;

use common::envd::{Envd, isolated, start_with_sandboxes};
use common::{Api, KEY_A, start_with};
use sandkit_server::ServerConfig;
use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ESCAPE_ATTEMPTS: &str = include_str!("../../../tests/hostile/escape-attempts.sh");
const MAX_PIDS: u32 = 96;
const TMP_MB: u64 = 32;

fn tag() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn agent() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sandkitd"))
}

fn small_sandboxes() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.sandboxes.agent_exe = Some(agent());
    config.sandboxes.max_pids = MAX_PIDS;
    config.sandboxes.tmp_size_mb = TMP_MB;
    config
}

/// Everything below `dir` (names, modes, owners, contents), as one comparable string.
fn fingerprint(dir: &Path) -> String {
    let mut out = String::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push_str(&format!("{} {:o} {} ", p.display(), m.mode(), m.uid()));
        if m.is_dir() {
            out.push_str(&fingerprint(&p));
        } else if m.is_file() {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
        out.push('\n');
    }
    out
}

/// Files of the host a sandbox must never see, removed when dropped.
struct Planted {
    text: String,
    paths: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Planted {
    fn new(tag: &str) -> Planted {
        let text = format!("sandkit-secret-{tag}");
        let home = PathBuf::from(format!("/home/sandkit-test-{tag}"));
        std::fs::create_dir_all(&home).unwrap();
        let marker = PathBuf::from(format!("/var/tmp/sandkit-marker-{tag}"));
        std::fs::create_dir_all(marker.join("sub")).unwrap();
        std::fs::write(marker.join("a"), "host file").unwrap();
        std::fs::write(marker.join("sub/b"), "host file").unwrap();
        let mut planted = Planted {
            text: text.clone(),
            paths: Vec::new(),
            dirs: vec![home.clone(), marker],
        };
        // Outside the template (root's home, a person's home), and inside it but kept from
        // other users (a 0600 file in /etc).
        for (path, mode) in [
            (PathBuf::from(format!("/root/sandkit-secret-{tag}")), 0o600),
            (home.join("secret"), 0o644),
            (PathBuf::from(format!("/etc/sandkit-secret-{tag}")), 0o600),
        ] {
            std::fs::write(&path, &text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            planted.paths.push(path);
        }
        planted
    }

    fn marker(&self) -> &Path {
        &self.dirs[1]
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Runs the escape attempts as `user`; returns the HELD lines, failing on any ESCAPED one or
/// on an attempt that did not report.
async fn attempt_escapes(envd: &Envd, user: &str, envs: Value) -> Vec<String> {
    let (out, end) = envd
        .run_as(
            user,
            "/bin/bash",
            &["/tmp/escape-attempts.sh"],
            envs,
            Duration::from_secs(120),
        )
        .await;
    let escaped: Vec<&str> = out.lines().filter(|l| l.starts_with("ESCAPED")).collect();
    assert!(escaped.is_empty(), "as {user}:\n{}", escaped.join("\n"));
    let held: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("HELD"))
        .map(str::to_string)
        .collect();
    let number = |prefix: &str| -> usize {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("as {user}: no {prefix} line (end {end}):\n{out}"))
    };
    assert_eq!(
        held.len(),
        number("DONE ") + number("COUNT "),
        "as {user}: an attempt did not report:\n{out}"
    );
    held
}

#[tokio::test]
async fn hostile_root_and_user_cannot_escape() {
    let tag = tag();
    // Planted before the server starts: the template's masks are made at start.
    let planted = Planted::new(&tag);
    let before = fingerprint(planted.marker());
    let server = start_with(small_sandboxes()).await;
    assert!(
        server.sandbox_mode().starts_with("isolated:"),
        "{}",
        server.sandbox_mode()
    );
    let envd = Envd::create(&server).await;
    envd.upload("/tmp/escape-attempts.sh", ESCAPE_ATTEMPTS.as_bytes())
        .await;
    let state_dir = common::state_dir(&server);
    let host_only = [
        state_dir.display().to_string(),
        env!("CARGO_MANIFEST_DIR").to_string(),
        format!("/home/sandkit-test-{tag}"),
    ]
    .join(":");
    let secrets: Vec<String> = planted
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let envs = json!({
        "SECRET_PATHS": secrets.join(":"),
        "SECRET_TEXT": planted.text,
        "MARKER_DIR": planted.marker().display().to_string(),
        "HOST_ONLY": host_only,
        "SANDKITD_PID": std::process::id().to_string(),
        "FORK_BOMB": "1",
        "MAX_PIDS": MAX_PIDS.to_string(),
        "FILL_TMP": "1",
    });
    for user in ["root", "user"] {
        let held = attempt_escapes(&envd, user, envs.clone()).await;
        // The attempts that matter most really ran.
        for name in [
            "id_map",
            "remount_rw:/ ",
            "mount_tmpfs",
            "mknod:sda",
            "host_devices",
            "write_proc_sys:sysrq",
            "sysrq_trigger",
            "syscall:init_module",
            "syscall:setns",
            "unshare_user",
            "nsenter_pid1",
            "ptrace_pid1",
            "read_secret:/root/",
            "read_secret:/etc/",
            "secret_anywhere",
            "fork_bomb",
            "fill_tmp",
            "kill_sandkitd",
        ] {
            assert!(
                held.iter().any(|l| l.contains(&format!(" {name}"))),
                "as {user}: {name} did not run:\n{}",
                held.join("\n")
            );
        }
        if user == "root" {
            assert!(held.iter().any(|l| l.contains(" chroot_escape")));
        }
    }

    // The host: its files as they were, sandkitd serving, the secrets' sandbox view clean.
    assert_eq!(fingerprint(planted.marker()), before, "the marker changed");
    for p in &planted.paths {
        assert_eq!(std::fs::read_to_string(p).unwrap(), planted.text);
    }
    let shadow = envd.ok("cat /etc/shadow").await;
    let host_shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    for line in host_shadow.lines() {
        let hash = line.split(':').nth(1).unwrap_or("");
        if hash.len() > 2 {
            assert!(
                !shadow.contains(hash),
                "a host password hash is in the sandbox"
            );
        }
    }
    let next = Envd::create(&server).await;
    assert_eq!(next.ok("echo alive").await, "alive\n");
    server.shutdown().await;
}

#[tokio::test]
async fn root_writes_stay_in_its_sandbox_and_go_with_it() {
    let tag = tag();
    let server = start_with_sandboxes().await;
    let a = Envd::create(&server).await;
    let tool = format!("sandkit-tool-{tag}");
    a.ok(&format!(
        "echo a > /etc/sandkit-{tag} && mkdir /root/{tag} && cp /bin/true /usr/local/bin/{tool} \
         && touch /var/tmp/{tag} && {tool} && ls -ld /etc/sandkit-{tag} | cut -d' ' -f3"
    ))
    .await;
    // Not on the host...
    for p in [
        format!("/etc/sandkit-{tag}"),
        format!("/root/{tag}"),
        format!("/usr/local/bin/{tool}"),
        format!("/var/tmp/{tag}"),
    ] {
        assert!(!Path::new(&p).exists(), "{p} reached the host");
    }
    // ...but in the sandbox's writable layers, owned by its own range of host ids.
    let dir = common::state_dir(&server).join(&a.id);
    let written: Vec<PathBuf> = if dir.join("disk").exists() {
        // On its disk image, mounted in its own mount namespace only: seen through the root
        // of its agent (a child of this process, which runs sandkitd).
        agent_roots()
            .map(|root| root.join(format!("etc/sandkit-{tag}")))
            .filter(|p| p.exists())
            .collect()
    } else {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('u'))
            .map(|upper| upper.join(format!("sandkit-{tag}")))
            .filter(|p| p.exists())
            .collect()
    };
    assert_eq!(
        written.len(),
        1,
        "/etc/sandkit-{tag} in one sandbox: {written:?}"
    );
    let owner = std::fs::metadata(&written[0]).unwrap().uid();
    assert!(
        owner >= sandkit_server::sandbox::ids::FIRST,
        "owned by host uid {owner}"
    );
    // Not in the next sandbox.
    let b = Envd::create(&server).await;
    let (out, _) = b
        .run(&format!(
            "command -v {tool}; ls /etc/sandkit-{tag} /root/{tag} 2>&1 | wc -l"
        ))
        .await;
    assert_eq!(out.trim(), "2", "b sees a's files: {out}");
    // Killed, its files are gone.
    let api = Api::new(&server.url(), KEY_A);
    api.delete(&format!("/sandboxes/{}", a.id)).await;
    assert!(!dir.exists(), "{} is left", dir.display());
    server.shutdown().await;
}

/// The roots of the sandboxes' agents: this process's children.
fn agent_roots() -> impl Iterator<Item = PathBuf> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(move |p| {
            let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: the fields after the command's closing parenthesis.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(me.as_str())
        })
        .map(|p| p.path().join("root"))
}

/// The descriptors of this process (the in-process sandkitd's) that point at `target`.
fn open_descriptors_of(target: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy() == target)
        .count()
}

#[tokio::test]
async fn a_killed_sandbox_gives_back_its_namespace_at_once_whatever_its_commands_timeouts() {
    let server = start_with_sandboxes().await;
    let sbx = Envd::create(&server).await;
    let netns = sbx
        .ok("readlink /proc/self/ns/net")
        .await
        .trim()
        .to_string();
    assert!(netns.starts_with("net:["), "{netns}");
    // A command that ends at once but was given an hour: its deadline kept the sandbox's
    // handle (namespace, id range) for that hour after a kill.
    let mut frames = sbx
        .stream(
            "process.Process/Start",
            json!({"process": {"cmd": "/bin/true"}, "stdin": false}),
            &[
                ("Authorization", "Basic cm9vdDo="),
                ("Connect-Timeout-Ms", "3600000"),
            ],
        )
        .await;
    while !frames.next_within(Duration::from_secs(10)).await.is_end() {}
    assert!(open_descriptors_of(&netns) > 0, "sandkitd holds {netns}");
    let api = Api::new(&server.url(), KEY_A);
    api.delete(&format!("/sandboxes/{}", sbx.id)).await;
    assert!(
        common::envd::eventually(Duration::from_secs(5), || open_descriptors_of(&netns) == 0).await,
        "{netns} is still open in sandkitd after the kill"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn downloads_of_pipes_and_terminals_are_refused_at_once() {
    // A FIFO would hold sandkitd's reader forever; /dev/tty is sandkitd's own terminal.
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;
    envd.ok("mkfifo /tmp/pipe").await;
    for path in ["/tmp/pipe", "/dev/tty", "/dev/zero"] {
        let res = tokio::time::timeout(
            Duration::from_secs(10),
            envd.request(
                reqwest::Method::GET,
                &format!("/files?path={path}&username=root"),
            )
            .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("GET {path} hung"))
        .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body = res.text().await.unwrap();
        // /dev/tty opens only where sandkitd has a terminal.
        assert!(
            body.contains("not a regular file") || body.contains("no such device"),
            "{path}: {body}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn pip_and_npm_install_local_packages() {
    let server = start_with_sandboxes().await;
    let envd = Envd::create(&server).await;
    // An isolated sandbox has `python` for the host's `python3`, as E2B's base image has.
    let python = if isolated(&server) {
        "python"
    } else {
        "python3"
    };
    let script = r#"set -e
cd ~
mkdir -p pkg/sandkit_demo js-lib app
printf 'GREETING = "hi from pip"\n' > pkg/sandkit_demo/__init__.py
printf 'from setuptools import setup\nsetup(name="sandkit-demo", version="1.0", packages=["sandkit_demo"])\n' > pkg/setup.py
pip3 install --quiet --user --no-index --no-build-isolation ./pkg 2>&1 | grep -v WARNING || true
PYTHON -c 'import sandkit_demo; print(sandkit_demo.GREETING)'
printf '{"name":"js-lib","version":"1.0.0","main":"index.js"}' > js-lib/package.json
printf 'module.exports = "hi from npm"\n' > js-lib/index.js
cd app && printf '{"name":"app","version":"1.0.0"}' > package.json
npm install --offline --no-audit --no-fund --loglevel=error ../js-lib > /dev/null
node -e 'console.log(require("js-lib"))'
"#
    .replace("PYTHON", python);
    let (out, end) = envd
        .run_as(
            "user",
            "/bin/bash",
            &["-c", &script],
            json!({}),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(end["exitCode"], Value::Null, "{end} {out}");
    assert!(out.contains("hi from pip\n"), "{out}");
    assert!(out.contains("hi from npm\n"), "{out}");
    server.shutdown().await;
}

/// A tiny root filesystem: bash and a few tools with their libraries, and an os-release that
/// is not the host's.
fn tiny_root(dir: &Path) {
    let tools = ["/bin/bash", "/bin/cat", "/bin/ls", "/bin/id", "/bin/touch"];
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    for tool in tools {
        let real = std::fs::canonicalize(tool).unwrap();
        std::fs::copy(&real, dir.join(tool.trim_start_matches('/'))).unwrap();
        let ldd = std::process::Command::new("ldd")
            .arg(&real)
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let lib = line
                .split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from);
            if let Some(lib) = lib {
                let to = dir.join(lib.strip_prefix("/").unwrap());
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&lib, &to).unwrap();
            }
        }
    }
    std::os::unix::fs::symlink("bash", dir.join("bin/sh")).unwrap();
    std::fs::write(dir.join("etc/os-release"), "ID=sandkit-tiny\n").unwrap();
}

#[tokio::test]
async fn a_named_template_is_a_root_filesystem_of_its_own() {
    let dir = std::env::temp_dir().join(format!("sandkit-tiny-{}", tag()));
    tiny_root(&dir);
    let before = fingerprint(&dir);
    let mut config = ServerConfig::default();
    config.sandboxes.agent_exe = Some(agent());
    config.sandboxes.templates = vec![("tiny".into(), dir.clone())];
    let server = start_with(config).await;
    let api = Api::new(&server.url(), KEY_A);
    let created = api
        .post("/v2/sandboxes", json!({"templateID": "tiny"}))
        .await
        .expect_json(201);
    assert_eq!(created["templateID"], "tiny");
    let envd = Envd {
        api: api.clone(),
        id: created["sandboxID"].as_str().unwrap().into(),
        token: created["envdAccessToken"].as_str().unwrap().into(),
    };
    let out = envd
        .ok("cat /etc/os-release; ls /bin; id user; touch /bin/new /etc/new; echo ok")
        .await;
    assert!(out.starts_with("ID=sandkit-tiny\n"), "{out}");
    assert!(
        out.contains("bash\ncat\nid\nls\nsh\ntouch\n"),
        "only the template's: {out}"
    );
    assert!(out.contains("uid=1000(user)"), "{out}");
    assert!(out.ends_with("ok\n"), "{out}");
    // The default template is still there under its names.
    let base = Envd::create(&server).await;
    assert!(base.ok("cat /etc/os-release").await.contains("Debian"));
    assert_eq!(fingerprint(&dir), before, "the template changed");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_server_that_cannot_isolate_refuses_to_start_and_names_the_flags() {
    let mut config = ServerConfig::default();
    // An agent that cannot start stands for a kernel that refuses.
    config.sandboxes.agent_exe = Some("/bin/false".into());
    let err = sandkit_server::start(config).await.unwrap_err().to_string();
    assert!(err.contains("cannot be isolated"), "{err}");
    for flag in [
        "--insecure-no-userns",
        "--insecure-no-seccomp",
        "--no-isolation",
    ] {
        assert!(err.contains(flag), "{err}");
    }
}

#[tokio::test]
async fn without_a_user_namespace_the_banner_says_root_is_root() {
    let mut config = ServerConfig::default();
    config.sandboxes.agent_exe = Some(agent());
    config.sandboxes.insecure_no_userns = true;
    let server = start_with(config).await;
    let mode = server.sandbox_mode();
    assert!(mode.starts_with("INSECURELY isolated"), "{mode}");
    assert!(
        mode.contains("root in a sandbox is root on the host"),
        "{mode}"
    );
    let envd = Envd::create(&server).await;
    let out = envd.ok("cat /proc/self/uid_map").await;
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    server.shutdown().await;
}
