//! `PUT /sandboxes/{id}/network`: a sandbox's egress rules replaced while it runs, and the
//! network fields sandkitd refuses rather than accept and ignore.

use super::AppState;
use super::extract::{JsonBody, SandboxId};
use crate::auth::Team;
use crate::error::ApiError;
use crate::store::now_ns;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sandkit::wire::{EgressProxy, NetworkConfig, NetworkRules, SandboxNetworkUpdateConfig};
use std::sync::Arc;

/// One update at a time: the record's rules and the kernel's must end up the same.
static UPDATES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn update(
    State(app): State<Arc<AppState>>,
    Team(team): Team,
    SandboxId(id): SandboxId,
    JsonBody(body): JsonBody<SandboxNetworkUpdateConfig>,
) -> Result<Response, ApiError> {
    refuse_unenforced(body.egress_proxy.as_ref(), body.rules.as_ref())?;
    let _one = UPDATES.lock().await;
    let current = app
        .store
        .get(&team, &id, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(&id))?;
    let egress = NetworkConfig {
        allow_out: body.allow_out,
        deny_out: body.deny_out,
        ..Default::default()
    };
    // The rules are checked as they will be stored, before anything changes.
    let mut candidate = current.spec.clone();
    candidate.allow_internet_access = body.allow_internet_access;
    candidate.network = Some(egress.clone());
    app.live
        .check_egress(&candidate)
        .map_err(ApiError::bad_request)?;
    let record = app
        .store
        .set_network(&team, &id, body.allow_internet_access, egress, now_ns())
        .ok_or_else(|| ApiError::sandbox_not_found(&id))?;
    if let Err(e) = app.live.update_egress(&record).await {
        // The rules in force stay the rules on record.
        app.store.set_network(
            &team,
            &id,
            current.spec.allow_internet_access,
            current.spec.network.unwrap_or_default(),
            now_ns(),
        );
        app.live.log_error(&id, "update the network rules", &e);
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not apply the network rules: {e}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The parts of `network` (create or update) sandkitd does not enforce: a SOCKS5 egress
/// proxy and header transforms. Taking them would let traffic go out other than as asked.
pub fn refuse_unenforced(
    egress_proxy: Option<&EgressProxy>,
    rules: Option<&NetworkRules>,
) -> Result<(), ApiError> {
    let refuse = |message: &str| Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, message));
    if egress_proxy.is_some() {
        return refuse(
            "network.egressProxy is not supported: sandkitd does not send sandbox traffic through a SOCKS5 proxy",
        );
    }
    if rules.is_some_and(|r| !r.is_empty()) {
        return refuse(
            "network.rules is not supported: sandkitd does not rewrite the headers of sandbox traffic",
        );
    }
    Ok(())
}
