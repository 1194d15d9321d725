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
use sandkit::config::NoEnv;
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

/// Runs once, when the module is instantiated (`initSync` or `init`): installs the client
/// every call uses, with the runtime's `fetch` and no environment variables.
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
    Client::set_shared(Client::new(
        FetchTransport { is_browser },
        JsRuntime,
        NoEnv,
        Platform::new(label, is_browser),
    ));
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
