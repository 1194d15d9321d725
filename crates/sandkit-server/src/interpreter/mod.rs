//! The code interpreter (`@e2b/code-interpreter`'s server, port 49999), served by sandkitd
//! for every sandbox: `/execute` streams one JSON object per line as code runs in a context,
//! `/contexts` creates, lists, restarts and deletes contexts, `/health` answers "OK".
//!
//! A context is a kernel process inside the sandbox (see the `context` module); the default context
//! of each language is created on its first use.

mod context;
mod language;
mod split;

pub use context::Settings;

use crate::live::LiveSandbox;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use context::Context;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The interpreter's port.
pub const PORT: u16 = 49999;
/// Contexts one sandbox may have at once, default ones included.
pub const MAX_CONTEXTS: usize = 32;
/// The largest request body (code and variables).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How often a quiet execution stream says it is still there (the official server's 5 s);
/// writing is also how a client that went away is noticed.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The languages whose default contexts a sandbox's interpreter has from the start, as the
/// official server makes them when it starts (their processes start on first use here).
const DEFAULT_LANGUAGES: [&str; 2] = ["python", "javascript"];

/// A sandbox's contexts.
#[derive(Default)]
pub struct Contexts {
    /// Each context with the order it was made in, which listing keeps (as the official
    /// server's does: a context just made is the last listed).
    by_id: Mutex<HashMap<String, (u64, Arc<Context>)>>,
    made: std::sync::atomic::AtomicU64,
    /// The default context of each language, by language.
    defaults: Mutex<HashMap<String, String>>,
    /// One creation at a time, so that the cap and the defaults hold.
    creating: tokio::sync::Mutex<()>,
    /// Whether the default contexts were made (once: one deleted stays deleted until its
    /// language is asked for again).
    defaults_made: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Contexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contexts").finish_non_exhaustive()
    }
}

impl Contexts {
    fn get(&self, id: &str) -> Option<Arc<Context>> {
        self.by_id.lock().ok()?.get(id).map(|(_, c)| c.clone())
    }

    fn all(&self) -> Vec<Arc<Context>> {
        let mut all: Vec<_> = self
            .by_id
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(|(made, _)| *made);
        all.into_iter().map(|(_, c)| c).collect()
    }

    fn insert(&self, ctx: Arc<Context>) {
        let made = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut m) = self.by_id.lock() {
            m.insert(ctx.id.clone(), (made, ctx));
        }
    }

    fn remove(&self, id: &str) -> Option<Arc<Context>> {
        if let Ok(mut d) = self.defaults.lock() {
            d.retain(|_, v| v != id);
        }
        self.by_id.lock().ok()?.remove(id).map(|(_, c)| c)
    }
}

#[derive(Deserialize, Default)]
struct ExecuteRequest {
    code: String,
    #[serde(default)]
    context_id: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    env_vars: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
struct CreateRequest {
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
}

/// Serves one request for port 49999 of `live` (the traffic rules already checked).
pub async fn handle(settings: &Settings, live: Arc<LiveSandbox>, req: Request) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut res = route(settings, live, req).await;
    // As the official server's CORS: any origin, method and header.
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        origin.unwrap_or(HeaderValue::from_static("*")),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    res
}

async fn route(settings: &Settings, live: Arc<LiveSandbox>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    if method == Method::OPTIONS {
        return crate::proxy::preflight(req.headers());
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    if let Err(res) = ensure_defaults(settings, &live).await {
        return res;
    }
    match (&method, segments.as_slice()) {
        (&Method::GET, ["health"]) => json(&"OK"),
        (&Method::POST, ["execute"]) => execute(settings, live, req).await,
        (&Method::POST, ["contexts"]) => {
            let body: CreateRequest = match json_body(req).await {
                Ok(b) => b,
                Err(res) => return res,
            };
            let language = language::normalize(body.language.as_deref());
            let cwd = body
                .cwd
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "/home/user".into());
            match create(settings, &live, language, cwd).await {
                Ok(ctx) => json(&describe(&ctx)),
                Err(res) => res,
            }
        }
        (&Method::GET, ["contexts"]) => {
            let list: Vec<_> = live.contexts.all().iter().map(|c| describe(c)).collect();
            json(&list)
        }
        (&Method::DELETE, ["contexts", id]) => match live.contexts.remove(id) {
            Some(ctx) => {
                ctx.kill().await;
                json(&serde_json::Value::Null)
            }
            None => not_found(id),
        },
        (&Method::POST, ["contexts", id, "restart"]) => match live.contexts.get(id) {
            Some(ctx) => match ctx.restart().await {
                Ok(()) => json(&serde_json::Value::Null),
                Err(why) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to restart context {id}: {why}"),
                ),
            },
            None => not_found(id),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            format!("no such route: {method} {path}"),
        ),
    }
}

async fn execute(settings: &Settings, live: Arc<LiveSandbox>, req: Request) -> Response {
    // Where the official client sends the daemon's access token.
    let token_ok = req
        .headers()
        .get("x-access-token")
        .is_some_and(|t| crate::auth::constant_time_eq(t.as_bytes(), live.envd_token.as_bytes()));
    if !token_ok {
        return text(
            StatusCode::UNAUTHORIZED,
            "unauthorized access, please provide a valid access token in X-Access-Token".into(),
        );
    }
    let body: ExecuteRequest = match json_body(req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let context_id = body.context_id.filter(|c| !c.is_empty());
    let language = body.language.filter(|l| !l.is_empty());
    let ctx = match (context_id, language) {
        (Some(_), Some(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "Only one of context_id or language can be provided".into(),
            );
        }
        (Some(id), None) => match live.contexts.get(&id) {
            Some(ctx) => ctx,
            None => return not_found(&id),
        },
        (None, language) => {
            let language = language::normalize(language.as_deref());
            match default_context(settings, &live, language).await {
                Ok(ctx) => ctx,
                Err(res) => return res,
            }
        }
    };
    let lines = ctx.execute(body.code, body.env_vars.unwrap_or_default());
    let body = futures_util::stream::unfold(lines, |mut lines| async move {
        let next = match tokio::time::timeout(KEEPALIVE, lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(_quiet) => bytes::Bytes::from_static(b"{\"type\":\"keepalive\"}\n"),
        };
        Some((Ok::<_, std::io::Error>(next), lines))
    });
    let body = crate::envd::cut_when_ended(body, live);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The default contexts, made (not started) when the interpreter is first reached, so that
/// they come first in a listing and each is there before anything asks for it.
async fn ensure_defaults(settings: &Settings, live: &Arc<LiveSandbox>) -> Result<(), Response> {
    use std::sync::atomic::Ordering;
    if live.contexts.defaults_made.load(Ordering::Acquire) {
        return Ok(());
    }
    let _one = live.contexts.creating.lock().await;
    if !live.contexts.defaults_made.load(Ordering::Acquire) {
        for language in DEFAULT_LANGUAGES {
            register_default(settings, live, language.to_string(), false).await?;
        }
        live.contexts.defaults_made.store(true, Ordering::Release);
    }
    Ok(())
}

/// The language's default context, made on first use (or again after it was deleted).
async fn default_context(
    settings: &Settings,
    live: &Arc<LiveSandbox>,
    language: String,
) -> Result<Arc<Context>, Response> {
    let _one = live.contexts.creating.lock().await;
    let known = live
        .contexts
        .defaults
        .lock()
        .ok()
        .and_then(|d| d.get(&language).cloned())
        .and_then(|id| live.contexts.get(&id));
    if let Some(ctx) = known {
        return Ok(ctx);
    }
    register_default(settings, live, language, true).await
}

/// A new default context of `language`; `creating` is held by the caller.
async fn register_default(
    settings: &Settings,
    live: &Arc<LiveSandbox>,
    language: String,
    start: bool,
) -> Result<Arc<Context>, Response> {
    let ctx = create_locked(settings, live, language.clone(), "/home/user".into(), start).await?;
    if let Ok(mut d) = live.contexts.defaults.lock() {
        d.insert(language, ctx.id.clone());
    }
    Ok(ctx)
}

async fn create(
    settings: &Settings,
    live: &Arc<LiveSandbox>,
    language: String,
    cwd: String,
) -> Result<Arc<Context>, Response> {
    let _one = live.contexts.creating.lock().await;
    create_locked(settings, live, language, cwd, true).await
}

/// A new context, its process started unless `start` is false (then its first execution
/// starts it); `creating` is held by the caller.
async fn create_locked(
    settings: &Settings,
    live: &Arc<LiveSandbox>,
    language: String,
    cwd: String,
    start: bool,
) -> Result<Arc<Context>, Response> {
    let kernel = language::kernel_of(&language).map_err(|m| text(StatusCode::BAD_REQUEST, m))?;
    let count = live.contexts.by_id.lock().map_or(0, |m| m.len());
    if count >= MAX_CONTEXTS {
        return Err(text(
            StatusCode::BAD_REQUEST,
            format!(
                "this sandbox has {MAX_CONTEXTS} code contexts, the most it may have: delete one first"
            ),
        ));
    }
    let cwd = crate::envd::process::resolve_path(&cwd, "/home/user");
    let ctx = Arc::new(Context::new(
        // A UUID, as Jupyter's kernel ids are.
        crate::random::uuid_v4(),
        language,
        cwd,
        kernel,
        settings.clone(),
        live,
    ));
    if start {
        ctx.start().await.map_err(|why| {
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to create context: {why}"),
            )
        })?;
    }
    live.contexts.insert(ctx.clone());
    Ok(ctx)
}

fn describe(ctx: &Context) -> serde_json::Value {
    serde_json::json!({ "id": ctx.id, "language": ctx.language, "cwd": ctx.cwd })
}

async fn json_body<T: for<'de> Deserialize<'de> + Default>(req: Request) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY} bytes"),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        text(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid request body: {e}"),
        )
    })
}

fn not_found(id: &str) -> Response {
    text(StatusCode::NOT_FOUND, format!("Context {id} not found"))
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn json(value: &impl serde::Serialize) -> Response {
    crate::error::json_response(StatusCode::OK, value)
}
