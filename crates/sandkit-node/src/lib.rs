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
