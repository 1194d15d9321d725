//! `GET /templates`: the server's own templates in E2B's `Template` form, which the official
//! CLI's `e2b template list` shows (deprecated in E2B's API, but what the CLI still calls);
//! and `GET /templates/aliases/{alias}`, which the SDKs' `Template.exists` asks.
//!
//! Snapshots are not listed: E2B's listing keeps them out too (only templates that were
//! built), and the SDKs and the CLI list them through `GET /snapshots`.

use super::AppState;
use super::list::{decode_param, pairs};
use crate::auth::Team;
use crate::error::{ApiError, json_response, shorten};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use sandkit::wire::ENVD_VERSION;
use sandkit::wire::time::format_rfc3339_millis;
use serde::Serialize;
use std::sync::Arc;

/// One entry of the listing; every field is one the API requires.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Template {
    #[serde(rename = "templateID")]
    template_id: String,
    #[serde(rename = "buildID")]
    build_id: String,
    cpu_count: u32,
    #[serde(rename = "memoryMB")]
    memory_mb: u32,
    #[serde(rename = "diskSizeMB")]
    disk_size_mb: u32,
    public: bool,
    aliases: Vec<String>,
    names: Vec<String>,
    created_at: String,
    updated_at: String,
    /// No user made them: always `null`.
    created_by: (),
    /// Always `null` and 0: the store forgets ended sandboxes, and a count across teams would
    /// tell one team about another's sandboxes.
    last_spawned_at: Option<String>,
    spawn_count: u64,
    build_count: u32,
    envd_version: &'static str,
    build_status: &'static str,
}

/// `GET /templates?teamID=`: every template of the server's, public, sized as the sandboxes
/// made from it are, made when the server started. A `teamID` other than the key's team is a
/// 400, as with E2B.
pub async fn list(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    for (raw_name, raw_value) in pairs(query.as_deref().unwrap_or("")) {
        if decode_param(raw_name, raw_name)? != "teamID" {
            continue;
        }
        let asked = decode_param("teamID", raw_value)?;
        if asked != team {
            return Err(ApiError::bad_request(format!(
                "teamID \"{}\" is not the team of this API key",
                shorten(&asked)
            )));
        }
    }
    let started = format_rfc3339_millis(app.started_ms);
    let body: Vec<Template> = app
        .templates
        .iter()
        .map(|name| Template {
            template_id: name.clone(),
            build_id: build_id(name),
            cpu_count: app.size.cpu_count,
            memory_mb: app.size.memory_mb,
            disk_size_mb: app.size.disk_size_mb,
            public: true,
            aliases: vec![name.clone()],
            names: vec![name.clone()],
            created_at: started.clone(),
            updated_at: started.clone(),
            created_by: (),
            last_spawned_at: None,
            spawn_count: 0,
            build_count: 1,
            envd_version: ENVD_VERSION,
            build_status: "ready",
        })
        .collect();
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /templates/aliases/{alias}`: `{templateID, public}` for one of the server's templates
/// (public) or for the team's snapshot the name names, bare or tagged (the team's own); 404
/// for anything else, another team's snapshot included.
pub async fn alias(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    Path(alias): Path<String>,
) -> Result<Response, ApiError> {
    if app.templates.contains(&alias) {
        return Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "templateID": alias, "public": true }),
        ));
    }
    let snapshot = app
        .snapshots
        .as_ref()
        .ok()
        .and_then(|s| s.find(&team, &alias));
    match snapshot {
        Some(s) => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "templateID": s.snapshot_id(), "public": false }),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("template alias '{}' not found", shorten(&alias)),
        )),
    }
}

/// A build id in E2B's UUID form that stays the same for a name across restarts and builds:
/// the 128-bit FNV-1a hash of the name (fully specified, unlike std's hashers), marked as a
/// custom (version 8) UUID.
fn build_id(name: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let hash = name
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u128::from(b)).wrapping_mul(PRIME));
    // Version 8 in bits 76..80, variant 0b10 in bits 62..64.
    let uuid = (hash & !(0xf << 76) & !(0b11 << 62)) | (0x8 << 76) | (0b10 << 62);
    crate::random::hyphenated(&format!("{uuid:032x}"))
}

#[cfg(test)]
mod tests {
    use super::build_id;

    #[test]
    fn build_ids_are_fixed_per_name_and_shaped_as_uuids() {
        // FNV-1a 128 of "" is its offset basis; pinned so a change of the hash is noticed.
        assert_eq!(build_id(""), "6c62272e-07bb-8142-a2b8-21756295c58d");
        assert_eq!(build_id("base"), build_id("base"));
        assert_ne!(build_id("base"), build_id("code-interpreter-v1"));
        let id = build_id("base");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
