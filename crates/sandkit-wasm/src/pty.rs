//! Terminals in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.pty` on (the
//! same surface as the napi binding's `pty*` methods). A terminal's handle is a
//! `ProcessHandle` whose output is all `pty`.

use crate::commands::ProcessHandle;
use crate::convert::{read_fields, run_map};
use crate::sandbox::{Sandbox, undefined};
use js_sys::Promise;
use sandkit::Result;
use sandkit::js_options::Fields;
use sandkit::options::from_js;
use sandkit::pty::{PtyOpts, PtySize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const PTY_TYPES: &str = r#"
/** Options of a terminal's start (`sandbox.ptyCreate`). */
export interface PtyStartOpts {
  /** Columns, 1 to 65535 (required). */
  cols?: number;
  /** Rows, 1 to 65535 (required). */
  rows?: number;
  envs?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** 0 for no limit; default 60 000. */
  timeoutMs?: number;
}

/** A terminal's size in character cells. */
export interface PtySizeOpts {
  cols?: number;
  rows?: number;
}
"#;

/// `{ cols, rows }` → a size.
fn size_of(o: &Fields<'_>) -> Result<PtySize> {
    PtySize::from_js(o.number("cols")?, o.number("rows")?)
}

/// `PtyStartOpts` → the core's options.
fn start_opts(v: Option<JsValue>) -> Result<PtyOpts> {
    read_fields(v, "opts", |o| {
        let mut opts = PtyOpts::new(size_of(o)?);
        opts.envs = o.string_map("envs")?.unwrap_or_default();
        opts.cwd = o.string("cwd")?;
        opts.user = o.string("user")?;
        opts.timeout = from_js::millis("timeoutMs", o.number("timeoutMs")?)?;
        Ok(opts)
    })
}

#[wasm_bindgen]
impl Sandbox {
    /// Starts a login shell on a new terminal.
    #[wasm_bindgen(js_name = ptyCreate, unchecked_return_type = "Promise<ProcessHandle>")]
    pub fn pty_create(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "PtyStartOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = start_opts(opts).map(|o| self.inner.pty().create(o));
        run_map(op, |h| JsValue::from(ProcessHandle::new(h)))
    }

    /// Types bytes into a terminal.
    #[wasm_bindgen(js_name = ptySendInput, unchecked_return_type = "Promise<void>")]
    pub fn pty_send_input(&self, pid: f64, data: js_sys::Uint8Array) -> Promise {
        let op = from_js::pid(pid).map(|pid| self.inner.pty().send_input(pid, &data.to_vec()));
        run_map(op, undefined)
    }

    /// Changes a terminal's size.
    #[wasm_bindgen(js_name = ptyResize, unchecked_return_type = "Promise<void>")]
    pub fn pty_resize(
        &self,
        pid: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "PtySizeOpts | null")] size: Option<JsValue>,
    ) -> Promise {
        let op = from_js::pid(pid).and_then(|pid| {
            let size = read_fields(size, "size", size_of)?;
            Ok(self.inner.pty().resize(pid, size))
        });
        run_map(op, undefined)
    }
}
