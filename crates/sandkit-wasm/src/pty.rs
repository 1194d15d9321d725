//! Terminals in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.pty` on (the
//! same surface as the napi binding's `pty*` methods). A terminal's handle is a
//! `ProcessHandle` whose output is all `pty`.

use crate::commands::ProcessHandle;
use crate::convert::{pid_arg, read_opts, run_map};
use crate::sandbox::{Sandbox, undefined};
use js_sys::Promise;
use sandkit::js_options;
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
  /** This call's request timeout (0 for none); default the sandbox's. */
  requestTimeoutMs?: number;
}

/** A terminal's size in character cells. */
export interface PtySizeOpts {
  cols?: number;
  rows?: number;
}
"#;

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
        let op = read_opts(opts, js_options::pty_opts).map(|o| self.inner.pty().create(o));
        run_map(op, |h| JsValue::from(ProcessHandle::new(h)))
    }

    /// Types bytes into a terminal.
    #[wasm_bindgen(js_name = ptySendInput, unchecked_return_type = "Promise<void>")]
    pub fn pty_send_input(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] pid: JsValue,
        data: js_sys::Uint8Array,
    ) -> Promise {
        let op = pid_arg(&pid).map(|pid| self.inner.pty().send_input(pid, &data.to_vec()));
        run_map(op, undefined)
    }

    /// Changes a terminal's size.
    #[wasm_bindgen(js_name = ptyResize, unchecked_return_type = "Promise<void>")]
    pub fn pty_resize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] pid: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PtySizeOpts | null")] size: Option<JsValue>,
    ) -> Promise {
        let op = pid_arg(&pid).and_then(|pid| {
            let size = read_opts(size, js_options::pty_size)?;
            Ok(self.inner.pty().resize(pid, size))
        });
        run_map(op, undefined)
    }
}
