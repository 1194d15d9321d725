//! sandkit: an E2B-compatible sandbox SDK.
//!
//! The same code runs natively (reqwest on tokio) and on wasm32 (the runtime's `fetch`), and
//! talks to E2B's cloud, a self-hosted E2B, or a local `sandkitd`.
//!
//! ```no_run
//! use sandkit::{ListOpts, Sandbox, SandboxOpts, SandboxState};
//! # async fn demo() -> sandkit::Result<()> {
//! // E2B_API_KEY (and E2B_API_URL for a local sandkitd) come from the environment.
//! let sandbox = Sandbox::create(SandboxOpts::new().metadata([("user", "42")])).await?;
//! let mut running = Sandbox::list(ListOpts {
//!     state: Some(vec![SandboxState::Running]),
//!     metadata: Some([("user".to_string(), "42".to_string())].into()),
//!     ..Default::default()
//! });
//! let first_page = running.next_items().await?;
//! assert_eq!(first_page[0].sandbox_id, sandbox.sandbox_id());
//! sandbox.kill().await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod cancel;
pub mod client;
pub mod commands;
pub mod config;
pub mod envd;
pub mod error;
pub mod files;
pub mod info;
pub mod info_json;
pub mod interpreter;
pub mod js_options;
#[cfg(target_arch = "wasm32")]
pub mod js_task;
#[cfg(target_arch = "wasm32")]
mod js_wait;
pub mod json;
pub mod maybe_send;
pub mod op;
pub mod options;
pub mod paginator;
pub mod pty;
pub mod public;
pub mod retry;
pub mod runtime;
pub mod sandbox;
pub mod snapshots;
pub mod transport;
pub mod utf8_pieces;
pub mod wire;

pub use api::ListOrder;
pub use cancel::CancelHandle;
pub use client::{Client, Platform};
pub use config::{ConnectionConfig, ConnectionOpts};
pub use error::{CommandOutcome, Error, ErrorKind, Result};
pub use info::SandboxMetrics;
pub use info::{LifecycleInfo, SandboxInfo, Timestamp};
pub use op::Op;
pub use options::{
    ConnectOpts, ListOpts, MetricsOpts, OnResume, OnTimeout, SandboxOpts, duration_from_js_millis,
};
pub use paginator::SandboxPaginator;
pub use public::{PublicRequest, SandboxHandle};
pub use sandbox::Sandbox;
pub use snapshots::{ForkOpts, SnapshotInfo, SnapshotListOpts, SnapshotPaginator};
pub use wire::{
    EgressProxy, NetworkConfig, NetworkRule, NetworkRules, NetworkTransform, OrderedMap,
    SandboxNetworkUpdateConfig, SandboxState, StringMap,
};
