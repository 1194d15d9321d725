//! Talking to a sandbox's daemon routes the way the SDKs do: Connect unary and server-stream
//! calls and `/files`, addressed with the `E2b-Sandbox-Id` header.

use super::{Api, KEY_A, start_with};
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// A server whose sandboxes run real processes (the agent is the built `sandkitd`), without
/// rate limits.
pub async fn start_with_sandboxes() -> RunningServer {
    let mut config = ServerConfig::default();
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    config.sandboxes.agent_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    let server = start_with(config).await;
    eprintln!("sandboxes: {}", server.sandbox_mode());
    server
}

/// Whether the server's sandboxes are isolated (else they see the host as it is).
pub fn isolated(server: &RunningServer) -> bool {
    server.sandbox_mode().starts_with("isolated")
}

/// [`start_with_sandboxes`] for a test that needs isolation; `None`, after a line saying the
/// test is skipped and why (`without`: what is missing then), when sandboxes are not isolated.
pub async fn start_isolated(without: &str) -> Option<RunningServer> {
    let server = start_with_sandboxes().await;
    if isolated(&server) {
        return Some(server);
    }
    eprintln!("skipped: {without}");
    None
}

/// One sandbox's daemon.
#[derive(Clone)]
pub struct Envd {
    pub api: Api,
    pub id: String,
    pub token: String,
}

/// One envelope of a stream: its flags and its payload.
#[derive(Debug)]
pub struct Frame {
    pub flags: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!(
                "frame is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.payload)
            )
        })
    }

    pub fn is_end(&self) -> bool {
        self.flags & 0x02 != 0
    }
}

/// Reads a stream response's frames.
pub fn frames(res: reqwest::Response) -> Frames {
    Frames {
        res,
        buf: Vec::new(),
    }
}

/// The frames of a server stream, read as they arrive.
pub struct Frames {
    pub res: reqwest::Response,
    buf: Vec<u8>,
}

impl Frames {
    /// The stdout of a process's events until it holds `want` (each event within `limit`):
    /// everything read.
    pub async fn stdout_until(&mut self, want: &str, limit: Duration) -> String {
        use base64::Engine;
        let mut out = String::new();
        while !out.contains(want) {
            let frame = self.next_within(limit).await;
            assert!(!frame.is_end(), "the stream ended with {out:?}");
            if let Some(data) = frame.json()["event"]["data"]["stdout"].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap();
                out.push_str(&String::from_utf8(bytes).unwrap());
            }
        }
        out
    }

    /// Whether the stream breaks off (the connection dropped mid-body, with no end-stream
    /// frame) within `limit`, as a dead VM's stream does; frames before the break are skipped.
    pub async fn is_cut_within(&mut self, limit: Duration) -> bool {
        let cut = async {
            loop {
                match self.res.chunk().await {
                    Ok(Some(chunk)) => {
                        self.buf.extend_from_slice(&chunk);
                        // An end-stream frame is not a cut.
                        if self.buf.len() >= 5 && self.buf[0] & 0b10 != 0 {
                            return false;
                        }
                        self.buf.clear();
                    }
                    Ok(None) => return false,
                    Err(_) => return true,
                }
            }
        };
        tokio::time::timeout(limit, cut).await.unwrap_or(false)
    }

    /// The next frame; `None` when the body ended.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf.len() >= 5 + len {
                    let flags = self.buf[0];
                    let payload = self.buf[5..5 + len].to_vec();
                    self.buf.drain(..5 + len);
                    return Some(Frame { flags, payload });
                }
            }
            match self.res.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) => {
                    assert!(self.buf.is_empty(), "a partial frame at the end");
                    return None;
                }
                Err(e) => panic!("reading the stream: {e}"),
            }
        }
    }

    /// The next frame, within `limit`.
    #[track_caller]
    pub fn next_within(
        &mut self,
        limit: Duration,
    ) -> impl std::future::Future<Output = Frame> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match tokio::time::timeout(limit, self.next()).await {
                Ok(Some(frame)) => frame,
                Ok(None) => panic!("{caller}: the stream ended without an end-stream frame"),
                Err(_) => panic!("{caller}: no frame within {limit:?}"),
            }
        }
    }
}

impl Envd {
    /// Creates a sandbox for team A.
    pub async fn create(server: &RunningServer) -> Envd {
        Envd::create_with(
            &Api::new(&server.url(), KEY_A),
            json!({"templateID": "base"}),
        )
        .await
    }

    /// Creates a sandbox with the create body `body`, for `api`'s team.
    pub async fn create_with(api: &Api, body: Value) -> Envd {
        let created = api.post("/v2/sandboxes", body).await.expect_json(201);
        Envd {
            api: api.clone(),
            id: created["sandboxID"].as_str().unwrap().to_string(),
            token: created["envdAccessToken"].as_str().unwrap().to_string(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.api
            .http
            .request(method, format!("{}{path}", self.api.url))
            .header("E2b-Sandbox-Id", &self.id)
            .header("E2b-Sandbox-Port", "49983")
            .header("X-Access-Token", &self.token)
    }

    /// A unary JSON call: the status and the JSON body.
    pub async fn unary(&self, rpc: &str, body: Value) -> (u16, Value) {
        let res = self
            .request(reqwest::Method::POST, &format!("/{rpc}"))
            .header("Content-Type", "application/json")
            .header("Connect-Protocol-Version", "1")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GetWatcherEvents` of polling watcher `id`: the status and the answer.
    pub async fn poll_watcher(&self, id: &str) -> (u16, Value) {
        self.unary(
            "filesystem.Filesystem/GetWatcherEvents",
            json!({ "watcherId": id }),
        )
        .await
    }

    /// A server-stream JSON call, with extra headers.
    pub async fn stream(&self, rpc: &str, body: Value, headers: &[(&str, &str)]) -> Frames {
        let payload = body.to_string().into_bytes();
        let mut framed = vec![0u8];
        framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        framed.extend_from_slice(&payload);
        let mut rb = self
            .request(reqwest::Method::POST, &format!("/{rpc}"))
            .header("Content-Type", "application/connect+json")
            .header("Connect-Protocol-Version", "1")
            .body(framed);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let res = rb.send().await.unwrap();
        assert_eq!(res.status(), 200);
        frames(res)
    }

    /// Starts `script` with `sh -c` as `root`, with a stdin pipe or without: its pid and its
    /// events (the start event read).
    pub async fn start_sh(&self, script: &str, stdin: bool) -> (u64, Frames) {
        let auth = basic_auth("root");
        let mut events = self
            .stream(
                "process.Process/Start",
                json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": stdin}),
                &[("Authorization", auth.as_str())],
            )
            .await;
        let start = events.next_within(Duration::from_secs(10)).await.json();
        let pid = start["event"]["start"]["pid"]
            .as_u64()
            .expect("a start event");
        (pid, events)
    }

    /// Runs a shell script as `root` to its end: stdout, and the end event.
    pub async fn run(&self, script: &str) -> (String, Value) {
        self.run_as(
            "root",
            "/bin/sh",
            &["-c", script],
            json!({}),
            Duration::from_secs(30),
        )
        .await
    }

    /// Runs `cmd args` as `user` with `envs` to its end, allowing `quiet` between events:
    /// stdout (stderr appended), and the end event.
    pub async fn run_as(
        &self,
        user: &str,
        cmd: &str,
        args: &[&str],
        envs: Value,
        quiet: Duration,
    ) -> (String, Value) {
        use base64::Engine;
        let auth = basic_auth(user);
        let mut frames = self
            .stream(
                "process.Process/Start",
                json!({"process": {"cmd": cmd, "args": args, "envs": envs}, "stdin": false}),
                &[("Authorization", auth.as_str())],
            )
            .await;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        loop {
            let frame = frames.next_within(quiet).await;
            assert!(!frame.is_end(), "no end event: {:?}", frame.json());
            let event = frame.json()["event"].clone();
            for (key, buf) in [("stdout", &mut out), ("stderr", &mut err)] {
                if let Some(data) = event["data"][key].as_str() {
                    buf.extend(
                        base64::engine::general_purpose::STANDARD
                            .decode(data)
                            .unwrap(),
                    );
                }
            }
            if event.get("end").is_some() {
                out.extend(err);
                return (
                    String::from_utf8_lossy(&out).into_owned(),
                    event["end"].clone(),
                );
            }
        }
    }

    /// Uploads `content` to `path` (as root).
    pub async fn upload(&self, path: &str, content: &[u8]) {
        let res = self
            .request(
                reqwest::Method::POST,
                &format!("/files?path={path}&username=root"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }

    /// Runs a script that must succeed; its stdout.
    #[track_caller]
    pub fn ok<'a>(&'a self, script: &'a str) -> impl std::future::Future<Output = String> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let (out, end) = self.run(script).await;
            assert_eq!(
                end["exitCode"],
                Value::Null,
                "{caller}: `{script}` failed: {end} {out}"
            );
            out
        }
    }
}

/// The `Authorization` header of a call made as `user` (Basic, with an empty password).
pub fn basic_auth(user: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:"));
    format!("Basic {encoded}")
}

/// How many inotify instances this process holds open.
pub fn inotify_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| target.to_string_lossy() == "anon_inode:inotify")
        .count()
}

/// Polls `check` until it holds, for `limit` at most.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
