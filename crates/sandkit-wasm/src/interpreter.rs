//! The code interpreter: the low-level calls `js/wrap.mjs` builds `sandbox.runCode` and the
//! code-context methods on (the same surface as the napi binding's `CodeRun` and `code*`).

use crate::convert::{array_of, or_reject, promise, read_opts, run_map, string_arg};
use crate::sandbox::Sandbox;
use js_sys::{Object, Promise, Reflect};
use sandkit::interpreter::{CodeEvent, EVENTS_BATCH};
use sandkit::js_options;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// One event as the napi binding's `CodeEvent` object.
fn event(e: CodeEvent) -> JsValue {
    let obj = Object::new();
    let s = |v: &str| JsValue::from_str(v);
    match e {
        CodeEvent::Stdout(t) => {
            set(&obj, "type", &s("stdout"));
            set(&obj, "text", &s(&t));
        }
        CodeEvent::Stderr(t) => {
            set(&obj, "type", &s("stderr"));
            set(&obj, "text", &s(&t));
        }
        CodeEvent::Result(r) => {
            set(&obj, "type", &s("result"));
            set(&obj, "raw", &s(&r.raw_json));
            set(&obj, "isMainResult", &JsValue::from_bool(r.is_main_result));
        }
        CodeEvent::Error(err) => {
            set(&obj, "type", &s("error"));
            set(&obj, "name", &s(&err.name));
            set(&obj, "value", &s(&err.value));
            set(&obj, "traceback", &s(&err.traceback));
        }
        CodeEvent::ExecutionCount(n) => {
            set(&obj, "type", &s("number_of_executions"));
            set(&obj, "executionCount", &JsValue::from(n));
        }
    }
    obj.into()
}

fn context(c: sandkit::interpreter::CodeContext) -> JsValue {
    let obj = Object::new();
    set(&obj, "id", &JsValue::from_str(&c.id));
    set(&obj, "language", &JsValue::from_str(&c.language));
    set(&obj, "cwd", &JsValue::from_str(&c.cwd));
    obj.into()
}

fn gone() -> sandkit::Error {
    sandkit::Error::new(
        sandkit::ErrorKind::Sandbox,
        "the execution is being read by another call",
    )
}

/// An execution under way; its events are pulled with `nextEvents()` until it returns null.
#[wasm_bindgen]
pub struct CodeRun {
    // Taken out while a call is in flight and put back after: never borrowed across an await.
    inner: Rc<RefCell<Option<Box<sandkit::interpreter::CodeRun>>>>,
    cancel: sandkit::CancelHandle,
}

#[wasm_bindgen]
impl CodeRun {
    #[wasm_bindgen(js_name = nextEvents, unchecked_return_type = "Promise<CodeEvent[] | null>")]
    pub fn next_events(&self) -> Promise {
        let slot = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let mut run = slot
                .try_borrow_mut()
                .map_err(|_| gone())?
                .take()
                .ok_or_else(gone)?;
            let batch = run.next_events(EVENTS_BATCH).await;
            *slot.try_borrow_mut().map_err(|_| gone())? = Some(run);
            Ok(match batch? {
                None => JsValue::NULL,
                Some(events) => array_of(events, event),
            })
        }))
    }

    /// Stops reading the execution (an `AbortSignal` fired): the read under way fails and
    /// the connection closes, which interrupts the code.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

#[wasm_bindgen]
impl Sandbox {
    /// Starts an execution (`sandbox.runCode` reads it).
    #[wasm_bindgen(js_name = codeRun, unchecked_return_type = "Promise<CodeRun>")]
    pub fn code_run(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] code: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CodeRunOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let code = or_reject!(string_arg(&code, "code"));
        let op = read_opts(opts, js_options::code_run_opts)
            .map(|o| self.inner.interpreter().run_code(&code, o));
        run_map(op, |run| {
            CodeRun {
                cancel: run.cancel_handle(),
                inner: Rc::new(RefCell::new(Some(Box::new(run)))),
            }
            .into()
        })
    }

    #[wasm_bindgen(js_name = codeContextCreate, unchecked_return_type = "Promise<CodeContext>")]
    pub fn code_context_create(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CodeContextOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = read_opts(opts, js_options::code_context_opts)
            .map(|o| self.inner.interpreter().create_context(o));
        run_map(op, context)
    }

    #[wasm_bindgen(js_name = codeContextsList, unchecked_return_type = "Promise<CodeContext[]>")]
    pub fn code_contexts_list(&self) -> Promise {
        run_map(Ok(self.inner.interpreter().list_contexts()), |all| {
            array_of(all, context)
        })
    }

    #[wasm_bindgen(js_name = codeContextRemove, unchecked_return_type = "Promise<void>")]
    pub fn code_context_remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Promise {
        let op = string_arg(&id, "id").map(|id| self.inner.interpreter().remove_context(&id));
        run_map(op, |()| JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = codeContextRestart, unchecked_return_type = "Promise<void>")]
    pub fn code_context_restart(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Promise {
        let op = string_arg(&id, "id").map(|id| self.inner.interpreter().restart_context(&id));
        run_map(op, |()| JsValue::UNDEFINED)
    }
}
