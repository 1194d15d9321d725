//! Terminals in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.pty` on. A
//! terminal's handle is a `ProcessHandle` whose output is all `pty`; it is killed with
//! `commandsKill` and attached to again with `commandsConnect`.

use crate::commands::ProcessHandle;
use crate::convert::{JsAnyArg, guarded, read_opts};
use crate::sandbox::Sandbox;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use sandkit::js_options;

#[napi]
impl Sandbox {
    /// Starts a login shell on a new terminal.
    #[napi]
    pub async fn pty_create(
        &self,
        #[napi(ts_arg_type = "PtyStartOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<ProcessHandle> {
        let inner = self.inner.clone();
        guarded(async move {
            let opts = read_opts(opts, js_options::pty_opts)?;
            Ok(ProcessHandle::new(inner.pty().create(opts).run().await?))
        })
        .await
    }

    /// Types bytes into a terminal.
    #[napi]
    pub async fn pty_send_input(
        &self,
        #[napi(ts_arg_type = "number")] pid: JsAnyArg,
        data: Uint8Array,
    ) -> napi::Result<()> {
        let inner = self.inner.clone();
        let data = data.to_vec();
        guarded(async move {
            let pid = js_options::pid_arg(&pid.0)?;
            inner.pty().send_input(pid, &data).run().await
        })
        .await
    }

    /// Changes a terminal's size.
    #[napi]
    pub async fn pty_resize(
        &self,
        #[napi(ts_arg_type = "number")] pid: JsAnyArg,
        #[napi(ts_arg_type = "PtySizeOpts | undefined | null")] size: Option<JsAnyArg>,
    ) -> napi::Result<()> {
        let inner = self.inner.clone();
        guarded(async move {
            let pid = js_options::pid_arg(&pid.0)?;
            let size = read_opts(size, js_options::pty_size)?;
            inner.pty().resize(pid, size).run().await
        })
        .await
    }
}
