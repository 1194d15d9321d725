//! `GET /v2/sandboxes` (filters, order, cursor pagination) and the old `GET /sandboxes`.
//!
//! The query string is parsed by hand: the `metadata` value is encoded twice over by the SDKs
//! and has to be decoded from its raw form, and every bad value must be a JSON 400.

use super::AppState;
use super::sandboxes::listed;
use crate::auth::Team;
use crate::cursor::{self, Order};
use crate::error::{ApiError, json_response, shorten};
use crate::store::{ListFilter, ListPage, now_ns};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use sandkit::wire::metadata::{self, percent_decode};
use sandkit::wire::time::parse_rfc3339_millis;
use sandkit::wire::{ListedSandbox, MAX_LIST_LIMIT, SandboxState, StringMap};
use std::sync::Arc;

/// Response header carrying the cursor of the next page; absent on the last page.
pub const NEXT_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-next-token");
/// Response header with the number of running sandboxes across all pages.
pub const TOTAL_RUNNING_HEADER: HeaderName = HeaderName::from_static("x-total-running");

/// A parsed `GET /v2/sandboxes` query.
#[derive(Debug, Clone, PartialEq)]
struct ListParams {
    states: Option<Vec<SandboxState>>,
    metadata: StringMap,
    started_after_ms: Option<i64>,
    template: Option<String>,
    order: Order,
    limit: usize,
    next_token: Option<String>,
}

impl ListParams {
    fn filter(&self) -> ListFilter {
        // No `state` means both states.
        let has = |s| self.states.as_ref().is_none_or(|v| v.contains(&s));
        ListFilter {
            running: has(SandboxState::Running),
            paused: has(SandboxState::Paused),
            metadata: self.metadata.clone(),
            started_after_ms: self.started_after_ms,
            template: self.template.clone(),
        }
    }
}

/// `GET /v2/sandboxes`.
pub async fn list_v2(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = parse_query(query.as_deref().unwrap_or(""))?;
    let after = params
        .next_token
        .as_deref()
        .map(|t| cursor::decode(t, params.order))
        .transpose()
        .map_err(|e| ApiError::bad_request(e.0))?;
    let filter = params.filter();
    let page = app.store.list(
        &team,
        &filter,
        params.order,
        params.limit,
        after.as_ref(),
        now_ns(),
    );
    let mut res = page_response(&page);
    let headers = res.headers_mut();
    if let Some(key) = &page.next {
        let token = cursor::encode(key, params.order);
        // base64url is always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&token) {
            headers.insert(NEXT_TOKEN_HEADER, v);
        }
    }
    if filter.running {
        headers.insert(TOTAL_RUNNING_HEADER, HeaderValue::from(page.total_running));
    }
    Ok(res)
}

/// `GET /sandboxes`, the deprecated list of SDK 1.x: running sandboxes only, the `metadata`
/// filter only, everything in one array, newest first.
pub async fn list_v1(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut meta = StringMap::new();
    for (name, raw) in pairs(query.as_deref().unwrap_or("")) {
        if decode_param(name, name)? == "metadata" {
            meta.extend(decode_metadata(raw)?);
        }
    }
    let filter = ListFilter {
        running: true,
        metadata: meta,
        ..ListFilter::default()
    };
    let page = app
        .store
        .list(&team, &filter, Order::Desc, usize::MAX, None, now_ns());
    Ok(page_response(&page))
}

fn page_response(page: &ListPage) -> Response {
    let body: Vec<ListedSandbox> = page.items.iter().map(listed).collect();
    json_response(StatusCode::OK, &body)
}

/// `name=value` pairs of a raw query string, still percent-encoded.
pub(super) fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Form-decodes one query name or value (`+` is a space).
pub(super) fn decode_param(name: &str, raw: &str) -> Result<String, ApiError> {
    percent_decode(raw, true).map_err(|e| {
        ApiError::bad_request(format!(
            "query parameter `{}` is not valid percent-encoding: {e}",
            shorten(name)
        ))
    })
}

/// `metadata`: percent-decoded once from its raw form (what the HTTP layer would do), then
/// parsed as a form string whose names and values are percent-encoded once more.
fn decode_metadata(raw: &str) -> Result<StringMap, ApiError> {
    percent_decode(raw, false)
        .and_then(|once| metadata::decode(&once))
        .map_err(|e| ApiError::bad_request(format!("invalid metadata filter: {e}")))
}

fn parse_query(query: &str) -> Result<ListParams, ApiError> {
    let mut params = ListParams {
        states: None,
        metadata: StringMap::new(),
        started_after_ms: None,
        template: None,
        order: Order::default(),
        limit: MAX_LIST_LIMIT as usize,
        next_token: None,
    };
    for (raw_name, raw_value) in pairs(query) {
        let name = decode_param(raw_name, raw_name)?;
        if name == "metadata" {
            // Several `metadata` parameters narrow the filter further, like several pairs.
            params.metadata.extend(decode_metadata(raw_value)?);
            continue;
        }
        let value = decode_param(&name, raw_value)?;
        match name.as_str() {
            "state" => {
                let states = params.states.get_or_insert_with(Vec::new);
                for s in value.split(',') {
                    let state = SandboxState::parse(s.trim()).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "invalid state \"{}\": expected running or paused, comma-separated",
                            shorten(s)
                        ))
                    })?;
                    states.push(state);
                }
            }
            "limit" => params.limit = parse_limit(&value)?,
            "order" => {
                params.order = Order::parse(&value).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid order \"{}\": expected asc or desc",
                        shorten(&value)
                    ))
                })?;
            }
            "startedAfter" => {
                let ms = parse_rfc3339_millis(&value).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid startedAfter \"{}\": expected an RFC 3339 date-time",
                        shorten(&value)
                    ))
                })?;
                params.started_after_ms = Some(ms);
            }
            "template" if !value.is_empty() => params.template = Some(value),
            "nextToken" if !value.is_empty() => params.next_token = Some(value),
            // Unknown parameters are ignored, as the API does.
            _ => {}
        }
    }
    Ok(params)
}

/// The metadata filter of a list query string, or `None` when the query is refused: for the
/// fuzz target (fuzz/), which checks it against what the SDK encoded. Not an API.
#[doc(hidden)]
pub fn fuzz_metadata_filter(query: &str) -> Option<StringMap> {
    parse_query(query).ok().map(|p| p.metadata)
}

pub(super) fn parse_limit(value: &str) -> Result<usize, ApiError> {
    let max = MAX_LIST_LIMIT as usize;
    let ok = !value.is_empty() && value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<usize>() {
        Ok(n) if ok && (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "invalid limit \"{}\": expected an integer from 1 to {max}",
            shorten(value)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdk_query() {
        let p = parse_query("metadata=a%252520b%3Dc%252526d&state=running,paused&limit=1").unwrap();
        assert_eq!(p.metadata, [("a b".to_string(), "c&d".to_string())].into());
        assert_eq!(
            p.states,
            Some(vec![SandboxState::Running, SandboxState::Paused])
        );
        assert_eq!(p.limit, 1);
        assert_eq!(p.order, Order::Desc);
        let p = parse_query(
            "order=asc&nextToken=a%2Bb&template=base&startedAfter=2024-10-15T21%3A13%3A07Z",
        )
        .unwrap();
        assert_eq!(p.order, Order::Asc);
        assert_eq!(p.next_token.as_deref(), Some("a+b"));
        assert_eq!(p.template.as_deref(), Some("base"));
        assert_eq!(p.started_after_ms, Some(1_729_026_787_000));
        let p = parse_query("").unwrap();
        assert_eq!(p.limit, 100);
        assert!(p.filter().running && p.filter().paused);
    }

    #[test]
    fn refuses_bad_values() {
        for q in [
            "limit=0",
            "limit=101",
            "limit=abc",
            "limit=",
            "limit=-1",
            "limit=%2B5",
            "limit=0100",
            "state=stopped",
            "state=",
            "order=up",
            "startedAfter=yesterday",
            "metadata=%ZZ",
            "metadata=%3Dx",
        ] {
            let err = parse_query(q).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{q}");
        }
    }
}
