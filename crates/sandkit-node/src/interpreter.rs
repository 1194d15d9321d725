//! The code interpreter: the low-level calls `js/wrap.mjs` builds `sandbox.runCode` and the
//! code-context methods on (it makes the official package's `Execution` and `Result`).

use crate::convert::{JsAnyArg, guarded, read_opts};
use crate::sandbox::Sandbox;
use napi_derive::napi;
use sandkit::interpreter::{CodeEvent as CoreEvent, EVENTS_BATCH};
use sandkit::js_options;
use std::sync::Arc;
use tokio::sync::Mutex;

/// A code context.
#[napi(object)]
pub struct CodeContext {
    pub id: String,
    pub language: String,
    pub cwd: String,
}

/// One event of an execution: `stdout`/`stderr` (`text`), `result` (`raw`, the JSON of its
/// formats, and `isMainResult`), `error` (`name`, `value`, `traceback`) or
/// `number_of_executions` (`executionCount`).
#[napi(object)]
pub struct CodeEvent {
    #[napi(js_name = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub raw: Option<String>,
    pub is_main_result: Option<bool>,
    pub name: Option<String>,
    pub value: Option<String>,
    pub traceback: Option<String>,
    pub execution_count: Option<u32>,
}

fn event(e: CoreEvent) -> CodeEvent {
    let mut out = CodeEvent {
        kind: String::new(),
        text: None,
        raw: None,
        is_main_result: None,
        name: None,
        value: None,
        traceback: None,
        execution_count: None,
    };
    match e {
        CoreEvent::Stdout(t) => (out.kind, out.text) = ("stdout".into(), Some(t)),
        CoreEvent::Stderr(t) => (out.kind, out.text) = ("stderr".into(), Some(t)),
        CoreEvent::Result(r) => {
            out.kind = "result".into();
            out.raw = Some(r.raw_json);
            out.is_main_result = Some(r.is_main_result);
        }
        CoreEvent::Error(err) => {
            out.kind = "error".into();
            out.name = Some(err.name);
            out.value = Some(err.value);
            out.traceback = Some(err.traceback);
        }
        CoreEvent::ExecutionCount(n) => {
            out.kind = "number_of_executions".into();
            out.execution_count = Some(n);
        }
    }
    out
}

fn context(c: sandkit::interpreter::CodeContext) -> CodeContext {
    CodeContext {
        id: c.id,
        language: c.language,
        cwd: c.cwd,
    }
}

/// An execution under way; its events are pulled with `nextEvents()` until it returns null.
#[napi]
pub struct CodeRun {
    inner: Arc<Mutex<sandkit::interpreter::CodeRun>>,
    cancel: sandkit::CancelHandle,
}

#[napi]
impl CodeRun {
    #[napi]
    pub async fn next_events(&self) -> napi::Result<Option<Vec<CodeEvent>>> {
        let inner = self.inner.clone();
        guarded(async move {
            let batch = inner.lock().await.next_events(EVENTS_BATCH).await?;
            Ok(batch.map(|events| events.into_iter().map(event).collect()))
        })
        .await
    }

    /// Stops reading the execution (an `AbortSignal` fired): the read under way fails and
    /// the connection closes, which interrupts the code.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

#[napi]
impl Sandbox {
    /// Starts an execution (`sandbox.runCode` reads it).
    #[napi]
    pub async fn code_run(
        &self,
        #[napi(ts_arg_type = "string")] code: JsAnyArg,
        #[napi(ts_arg_type = "CodeRunOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<CodeRun> {
        let interpreter = self.inner.interpreter();
        guarded(async move {
            let code = js_options::string_arg(code.0, "code")?;
            let opts = read_opts(opts, js_options::code_run_opts)?;
            let run = interpreter.run_code(&code, opts).await?;
            Ok(CodeRun {
                cancel: run.cancel_handle(),
                inner: Arc::new(Mutex::new(run)),
            })
        })
        .await
    }

    #[napi]
    pub async fn code_context_create(
        &self,
        #[napi(ts_arg_type = "CodeContextOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<CodeContext> {
        let interpreter = self.inner.interpreter();
        guarded(async move {
            let opts = read_opts(opts, js_options::code_context_opts)?;
            Ok(context(interpreter.create_context(opts).await?))
        })
        .await
    }

    #[napi]
    pub async fn code_contexts_list(&self) -> napi::Result<Vec<CodeContext>> {
        let interpreter = self.inner.interpreter();
        guarded(async move {
            let all = interpreter.list_contexts().await?;
            Ok(all.into_iter().map(context).collect())
        })
        .await
    }

    #[napi]
    pub async fn code_context_remove(
        &self,
        #[napi(ts_arg_type = "string")] id: JsAnyArg,
    ) -> napi::Result<()> {
        let interpreter = self.inner.interpreter();
        guarded(async move {
            let id = js_options::string_arg(id.0, "id")?;
            interpreter.remove_context(&id).await
        })
        .await
    }

    #[napi]
    pub async fn code_context_restart(
        &self,
        #[napi(ts_arg_type = "string")] id: JsAnyArg,
    ) -> napi::Result<()> {
        let interpreter = self.inner.interpreter();
        guarded(async move {
            let id = js_options::string_arg(id.0, "id")?;
            interpreter.restart_context(&id).await
        })
        .await
    }
}
