//! Processes in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.commands` on.
//! Users call `sandbox.commands`, which the JS layer builds on these.

use crate::convert::guarded;
use napi::Either;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use sandkit::commands::{OUTPUT_BATCH, OutputText};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// One piece of output.
#[napi(object)]
pub struct ProcessOutput {
    /// `stdout`, `stderr` or `pty`.
    pub stream: String,
    /// Text for `stdout` and `stderr` (decoded across pieces), bytes for `pty`.
    pub data: Either<String, Uint8Array>,
}

/// How a process ended (a non-zero exit is thrown as `CommandExitError` instead).
#[napi(object)]
pub struct ProcessResult {
    pub exit_code: i32,
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

/// A running process, as listed.
#[napi(object)]
pub struct ProcessListing {
    pub pid: u32,
    pub tag: Option<String>,
    pub cmd: String,
    pub args: Vec<String>,
    pub envs: HashMap<String, String>,
    pub cwd: Option<String>,
}

pub fn listing(p: sandkit::commands::ProcessInfo) -> ProcessListing {
    ProcessListing {
        pid: p.pid,
        tag: p.tag,
        cmd: p.cmd,
        args: p.args,
        envs: p.envs.into_iter().collect(),
        cwd: p.cwd,
    }
}

/// A started process. Output is pulled with `nextOutput()` until it returns `null`.
#[napi]
pub struct ProcessHandle {
    pid: u32,
    inner: Arc<Mutex<Option<sandkit::commands::CommandHandle>>>,
    // Kept outside the lock, which a pending read holds.
    disconnect: sandkit::CancelHandle,
}

impl ProcessHandle {
    pub fn new(mut h: sandkit::commands::CommandHandle) -> Self {
        // The JavaScript layer keeps the output it is handed; the core need not keep a copy.
        h.discard_output();
        ProcessHandle {
            pid: h.pid(),
            disconnect: h.disconnector(),
            inner: Arc::new(Mutex::new(Some(h))),
        }
    }
}

fn gone() -> sandkit::Error {
    sandkit::Error::new(
        sandkit::ErrorKind::Sandbox,
        "the process handle was already waited for",
    )
}

#[napi]
impl ProcessHandle {
    #[napi(getter)]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets the connection go; the process goes on. A pending or later read fails unless
    /// the process had already ended.
    #[napi]
    pub fn disconnect(&self) {
        self.disconnect.cancel()
    }

    #[napi]
    pub async fn next_output(&self) -> napi::Result<Option<ProcessOutput>> {
        let inner = self.inner.clone();
        guarded(async move {
            let mut slot = inner.lock().await;
            let h = slot.as_mut().ok_or_else(gone)?;
            Ok(h.next_output_text(OUTPUT_BATCH).await?.map(|o| {
                let (stream, data) = match o {
                    OutputText::Stdout(s) => ("stdout", Either::A(s)),
                    OutputText::Stderr(s) => ("stderr", Either::A(s)),
                    OutputText::Pty(b) => ("pty", Either::B(Uint8Array::from(Vec::from(b)))),
                };
                ProcessOutput {
                    stream: stream.into(),
                    data,
                }
            }))
        })
        .await
    }

    #[napi]
    pub async fn wait(&self) -> napi::Result<ProcessResult> {
        let inner = self.inner.clone();
        guarded(async move {
            let h = inner.lock().await.take().ok_or_else(gone)?;
            let r = h.wait().await?;
            Ok(ProcessResult {
                exit_code: r.exit_code,
                error: r.error,
                stdout: r.stdout,
                stderr: r.stderr,
            })
        })
        .await
    }
}
