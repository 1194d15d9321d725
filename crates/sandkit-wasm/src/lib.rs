//! The WebAssembly binding of sandkit (browsers, Cloudflare Workers, Node): converts
//! JavaScript values to the core's types and back, nothing else. The surface is the one in
//! `docs/binding-api.md`, the same as the napi binding's.
//!
//! Nothing here may panic: the wasm build aborts on panic, which traps the whole instance.
//! Every failure becomes a thrown `Error` carrying `sandkit::Error::to_binding_message()`.
//! Should a panic happen anyway, the hook installed at start hands its message to the JS
//! layer, which makes it a typed error and refuses every later call: a trapped instance
//! stopped mid-way (its allocator, its tasks) and cannot be trusted again. (wasm-bindgen's
//! `schedule_reinit` would swap in a new instance, but async calls in it failed in our tests.)
#![cfg(target_arch = "wasm32")]

mod commands;
mod connection;
mod convert;
mod files;
mod interpreter;
mod paginator;
mod pty;
mod public;
mod sandbox;
mod signature;
mod types;

pub use paginator::SandboxPaginator;
pub use sandbox::Sandbox;

use js_sys::Reflect;
use sandkit::config::{Env, NoEnv};
use sandkit::runtime::JsRuntime;
use sandkit::transport::FetchTransport;
use sandkit::{Client, Platform};
use wasm_bindgen::prelude::*;

/// `globalThis[key]`, or `undefined`.
fn global(key: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` for an object, else `undefined`.
fn member(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// The runtime's `process.env` (Node, Bun, Deno's Node globals, Workers with `nodejs_compat`),
/// its variables read when asked for: the wasm build in Node (where no addon fits) takes
/// `E2B_API_KEY` and the rest as the addon does.
struct ProcessEnvOfJs;

// It holds no JavaScript object (that is a thread-local, and the module has one thread).
unsafe impl Sync for ProcessEnvOfJs {}
unsafe impl Send for ProcessEnvOfJs {}

thread_local! {
    /// `process.env`, found once: the object stays the same, its variables are read live.
    static PROCESS_ENV: JsValue = member(&global("process"), "env");
}

impl Env for ProcessEnvOfJs {
    fn var(&self, name: &str) -> Option<String> {
        PROCESS_ENV.with(|env| member(env, name).as_string())
    }
}

/// Runs once, when the module is instantiated (`initSync` or `init`): installs the client
/// every call uses, with the runtime's `fetch`, and `process.env` where there is one outside a
/// browser (a page has no environment of its own; a bundler's stand-in is not one).
#[wasm_bindgen(start, private)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        let payload: &(dyn std::any::Any + Send) = info.payload();
        let text = sandkit::error::panic_text(Some(payload));
        // The instance is about to trap, so the JS layer cannot ask it afterwards: the message
        // goes where js/wrap.mjs looks for it when a call ends in a WebAssembly.RuntimeError.
        let key = js_sys::Symbol::for_(PANIC_KEY);
        Reflect::set(&js_sys::global(), &key, &JsValue::from_str(&text)).ok();
    }));
    // A page has both; Workers, Node and web workers have neither.
    let is_browser = !global("window").is_undefined() && !global("document").is_undefined();
    let label = if is_browser {
        "wasm-browser"
    } else if member(&member(&global("process"), "versions"), "node").is_string() {
        "wasm-node"
    } else {
        // workerd (its `navigator.userAgent` is 'Cloudflare-Workers'), web workers, Deno:
        // every runtime without a window that is not Node.
        "wasm-worker"
    };
    let platform = Platform::new(label, is_browser);
    Client::set_shared(if is_browser {
        Client::new(FetchTransport { is_browser }, JsRuntime, NoEnv, platform)
    } else {
        Client::new(
            FetchTransport { is_browser },
            JsRuntime,
            ProcessEnvOfJs,
            platform,
        )
    });
}

/// `Symbol.for(PANIC_KEY)` on the global object holds the last panic's message.
const PANIC_KEY: &str = "sandkit.wasmPanic";

/// Test only (tests/scenario.mjs, "panic"): panics inside the module, to show what a caller
/// gets. `js/wrap.mjs` hides it as `Sandbox.__testPanic`.
#[doc(hidden)]
#[wasm_bindgen(js_name = "__testPanic")]
pub fn test_panic(message: String) {
    panic!("{message}")
}

/// Talc instead of the standard library's dlmalloc: about 7 KB less wasm, and faster.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
