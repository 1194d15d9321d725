//! Processes in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.commands` on
//! (the same surface as the napi binding's `ProcessHandle` and `commands*` methods).

use crate::convert::{array_of, promise};
use js_sys::{Object, Promise, Reflect, Uint8Array};
use sandkit::commands::{OUTPUT_BATCH, OutputText};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn opt_string(v: &Option<String>) -> JsValue {
    v.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str)
}

fn string_map(map: &std::collections::BTreeMap<String, String>) -> Object {
    let obj = Object::new();
    for (k, v) in map {
        set(&obj, k, &JsValue::from_str(v));
    }
    obj
}

/// `ProcessListing[]`.
pub fn listings(list: Vec<sandkit::commands::ProcessInfo>) -> JsValue {
    array_of(list, |p| {
        let obj = Object::new();
        set(&obj, "pid", &JsValue::from(p.pid));
        set(&obj, "tag", &opt_string(&p.tag));
        set(&obj, "cmd", &JsValue::from_str(&p.cmd));
        set(&obj, "args", &array_of(&p.args, |a| JsValue::from_str(a)));
        set(&obj, "envs", &string_map(&p.envs));
        set(&obj, "cwd", &opt_string(&p.cwd));
        obj.into()
    })
}

fn gone() -> sandkit::Error {
    sandkit::Error::new(
        sandkit::ErrorKind::Sandbox,
        "the process handle was already waited for",
    )
}

/// A started process. Output is pulled with `nextOutput()` until it returns `null`.
#[wasm_bindgen]
pub struct ProcessHandle {
    pid: u32,
    // Taken out while a call is in flight and put back after: never borrowed across an await.
    inner: Rc<RefCell<Option<Box<sandkit::commands::CommandHandle>>>>,
    // Kept outside `inner`, which a pending read has taken out.
    disconnect: sandkit::CancelHandle,
}

impl ProcessHandle {
    pub fn new(mut h: sandkit::commands::CommandHandle) -> Self {
        // The JavaScript layer keeps the output it is handed; the core need not keep a copy.
        h.discard_output();
        ProcessHandle {
            pid: h.pid(),
            disconnect: h.disconnector(),
            inner: Rc::new(RefCell::new(Some(Box::new(h)))),
        }
    }
}

#[wasm_bindgen]
impl ProcessHandle {
    #[wasm_bindgen(getter)]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets the connection go; the process goes on. A pending or later read fails unless
    /// the process had already ended.
    pub fn disconnect(&self) {
        self.disconnect.cancel()
    }

    /// The next piece of output; `null` once the process has ended.
    #[wasm_bindgen(js_name = nextOutput, unchecked_return_type = "Promise<ProcessOutput | null>")]
    pub fn next_output(&self) -> Promise {
        let slot = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let mut h = slot
                .try_borrow_mut()
                .map_err(|_| gone())?
                .take()
                .ok_or_else(gone)?;
            let out = h.next_output_text(OUTPUT_BATCH).await;
            *slot.try_borrow_mut().map_err(|_| gone())? = Some(h);
            Ok(match out? {
                None => JsValue::NULL,
                Some(o) => {
                    let (stream, data) = match o {
                        OutputText::Stdout(s) => ("stdout", JsValue::from_str(&s)),
                        OutputText::Stderr(s) => ("stderr", JsValue::from_str(&s)),
                        OutputText::Pty(b) => ("pty", Uint8Array::from(b.as_ref()).into()),
                    };
                    let obj = Object::new();
                    set(&obj, "stream", &JsValue::from_str(stream));
                    set(&obj, "data", &data);
                    obj.into()
                }
            })
        }))
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<ProcessResult>")]
    pub fn wait(&self) -> Promise {
        let slot = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let h = slot
                .try_borrow_mut()
                .map_err(|_| gone())?
                .take()
                .ok_or_else(gone)?;
            let r = h.wait().await?;
            let obj = Object::new();
            set(&obj, "exitCode", &JsValue::from(r.exit_code));
            set(&obj, "error", &opt_string(&r.error));
            set(&obj, "stdout", &JsValue::from_str(&r.stdout));
            set(&obj, "stderr", &JsValue::from_str(&r.stderr));
            Ok(obj.into())
        }))
    }
}
