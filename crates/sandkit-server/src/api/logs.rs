//! `GET /sandboxes/{id}/logs` (v1: `start`, `limit`) and `GET /v2/sandboxes/{id}/logs` (`cursor`,
//! `limit`, `direction`, `level`, `search`): a sandbox's own events (see [`crate::logs`]), in
//! the shapes of E2B's `SandboxLogs` and `SandboxLogsV2Response`.

use super::AppState;
use super::extract::SandboxId;
use crate::auth::Team;
use crate::error::{ApiError, json_response};
use crate::logs::{Direction, LogEntry, LogLevel, LogQuery};
use crate::store::now_ns;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use sandkit::wire::time::format_rfc3339_millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `limit`'s default in both versions, and its maximum in v2.
const DEFAULT_LIMIT: i64 = 1000;
/// `search`'s longest value, in characters.
const MAX_SEARCH_CHARS: usize = 256;
/// Named in every v1 line, where the CLI looks for a `logger`.
const LOGGER: &str = "sandkitd";

#[derive(Debug, Deserialize)]
struct V1Params {
    start: Option<i64>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct V2Params {
    cursor: Option<i64>,
    limit: Option<i64>,
    direction: Option<String>,
    level: Option<String>,
    search: Option<String>,
}

/// `SandboxLog`: the entry as one JSON line.
#[derive(Debug, Serialize)]
struct V1Line {
    timestamp: String,
    line: String,
}

/// `SandboxLogEntry`.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    timestamp: String,
    message: &'a str,
    level: LogLevel,
    fields: &'a BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct V1Body<'a> {
    logs: Vec<V1Line>,
    log_entries: Vec<Entry<'a>>,
}

#[derive(Debug, Serialize)]
struct V2Body<'a> {
    logs: Vec<Entry<'a>>,
}

/// `GET /sandboxes/{id}/logs`: oldest first, from `start` (inclusive) on.
pub async fn logs_v1(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: V1Params = parse(&uri)?;
    let query = LogQuery {
        cursor_ms: non_negative("start", params.start)?,
        direction: Direction::Forward,
        limit: limit(params.limit, None)?,
        min_level: LogLevel::Debug,
        search: None,
    };
    let entries = page(&app, &team, &id, &query)?;
    let body = V1Body {
        logs: entries.iter().map(line).collect(),
        log_entries: entries.iter().map(entry).collect(),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /v2/sandboxes/{id}/logs`: from `cursor` (inclusive) forward, oldest first, or backward,
/// newest first (the default, as E2B's API does).
pub async fn logs_v2(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: V2Params = parse(&uri)?;
    let direction = match params.direction.as_deref() {
        None | Some("backward") => Direction::Backward,
        Some("forward") => Direction::Forward,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "direction must be forward or backward (got {:?})",
                crate::error::shorten(other)
            )));
        }
    };
    let min_level = match params.level.as_deref() {
        None => LogLevel::Debug,
        Some(s) => LogLevel::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "level must be debug, info, warn or error (got {:?})",
                crate::error::shorten(s)
            ))
        })?,
    };
    if params
        .search
        .as_deref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
    {
        return Err(ApiError::bad_request(format!(
            "search must be at most {MAX_SEARCH_CHARS} characters"
        )));
    }
    let query = LogQuery {
        cursor_ms: non_negative("cursor", params.cursor)?,
        direction,
        limit: limit(params.limit, Some(DEFAULT_LIMIT))?,
        min_level,
        search: params.search.filter(|s| !s.is_empty()),
    };
    let entries = page(&app, &team, &id, &query)?;
    let body = V2Body {
        logs: entries.iter().map(entry).collect(),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// The page, or 404 when the team has no sandbox (live, paused or lately ended) of that id.
fn page(app: &AppState, team: &str, id: &str, query: &LogQuery) -> Result<Vec<LogEntry>, ApiError> {
    // Looking the sandbox up ends or pauses it if its time is up, which its log then shows.
    let _ = app.store.get(team, id, now_ns());
    app.store
        .logs()
        .lock()
        .page(team, id, query, crate::logs::now_ms())
        .ok_or_else(|| ApiError::sandbox_not_found(id))
}

fn parse<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::try_from_uri(uri)
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

fn non_negative(name: &str, value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(v) if v < 0 => Err(ApiError::bad_request(format!(
            "{name} must not be negative (got {v})"
        ))),
        v => Ok(v),
    }
}

/// `limit`: default 1000, not negative, at most `max` where the API sets one.
fn limit(value: Option<i64>, max: Option<i64>) -> Result<usize, ApiError> {
    let v = value.unwrap_or(DEFAULT_LIMIT);
    if v < 0 || max.is_some_and(|m| v > m) {
        let most = max.map_or(String::new(), |m| format!(" and at most {m}"));
        return Err(ApiError::bad_request(format!(
            "limit must be at least 0{most} (got {v})"
        )));
    }
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

fn entry(e: &LogEntry) -> Entry<'_> {
    Entry {
        timestamp: format_rfc3339_millis(e.timestamp_ms),
        message: &e.message,
        level: e.level,
        fields: &e.fields,
    }
}

/// A v1 line is the entry as a JSON object with its `level`, `logger` and `message` (what
/// `e2b sandbox logs` parses and prints), plus its fields.
fn line(e: &LogEntry) -> V1Line {
    let mut object = serde_json::Map::new();
    for (k, v) in &e.fields {
        object.insert(k.clone(), v.clone().into());
    }
    object.insert("level".into(), e.level.as_str().into());
    object.insert("logger".into(), LOGGER.into());
    object.insert("message".into(), e.message.clone().into());
    V1Line {
        timestamp: format_rfc3339_millis(e.timestamp_ms),
        line: serde_json::Value::Object(object).to_string(),
    }
}
