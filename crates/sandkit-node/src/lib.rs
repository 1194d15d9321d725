//! The Node.js binding: converts JavaScript values to the core's types and back, nothing else.

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

use napi_derive::module_init;
use sandkit::config::ProcessEnv;
use sandkit::runtime::TokioRuntime;
use sandkit::transport::NativeTransport;
use sandkit::{Client, Platform};

#[module_init]
fn init() {
    // Node reads E2B_* from process.env, which is the process environment.
    // Nothing is built here: the HTTP clients are made by the first request.
    Client::set_shared(Client::new(
        NativeTransport::new(),
        TokioRuntime::default(),
        ProcessEnv,
        Platform::new("node", false),
    ));
}

/// Test only (tests/scenario.mjs, "panic"): panics inside the addon, to show that a panic
/// reaches JavaScript as an error and Node goes on. `js/wrap.mjs` hides it as
/// `Sandbox.__testPanic`; scripts/build-js.mjs leaves it out of index.d.ts.
#[doc(hidden)]
#[napi_derive::napi(js_name = "__testPanic")]
pub fn test_panic(message: String) -> napi::Result<()> {
    convert::guarded_sync(|| -> sandkit::Result<()> { panic!("{message}") })
}

/// The async form of [`test_panic`]: the panic happens inside the call's future.
#[doc(hidden)]
#[napi_derive::napi(js_name = "__testPanicAsync")]
pub async fn test_panic_async(message: String) -> napi::Result<()> {
    convert::guarded(async move {
        // After a real await, so that the panic is in the future's later poll.
        sandkit::runtime::Runtime::sleep(&TokioRuntime::default(), 1).await;
        panic!("{message}")
    })
    .await
}
