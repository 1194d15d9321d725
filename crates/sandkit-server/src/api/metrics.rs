//! `GET /sandboxes/{id}/metrics` and `GET /sandboxes/metrics`: what [`crate::metrics`] sampled.

use super::AppState;
use super::extract::SandboxId;
use super::list::{decode_param, pairs};
use crate::auth::Team;
use crate::error::{ApiError, json_response, shorten};
use crate::store::now_ns;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use sandkit::wire::SandboxesWithMetrics;
use std::sync::Arc;

/// Ids one `GET /sandboxes/metrics` may name.
const MAX_IDS: usize = 100;

/// `?start=&end=` (Unix seconds, both optional): the team's sandbox's samples in that span,
/// oldest first; `[]` before its first sample.
pub async fn of_one(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (mut start, mut end) = (None, None);
    for (name, raw) in pairs(query.as_deref().unwrap_or("")) {
        let slot = match name {
            "start" => &mut start,
            "end" => &mut end,
            _ => continue,
        };
        let value = decode_param(name, raw)?;
        *slot = Some(value.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter `{name}` must be Unix seconds (got {:?})",
                shorten(&value)
            ))
        })?);
    }
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::bad_request(format!(
            "start ({s}) is after end ({e})"
        )));
    }
    app.store
        .get(&team, &id, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(&id))?;
    Ok(json_response(
        StatusCode::OK,
        &app.metrics.range(&id, start, end),
    ))
}

/// `?sandbox_ids=a,b`: the latest sample of each named sandbox of the team that has one.
pub async fn latest_of_many(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut ids = Vec::new();
    for (name, raw) in pairs(query.as_deref().unwrap_or("")) {
        if name == "sandbox_ids" {
            let value = decode_param(name, raw)?;
            ids.extend(
                value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter `sandbox_ids` must name at least one sandbox",
        ));
    }
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_IDS} sandbox ids at once (got {})",
            ids.len()
        )));
    }
    let now = now_ns();
    let sandboxes = ids
        .into_iter()
        .filter(|id| app.store.get(&team, id, now).is_some())
        .filter_map(|id| Some((id.clone(), app.metrics.latest(&id)?)))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &SandboxesWithMetrics { sandboxes },
    ))
}
