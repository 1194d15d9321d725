//! The code interpreter on port 49999 against real kernels in real sandboxes: kept state,
//! results, streams, errors, rich output, environment scoping, contexts, interrupts, Bash,
//! JavaScript, TypeScript, R and Java, and the protocol's errors.

mod common;

use common::envd::Envd;
use common::{KEY_A, start_with};
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The virtual environment `scripts/setup.sh` makes with matplotlib and IPython (under /opt,
/// which sandboxes see).
const VENV_PYTHON: &str = "/opt/sandkit-interpreter-venv/bin/python";
/// The TypeScript compiler `scripts/setup.sh` installs for TypeScript contexts.
const TYPESCRIPT: &str = "/opt/sandkit-interpreter-node/node_modules/typescript";

/// A configuration for these tests: limits lifted, no warm pool.
fn test_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    config.sandboxes.agent_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    config.sandboxes.warm_pool = 0;
    config
}

async fn server(python: Option<&str>) -> RunningServer {
    let mut config = test_config();
    if let Some(p) = python {
        config.sandboxes.python = p.into();
    }
    start_with(config).await
}

struct Interp {
    envd: Envd,
}

impl Interp {
    async fn new(server: &RunningServer) -> Interp {
        Interp {
            envd: Envd::create(server).await,
        }
    }

    /// In a sandbox made with these `envVars`.
    async fn with_env(server: &RunningServer, env: Value) -> Interp {
        let api = common::Api::new(&server.url(), KEY_A);
        let body = json!({ "templateID": "base", "envVars": env });
        Interp {
            envd: Envd::create_with(&api, body).await,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.envd
            .api
            .http
            .request(method, format!("{}{path}", self.envd.api.url))
            .header("E2b-Sandbox-Id", &self.envd.id)
            .header("E2b-Sandbox-Port", "49999")
    }

    /// An execution request; one that has not ended within a minute fails (a context that
    /// could not be interrupted would otherwise hang the test).
    fn execute(&self, body: Value) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, "/execute")
            .header("X-Access-Token", &self.envd.token)
            .timeout(Duration::from_secs(60))
            .json(&body)
    }

    /// An execution whose client gives up after 2 s, before it ends by itself.
    async fn give_up_on(&self, body: Value) {
        let res = self
            .execute(body)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if let Ok(res) = res {
            assert!(res.text().await.is_err(), "the execution ended by itself");
        }
    }

    /// How long after sending an execution `needle` was first read in its answer, how long
    /// the whole answer took, and the answer.
    async fn first_sight(&self, body: Value, needle: &str) -> (Duration, Duration, String) {
        let started = Instant::now();
        let mut res = self.execute(body).send().await.unwrap();
        let mut seen = String::new();
        let first = loop {
            let chunk = res.chunk().await.unwrap().expect("a chunk before the end");
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                break started.elapsed();
            }
        };
        while let Some(chunk) = res.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        (first, started.elapsed(), seen)
    }

    /// Every line of an execution.
    async fn run(&self, body: Value) -> Vec<Value> {
        let res = self.execute(body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn python(&self, code: &str) -> Vec<Value> {
        self.run(json!({ "code": code })).await
    }

    async fn in_context(&self, id: &str, code: &str) -> Vec<Value> {
        self.run(json!({ "code": code, "context_id": id })).await
    }

    async fn list_contexts(&self) -> Vec<Value> {
        let res = self
            .request(reqwest::Method::GET, "/contexts")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Vec<Value>>().await.unwrap()
    }

    async fn create_context(&self, body: Value) -> Value {
        let res = self
            .request(reqwest::Method::POST, "/contexts")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

fn main_text(lines: &[Value]) -> Option<String> {
    of_type(lines, "result")
        .into_iter()
        .find(|r| r["is_main_result"] == true)
        .and_then(|r| r["text"].as_str().map(str::to_string))
}

/// The `text` of each line of type `t`, in order.
fn texts<'a>(lines: &'a [Value], t: &str) -> Vec<&'a str> {
    of_type(lines, t)
        .into_iter()
        .filter_map(|l| l["text"].as_str())
        .collect()
}

fn stream(lines: &[Value], t: &str) -> String {
    of_type(lines, t)
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect()
}

fn no_error(lines: &[Value]) {
    assert!(of_type(lines, "error").is_empty(), "{lines:?}");
}

#[tokio::test]
async fn python_state_results_streams_and_errors() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let health = s
        .request(reqwest::Method::GET, "/health")
        .send()
        .await
        .unwrap();
    assert_eq!(health.json::<Value>().await.unwrap(), "OK");

    // Kept state, and the protocol's first and last lines.
    let first = s.python("x = 1").await;
    assert_eq!(first.first().unwrap()["type"], "number_of_executions");
    assert_eq!(first.last().unwrap()["type"], "end_of_execution");
    assert_eq!(main_text(&first), None);
    let second = s.python("x + 1").await;
    assert_eq!(main_text(&second).as_deref(), Some("2"));
    let n1 = first[0]["execution_count"].as_i64().unwrap();
    assert_eq!(second[0]["execution_count"].as_i64().unwrap(), n1 + 1);
    let data = s.python("data = [1, 2, 3, 4, 5]\nsum(data)").await;
    assert_eq!(main_text(&data).as_deref(), Some("15"));
    let string = s.python("'a' + 'b'").await;
    assert_eq!(main_text(&string).as_deref(), Some("ab"));

    // stdout and stderr in order, subprocess output included.
    let out = s
        .python(
            "import sys, subprocess\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\nsubprocess.run(['echo', 'from a child'])",
        )
        .await;
    no_error(&out);
    assert_eq!(stream(&out, "stdout"), "one\nthree\nfrom a child\n");
    assert_eq!(stream(&out, "stderr"), "two\n");
    let kinds: Vec<&str> = out
        .iter()
        .filter(|l| l["type"] == "stdout" || l["type"] == "stderr")
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    // One chunk per print, as a notebook kernel gives them.
    assert_eq!(kinds[..3], ["stdout", "stderr", "stdout"]);
    assert_eq!(of_type(&out, "stdout")[0]["text"], "one\n");
    let partial = s.python("print('no newline', end='')").await;
    assert_eq!(stream(&partial, "stdout"), "no newline");
    assert!(
        out.iter()
            .filter(|l| l["type"] == "stdout")
            .all(|l| l["timestamp"].is_string())
    );

    // An exception: name, value, traceback; the context goes on.
    let err = s
        .python("def f():\n    raise ValueError('bad value')\nf()")
        .await;
    let e = of_type(&err, "error")[0];
    assert_eq!(e["name"], "ValueError");
    assert_eq!(e["value"], "bad value");
    let tb = e["traceback"].as_str().unwrap();
    assert!(tb.contains("raise ValueError('bad value')"), "{tb}");
    assert!(!tb.contains("driver"), "{tb}");
    let syntax = s.python("1 +").await;
    assert_eq!(of_type(&syntax, "error")[0]["name"], "SyntaxError");
    assert_eq!(main_text(&s.python("x").await).as_deref(), Some("1"));

    // Rich output.
    let html = s
        .python("class T:\n    def _repr_html_(self):\n        return '<b>hi</b>'\n    def __repr__(self):\n        return 'T()'\nT()")
        .await;
    let r = of_type(&html, "result")[0];
    assert_eq!(r["html"], "<b>hi</b>");
    assert_eq!(r["text"], "T()");
    assert_eq!(r["is_main_result"], true);
    let shown = s.python("display(T())\n3").await;
    let results = of_type(&shown, "result");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["is_main_result"], false);
    assert_eq!(results[0]["html"], "<b>hi</b>");
    assert_eq!(main_text(&shown).as_deref(), Some("3"));

    // Environment: E2B_* defaults, and an execution's own variables for that execution only.
    let env = s
        .run(json!({ "code": "import os\nos.environ.get('E2B_SANDBOX_ID')" }))
        .await;
    assert_eq!(main_text(&env), Some(s.envd.id.clone()));
    let scoped = s
        .run(json!({ "code": "os.environ['ONLY_HERE']", "env_vars": { "ONLY_HERE": "yes" } }))
        .await;
    assert_eq!(main_text(&scoped).as_deref(), Some("yes"));
    let after = s.python("os.environ.get('ONLY_HERE', 'gone')").await;
    assert_eq!(main_text(&after).as_deref(), Some("gone"));

    // 1 MB of output in one execution, in bounded lines.
    let big = s.python("print('x' * (1024 * 1024))").await;
    no_error(&big);
    assert_eq!(stream(&big, "stdout").len(), 1024 * 1024 + 1);
    assert!(of_type(&big, "stdout").len() > 1);
}

#[tokio::test]
async fn output_streams_as_it_happens() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let (first_at, total, seen) = s
        .first_sight(
            json!({ "code": "import time\nfor i in range(6):\n    print(i)\n    time.sleep(1)" }),
            "\"stdout\"",
        )
        .await;
    assert!(seen.contains("end_of_execution"));
    // The first line came while the loop still ran (it lasts 6 s).
    assert!(
        first_at + Duration::from_secs(3) < total,
        "{first_at:?} of {total:?}"
    );
}

/// A burst of output (a loop's lines) is sent in a few chunks, whole and in order; what a
/// busy cell writes after a burst still streams while it runs.
#[tokio::test]
async fn bursts_of_output_are_batched_whole_and_in_order() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let lines = 20_000;
    let want: String = (0..lines).map(|i| format!("{i}\n")).collect();
    for (language, code) in [
        ("python", format!("for i in range({lines}): print(i)")),
        (
            "javascript",
            format!("for (let i = 0; i < {lines}; i++) console.log(i)"),
        ),
        (
            "java",
            format!("for (int i = 0; i < {lines}; i++) System.out.println(i);"),
        ),
    ] {
        let out = s.run(json!({ "code": code, "language": language })).await;
        no_error(&out);
        assert_eq!(stream(&out, "stdout"), want, "{language}");
        let chunks = of_type(&out, "stdout").len();
        assert!(chunks < lines / 4, "{language}: {chunks} chunks");
    }

    // After a burst, a line written before a long synchronous computation is not held to its end.
    let (late_at, total, _) = s
        .first_sight(
            json!({ "language": "javascript", "code": "for (let i = 0; i < 100; i++) console.log(i)\nlet t = Date.now(); while (Date.now() - t < 200) {}\nconsole.log('late')\nt = Date.now(); while (Date.now() - t < 4000) {}" }),
            "late",
        )
        .await;
    assert!(
        late_at + Duration::from_secs(2) < total,
        "{late_at:?} of {total:?}"
    );
}

#[tokio::test]
async fn contexts_are_isolated_restartable_and_interruptible() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let a = s.create_context(json!({})).await;
    assert_eq!(a["language"], "python");
    assert_eq!(a["cwd"], "/home/user");
    let b = s
        .create_context(json!({ "language": " Python ", "cwd": "/tmp" }))
        .await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    s.in_context(a, "v = 'in a'").await;
    let in_b = s
        .in_context(b, "import os\n(os.getcwd(), globals().get('v'))")
        .await;
    assert_eq!(main_text(&in_b).as_deref(), Some("('/tmp', None)"));
    // As E2B's kernels, started by a Jupyter server that runs as root.
    let user = s
        .in_context(
            a,
            "import getpass, os\n(getpass.getuser(), os.environ['HOME'])",
        )
        .await;
    assert_eq!(main_text(&user).as_deref(), Some("('root', '/root')"));
    // The sandbox's log shows the kernels started, without the driver's source.
    let logs = s
        .envd
        .api
        .get(&format!("/v2/sandboxes/{}/logs", s.envd.id))
        .await
        .json();
    let started: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.contains("code interpreter"))
        .collect();
    assert_eq!(started.len(), 2, "{logs}");
    assert!(started.iter().all(|m| m.len() < 200), "{started:?}");

    let listed = s.list_contexts().await;
    let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&a) && ids.contains(&b), "{listed:?}");

    // Restart clears state.
    let restarted = s
        .request(reqwest::Method::POST, &format!("/contexts/{a}/restart"))
        .send()
        .await
        .unwrap();
    assert_eq!(restarted.status(), 200);
    let gone = s.in_context(a, "v").await;
    assert_eq!(of_type(&gone, "error")[0]["name"], "NameError");

    // A runaway execution whose client gives up is interrupted; the context stays usable.
    s.in_context(b, "kept = 41").await;
    s.give_up_on(json!({ "code": "while True:\n    pass", "context_id": b }))
        .await;
    let after = s.in_context(b, "kept + 1").await;
    assert_eq!(main_text(&after).as_deref(), Some("42"), "{after:?}");

    // Delete, then unknown.
    let deleted = s
        .request(reqwest::Method::DELETE, &format!("/contexts/{a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let res = s
        .execute(json!({ "code": "1", "context_id": a }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains(a));
}

#[tokio::test]
async fn bash_and_javascript_contexts() {
    let server = server(None).await;
    let s = Interp::new(&server).await;

    let sh = s.create_context(json!({ "language": "bash" })).await;
    let sh = sh["id"].as_str().unwrap();
    s.in_context(
        sh,
        "GREETING=hello\ngreet() { echo \"$GREETING $1\"; }\ncd /tmp",
    )
    .await;
    let out = s.in_context(sh, "greet world; pwd; echo oops >&2").await;
    no_error(&out);
    assert_eq!(stream(&out, "stdout"), "hello world\n/tmp\n");
    assert_eq!(stream(&out, "stderr"), "oops\n");
    let scoped = s
        .run(json!({ "code": "echo \"$ONLY_HERE\"", "context_id": sh, "env_vars": { "ONLY_HERE": "yes" } }))
        .await;
    assert_eq!(stream(&scoped, "stdout"), "yes\n");
    let after = s.in_context(sh, "echo \"${ONLY_HERE:-gone}\"").await;
    assert_eq!(stream(&after, "stdout"), "gone\n");

    let js = s
        .run(json!({ "code": "let n = 20; console.log('hi', {a: 1}); n + 1", "language": "js" }))
        .await;
    no_error(&js);
    assert_eq!(stream(&js, "stdout"), "hi { a: 1 }\n");
    assert_eq!(main_text(&js).as_deref(), Some("21"));
    let kept = s
        .run(json!({ "code": "n * 2", "language": "javascript" }))
        .await;
    assert_eq!(main_text(&kept).as_deref(), Some("40"));
    let thrown = s
        .run(json!({ "code": "throw new TypeError('nope')", "language": "javascript" }))
        .await;
    let e = of_type(&thrown, "error")[0];
    assert_eq!(e["name"], "TypeError");
    assert_eq!(e["value"], "nope");
    let awaited = s
        .run(json!({ "code": "(async () => 7)()", "language": "ts" }))
        .await;
    assert_eq!(main_text(&awaited).as_deref(), Some("7"));
    // A callback that throws after its execution leaves the context alive.
    s.run(
        json!({ "code": "setTimeout(() => { throw new Error('late') }, 10); 0", "language": "js" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alive = s.run(json!({ "code": "n", "language": "js" })).await;
    assert_eq!(main_text(&alive).as_deref(), Some("20"), "{alive:?}");
    assert!(stream(&alive, "stderr").contains("late"), "{alive:?}");

    // Runaways whose client gives up: JavaScript is interrupted and keeps its state; bash is
    // replaced by a new shell, usable again.
    s.give_up_on(json!({ "code": "while (true) {}", "language": "javascript" }))
        .await;
    let kept = s
        .run(json!({ "code": "n + 1", "language": "javascript" }))
        .await;
    assert_eq!(main_text(&kept).as_deref(), Some("21"), "{kept:?}");
    s.give_up_on(json!({ "code": "while :; do :; done", "context_id": sh }))
        .await;
    let usable = s.in_context(sh, "echo again").await;
    assert_eq!(stream(&usable, "stdout"), "again\n", "{usable:?}");
}

/// The first error of an execution, as `name: value`.
fn error_of(lines: &[Value]) -> Option<String> {
    of_type(lines, "error").first().map(|e| {
        format!(
            "{}: {}",
            e["name"].as_str().unwrap(),
            e["value"].as_str().unwrap()
        )
    })
}

#[tokio::test]
async fn javascript_cells_import_and_await_at_top_level() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let js = |code: &str| json!({ "code": code, "language": "js" });

    // E2B's own kernel tests: a static import, and a top-level await whose value is the result.
    let imported = s
        .run(js(
            "\nimport { readFileSync } from 'fs'\nconsole.log(typeof readFileSync)\n",
        ))
        .await;
    no_error(&imported);
    assert_eq!(stream(&imported, "stdout"), "function\n");
    let awaited = s.run(js("\nawait Promise.resolve('Hello World!')\n")).await;
    no_error(&awaited);
    assert_eq!(main_text(&awaited).as_deref(), Some("Hello World!"));

    // What an awaiting cell declares stays for the next cells, as in a notebook.
    let declared = s
        .run(js("const n = await new Promise((r) => setTimeout(() => r(20), 10));\nfunction twice(v) { return 2 * v }\ntwice(n) + 1"))
        .await;
    no_error(&declared);
    assert_eq!(main_text(&declared).as_deref(), Some("41"));
    let kept = s.run(js("twice(n)")).await;
    assert_eq!(main_text(&kept).as_deref(), Some("40"), "{kept:?}");

    // Every form of import, a module of the sandbox's own beside the context's directory, and
    // a cell that imports again when run again; `export` declares.
    s.run(js("require('fs').writeFileSync('greet.mjs', 'export const hi = \"hey\"; export default (who) => `${hi} ${who}`')"))
        .await;
    let forms = "import greet, { hi as word } from './greet.mjs'\nimport * as path from 'path'\nimport 'os'\ngreet(word) + path.sep";
    for _ in 0..2 {
        let out = s.run(js(forms)).await;
        no_error(&out);
        assert_eq!(main_text(&out).as_deref(), Some("hey hey/"), "{out:?}");
    }
    let exported = s
        .run(js("export const sep = path.sep\nexport default function shout(v) { return v.toUpperCase() }"))
        .await;
    no_error(&exported);
    let declared = s.run(js("shout(sep + typeof greet)")).await;
    assert_eq!(main_text(&declared).as_deref(), Some("/FUNCTION"));

    // Errors: a rejection, a syntax error in an awaiting cell, an import of nothing.
    let rejected = s
        .run(js(
            "await new Promise((_, no) => setTimeout(() => no(new RangeError('late')), 10))",
        ))
        .await;
    assert_eq!(error_of(&rejected).as_deref(), Some("RangeError: late"));
    let bad = s.run(js("await 1; syntax error (")).await;
    assert_eq!(of_type(&bad, "error")[0]["name"], "SyntaxError", "{bad:?}");
    let missing = s.run(js("import nothing from 'no-such-module'")).await;
    let e = error_of(&missing).unwrap_or_default();
    assert!(e.contains("no-such-module"), "{missing:?}");
    // A client that gives up on a cell still waiting interrupts the wait: the kernel is not
    // killed (which would lose `n`).
    s.give_up_on(js("await new Promise((r) => setTimeout(r, 600_000))"))
        .await;
    // The context lives on, no warning of Node's own in the user's output.
    let alive = s.run(js("n")).await;
    assert_eq!(main_text(&alive).as_deref(), Some("20"));
    assert_eq!(stream(&alive, "stderr"), "", "{alive:?}");
}

#[tokio::test]
async fn typescript_cells_lose_their_types() {
    let mut config = test_config();
    let compiler = std::path::Path::new(TYPESCRIPT).exists();
    if compiler {
        config.sandboxes.typescript = Some(TYPESCRIPT.into());
    } else {
        eprintln!(
            "{TYPESCRIPT} is missing (scripts/setup.sh installs it): only Node's own stripper, if any"
        );
    }
    let server = start_with(config).await;
    let s = Interp::new(&server).await;
    let ts = |code: &str| json!({ "code": code, "language": "ts" });

    // E2B's own kernel test.
    let out = s
        .run(ts(
            "const message: string = \"Hello World!\"; console.log(message)",
        ))
        .await;
    if !compiler && error_of(&out).is_some() {
        // No stripper at all: the annotation's SyntaxError says why.
        let e = error_of(&out).unwrap();
        assert!(
            e.starts_with("SyntaxError: ") && e.contains("--typescript"),
            "{e}"
        );
        return;
    }
    no_error(&out);
    assert_eq!(stream(&out, "stdout"), "Hello World!\n");
    let typed = s
        .run(ts("enum Level { Low = 1, High }\ninterface P { n: number }\nconst p: P = { n: await Promise.resolve<number>(Level.High) };\np.n as number"))
        .await;
    no_error(&typed);
    assert_eq!(main_text(&typed).as_deref(), Some("2"), "{typed:?}");
    let kept = s.run(ts("(p.n + Level.Low) satisfies number")).await;
    assert_eq!(main_text(&kept).as_deref(), Some("3"), "{kept:?}");
    let bad = s.run(ts("let x: = 1")).await;
    assert_eq!(of_type(&bad, "error")[0]["name"], "SyntaxError", "{bad:?}");
    // TypeScript's context is not JavaScript's.
    let js = s.run(json!({ "code": "typeof p", "language": "js" })).await;
    assert_eq!(main_text(&js).as_deref(), Some("undefined"));
}

/// R runs as IRkernel (E2B's R kernel) shows it: what R prints is output, each visible value a
/// result that is not the main one, each plot a PNG, an error named `ERROR`.
#[tokio::test]
async fn r_cells_print_values_plots_and_errors_as_irkernel() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let r = |code: &str| json!({ "code": code, "language": "r" });

    // E2B's own kernel test, and its environment test.
    let hello = s.run(r("print(\"Hello, World!\")")).await;
    no_error(&hello);
    assert_eq!(
        texts(&hello, "stdout"),
        ["[1] \"Hello, World!\"\n"],
        "{hello:?}"
    );
    let env = s
        .run(json!({ "code": "Sys.getenv('FOO')", "language": "r", "env_vars": { "FOO": "bar" } }))
        .await;
    let results = of_type(&env, "result");
    assert_eq!(results.len(), 1, "{env:?}");
    assert_eq!(results[0]["text"], "[1] \"bar\"");
    assert_eq!(results[0]["is_main_result"], false);
    let unset = s.run(r("Sys.getenv('FOO', unset = 'default')")).await;
    assert_eq!(of_type(&unset, "result")[0]["text"], "[1] \"default\"");

    // State is kept; every visible value of the cell is shown, an assignment's is not; a
    // warning and a message are stderr; unicode survives both ways.
    let cell = s
        .run(r("x <- c(2, 3)\nx * 2\ninvisible(7)\ny <- 'é ü'\ny\nwarning('careful')\nmessage('note')\ncat('no newline')"))
        .await;
    no_error(&cell);
    assert_eq!(
        texts(&cell, "result"),
        ["[1] 4 6", "[1] \"é ü\""],
        "{cell:?}"
    );
    assert_eq!(stream(&cell, "stdout"), "no newline");
    assert_eq!(stream(&cell, "stderr"), "Warning message:\ncareful\nnote\n");
    let kept = s.run(r("sum(x)")).await;
    assert_eq!(of_type(&kept, "result")[0]["text"], "[1] 5");
    // A user's sink() takes what is printed until it is closed, in a later cell too; bytes
    // that are not UTF-8 arrive as U+FFFD.
    s.run(r("sink('/tmp/mine.txt')\nprint('into mine')")).await;
    let sunk = s
        .run(r(
            "sink()\ncat(rawToChar(as.raw(c(0x61, 0xff))), '\\n')\nreadLines('/tmp/mine.txt')",
        ))
        .await;
    assert_eq!(stream(&sunk, "stdout"), "a\u{fffd} \n", "{sunk:?}");
    assert_eq!(
        texts(&sunk, "result"),
        ["[1] \"[1] \\\"into mine\\\"\""],
        "{sunk:?}"
    );

    // A data frame is also an HTML table (its first 60 rows, then how many more).
    let frame = s
        .run(r(
            "data.frame(n = 1:61, tag = ifelse(1:61 > 1, 'b', '<a>'))",
        ))
        .await;
    let html = of_type(&frame, "result")[0]["html"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(html.starts_with("<table class=\"dataframe\">"), "{html}");
    assert!(
        html.contains("<thead><tr><th></th><th>n</th><th>tag</th></tr></thead>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><th>1</th><td>1</td><td>&lt;a&gt;</td></tr>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><th>60</th>") && !html.contains("<tr><th>61</th>"),
        "{html}"
    );
    assert!(html.contains("… 1 more row</td>"), "{html}");
    assert!(of_type(&kept, "result")[0].get("html").is_none());

    // An error stops the cell there, named as IRkernel names it, with the user's calls.
    let failed = s
        .run(r(
            "f <- function() stop('boom')\nbefore <- 1\nf()\nafter <- 1",
        ))
        .await;
    let e = of_type(&failed, "error");
    assert_eq!(e.len(), 1, "{failed:?}");
    assert_eq!(e[0]["name"], "ERROR");
    assert_eq!(e[0]["value"], "Error in f(): boom\n");
    assert!(
        e[0]["traceback"].as_str().unwrap().contains("1. f()"),
        "{failed:?}"
    );
    let exists = s.run(r("c(exists('before'), exists('after'))")).await;
    assert_eq!(of_type(&exists, "result")[0]["text"], "[1]  TRUE FALSE");
    let syntax = s.run(r("1 +")).await;
    assert!(
        error_of(&syntax)
            .unwrap()
            .contains("unexpected end of input"),
        "{syntax:?}"
    );

    // Each plot a PNG result.
    let plotted = s.run(r("plot(1:10)\nhist(c(1, 2, 2, 3))")).await;
    no_error(&plotted);
    let pngs: Vec<&str> = of_type(&plotted, "result")
        .iter()
        .filter_map(|r| r["png"].as_str())
        .collect();
    assert_eq!(pngs.len(), 2, "{plotted:?}");
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(pngs[0])
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // A runaway cell whose client gives up is interrupted; its context keeps its state.
    s.give_up_on(r("repeat { z <- 1 }")).await;
    let after = s.run(r("sum(x) + 1")).await;
    assert_eq!(of_type(&after, "result")[0]["text"], "[1] 6", "{after:?}");
}

/// Java runs on JShell as IJava (E2B's Java kernel) runs it: the last snippet's value is the
/// main result, each write to System.out is its own chunk, and execution variables are system
/// properties.
#[tokio::test]
async fn java_cells_run_on_jshell_as_ijava() {
    let server = server(None).await;
    let s = Interp::with_env(&server, json!({ "TEST_ENV_VAR": "supertest" })).await;
    let java = |code: &str| json!({ "code": code, "language": "java" });

    // E2B's own kernel test: println's line and its end come as two chunks, as there.
    let hello = s.run(java("System.out.println(\"Hello, World!\")")).await;
    no_error(&hello);
    assert_eq!(
        texts(&hello, "stdout"),
        ["Hello, World!", "\n"],
        "{hello:?}"
    );
    // E2B's environment tests: variables are system properties, the sandbox's too.
    let env = s
        .run(json!({ "code": "System.getProperty(\"FOO\")", "language": "java", "env_vars": { "FOO": "bar" } }))
        .await;
    assert_eq!(main_text(&env).as_deref(), Some("bar"), "{env:?}");
    let unset = s
        .run(java("System.getProperty(\"FOO\", \"default\")"))
        .await;
    assert_eq!(main_text(&unset).as_deref(), Some("default"));
    let sandbox = s
        .run(json!({ "code": "System.getProperty(\"TEST_ENV_VAR\")", "language": "java", "env_vars": { "TEST_ENV_VAR": "overwrite" } }))
        .await;
    assert_eq!(main_text(&sandbox).as_deref(), Some("overwrite"));
    let restored = s.run(java("System.getProperty(\"TEST_ENV_VAR\")")).await;
    assert_eq!(main_text(&restored).as_deref(), Some("supertest"));

    // The JVM sizes its heap by the sandbox's memory (512 MiB here), not the machine's.
    let heap = s
        .run(java("Runtime.getRuntime().maxMemory() / (1024 * 1024)"))
        .await;
    let heap_mb: u64 = main_text(&heap).unwrap().parse().unwrap();
    assert!(heap_mb <= 256, "a {heap_mb} MiB heap in a 512 MiB sandbox");

    // Declarations are kept; the last snippet's value is the result, a string without quotes.
    let declared = s
        .run(java("int x = 20;\nString twice(String s) { return s + s; }\nclass P { public String toString() { return \"P!\"; } }"))
        .await;
    no_error(&declared);
    let value = s.run(java("x * 2 + 2")).await;
    assert_eq!(main_text(&value).as_deref(), Some("42"));
    let text = s.run(java("twice(\"é\")")).await;
    assert_eq!(main_text(&text).as_deref(), Some("éé"));
    let object = s.run(java("new P()")).await;
    assert_eq!(main_text(&object).as_deref(), Some("P!"));
    let statement = s.run(java("System.err.print(\"to stderr\");")).await;
    assert_eq!(stream(&statement, "stderr"), "to stderr");
    assert!(of_type(&statement, "result").is_empty(), "{statement:?}");

    // Errors: an exception (the rest of the cell skipped), a compile error, an incomplete cell.
    let thrown = s
        .run(java("int before = 1;\nint y = x / 0;\nint after = 1;"))
        .await;
    let e = of_type(&thrown, "error");
    assert_eq!(e.len(), 1, "{thrown:?}");
    assert_eq!(e[0]["name"], "java.lang.ArithmeticException");
    assert_eq!(e[0]["value"], "/ by zero");
    let skipped = s.run(java("after")).await;
    assert_eq!(
        of_type(&skipped, "error")[0]["name"],
        "CompilationException"
    );
    let incomplete = s.run(java("foo(")).await;
    assert_eq!(
        of_type(&incomplete, "error")[0]["name"],
        "IncompleteSourceException"
    );

    // A runaway cell whose client gives up is stopped; its context keeps its state.
    s.give_up_on(java("long n = 0; while (true) { n++; }"))
        .await;
    let after = s.run(java("n > 0 && x == 20")).await;
    assert_eq!(main_text(&after).as_deref(), Some("true"), "{after:?}");
}

#[tokio::test]
async fn default_contexts_are_listed_from_the_start_and_made_ones_after_them() {
    let server = server(None).await;
    let s = Interp::new(&server).await;

    // As the official server: python and javascript from the start, in /home/user.
    let listed = s.list_contexts().await;
    let described: Vec<(&str, &str)> = listed
        .iter()
        .map(|c| (c["language"].as_str().unwrap(), c["cwd"].as_str().unwrap()))
        .collect();
    assert_eq!(
        described,
        vec![("python", "/home/user"), ("javascript", "/home/user")]
    );
    // Listed, not started: no kernel process until one runs code.
    let (ps, _) = s.envd.run("ps -eo comm").await;
    assert!(
        ps.contains("ps") && !ps.contains("node") && !ps.contains("python"),
        "{ps}"
    );
    let python = listed[0]["id"].as_str().unwrap().to_string();
    let javascript = listed[1]["id"].as_str().unwrap().to_string();

    // The language's default is the listed context.
    no_error(&s.python("kept = 5").await);
    let by_id = s.in_context(&python, "kept * 2").await;
    assert_eq!(main_text(&by_id).as_deref(), Some("10"), "{by_id:?}");
    s.run(json!({ "code": "var k = 3", "language": "js" }))
        .await;
    let by_id = s.in_context(&javascript, "k + 1").await;
    assert_eq!(main_text(&by_id).as_deref(), Some("4"), "{by_id:?}");

    // Each made context is listed last when made.
    for language in ["bash", "python"] {
        let made = s.create_context(json!({ "language": language })).await;
        let listed = s.list_contexts().await;
        assert_eq!(listed.last().unwrap()["id"], made["id"], "{listed:?}");
        assert_eq!(listed.len(), 3 + usize::from(language == "python"));
    }

    // A deleted default stays deleted until its language is asked for again.
    let deleted = s
        .request(reqwest::Method::DELETE, &format!("/contexts/{javascript}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let listed = s.list_contexts().await;
    assert!(
        listed.iter().all(|c| c["language"] != "javascript"),
        "{listed:?}"
    );
    let fresh = s.run(json!({ "code": "typeof k", "language": "js" })).await;
    assert_eq!(main_text(&fresh).as_deref(), Some("undefined"));
    let listed = s.list_contexts().await;
    let again = listed.last().unwrap();
    assert_eq!(again["language"], "javascript");
    assert_ne!(again["id"].as_str().unwrap(), javascript);
}

#[tokio::test]
async fn protocol_errors() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let both = s
        .execute(json!({ "code": "1", "context_id": "x", "language": "python" }))
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    let unknown = s
        .execute(json!({ "code": "1", "context_id": "no-such-context" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.text().await.unwrap(),
        "Context no-such-context not found"
    );
    let language = s
        .execute(json!({ "code": "1", "language": "cobol" }))
        .send()
        .await
        .unwrap();
    assert_eq!(language.status(), 400);
    assert!(language.text().await.unwrap().contains("cobol"));
    let no_token = s
        .request(reqwest::Method::POST, "/execute")
        .json(&json!({ "code": "1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let restart = s
        .request(reqwest::Method::POST, "/contexts/nope/restart")
        .send()
        .await
        .unwrap();
    assert_eq!(restart.status(), 404);
    // The per-sandbox cap.
    let mut refused = None;
    for _ in 0..=sandkit_server::interpreter::MAX_CONTEXTS {
        let res = s
            .request(reqwest::Method::POST, "/contexts")
            .json(&json!({ "language": "bash" }))
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            refused = Some((res.status().as_u16(), res.text().await.unwrap()));
            break;
        }
    }
    let (status, message) = refused.expect("the cap refuses a context");
    assert_eq!(status, 400);
    assert!(message.contains("delete one"), "{message}");
}

/// Charts on both Python paths of the test virtual environment: IPython's machinery, and the
/// plain interpreter (which a sandbox gets with `SANDKIT_PLAIN_PYTHON=1`).
#[tokio::test]
async fn matplotlib_and_ipython_venv() {
    if !std::path::Path::new(VENV_PYTHON).exists() {
        eprintln!("skipped: {VENV_PYTHON} is missing (scripts/setup.sh makes it)");
        return;
    }
    let server = server(Some(VENV_PYTHON)).await;
    let ipython = Interp::new(&server).await;
    let api = common::Api::new(&server.url(), KEY_A);
    let plain = Interp {
        envd: Envd::create_with(
            &api,
            json!({ "templateID": "base", "envVars": { "SANDKIT_PLAIN_PYTHON": "1" } }),
        )
        .await,
    };
    let uses_ipython = "import sys\n'IPython' in sys.modules";
    assert_eq!(
        main_text(&ipython.python(uses_ipython).await).as_deref(),
        Some("True")
    );
    assert_eq!(
        main_text(&plain.python(uses_ipython).await).as_deref(),
        Some("False")
    );
    for s in [&ipython, &plain] {
        let chart = s
            .python("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()")
            .await;
        no_error(&chart);
        let results = of_type(&chart, "result");
        assert_eq!(results.len(), 1, "{chart:?}");
        let png = results[0]["png"].as_str().expect("a png result");
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png)
            .unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let fig = s
            .python("fig, ax = plt.subplots()\nax.bar(['a', 'b'], [1, 2])\nfig")
            .await;
        let results = of_type(&fig, "result");
        assert_eq!(results.len(), 1, "shown once: {fig:?}");
        assert_eq!(results[0]["is_main_result"], true);
        assert!(results[0]["png"].is_string());
        assert!(results[0]["text"].as_str().unwrap().contains("Figure"));
        let err = s.python("def g():\n    return 1 / 0\ng()").await;
        let e = of_type(&err, "error")[0];
        assert_eq!(e["name"], "ZeroDivisionError");
        assert!(
            e["traceback"].as_str().unwrap().contains("return 1 / 0"),
            "{e}"
        );
        let html = s
            .python("class H:\n    def _repr_html_(self):\n        return '<i>h</i>'\nH()")
            .await;
        assert_eq!(of_type(&html, "result")[0]["html"], "<i>h</i>");
        let syntax = s.python("1 +").await;
        assert_eq!(of_type(&syntax, "error")[0]["name"], "SyntaxError");
        // As E2B's template: a DataFrame's columns come as `data` (dates in ISO 8601, gaps as
        // null), and a Pillow image shown or saved to a file name comes as a PNG result.
        let table = s
            .python("import pandas as pd\npd.DataFrame({'a': [1, 2], 't': pd.to_datetime(['2024-01-02', None])})")
            .await;
        no_error(&table);
        assert_eq!(
            of_type(&table, "result")[0]["data"],
            json!({"a": [1, 2], "t": ["2024-01-02T00:00:00", null]}),
            "{table:?}"
        );
        let image = s
            .python("from PIL import Image\nimage = Image.new('RGB', (4, 4))\nimage.show()\nimage.save('/tmp/i.png')\nprint('done')")
            .await;
        no_error(&image);
        let pngs = of_type(&image, "result");
        assert_eq!(pngs.len(), 2, "shown and saved: {image:?}");
        assert!(
            pngs.iter()
                .all(|r| r["png"].is_string() && r["is_main_result"] == false)
        );
        // An abandoned runaway is interrupted; the state stays.
        s.python("kept = 41").await;
        let runaway = s
            .execute(json!({ "code": "while True:\n    pass" }))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if let Ok(res) = runaway {
            assert!(res.text().await.is_err(), "the runaway ended by itself");
        }
        let kept = s.python("kept + 1").await;
        assert_eq!(main_text(&kept).as_deref(), Some("42"), "{kept:?}");
    }
    // IPython's own machinery: shell escapes, magics, display().
    let magic = ipython
        .python("!echo from-a-shell\n%cd /tmp\nfrom IPython.display import display, Markdown\ndisplay(Markdown('*md*'))")
        .await;
    no_error(&magic);
    assert!(
        stream(&magic, "stdout").contains("from-a-shell"),
        "{magic:?}"
    );
    let md = of_type(&magic, "result");
    assert_eq!(md[0]["markdown"], "*md*");
    assert_eq!(md[0]["is_main_result"], false);
    let cwd = ipython.python("import os\nos.getcwd()").await;
    assert_eq!(main_text(&cwd).as_deref(), Some("/tmp"));
}

#[tokio::test]
async fn traffic_token_guards_the_interpreter() {
    let server = server(None).await;
    let api = common::Api::new(&server.url(), KEY_A);
    let created = api
        .post(
            "/v2/sandboxes",
            json!({ "templateID": "base", "network": { "allowPublicTraffic": false } }),
        )
        .await
        .expect_json(201);
    let id = created["sandboxID"].as_str().unwrap();
    let token = created["envdAccessToken"].as_str().unwrap();
    let traffic = created["trafficAccessToken"].as_str().unwrap();
    let send = |with: Option<&str>| {
        let mut rb = api
            .http
            .post(format!("{}/execute", api.url))
            .header("E2b-Sandbox-Id", id)
            .header("E2b-Sandbox-Port", "49999")
            .header("X-Access-Token", token)
            .json(&json!({ "code": "6 * 7" }));
        if let Some(t) = with {
            rb = rb.header("E2B-Traffic-Access-Token", t);
        }
        rb.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 403);
    let ok = send(Some(traffic)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(text.contains("\"42\""), "{text}");
}

/// Create-time `envVars` are the global value: an execution's `env_vars` win for it only, and
/// the next execution sees the global value again, in every kernel.
#[tokio::test]
async fn execution_env_vars_shadow_the_sandbox_env_for_one_execution() {
    let server = server(None).await;
    let s = Interp::with_env(&server, json!({ "SCOPED": "global" })).await;
    let cases = [
        ("python", "import os\nprint(os.environ['SCOPED'])"),
        ("javascript", "console.log(process.env.SCOPED)"),
        ("bash", "echo \"$SCOPED\""),
        ("r", "cat(Sys.getenv('SCOPED'), '\\n', sep = '')"),
        (
            "java",
            "System.out.print(System.getProperty(\"SCOPED\") + \"\\n\");",
        ),
    ];
    for (language, code) in cases {
        let before = s.run(json!({ "code": code, "language": language })).await;
        assert_eq!(
            stream(&before, "stdout"),
            "global\n",
            "{language}: {before:?}"
        );
        let during = s
            .run(json!({ "code": code, "language": language, "env_vars": { "SCOPED": "call" } }))
            .await;
        assert_eq!(
            stream(&during, "stdout"),
            "call\n",
            "{language}: {during:?}"
        );
        let after = s.run(json!({ "code": code, "language": language })).await;
        assert_eq!(
            stream(&after, "stdout"),
            "global\n",
            "{language}: {after:?}"
        );
    }
}

/// A kernel that dies ends its execution with an error; the next execution gets a new one.
/// A quiet execution is kept alive with `keepalive` lines.
#[tokio::test]
async fn a_dead_kernel_is_replaced_and_quiet_executions_keep_alive() {
    let server = server(None).await;
    let s = Interp::new(&server).await;
    let died = s.python("import os\nos._exit(3)").await;
    assert_eq!(
        of_type(&died, "error")[0]["name"],
        "UnexpectedEndOfExecution"
    );
    assert_eq!(died.last().unwrap()["type"], "end_of_execution");
    let again = s.python("1 + 1").await;
    assert_eq!(main_text(&again).as_deref(), Some("2"));
    assert_eq!(again[0]["execution_count"], 1, "a new kernel counts anew");

    let quiet = s.python("import time\ntime.sleep(6)\n'woke'").await;
    assert!(!of_type(&quiet, "keepalive").is_empty(), "{quiet:?}");
    assert_eq!(main_text(&quiet).as_deref(), Some("woke"));
}

/// A paused sandbox's interpreter answers 502 like its other ports; resumed, its contexts
/// are where they were (their processes were frozen, not ended).
#[tokio::test]
async fn contexts_sleep_through_a_pause() {
    let server = server(None).await;
    if !common::envd::isolated(&server) {
        eprintln!("skipped: sandboxes without isolation have no cgroup to freeze");
        return;
    }
    let s = Interp::new(&server).await;
    s.python("kept = 'still here'").await;
    let id = s.envd.id.clone();
    let api = s.envd.api.clone();
    assert_eq!(
        api.post(&format!("/sandboxes/{id}/pause"), json!({}))
            .await
            .status,
        204
    );
    let paused = s.execute(json!({ "code": "kept" })).send().await.unwrap();
    assert_eq!(paused.status(), 502);
    let resumed = api
        .post(
            &format!("/v2/sandboxes/{id}/connect"),
            json!({ "timeout": 60 }),
        )
        .await;
    assert_eq!(resumed.status, 201);
    let after = s.python("kept").await;
    assert_eq!(main_text(&after).as_deref(), Some("still here"));
}

/// A context whose program the sandbox lacks is refused when it is made, saying which.
#[tokio::test]
async fn contexts_without_their_program_are_refused_with_the_reason() {
    let mut config = test_config();
    config.sandboxes.r = "/nonexistent/R".into();
    config.sandboxes.java = "/nonexistent/java".into();
    let server = start_with(config).await;
    let s = Interp::new(&server).await;
    for (language, says) in [
        ("r", "could not start /nonexistent/R"),
        ("java", "no /nonexistent/java in this sandbox"),
    ] {
        let res = s
            .execute(json!({ "code": "1", "language": language }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 500, "{language}");
        let body = res.text().await.unwrap();
        assert!(body.contains(says), "{language}: {body}");
    }
    // The others are not affected.
    let python = s.python("6 * 7").await;
    assert_eq!(main_text(&python).as_deref(), Some("42"));
}
