//! One code context: a kernel process inside the sandbox, started through its agent as user
//! `user`, and the executions it runs one at a time.

use super::language::Kernel;
use super::split::{Piece, Splitter};
use crate::live::LiveSandbox;
use crate::sandbox::proto::SpawnRequest;
use crate::sandbox::{ExitStatus, ProcessIo};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

const PYTHON_DRIVER: &str = include_str!("driver.py");
const JS_DRIVER: &str = include_str!("driver.js");
const R_DRIVER: &str = include_str!("driver.R");
const JAVA_DRIVER: &str = include_str!("driver.java");
/// Java's source launcher runs a file: the wrapper writes the driver to a directory of its own
/// under the sandbox's /tmp, which the driver removes once it has been compiled. `$1` is the
/// `java` to run, the rest its options.
const JAVA_WRAPPER: &str = r#"if ! command -v "$1" >/dev/null; then
  printf '\036{"type":"unavailable","value":"no %s in this sandbox: Java contexts need a JDK, 11 or later (sandkitd --java names one)"}\n' "$1"
  exit 127
fi
d=$(mktemp -d) && printf '%s' "$SANDKIT_JAVA_DRIVER" >"$d/SandkitDriver.java" || exit 1
unset SANDKIT_JAVA_DRIVER
java=$1
shift
exec "$java" "$@" "$d/SandkitDriver.java" "$d""#;
/// How long a Java context's JVM may take to start.
const JAVA_START: Duration = Duration::from_secs(60);
/// How long an interrupted execution may take to stop before its process is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// Lines of a stream held for a slow client before the kernel waits for it.
const STREAM_BUFFER: usize = 64;

/// Which programs run the kernels.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Python interpreter (`--python`).
    pub python: String,
    pub node: String,
    /// The TypeScript compiler package (`--typescript`).
    pub typescript: Option<String>,
    /// R's front end, for R contexts.
    pub r: String,
    /// A JDK's `java` (JShell is in the JDK, not a JRE), for Java contexts.
    pub java: String,
    /// Each sandbox's memory, in MiB (0: not limited), which a JVM sizes its heap by.
    pub memory_mb: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            python: "python3".into(),
            node: "node".into(),
            typescript: None,
            r: "R".into(),
            java: "java".into(),
            memory_mb: 0,
        }
    }
}

/// A running kernel process.
struct Session {
    pid: i32,
    stdin: pipe::Sender,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    exit: oneshot::Receiver<ExitStatus>,
    /// `execution_count` of its last execution.
    count: u64,
}

impl Session {
    fn exited(&mut self) -> bool {
        !matches!(
            self.exit.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }
}

pub struct Context {
    pub id: String,
    pub language: String,
    pub cwd: String,
    kernel: Kernel,
    settings: Settings,
    live: std::sync::Weak<LiveSandbox>,
    session: tokio::sync::Mutex<Option<Session>>,
    /// The running process, for a restart or delete that must not wait for an execution.
    pid: std::sync::Mutex<Option<i32>>,
    /// Counts restarts, so that an execution whose process vanished can tell why.
    restarts: AtomicU64,
}

impl Context {
    pub fn new(
        id: String,
        language: String,
        cwd: String,
        kernel: Kernel,
        settings: Settings,
        live: &Arc<LiveSandbox>,
    ) -> Context {
        Context {
            id,
            language,
            cwd,
            kernel,
            settings,
            live: Arc::downgrade(live),
            session: tokio::sync::Mutex::new(None),
            pid: std::sync::Mutex::new(None),
            restarts: AtomicU64::new(0),
        }
    }

    /// Starts its process unless it runs.
    pub async fn start(&self) -> Result<(), String> {
        let mut session = self.session.lock().await;
        self.ensure_started(&mut session).await
    }

    async fn ensure_started(&self, session: &mut Option<Session>) -> Result<(), String> {
        if session.as_mut().is_some_and(|s| !s.exited()) {
            return Ok(());
        }
        let live = self.live.upgrade().ok_or("the sandbox is not running")?;
        let started = spawn(
            &live,
            self.kernel,
            &self.language,
            &self.settings,
            &self.cwd,
        )
        .await?;
        self.set_pid(Some(started.pid));
        *session = Some(started);
        Ok(())
    }

    fn set_pid(&self, pid: Option<i32>) {
        if let Ok(mut p) = self.pid.lock() {
            *p = pid;
        }
    }

    /// Kills its process (and whatever it started): an execution in progress ends.
    pub async fn kill(&self) {
        let pid = self.pid.lock().ok().and_then(|mut p| p.take());
        if let (Some(pid), Some(live)) = (pid, self.live.upgrade()) {
            live.handle.signal(pid, libc::SIGKILL).await;
        }
    }

    /// A new process in place of the old one: its state is gone.
    pub async fn restart(&self) -> Result<(), String> {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        self.kill().await;
        let mut session = self.session.lock().await;
        *session = None;
        self.ensure_started(&mut session).await
    }

    /// Runs `code`; the returned stream yields the response's lines, `end_of_execution` last.
    /// The execution goes on when the stream is dropped (the client went away), but is
    /// interrupted.
    pub fn execute(
        self: Arc<Self>,
        code: String,
        env: BTreeMap<String, String>,
    ) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            self.run(code, env, &tx).await;
            let _ = tx.send(line(&json!({ "type": "end_of_execution" }))).await;
        });
        rx
    }

    async fn run(&self, code: String, env: BTreeMap<String, String>, tx: &mpsc::Sender<Bytes>) {
        let mut guard = self.session.lock().await;
        let restarts = self.restarts.load(Ordering::SeqCst);
        if let Err(why) = self.ensure_started(&mut guard).await {
            let _ = tx.send(error_line("ContextError", &why)).await;
            return;
        }
        let Some(session) = guard.as_mut() else {
            return;
        };
        session.count += 1;
        let mut client = tx
            .send(line(&json!({
                "type": "number_of_executions",
                "execution_count": session.count,
            })))
            .await
            .is_ok();
        let job = match self.kernel {
            Kernel::Bash => bash_job(&code, &env),
            Kernel::R | Kernel::Java => framed_job(&code, &env),
            Kernel::Python | Kernel::JavaScript => {
                let mut l =
                    serde_json::to_vec(&json!({ "code": code, "env": env })).unwrap_or_default();
                l.push(b'\n');
                l
            }
        };
        let outcome = if session.stdin.write_all(&job).await.is_err() {
            Outcome::Vanished
        } else {
            self.drain(session, tx, &mut client).await
        };
        match outcome {
            Outcome::Done => {}
            Outcome::Vanished | Outcome::Killed => {
                *guard = None;
                self.set_pid(None);
                let (name, value) = if self.restarts.load(Ordering::SeqCst) != restarts {
                    ("ContextRestarting", "Context was restarted")
                } else if outcome == Outcome::Killed {
                    (
                        "ExecutionInterrupted",
                        "The execution was stopped by killing the context's process; its state is lost",
                    )
                } else {
                    (
                        "UnexpectedEndOfExecution",
                        "The context's process ended during the execution; the next execution starts a new one",
                    )
                };
                if client {
                    let _ = tx.send(error_line(name, value)).await;
                }
            }
        }
    }

    /// Passes on the kernel's output until both of its streams say the execution is done.
    async fn drain(
        &self,
        session: &mut Session,
        tx: &mpsc::Sender<Bytes>,
        client: &mut bool,
    ) -> Outcome {
        let (mut out_done, mut err_done) = (false, false);
        let (mut out_split, mut err_split) = (Splitter::default(), Splitter::default());
        let mut out_buf = vec![0u8; 32 * 1024];
        let mut err_buf = vec![0u8; 32 * 1024];
        let mut deadline: Option<tokio::time::Instant> = None;
        while !(out_done && err_done) {
            if !*client && deadline.is_none() {
                // The client went away: stop the execution, keep the context.
                if self.kernel == Kernel::Bash {
                    self.kill().await;
                    return Outcome::Killed;
                }
                if let Some(live) = self.live.upgrade() {
                    live.handle.signal(session.pid, libc::SIGINT).await;
                }
                deadline = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
            }
            let grace = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let (pieces, stream) = tokio::select! {
                r = session.stdout.read(&mut out_buf), if !out_done => match r {
                    Ok(n) if n > 0 => (out_split.push(&out_buf[..n]), "stdout"),
                    _ => return Outcome::Vanished,
                },
                r = session.stderr.read(&mut err_buf), if !err_done => match r {
                    Ok(n) if n > 0 => (err_split.push(&err_buf[..n]), "stderr"),
                    _ => return Outcome::Vanished,
                },
                () = tx.closed(), if *client => {
                    *client = false;
                    continue;
                }
                () = grace => {
                    self.kill().await;
                    return Outcome::Killed;
                }
            };
            for piece in pieces {
                let out = match piece {
                    Piece::Text(text) => Some(output_line(stream, &text)),
                    Piece::Message(raw) => match serde_json::from_slice::<Value>(&raw) {
                        Ok(Value::Object(mut msg)) => {
                            match msg.get("type").and_then(Value::as_str) {
                                Some("done") => {
                                    if stream == "stdout" {
                                        out_done = true;
                                    } else {
                                        err_done = true;
                                    }
                                    None
                                }
                                Some("stdout" | "stderr") => {
                                    msg.insert("timestamp".into(), json!(now()));
                                    Some(line(&Value::Object(msg)))
                                }
                                Some(_) => Some(line(&Value::Object(msg))),
                                None => None,
                            }
                        }
                        // Not a message after all: the bytes were output.
                        _ => Some(output_line(
                            stream,
                            &format!("\u{1e}{}\n", String::from_utf8_lossy(&raw)),
                        )),
                    },
                };
                if let Some(out) = out
                    && *client
                    && tx.send(out).await.is_err()
                {
                    *client = false;
                }
            }
        }
        Outcome::Done
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    /// The process ended (killed by a restart, or on its own).
    Vanished,
    /// It was killed because an interrupt could not stop it.
    Killed,
}

/// Starts a kernel process as `root` (as E2B's template runs its Jupyter server, and with it
/// every kernel), with the sandbox's environment.
async fn spawn(
    live: &LiveSandbox,
    kernel: Kernel,
    language: &str,
    settings: &Settings,
    cwd: &str,
) -> Result<Session, String> {
    let user = live
        .handle
        .user("root")
        .ok_or("the sandbox has no root account to run the context as")?;
    let mut env = crate::envd::process::base_env(live, &user);
    // R prints, and Java decodes, by the locale's character set: UTF-8 unless the sandbox says.
    if matches!(kernel, Kernel::R | Kernel::Java)
        && !env.iter().any(|(k, _)| k == "LANG" || k == "LC_ALL")
    {
        env.push(("LANG".into(), "C.UTF-8".into()));
    }
    // What the sandbox's log shows instead of the driver's source.
    let label = match kernel {
        Kernel::Python => "<code interpreter: sandkitd's Python driver>",
        Kernel::JavaScript => "<code interpreter: sandkitd's JavaScript driver>",
        Kernel::Bash => "<code interpreter: bash context>",
        Kernel::R => "<code interpreter: sandkitd's R driver>",
        Kernel::Java => "<code interpreter: sandkitd's Java driver>",
    };
    let (cmd, args) = match kernel {
        Kernel::Python => {
            env.push(("MPLBACKEND".into(), "Agg".into()));
            env.push(("PYTHONUNBUFFERED".into(), "1".into()));
            (
                settings.python.clone(),
                vec!["-c".to_string(), PYTHON_DRIVER.to_string()],
            )
        }
        Kernel::JavaScript => {
            if let Some(ts) = &settings.typescript {
                env.push(("SANDKIT_TYPESCRIPT".into(), ts.clone()));
            }
            // Node's internals give the driver its REPL's acorn and top-level await.
            (
                settings.node.clone(),
                vec![
                    "--expose-internals".to_string(),
                    "-e".to_string(),
                    JS_DRIVER.to_string(),
                    language.to_string(),
                ],
            )
        }
        Kernel::Bash => (
            "bash".to_string(),
            vec!["--norc".into(), "--noprofile".into()],
        ),
        Kernel::R => {
            // In the environment rather than on the command line, which R's front end mangles.
            env.push(("SANDKIT_R_DRIVER".into(), R_DRIVER.into()));
            (
                settings.r.clone(),
                [
                    "--no-echo",
                    "--no-save",
                    "--no-restore",
                    "-e",
                    "eval(parse(text = Sys.getenv('SANDKIT_R_DRIVER')))",
                ]
                .map(String::from)
                .to_vec(),
            )
        }
        Kernel::Java => {
            env.push(("SANDKIT_JAVA_DRIVER".into(), JAVA_DRIVER.into()));
            // E2B's server gives a Java context the sandbox's own variables as system
            // properties; the driver reads which ones they are here.
            let names: Vec<&str> = live.env.iter().map(|(k, _)| k.as_str()).collect();
            env.push(("SANDKIT_PROPERTIES_FROM_ENV".into(), names.join("\n")));
            let mut args = vec![
                "-c".into(),
                JAVA_WRAPPER.into(),
                "sandkit-java".into(),
                settings.java.clone(),
                "-XX:+UseSerialGC".into(),
            ];
            // The JVM sizes its heap by the machine's memory unless told the sandbox's: with
            // 24 GiB seen it began with a 384 MiB heap in a 512 MiB sandbox.
            if settings.memory_mb > 0 {
                args.push(format!("-XX:MaxRAM={}m", settings.memory_mb));
            }
            ("bash".to_string(), args)
        }
    };
    let spawned = live
        .handle
        .spawn(SpawnRequest {
            req: 0,
            cmd: cmd.clone(),
            args,
            env,
            cwd: cwd.to_string(),
            uid: user.uid,
            gid: user.gid,
            groups: vec![user.gid],
            stdin: true,
            pty: None,
        })
        .await
        .map_err(|e| {
            let m = match e {
                crate::sandbox::SpawnError::Invalid(m) => format!("could not start {cmd}: {m}"),
                crate::sandbox::SpawnError::Sandbox(m) => m,
            };
            live.log.record(&crate::logs::Event::DaemonError {
                action: "start a code context",
                error: &m,
            });
            m
        })?;
    live.log.record(&crate::logs::Event::ProcessStarted {
        pid: spawned.pid,
        cmd: &cmd,
        args: &[label.to_string()],
    });
    let ProcessIo::Pipes {
        stdin: Some(stdin),
        stdout,
        stderr,
    } = spawned.io
    else {
        return Err("the agent gave the context no pipes".into());
    };
    let pipes = || -> std::io::Result<_> {
        Ok((
            pipe::Sender::from_owned_fd(stdin)?,
            pipe::Receiver::from_owned_fd(stdout)?,
            pipe::Receiver::from_owned_fd(stderr)?,
        ))
    };
    let (stdin, mut stdout, stderr) = pipes().map_err(|e| format!("the context's pipes: {e}"))?;
    if kernel == Kernel::Java
        && let Err(why) = ready(&mut stdout).await
    {
        live.handle.signal(spawned.pid, libc::SIGKILL).await;
        return Err(why);
    }
    Ok(Session {
        pid: spawned.pid,
        stdin,
        stdout,
        stderr,
        exit: spawned.exit,
        count: 0,
    })
}

/// Waits for the Java driver to say it is ready, or its wrapper that there is no `java`: a
/// context that cannot start is refused when it is made, as a missing program is for the
/// others.
async fn ready(stdout: &mut pipe::Receiver) -> Result<(), String> {
    let mut split = Splitter::default();
    let mut buf = vec![0u8; 4096];
    let wait = async {
        loop {
            let n = stdout.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return Err("java ended before it was ready (Java contexts need a JDK, 11 or later, not a JRE)".to_string());
            }
            for piece in split.push(&buf[..n]) {
                let Piece::Message(raw) = piece else { continue };
                let msg: Value = serde_json::from_slice(&raw).unwrap_or_default();
                match msg["type"].as_str() {
                    Some("ready") => return Ok(()),
                    Some("unavailable") => {
                        return Err(msg["value"].as_str().unwrap_or_default().to_string());
                    }
                    _ => {}
                }
            }
        }
    };
    tokio::time::timeout(JAVA_START, wait)
        .await
        .unwrap_or_else(|_| Err("java did not start within a minute".into()))
}

/// What bash reads for one execution: the code (base64, so no quoting can break out) run by
/// `eval` in the shell itself so its variables, functions and directory stay; the
/// execution's variables set before and put back after; then the done marks.
fn bash_job(code: &str, env: &BTreeMap<String, String>) -> Vec<u8> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut script = String::new();
    let names: Vec<&String> = env.keys().filter(|k| is_shell_name(k)).collect();
    for (i, name) in names.iter().enumerate() {
        script.push_str(&format!(
            "if [ -n \"${{{name}+x}}\" ]; then __sk_had_{i}=1; __sk_old_{i}=\"${name}\"; else __sk_had_{i}=0; fi; export {name}=\"$(printf %s '{}' | base64 -d)\"\n",
            b64(&env[*name])
        ));
    }
    script.push_str(&format!(
        "eval \"$(printf %s '{}' | base64 -d)\" </dev/null\n__sk_status=$?\n",
        b64(code)
    ));
    for (i, name) in names.iter().enumerate() {
        script.push_str(&format!(
            "if [ \"$__sk_had_{i}\" = 1 ]; then export {name}=\"$__sk_old_{i}\"; else unset {name}; fi; unset __sk_had_{i} __sk_old_{i}\n"
        ));
    }
    script.push_str(
        "printf '\\036{\"type\":\"done\",\"status\":%d}\\n' \"$__sk_status\"; printf '\\036{\"type\":\"done\"}\\n' >&2\n",
    );
    script.into_bytes()
}

/// What the R and Java drivers read for one execution: a line of decimal byte lengths (the
/// code's, then each variable's name's and value's), then those bytes. Neither language reads
/// JSON without a library.
fn framed_job(code: &str, env: &BTreeMap<String, String>) -> Vec<u8> {
    let mut parts = vec![code];
    for (k, v) in env {
        parts.push(k);
        parts.push(v);
    }
    let sizes: Vec<String> = parts.iter().map(|p| p.len().to_string()).collect();
    let mut job = sizes.join(" ").into_bytes();
    job.push(b'\n');
    for p in parts {
        job.extend_from_slice(p.as_bytes());
    }
    job
}

fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    sandkit::Timestamp::from_unix_millis(ms).to_rfc3339()
}

fn line(value: &Value) -> Bytes {
    let mut l = serde_json::to_vec(value).unwrap_or_default();
    l.push(b'\n');
    Bytes::from(l)
}

fn output_line(stream: &str, text: &str) -> Bytes {
    line(&json!({ "type": stream, "text": text, "timestamp": now() }))
}

fn error_line(name: &str, value: &str) -> Bytes {
    line(&json!({ "type": "error", "name": name, "value": value, "traceback": "" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_jobs_give_byte_lengths_first() {
        let env = BTreeMap::from([("K".to_string(), "vé".to_string())]);
        assert_eq!(
            framed_job("1 +\n1", &env),
            b"5 1 3\n1 +\n1Kv\xc3\xa9".to_vec()
        );
        assert_eq!(framed_job("", &BTreeMap::new()), b"0\n".to_vec());
    }

    #[test]
    fn shell_names() {
        assert!(is_shell_name("A_1"));
        assert!(!is_shell_name("1A"));
        assert!(!is_shell_name("A-B"));
        assert!(!is_shell_name(""));
    }
}
