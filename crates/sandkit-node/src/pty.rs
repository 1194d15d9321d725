//! Terminals in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.pty` on. A
//! terminal's handle is a `ProcessHandle` whose output is all `pty`; it is killed with
//! `commandsKill` and attached to again with `commandsConnect`.

use crate::commands::ProcessHandle;
use crate::convert::guarded;
use crate::sandbox::Sandbox;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use sandkit::options::from_js;
use sandkit::pty::{PtyOpts, PtySize};

/// Options of a terminal's start.
#[napi(object)]
pub struct PtyStartOpts {
    /// Columns, 1 to 65535 (required).
    pub cols: Option<f64>,
    /// Rows, 1 to 65535 (required).
    pub rows: Option<f64>,
    #[napi(ts_type = "Record<string, string>")]
    pub envs: Option<crate::convert::StringRecord>,
    pub cwd: Option<String>,
    pub user: Option<String>,
    /// 0 for no limit; default 60 000.
    pub timeout_ms: Option<f64>,
}

/// A terminal's size in character cells.
#[napi(object)]
pub struct PtySizeOpts {
    pub cols: Option<f64>,
    pub rows: Option<f64>,
}

fn start_opts(o: Option<PtyStartOpts>) -> sandkit::Result<PtyOpts> {
    let o = o.unwrap_or(PtyStartOpts {
        cols: None,
        rows: None,
        envs: None,
        cwd: None,
        user: None,
        timeout_ms: None,
    });
    let mut opts = PtyOpts::new(PtySize::from_js(o.cols, o.rows)?);
    opts.envs = o
        .envs
        .map(|m| m.0)
        .unwrap_or_default()
        .into_iter()
        .collect();
    opts.cwd = o.cwd;
    opts.user = o.user;
    opts.timeout = from_js::millis("timeoutMs", o.timeout_ms)?;
    Ok(opts)
}

#[napi]
impl Sandbox {
    /// Starts a login shell on a new terminal.
    #[napi]
    pub async fn pty_create(&self, opts: Option<PtyStartOpts>) -> napi::Result<ProcessHandle> {
        let inner = self.inner.clone();
        guarded(async move {
            let opts = start_opts(opts)?;
            Ok(ProcessHandle::new(inner.pty().create(opts).run().await?))
        })
        .await
    }

    /// Types bytes into a terminal.
    #[napi]
    pub async fn pty_send_input(&self, pid: f64, data: Uint8Array) -> napi::Result<()> {
        let inner = self.inner.clone();
        let data = data.to_vec();
        guarded(async move {
            inner
                .pty()
                .send_input(from_js::pid(pid)?, &data)
                .run()
                .await
        })
        .await
    }

    /// Changes a terminal's size.
    #[napi]
    pub async fn pty_resize(&self, pid: f64, size: Option<PtySizeOpts>) -> napi::Result<()> {
        let inner = self.inner.clone();
        guarded(async move {
            let (cols, rows) = size.map_or((None, None), |s| (s.cols, s.rows));
            let size = PtySize::from_js(cols, rows)?;
            inner.pty().resize(from_js::pid(pid)?, size).run().await
        })
        .await
    }
}
