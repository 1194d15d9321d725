//! Snapshots and forks: `POST /sandboxes/{id}/snapshots`, `GET /snapshots`,
//! `DELETE /templates/{id}` (a snapshot's) and `POST /sandboxes/{id}/fork`. Both copy the
//! sandbox's disk image at one moment (a running sandbox frozen meanwhile); sandboxes made
//! from the copy start their processes afresh on its files. Memory is not kept.

use super::AppState;
use super::extract::{OptionalJsonBody, SandboxId};
use super::list::{NEXT_TOKEN_HEADER, decode_param, pairs, parse_limit};
use crate::auth::Team;
use crate::error::{ApiError, json_response, shorten};
use crate::sandbox::Seed;
use crate::snapshots::{Snapshot, Snapshots};
use crate::store::{SandboxRecord, now_ns};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sandkit::wire::{SandboxCreated, SandboxState, SnapshotInfo};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most forks one request may ask for.
pub const MAX_FORKS: i64 = 20;

/// `{name?, memory?}` of a snapshot.
#[derive(Debug, Default, Deserialize)]
pub struct SnapshotBody {
    name: Option<String>,
    /// `true` asks for the memory too (E2B's default), which sandkitd cannot keep: refused when
    /// asked for outright; absent, the snapshot is of the files (docs/e2b-differences.md).
    memory: Option<bool>,
}

/// A snapshot as the API answers it.
fn info(s: &Snapshot) -> SnapshotInfo {
    SnapshotInfo {
        snapshot_id: s.snapshot_id(),
        names: s.names(),
    }
}

/// `{timeout?, count?}` of a fork.
#[derive(Debug, Default, Deserialize)]
pub struct ForkBody {
    timeout: Option<i64>,
    count: Option<i64>,
}

/// One entry of a fork's answer: the sandbox, or why it did not start.
#[derive(Debug, Serialize)]
struct ForkResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    sandbox: Option<SandboxCreated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<sandkit::wire::ApiErrorBody>,
}

/// The server's snapshots, or 501 saying why there are none here.
fn snapshots(app: &AppState) -> Result<&Arc<Snapshots>, ApiError> {
    app.snapshots.as_ref().map_err(|why| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("this sandkitd cannot make snapshots or forks: {why}"),
        )
    })
}

/// The server's snapshots and the team's sandbox `id` a snapshot or fork is made of: 501 where
/// none can be made, 404 for a sandbox that is not the team's.
fn source(
    app: &AppState,
    team: &str,
    id: &str,
) -> Result<(Arc<Snapshots>, SandboxRecord), ApiError> {
    let snapshots = snapshots(app)?.clone();
    let record = app
        .store
        .get(team, id, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(id))?;
    Ok((snapshots, record))
}

/// The team's snapshot that `reference` names, with the seed a sandbox made from it starts on.
pub(super) fn find(app: &AppState, team: &str, reference: &str) -> Option<(Snapshot, Seed)> {
    let snapshots = app.snapshots.as_ref().ok()?;
    let snapshot = snapshots.find(team, reference)?;
    let seed = Seed {
        image: snapshots.image(&snapshot.id),
        host_ids: snapshot.host_ids,
        spare: Some(snapshots.spare(&snapshot.id)),
    };
    Some((snapshot, seed))
}

/// `POST /sandboxes/{id}/snapshots` `{name?}`: 201 with the new snapshot's `SnapshotInfo`.
pub async fn create(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    OptionalJsonBody(body): OptionalJsonBody<SnapshotBody>,
) -> Result<Response, ApiError> {
    let (snapshots, record) = source(&app, &team, &id)?;
    if body.memory == Some(true) {
        return Err(ApiError::bad_request(
            "`memory: true` is not supported: sandkitd snapshots a sandbox's files only (memory: false, mode 'filesystem')",
        ));
    }
    if let Some(name) = &body.name {
        if !crate::sandbox::template::valid_name(name) {
            return Err(ApiError::bad_request(format!(
                "invalid snapshot name \"{}\": 1 to 128 letters, digits, '-', '_' or '.'",
                shorten(name)
            )));
        }
        if app.templates.contains(name) {
            return Err(ApiError::bad_request(format!(
                "the name \"{name}\" is a template's"
            )));
        }
    }
    let (snapshot_id, dir) = reserve(&snapshots)?;
    let image = Snapshots::image_in(&dir);
    let host_ids = match app.live.copy_disk(&app.store, &id, image).await {
        Ok(host_ids) => host_ids,
        Err(why) => {
            Snapshots::discard(&dir);
            app.live.log_error(&id, "snapshot the sandbox", &why);
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not snapshot sandbox \"{id}\": {why}"),
            ));
        }
    };
    let snapshot = Snapshot {
        id: snapshot_id.clone(),
        team,
        name: body.name,
        sandbox_id: id,
        template_id: record.spec.base_template.unwrap_or(record.spec.template_id),
        host_ids,
        created_ns: now_ns(),
    };
    let answer = info(&snapshot);
    snapshots.add(snapshot).map_err(|e| {
        Snapshots::discard(&dir);
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not record the snapshot: {e}"),
        )
    })?;
    refill(snapshots, snapshot_id);
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// Makes the snapshot's spare copy in the background, for the next sandbox made from it.
pub(super) fn refill(snapshots: Arc<Snapshots>, id: String) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = snapshots.refill(&id) {
            eprintln!("sandkitd: could not copy snapshot {id} ahead of time: {e}");
        }
    });
}

fn reserve(snapshots: &Snapshots) -> Result<(String, std::path::PathBuf), ApiError> {
    snapshots.reserve().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not make a snapshot directory: {e}"),
        )
    })
}

/// `GET /snapshots?sandboxID=&name=&limit=&nextToken=`: the team's snapshots, newest first,
/// `X-Next-Token` naming the next page.
pub async fn list(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (mut sandbox_id, mut name, mut token) = (None, None, None);
    let mut limit = 100;
    for (raw_name, raw_value) in pairs(query.as_deref().unwrap_or("")) {
        let key = decode_param(raw_name, raw_name)?;
        let value = decode_param(&key, raw_value)?;
        match key.as_str() {
            "sandboxID" if !value.is_empty() => sandbox_id = Some(value),
            "name" if !value.is_empty() => name = Some(value),
            "nextToken" if !value.is_empty() => token = Some(value),
            "limit" => limit = parse_limit(&value)?,
            _ => {}
        }
    }
    // Where snapshots cannot be made there are none.
    let Ok(snapshots) = snapshots(&app) else {
        return Ok(json_response(StatusCode::OK, &Vec::<SnapshotInfo>::new()));
    };
    let (page, next) = snapshots.page(
        &team,
        sandbox_id.as_deref(),
        name.as_deref(),
        token.as_deref(),
        limit,
    )?;
    let body: Vec<SnapshotInfo> = page.iter().map(info).collect();
    let mut response = json_response(StatusCode::OK, &body);
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(NEXT_TOKEN_HEADER, next);
    }
    Ok(response)
}

/// `DELETE /templates/{id}`: 204 for one of the team's snapshots (sandboxes made from it keep
/// their files); 404 for an id that names none; 501 for the server's own templates.
pub async fn delete_template(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    if let Ok(snapshots) = snapshots(&app) {
        let removed = {
            let snapshots = snapshots.clone();
            let (team, reference) = (team.clone(), reference.clone());
            tokio::task::spawn_blocking(move || snapshots.remove(&team, &reference))
                .await
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        };
        if removed.is_some() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    if app.templates.contains(&reference) {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "deleting templates is not implemented by sandkitd yet",
        ));
    }
    Err(ApiError::template_not_found(&reference))
}

/// `POST /sandboxes/{id}/fork` `{timeout?, count?}`: 201 with one entry per fork, each the new
/// sandbox or the error that kept it from starting. The sandbox's disk is copied once; each
/// fork gets the sandbox's template, metadata, environment and network rules, and runs for
/// `timeout` seconds (15 by default, as E2B's API).
pub async fn fork(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    OptionalJsonBody(body): OptionalJsonBody<ForkBody>,
) -> Result<Response, ApiError> {
    let (snapshots, record) = source(&app, &team, &id)?;
    if record.state == SandboxState::Paused {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("sandbox \"{id}\" is paused: only a running sandbox can be forked"),
        ));
    }
    let count = body.count.unwrap_or(1);
    if !(1..=MAX_FORKS).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "count must be from 1 to {MAX_FORKS}, not {count}"
        )));
    }
    let secs = app.limits.timeout_secs(Some(body.timeout.unwrap_or(15)))?;
    let (_, dir) = reserve(&snapshots)?;
    let image = Snapshots::image_in(&dir);
    let host_ids = match app.live.copy_disk(&app.store, &id, image.clone()).await {
        Ok(host_ids) => host_ids,
        Err(why) => {
            Snapshots::discard(&dir);
            app.live.log_error(&id, "fork the sandbox", &why);
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not fork sandbox \"{id}\": {why}"),
            ));
        }
    };
    // A single fork takes the copy itself; more copy it, each to a disk of its own.
    let seed = Seed {
        spare: (count == 1).then(|| image.clone()),
        image,
        host_ids,
    };
    let mut spec = record.spec.clone();
    spec.timeout_secs = secs;
    let forks =
        (0..count).map(|_| super::sandboxes::launch(&app, &team, spec.clone(), Some(&seed)));
    let results: Vec<ForkResult> = futures_util::future::join_all(forks)
        .await
        .into_iter()
        .map(|launched| match launched {
            Ok(record) => ForkResult {
                sandbox: Some(super::sandboxes::created(&record, &app.domain)),
                error: None,
            },
            Err(e) => ForkResult {
                sandbox: None,
                error: Some(sandkit::wire::ApiErrorBody {
                    code: e.status.as_u16(),
                    message: e.message,
                }),
            },
        })
        .collect();
    let _ = tokio::task::spawn_blocking(move || Snapshots::discard(&dir)).await;
    Ok(json_response(StatusCode::CREATED, &results))
}
