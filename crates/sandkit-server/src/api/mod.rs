//! The HTTP surface: routes, shared state, and the JSON answers for unknown routes and methods.

mod extract;
mod list;

#[doc(hidden)]
pub use list::fuzz_metadata_filter;
mod logs;
mod metrics;
mod network;
mod sandboxes;
mod snapshots;
mod templates;
mod unimplemented;

pub use extract::MAX_BODY_BYTES;

use crate::auth::ApiKeys;
use crate::cors;
use crate::error::ApiError;
use crate::store::Store;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{get, post};
use std::sync::Arc;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Every live sandbox.
    pub store: Arc<Store>,
    /// Accepted API keys and their teams.
    pub keys: ApiKeys,
    /// The `domain` reported for every sandbox.
    pub domain: String,
    /// The processes of running sandboxes.
    pub live: Arc<crate::live::Live>,
    /// The templates sandboxes may be created from.
    pub templates: Vec<String>,
    /// Every sandbox's CPU, memory and disk samples.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What each new sandbox may use.
    pub size: SandboxSize,
    /// Rate limits and quotas.
    pub limits: crate::limits::Limits,
    /// The programs the code interpreter's kernels run on.
    pub interpreter: crate::interpreter::Settings,
    /// Snapshots of sandboxes, or why this server cannot make them.
    pub snapshots: Result<Arc<crate::snapshots::Snapshots>, String>,
    /// When this server started (Unix ms): when its templates were made, as `GET /templates`
    /// reports them.
    pub started_ms: i64,
}

/// The CPUs and memory each sandbox gets (its cgroup's limits), and its disk's size.
#[derive(Debug, Clone, Copy)]
pub struct SandboxSize {
    pub cpu_count: u32,
    pub memory_mb: u32,
    pub disk_size_mb: u32,
}

/// The control-plane router, CORS included.
pub fn router(state: Arc<AppState>) -> Router {
    unimplemented::add_routes(Router::new())
        .route("/v2/sandboxes", get(list::list_v2).post(sandboxes::create))
        .route("/sandboxes", get(list::list_v1).post(sandboxes::create))
        .route(
            "/sandboxes/{id}",
            get(sandboxes::get_info).delete(sandboxes::kill),
        )
        .route("/sandboxes/{id}/timeout", post(sandboxes::set_timeout))
        .route("/sandboxes/{id}/refreshes", post(sandboxes::refresh))
        .route(
            "/sandboxes/{id}/network",
            axum::routing::put(network::update),
        )
        .route("/sandboxes/{id}/metrics", get(metrics::of_one))
        .route("/sandboxes/metrics", get(metrics::latest_of_many))
        .route("/sandboxes/{id}/connect", post(sandboxes::connect))
        .route("/sandboxes/{id}/pause", post(sandboxes::pause))
        .route("/sandboxes/{id}/resume", post(sandboxes::resume))
        .route("/v2/sandboxes/{id}/connect", post(sandboxes::connect))
        .route("/sandboxes/{id}/snapshots", post(snapshots::create))
        .route("/snapshots", get(snapshots::list))
        .route("/templates", get(templates::list))
        .route("/templates/aliases/{alias}", get(templates::alias))
        .route(
            "/templates/{id}",
            axum::routing::delete(snapshots::delete_template),
        )
        .route("/sandboxes/{id}/fork", post(snapshots::fork))
        .route("/sandboxes/{id}/logs", get(logs::logs_v1))
        .route("/v2/sandboxes/{id}/logs", get(logs::logs_v2))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the daemon routing: counts control-plane requests only.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::limits::control_plane,
        ))
        // Requests for a sandbox's daemon never reach the control-plane routes.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::envd::route,
        ))
        // Uploads to `/files` are streamed and unbounded; the control plane's extractors
        // enforce their own limit (`MAX_BODY_BYTES`).
        .layer(axum::extract::DefaultBodyLimit::disable())
        // Added last so that it wraps everything, the daemon routes and fallbacks too.
        .layer(middleware::from_fn_with_state(state.clone(), cors::cors))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {method} {}",
            crate::error::shorten(uri.path())
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    // `{id}` also matches an empty segment; a path without an id is no resource at all.
    let path = uri.path();
    if path.contains("//") || (path.len() > 1 && path.ends_with('/')) {
        return not_found(method, uri).await;
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {}",
            crate::error::shorten(uri.path())
        ),
    )
}
