//! Create, inspect, kill, time out and connect to one sandbox.

use super::AppState;
use super::extract::{JsonBody, JsonBodyAndBytes, OptionalJsonBody, SandboxId};
use crate::auth::Team;
use crate::error::{ApiError, json_response};
use crate::store::{SandboxRecord, SandboxSpec, now_ns};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sandkit::wire::time::format_rfc3339_millis;
use sandkit::wire::{
    ConnectSandbox, ENVD_PORT, ENVD_VERSION, Lifecycle, ListedSandbox, NewSandbox, SandboxAccess,
    SandboxCreated, SandboxDetail, SetTimeout,
};
use std::sync::Arc;

/// Deprecated in the API but still required in responses.
const CLIENT_ID: &str = "sandkitd";

/// `POST /v2/sandboxes` and `POST /sandboxes`: 201 with the new sandbox.
pub async fn create(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    JsonBodyAndBytes(body, bytes): JsonBodyAndBytes<NewSandbox>,
) -> Result<Response, ApiError> {
    refuse_unserved(&bytes)?;
    if let Some(n) = &body.network {
        super::network::refuse_unenforced(n.egress_proxy.as_ref(), n.rules.as_ref())?;
    }
    // A template id that is no template of the server's may name one of the team's snapshots.
    let snapshot = if app.templates.iter().any(|t| t == body.template_id.trim()) {
        None
    } else {
        super::snapshots::find(&app, &team, body.template_id.trim())
    };
    let mut spec = validate_new(
        team.clone(),
        body,
        &app.templates,
        snapshot.is_some(),
        &app.limits,
    )?;
    let seed = snapshot.map(|(snapshot, seed)| {
        spec.base_template = Some(snapshot.template_id);
        (snapshot.id, seed)
    });
    app.live
        .check_egress(&spec)
        .map_err(ApiError::bad_request)?;
    spec.cpu_count = app.size.cpu_count;
    spec.memory_mb = app.size.memory_mb;
    spec.disk_size_mb = app.size.disk_size_mb;
    // Paused at its timeout where sandboxes cannot be frozen, it would go on running (a pause
    // without memory needs no freezer).
    if spec.auto_pause
        && spec.auto_pause_memory != Some(false)
        && let Ok(runtime) = &app.live.runtime
        && let Err(why) = runtime.pause_support()
    {
        return Err(ApiError::bad_request(format!(
            "`autoPause` (lifecycle.onTimeout: 'pause') cannot be honoured here: {why}"
        )));
    }
    let launched = launch(&app, &team, spec, seed.as_ref().map(|(_, seed)| seed)).await;
    // Its spare taken (or never made), the snapshot gets another for the next create.
    if let (Some((snapshot_id, _)), Ok(snapshots)) = (seed, &app.snapshots) {
        super::snapshots::refill(snapshots.clone(), snapshot_id);
    }
    let record = launched?;
    Ok(json_response(
        StatusCode::CREATED,
        &created(&record, &app.domain),
    ))
}

/// Creates the record of a sandbox of the team's and starts its processes (on a copy of
/// `seed`'s files, when given), within the team's rate and quota.
pub(super) async fn launch(
    app: &AppState,
    team: &str,
    spec: SandboxSpec,
    seed: Option<&crate::sandbox::Seed>,
) -> Result<SandboxRecord, ApiError> {
    app.limits.admit_create(team)?;
    let record = app
        .limits
        .within_max_sandboxes(&app.store, team, || app.store.create(spec, now_ns()))?;
    if let Err(e) = app.live.start(&record, seed).await {
        app.live
            .log_error(&record.id, "start the sandbox", &e.to_string());
        app.store.kill(team, &record.id, now_ns());
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not start the sandbox: {e}"),
        ));
    }
    app.store
        .set_host_ids(&record.id, app.live.host_ids(&record.id));
    Ok(record)
}

/// `GET /sandboxes/{id}`: the sandbox's details, access token and domain included.
pub async fn get_info(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
) -> Result<Response, ApiError> {
    let record = app
        .store
        .get(&team, &id, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(&id))?;
    Ok(json_response(StatusCode::OK, &detail(&record, &app.domain)))
}

/// `DELETE /sandboxes/{id}`: 204, or 404 (which the SDK's `kill` turns into `false`).
pub async fn kill(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
) -> Result<Response, ApiError> {
    app.store
        .kill(&team, &id, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(&id))?;
    app.live.end(&id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /sandboxes/{id}/timeout` `{timeout}`: the sandbox now ends `timeout` seconds from now.
pub async fn set_timeout(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    JsonBody(body): JsonBody<SetTimeout>,
) -> Result<Response, ApiError> {
    let secs = app.limits.timeout_secs(Some(body.timeout))?;
    retimed(app.store.set_timeout(&team, &id, secs, now_ns()), &id)
}

/// The answer to a change of a running sandbox's end: 204, or 404 for a paused or missing one
/// (as E2B: a paused sandbox is not among the running ones a timeout applies to).
fn retimed(outcome: Result<SandboxRecord, bool>, id: &str) -> Result<Response, ApiError> {
    match outcome {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(true) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Sandbox \"{id}\" is paused: resume it with connect, which sets its timeout"),
        )),
        Err(false) => Err(ApiError::sandbox_not_found(id)),
    }
}

/// `POST /sandboxes/{id}/refreshes`'s body.
#[derive(serde::Deserialize, Default)]
pub struct Refresh {
    duration: Option<i64>,
}

/// E2B's shortest refresh (and its default): 15 s.
const SHORTEST_REFRESH_SECS: i64 = 15;
/// The API's schema takes at most an hour.
const LONGEST_REFRESH_SECS: i64 = 3600;

/// `POST /sandboxes/{id}/refreshes` `{duration?}`, the keep-alive of older clients (no SDK of
/// today calls it): 204, and the running sandbox lives at least `duration` seconds (15 at
/// least and by default, an hour at most) from now, never shorter than it would have.
pub async fn refresh(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    OptionalJsonBody(body): OptionalJsonBody<Refresh>,
) -> Result<Response, ApiError> {
    let duration = body.duration.unwrap_or(SHORTEST_REFRESH_SECS);
    if !(0..=LONGEST_REFRESH_SECS).contains(&duration) {
        return Err(ApiError::bad_request(format!(
            "duration must be between 0 and {LONGEST_REFRESH_SECS} seconds (got {duration})"
        )));
    }
    let secs = app
        .limits
        .timeout_secs(Some(duration.max(SHORTEST_REFRESH_SECS)))?;
    retimed(app.store.keep_alive(&team, &id, secs, now_ns()), &id)
}

/// `POST /v2/sandboxes/{id}/connect` and `POST /sandboxes/{id}/connect` `{timeout?}`: 200 with
/// a running sandbox, whose end moves to at least `timeout` (default 300) seconds from now;
/// 201 with a paused one, resumed to end `timeout` seconds from now.
pub async fn connect(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    OptionalJsonBody(body): OptionalJsonBody<ConnectSandbox>,
) -> Result<Response, ApiError> {
    let secs = app.limits.timeout_secs(body.timeout)?;
    // `memory: false` asks for a reboot of a paused sandbox (a running one just goes on).
    let reboot = body.memory == Some(false);
    if let Some(record) = resume_paused(&app, &team, &id, secs, reboot).await? {
        return Ok(json_response(
            StatusCode::CREATED,
            &created(&record, &app.domain),
        ));
    }
    let record = app
        .store
        .extend(&team, &id, secs, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(&id))?;
    Ok(json_response(
        StatusCode::OK,
        &created(&record, &app.domain),
    ))
}

/// `POST /sandboxes/{id}/pause` `{memory?}`: 204; 409 when it is already paused. Its processes
/// stop where they are (the cgroup freezer), memory kept, or with `memory: false` they end and
/// its files stay, for a reboot on resume. Its time stands still.
pub async fn pause(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    OptionalJsonBody(body): OptionalJsonBody<PauseBody>,
) -> Result<Response, ApiError> {
    let keep_memory = body.memory != Some(false);
    match app.store.pause(&team, &id, now_ns()) {
        Ok(_) => {}
        Err(true) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("sandbox \"{id}\" is already paused"),
            ));
        }
        Err(false) => return Err(ApiError::sandbox_not_found(&id)),
    }
    if let Err(why) = app.live.pause(&app.store, &id, keep_memory, false).await {
        app.live.log_error(&id, "pause the sandbox", &why);
        app.store.unpause(&id);
        return Err(if app.live.can_pause(&id) {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("pausing sandbox \"{id}\" failed, it goes on running: {why}"),
            )
        } else {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("this sandkitd cannot pause sandboxes: {why}"),
            )
        });
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /sandboxes/{id}/resume` `{timeout?}` (what SDKs before 2.5 call): 201 with the
/// resumed sandbox; 409 when it is running.
pub async fn resume(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    OptionalJsonBody(body): OptionalJsonBody<ResumeBody>,
) -> Result<Response, ApiError> {
    // The legacy body's default is 15 seconds.
    let secs = app.limits.timeout_secs(Some(body.timeout.unwrap_or(15)))?;
    match resume_paused(&app, &team, &id, secs, body.memory == Some(false)).await? {
        Some(record) => Ok(json_response(
            StatusCode::CREATED,
            &created(&record, &app.domain),
        )),
        None if app.store.get(&team, &id, now_ns()).is_some() => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("sandbox \"{id}\" is already running"),
        )),
        None => Err(ApiError::sandbox_not_found(&id)),
    }
}

/// `{memory?}` of a pause.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PauseBody {
    memory: Option<bool>,
}

/// `{timeout?, memory?}` of the legacy resume (`autoPause` is ignored, as E2B deprecates it).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ResumeBody {
    timeout: Option<i64>,
    memory: Option<bool>,
}

/// Resumes the team's sandbox if it is paused: its processes go on where they stopped, or,
/// with `reboot` or when it was paused without memory, start afresh on its files. A resume
/// counts against `--max-sandboxes` as a create does.
async fn resume_paused(
    app: &AppState,
    team: &str,
    id: &str,
    secs: u32,
    reboot: bool,
) -> Result<Option<SandboxRecord>, ApiError> {
    let record = app.store.get(team, id, now_ns());
    if !record.is_some_and(|r| r.state == sandkit::wire::SandboxState::Paused) {
        return Ok(None);
    }
    let resumed = app.limits.within_max_sandboxes(&app.store, team, || {
        app.store.resume(team, id, secs, now_ns())
    })?;
    let Some(record) = resumed else {
        return Ok(None);
    };
    if reboot {
        app.live.stop_keeping_files(id).await;
    }
    if let Err(why) = app.live.resume(&app.store, &record).await {
        app.live.log_error(id, "resume the sandbox", &why);
        // Still paused (its files kept, or its processes frozen), for another try or a kill.
        app.store.repause(id);
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not resume the sandbox: {why}"),
        ));
    }
    Ok(Some(record))
}

/// Create fields for features sandkitd does not have. Accepting them would hand the caller
/// a sandbox without what it asked for, so the create is refused, naming the field.
fn refuse_unserved(body: &[u8]) -> Result<(), ApiError> {
    // The body already parsed as a create, so it is a JSON object.
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
        return Ok(());
    };
    let refuse = |field: &str, feature: &str| {
        Err(ApiError::bad_request(format!(
            "`{field}` is not supported: sandkitd has no {feature}"
        )))
    };
    if fields.get("mcp").is_some_and(|v| !v.is_null()) {
        return refuse("mcp", "MCP gateway");
    }
    match fields.get("volumeMounts") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(mounts)) if mounts.is_empty() => {}
        Some(_) => return refuse("volumeMounts", "volumes"),
    }
    Ok(())
}

/// `snapshot`: `templateID` names one of the team's snapshots.
fn validate_new(
    team: String,
    body: NewSandbox,
    templates: &[String],
    snapshot: bool,
    limits: &crate::limits::Limits,
) -> Result<SandboxSpec, ApiError> {
    let template_id = body.template_id.trim();
    if template_id.is_empty() {
        return Err(ApiError::bad_request("templateID must not be empty"));
    }
    if !snapshot && !templates.iter().any(|t| t == template_id) {
        return Err(ApiError::template_not_found(template_id));
    }
    if let Some(ports) = body.network.as_ref().and_then(|n| n.https_ports.as_ref())
        && ports.contains(&ENVD_PORT)
    {
        return Err(ApiError::bad_request(format!(
            "network.httpsPorts must not contain the envd port {ENVD_PORT}"
        )));
    }
    let auto_pause = body.auto_pause.unwrap_or(false);
    let auto_resume = body.auto_resume.is_some_and(|a| a.enabled);
    if auto_resume && !auto_pause {
        return Err(ApiError::bad_request(
            "autoResume.enabled requires autoPause: true",
        ));
    }
    Ok(SandboxSpec {
        team,
        template_id: template_id.to_string(),
        timeout_secs: limits.timeout_secs(body.timeout)?,
        metadata: body.metadata.unwrap_or_default(),
        env_vars: body.env_vars.unwrap_or_default(),
        allow_internet_access: body.allow_internet_access,
        network: body.network,
        auto_pause,
        auto_pause_memory: body.auto_pause_memory,
        auto_resume,
        secure: body.secure,
        ..Default::default()
    })
}

/// The `Sandbox` body of create and connect.
pub fn created(r: &SandboxRecord, domain: &str) -> SandboxCreated {
    SandboxCreated {
        sandbox_id: r.id.clone(),
        template_id: r.spec.template_id.clone(),
        client_id: CLIENT_ID.into(),
        envd_version: ENVD_VERSION.into(),
        envd_access_token: Some(r.envd_access_token.clone()),
        // Only a sandbox that refuses public traffic has one to show, as with E2B.
        traffic_access_token: crate::live::ingress_of(r).traffic_token,
        domain: Some(domain.into()),
        alias: None,
    }
}

/// One entry of a listing.
pub fn listed(r: &SandboxRecord) -> ListedSandbox {
    ListedSandbox {
        sandbox_id: r.id.clone(),
        template_id: r.spec.template_id.clone(),
        client_id: CLIENT_ID.into(),
        alias: None,
        started_at: format_rfc3339_millis(r.started_ms()),
        end_at: format_rfc3339_millis(r.end_ms),
        cpu_count: r.spec.cpu_count,
        memory_mb: r.spec.memory_mb,
        disk_size_mb: r.spec.disk_size_mb,
        state: r.state,
        envd_version: ENVD_VERSION.into(),
        metadata: Some(r.spec.metadata.clone()),
    }
}

/// `SandboxDetail`: a listed entry plus what a client needs to reach the sandbox.
pub fn detail(r: &SandboxRecord, domain: &str) -> SandboxDetail {
    SandboxDetail {
        listed: listed(r),
        access: SandboxAccess {
            domain: Some(domain.into()),
            envd_access_token: Some(r.envd_access_token.clone()),
            // Internet access is on unless the create call turned it off.
            allow_internet_access: Some(r.spec.allow_internet_access.unwrap_or(true)),
            network: Some(
                r.spec
                    .network
                    .as_ref()
                    .map(|n| n.without_secrets())
                    .unwrap_or_default(),
            ),
            lifecycle: Some(Lifecycle {
                on_timeout: if r.spec.auto_pause { "pause" } else { "kill" }.into(),
                auto_resume: r.spec.auto_resume,
            }),
        },
    }
}
