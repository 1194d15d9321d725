//! Which host gets which secret. A real sandkitd (the binary, so that its whole output can be
//! read) is reached through two recording proxies: one for the control plane (`api_url`), one
//! for the sandboxes (`sandbox_url`: daemons, interpreters, public ports). The whole surface is
//! used on two sandboxes, then what each proxy was sent is searched: the API key only on the
//! control plane, each access token only with its own sandbox. Errors are provoked (unknown
//! ids, bad arguments, a wrong key, refused connections, a 500 whose body echoes the request's
//! headers): neither an error nor any value's debug output shows a secret, and sandkitd prints
//! the API key in its banner only and no token at all.

mod common;

use common::fault_proxy::{Fault, FaultProxy, Recorded};
use common::{TEAM_A_KEY, TEAM_B_KEY, agent_exe};
use sandkit::commands::{Output, RunOpts};
use sandkit::files::{FsOpts, WatchOpts};
use sandkit::interpreter::RunCodeOpts;
use sandkit::pty::{PtyOpts, PtySize};
use sandkit::{
    ConnectOpts, ConnectionOpts, Error, ListOpts, MetricsOpts, NetworkConfig, Sandbox,
    SandboxNetworkUpdateConfig, SandboxOpts,
};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sandkitd process whose stdout and stderr are kept whole.
struct Daemon {
    child: Child,
    url: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn start() -> Daemon {
        let mut args: Vec<String> = [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            &format!("{TEAM_A_KEY}=team-a"),
            "--api-key",
            &format!("{TEAM_B_KEY}=team-b"),
            "--metrics-interval",
            "250ms",
            "--rate-limit",
            "1000000/1",
            "--ops-rate-limit",
            "1000000/1",
            "--create-rate",
            "1000000/1",
            "--max-sandboxes",
            "1000000",
        ]
        .map(String::from)
        .to_vec();
        let python = "/opt/sandkit-interpreter-venv/bin/python";
        if std::path::Path::new(python).exists() {
            args.extend(["--python".to_string(), python.to_string()]);
        }
        let mut child = Command::new(agent_exe())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sandkitd");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let out = stdout.clone();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("E2B_API_URL=") {
                    let _ = tx.send(url.to_string());
                }
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        let err = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no banner; stderr: {}", stderr.lock().unwrap()));
        Daemon {
            child,
            url,
            stdout,
            stderr,
        }
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// SIGTERM, and the wait for its exit, so that its last words are in.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A recording proxy that answers requests whose path holds the planned fragment with a 500
/// echoing the request, and forwards the rest.
async fn recorder(upstream: String) -> (FaultProxy, Arc<Mutex<Option<String>>>) {
    let plan: Arc<Mutex<Option<String>>> = Default::default();
    let p = plan.clone();
    let proxy = FaultProxy::deciding(upstream, move |_, head| {
        match p.lock().unwrap().as_deref() {
            Some(m) if head.method != "OPTIONS" && head.path.contains(m) => Fault::Echo(500),
            _ => Fault::Forward,
        }
    })
    .await;
    (proxy, plan)
}

/// An address where nothing listens.
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// Every label of `secrets` that `text` shows.
fn shown_in<'a>(text: &str, secrets: &'a [(&'a str, String)]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|(_, s)| !s.is_empty() && text.contains(s.as_str()))
        .map(|(l, _)| *l)
        .collect()
}

fn sandbox_of(r: &Recorded) -> Option<String> {
    r.header("e2b-sandbox-id")
}

#[tokio::test]
async fn each_secret_goes_only_to_its_host_and_shows_nowhere() {
    let mut daemon = Daemon::start();
    let (api, api_plan) = recorder(daemon.addr()).await;
    let (sbx, sbx_plan) = recorder(daemon.addr()).await;
    let through = ConnectionOpts {
        api_key: Some(TEAM_A_KEY.into()),
        api_url: Some(api.url.clone()),
        sandbox_url: Some(sbx.url.clone()),
        ..Default::default()
    };
    let tag = common::unique_tag("secrets");
    let create = |who: &str, protected: bool| {
        let mut o = SandboxOpts::new()
            .connection(through.clone())
            .metadata([("secrets", tag.as_str()), ("who", who)])
            .timeout(Duration::from_secs(120));
        if protected {
            o.network = Some(NetworkConfig {
                allow_public_traffic: Some(false),
                ..Default::default()
            });
        }
        Sandbox::create(o)
    };
    let a = create("a", true).await.unwrap();
    let b = create("b", false).await.unwrap();
    let token_a = a.envd_access_token().expect("a's access token").to_string();
    let token_b = b.envd_access_token().expect("b's access token").to_string();
    let traffic_a = a
        .traffic_access_token()
        .expect("a's traffic token")
        .to_string();
    let bad_key = "sk_wrong_key_for_the_secrets_test".to_string();
    // A key no HTTP header can carry: the error that says so must not repeat it.
    let unsendable_key = "sk_unsendable_key\nwith_a_line_break".to_string();
    let tokens = [
        ("a's access token", token_a.clone()),
        ("b's access token", token_b.clone()),
        ("a's traffic token", traffic_a.clone()),
    ];
    let secrets = [
        ("the API key", TEAM_A_KEY.to_string()),
        ("the other team's key", TEAM_B_KEY.to_string()),
        ("the wrong key", bad_key.clone()),
        ("the unsendable key", unsendable_key.clone()),
        (
            "the unsendable key's start",
            "sk_unsendable_key".to_string(),
        ),
    ]
    .into_iter()
    .chain(tokens.clone())
    .collect::<Vec<_>>();
    // Debug output of everything the calls return.
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, text: String| shown.push((what.to_string(), text));
    keep("sandbox", format!("{a:?} {a:#?}"));
    keep("config", format!("{:?}", a.config()));
    keep("connection opts", format!("{through:?}"));
    keep("handle", format!("{:?}", a.to_handle()));

    // ── the whole surface, through the two recorders ──────────────────────────────────────
    keep("info", format!("{:?}", a.get_info().await.unwrap()));
    let info_b = Sandbox::get_info_by_id(b.sandbox_id(), &through)
        .await
        .unwrap();
    keep("info", format!("{info_b:?}"));
    let mut pages = Sandbox::list(ListOpts {
        metadata: Some([("secrets".to_string(), tag.clone())].into_iter().collect()),
        connection: through.clone(),
        ..Default::default()
    });
    let page = pages.next_items().await.unwrap();
    assert_eq!(page.len(), 2);
    keep("list", format!("{page:?}"));
    a.set_timeout(Duration::from_secs(120)).await.unwrap();
    Sandbox::set_timeout_by_id(b.sandbox_id(), Duration::from_secs(120), &through)
        .await
        .unwrap();
    let connected = Sandbox::connect(
        a.sandbox_id(),
        ConnectOpts {
            connection: through.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    keep("connected", format!("{connected:?}"));

    let ran = connected
        .commands()
        .run("echo secrets-ok", RunOpts::default())
        .await
        .unwrap();
    assert_eq!(ran.stdout, "secrets-ok\n");
    keep("command", format!("{ran:?}"));
    let mut h = b
        .commands()
        .spawn("echo one; sleep 0.1; echo two", RunOpts::default())
        .await
        .unwrap();
    let mut streamed = Vec::new();
    while let Some(out) = h.next_output().await.unwrap() {
        if let Output::Stdout(bytes) = out {
            streamed.extend_from_slice(&bytes);
        }
    }
    assert_eq!(streamed, b"one\ntwo\n");
    keep("handle", format!("{h:?}"));

    let files = a.files();
    files
        .make_dir("/home/user/watched", &FsOpts::default())
        .await
        .unwrap();
    let mut watch = files
        .watch_dir("/home/user/watched", &WatchOpts::default())
        .await
        .unwrap();
    let written = files
        .write(
            "/home/user/watched/f.txt",
            "data".into(),
            &Default::default(),
        )
        .await
        .unwrap();
    keep("write", format!("{written:?}"));
    let event = tokio::time::timeout(Duration::from_secs(10), watch.next_event())
        .await
        .expect("a watch event")
        .unwrap();
    keep("event", format!("{event:?} {watch:?}"));
    watch.stopper().stop();
    drop(watch);
    b.files()
        .write("/home/user/b.txt", "b".into(), &Default::default())
        .await
        .unwrap();
    assert_eq!(
        &files
            .read("/home/user/watched/f.txt", &FsOpts::default())
            .await
            .unwrap()[..],
        b"data"
    );
    keep(
        "list",
        format!(
            "{:?}",
            files
                .list("/home/user/watched", 1, &FsOpts::default())
                .await
                .unwrap()
        ),
    );

    let pty = a.pty();
    let mut term = pty
        .create(PtyOpts::new(PtySize::new(80, 24).unwrap()))
        .await
        .unwrap();
    pty.send_input(term.pid(), b"echo pty-$((6*7))\n")
        .await
        .unwrap();
    let mut seen = String::new();
    let read = async {
        while !seen.contains("pty-42") {
            match term.next_output().await.unwrap() {
                Some(Output::Pty(b)) => seen.push_str(&String::from_utf8_lossy(&b)),
                Some(_) => {}
                None => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the terminal's output");
    assert!(pty.kill(term.pid()).await.unwrap());

    let execution = a
        .interpreter()
        .run_code("print(6 * 7)", RunCodeOpts::default())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(execution.stdout.concat(), "42\n");
    keep("execution", format!("{execution:?}"));

    // A public URL of the protected sandbox: the request the core makes, sent by reqwest.
    a.commands()
        .run(
            "cd /tmp && echo public-ok > index.html && (setsid python3 -m http.server 8000 >/dev/null 2>&1 &)",
            RunOpts::default(),
        )
        .await
        .unwrap();
    let req = a.public_request(8000, Some("/index.html")).unwrap();
    keep("public request", format!("{req:?}"));
    assert_eq!(common::get_public_when_up(&req).await, "public-ok\n");

    keep(
        "metrics",
        format!(
            "{:?}",
            a.get_metrics(&MetricsOpts::default()).await.unwrap()
        ),
    );
    let update = SandboxNetworkUpdateConfig {
        allow_out: Some(vec!["1.1.1.1".into()]),
        deny_out: Some(vec!["0.0.0.0/0".into()]),
        ..Default::default()
    };
    let mut errors: Vec<(String, Error)> = Vec::new();
    if let Err(e) = a.update_network(&update, None).await {
        // Where sandboxes have no network of their own, the update is refused: still an
        // error to look at.
        errors.push(("updateNetwork".into(), e));
    }
    assert!(b.pause(None).await.unwrap());
    let resumed = Sandbox::connect(
        b.sandbox_id(),
        ConnectOpts {
            connection: through.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        resumed
            .commands()
            .run("echo resumed", RunOpts::default())
            .await
            .unwrap()
            .stdout,
        "resumed\n"
    );

    // sandkitd's logs of each sandbox (what `e2b sandbox logs` shows), asked directly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    for id in [a.sandbox_id(), b.sandbox_id()] {
        let logs = direct
            .get(format!("{}/v2/sandboxes/{id}/logs?limit=1000", daemon.url))
            .header("x-api-key", TEAM_A_KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            logs.contains("started"),
            "no process in the logs of {id}: {logs}"
        );
        let leaked = shown_in(&logs, &secrets);
        assert!(leaked.is_empty(), "the logs of {id} show {leaked:?}");
    }

    // ── what each host was sent ───────────────────────────────────────────────────────────
    let api_sent = api.records();
    let sbx_sent = sbx.records();
    let mut problems = Vec::new();
    for r in &api_sent {
        for (label, s) in &tokens {
            if r.carries(s) {
                problems.push(format!("the control plane got {label} with {}", r.line));
            }
        }
        if r.header("x-api-key").as_deref() != Some(TEAM_A_KEY) {
            problems.push(format!("{} went without the API key", r.line));
        }
    }
    for r in &sbx_sent {
        let owner = sandbox_of(r);
        let others: &[(&str, &String)] = if owner.as_deref() == Some(a.sandbox_id()) {
            &[("b's access token", &token_b)]
        } else if owner.as_deref() == Some(b.sandbox_id()) {
            &[
                ("a's access token", &token_a),
                ("a's traffic token", &traffic_a),
            ]
        } else {
            &[
                ("a's access token", &token_a),
                ("b's access token", &token_b),
                ("a's traffic token", &traffic_a),
            ]
        };
        for (label, s) in others.iter().chain(&[
            ("the API key", &TEAM_A_KEY.to_string()),
            ("the other key", &TEAM_B_KEY.to_string()),
        ]) {
            if r.carries(s) {
                problems.push(format!(
                    "the sandboxes' host got {label} with {} for {owner:?}",
                    r.line
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The searches find what is there.
    assert!(api_sent.len() >= 10 && api_sent.iter().all(|r| r.carries(TEAM_A_KEY)));
    for (id, token) in [(a.sandbox_id(), &token_a), (b.sandbox_id(), &token_b)] {
        assert!(
            sbx_sent.iter().any(|r| sandbox_of(r).as_deref() == Some(id)
                && r.header("x-access-token").as_deref() == Some(token.as_str())),
            "no request to {id} carried its token"
        );
    }
    assert!(
        sbx_sent
            .iter()
            .any(|r| r.header("e2b-sandbox-port").as_deref() == Some("8000")
                && r.header("e2b-traffic-access-token").as_deref() == Some(traffic_a.as_str())),
        "the public URL request carried no traffic token"
    );
    for path in [
        "/process.Process/Start",
        "/process.Process/SendInput",
        "/filesystem.Filesystem/WatchDir",
        "/filesystem.Filesystem/ListDir",
        "/files",
        "/execute",
        "/index.html",
    ] {
        assert!(
            sbx_sent.iter().any(|r| r.line.contains(path)),
            "no {path} request went through the sandboxes' proxy"
        );
    }

    // ── errors ────────────────────────────────────────────────────────────────────────────
    let mut fail = |what: &str, r: Result<String, Error>| match r {
        Ok(v) => panic!("{what} did not fail: {v}"),
        Err(e) => errors.push((what.to_string(), e)),
    };
    let show = |v: &dyn std::fmt::Debug| format!("{v:?}");
    fail(
        "getInfo of an unknown id",
        Sandbox::get_info_by_id("sandkit-no-such-sandbox", &through)
            .await
            .map(|v| show(&v)),
    );
    fail(
        "getInfo of an empty id",
        Sandbox::get_info_by_id("", &through)
            .await
            .map(|v| show(&v)),
    );
    fail(
        "connect to an unknown id",
        Sandbox::connect(
            "sandkit-no-such-sandbox",
            ConnectOpts {
                connection: through.clone(),
                ..Default::default()
            },
        )
        .await
        .map(|v| show(&v)),
    );
    let wrong = ConnectionOpts {
        api_key: Some(bad_key.clone()),
        ..through.clone()
    };
    fail(
        "a wrong API key",
        Sandbox::get_info_by_id(a.sandbox_id(), &wrong)
            .await
            .map(|v| show(&v)),
    );
    fail(
        "an API key with a line break",
        Sandbox::get_info_by_id(
            a.sandbox_id(),
            &ConnectionOpts {
                api_key: Some(unsendable_key.clone()),
                ..through.clone()
            },
        )
        .await
        .map(|v| show(&v)),
    );
    fail(
        "a missing file",
        files
            .read("/home/user/no-such-file", &FsOpts::default())
            .await
            .map(|v| show(&v)),
    );
    fail(
        "a failed command",
        a.commands()
            .run("echo out; exit 3", RunOpts::default())
            .await
            .map(|v| show(&v)),
    );
    fail("a bad terminal size", PtySize::new(0, 24).map(|v| show(&v)));
    let refused = refused_url();
    fail(
        "getInfo, refused",
        Sandbox::get_info_by_id(
            a.sandbox_id(),
            &ConnectionOpts {
                api_url: Some(refused.clone()),
                retries: Some(0),
                ..through.clone()
            },
        )
        .await
        .map(|v| show(&v)),
    );
    let unreachable = Sandbox::connect(
        a.sandbox_id(),
        ConnectOpts {
            connection: ConnectionOpts {
                sandbox_url: Some(refused.clone()),
                retries: Some(0),
                ..through.clone()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    fail(
        "files.read, refused",
        unreachable
            .files()
            .read("/home/user/x", &FsOpts::default())
            .await
            .map(|v| show(&v)),
    );
    fail(
        "commands.run, refused",
        unreachable
            .commands()
            .run("true", RunOpts::default())
            .await
            .map(|v| show(&v)),
    );
    // A 500 that echoes the request's headers, at each kind of call.
    api.clear_records();
    sbx.clear_records();
    *api_plan.lock().unwrap() = Some(format!("/sandboxes/{}", a.sandbox_id()));
    fail("getInfo answered 500", a.get_info().await.map(|v| show(&v)));
    *api_plan.lock().unwrap() = Some("/v2/sandboxes".into());
    fail(
        "list answered 500",
        Sandbox::list(ListOpts {
            connection: through.clone(),
            ..Default::default()
        })
        .next_items()
        .await
        .map(|v| show(&v)),
    );
    *api_plan.lock().unwrap() = None;
    for (path, what) in [
        ("/files", "files.read answered 500"),
        ("/filesystem.Filesystem/ListDir", "files.list answered 500"),
        ("/process.Process/Start", "commands.run answered 500"),
        ("/execute", "runCode answered 500"),
        ("/filesystem.Filesystem/WatchDir", "watchDir answered 500"),
    ] {
        *sbx_plan.lock().unwrap() = Some(path.into());
        let r = match path {
            "/files" => files
                .read("/home/user/x", &FsOpts::default())
                .await
                .map(|v| show(&v)),
            "/filesystem.Filesystem/ListDir" => files
                .list("/home/user", 1, &FsOpts::default())
                .await
                .map(|v| show(&v)),
            "/process.Process/Start" => a
                .commands()
                .run("echo hi", RunOpts::default())
                .await
                .map(|v| show(&v)),
            "/execute" => match a.interpreter().run_code("1", RunCodeOpts::default()).await {
                Ok(run) => run.collect().await.map(|v| show(&v)),
                Err(e) => Err(e),
            },
            _ => files
                .watch_dir("/home/user", &WatchOpts::default())
                .await
                .map(|v| show(&v)),
        };
        fail(what, r);
    }
    *sbx_plan.lock().unwrap() = None;
    // The echoes did carry the secrets back: the errors had them to show.
    let echoed = |records: Vec<Recorded>, secret: &str| {
        records
            .iter()
            .filter(|r| r.echoed.as_deref().is_some_and(|e| e.contains(secret)))
            .count()
    };
    assert_eq!(echoed(api.records(), TEAM_A_KEY), 2);
    assert_eq!(echoed(sbx.records(), &token_a), 5);

    for (what, e) in &errors {
        keep(
            &format!("error of {what}"),
            format!("{e} {e:?} {}", e.to_binding_message()),
        );
    }
    let mut leaks = Vec::new();
    for (what, text) in &shown {
        for label in shown_in(text, &secrets) {
            leaks.push(format!("{what} shows {label}: {text}"));
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert!(errors.len() >= 16, "{errors:?}");

    assert!(a.kill().await.unwrap());
    assert!(Sandbox::kill_by_id(b.sandbox_id(), &through).await.unwrap());

    // ── sandkitd's output: the key in its banner only, no token anywhere ─────────────────
    daemon.stop();
    let stdout = daemon.stdout.lock().unwrap().clone();
    let stderr = daemon.stderr.lock().unwrap().clone();
    let banner_end = stdout
        .find("\nlimits:")
        .and_then(|i| stdout[i + 1..].find('\n').map(|j| i + 1 + j))
        .expect("the banner's limits line");
    let (banner, rest) = stdout.split_at(banner_end);
    assert!(
        banner.contains(&format!("E2B_API_KEY={TEAM_A_KEY}")),
        "{banner}"
    );
    let after = format!("{rest}\n{stderr}");
    let leaked = shown_in(&after, &secrets);
    assert!(leaked.is_empty(), "sandkitd printed {leaked:?}: {after}");
    let anywhere = shown_in(&format!("{stdout}{stderr}"), &tokens);
    assert!(anywhere.is_empty(), "sandkitd printed {anywhere:?}");
    // Its tokens are 64 hex digits: nothing of that shape, whichever sandbox it belonged to.
    let hexes = after
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .count();
    assert_eq!(
        hexes, 0,
        "something shaped like a token in sandkitd's output: {after}"
    );
}
