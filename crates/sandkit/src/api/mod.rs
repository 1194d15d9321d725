//! One function per control-plane endpoint, wire-exact: paths, bodies, query encoding, and the
//! per-call handling of 404 that the official SDK has.

mod pipeline;

use crate::config::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::Idempotency;
use crate::transport::Method;
use crate::wire::metadata::{encode_query_value, encode_uri_component};
use crate::wire::{
    ConnectSandbox, ListedSandbox, NewSandbox, SandboxCreated, SandboxDetail, SandboxState,
    SetTimeout, StringMap,
};
pub(crate) use pipeline::with_deadline;
use pipeline::{ApiRequest, ApiResponse, send};

/// Sandbox ids go into paths: refuse the empty one, encode the rest.
fn id_path(sandbox_id: &str) -> Result<String> {
    if sandbox_id.trim().is_empty() {
        return Err(Error::invalid_argument(
            "sandboxId must be a non-empty string",
        ));
    }
    Ok(encode_uri_component(sandbox_id))
}

fn sandbox_not_found(message: String) -> Error {
    Error::new(ErrorKind::SandboxNotFound, message).with_status(404)
}

fn expect(resp: ApiResponse, not_found: impl FnOnce() -> Error) -> Result<ApiResponse> {
    if resp.is_success() {
        Ok(resp)
    } else if resp.error_code() == 404 {
        Err(not_found())
    } else {
        Err(resp.into_error())
    }
}

/// `POST /v2/sandboxes`.
pub async fn create_sandbox(cfg: &ConnectionConfig, body: &NewSandbox) -> Result<SandboxCreated> {
    let resp = send(
        cfg,
        ApiRequest {
            method: Method::Post,
            path: "/v2/sandboxes".into(),
            body: Some(body.to_json().into_bytes()),
            idempotency: Idempotency::Once,
        },
    )
    .await?;
    if !resp.is_success() {
        return Err(resp.into_error());
    }
    resp.json(SandboxCreated::from_json)
}

/// `POST /v2/sandboxes/{id}/connect`: resumes a paused sandbox, extends a running one.
pub async fn connect_sandbox(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    body: &ConnectSandbox,
) -> Result<SandboxCreated> {
    let path = format!("/v2/sandboxes/{}/connect", id_path(sandbox_id)?);
    let resp = send(
        cfg,
        ApiRequest {
            method: Method::Post,
            path,
            body: Some(body.to_json().into_bytes()),
            idempotency: Idempotency::Idempotent,
        },
    )
    .await?;
    expect(resp, || {
        sandbox_not_found(format!("Paused sandbox {sandbox_id} not found"))
    })?
    .json(SandboxCreated::from_json)
}

/// `GET /sandboxes/{id}`.
pub async fn get_sandbox(cfg: &ConnectionConfig, sandbox_id: &str) -> Result<SandboxDetail> {
    let path = format!("/sandboxes/{}", id_path(sandbox_id)?);
    let resp = send(
        cfg,
        ApiRequest {
            method: Method::Get,
            path,
            body: None,
            idempotency: Idempotency::Idempotent,
        },
    )
    .await?;
    expect(resp, || {
        sandbox_not_found(format!("Sandbox {sandbox_id} not found"))
    })?
    .json(SandboxDetail::from_json)
}

/// `DELETE /sandboxes/{id}`: `false` when there was no such sandbox.
pub async fn kill_sandbox(cfg: &ConnectionConfig, sandbox_id: &str) -> Result<bool> {
    let path = format!("/sandboxes/{}", id_path(sandbox_id)?);
    let resp = send(
        cfg,
        ApiRequest {
            method: Method::Delete,
            path,
            body: None,
            idempotency: Idempotency::Idempotent,
        },
    )
    .await?;
    if resp.is_success() {
        Ok(true)
    } else if resp.error_code() == 404 {
        Ok(false)
    } else {
        Err(resp.into_error())
    }
}

/// `POST /sandboxes/{id}/timeout`: the sandbox now ends `timeout_secs` from now.
pub async fn set_sandbox_timeout(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    timeout_secs: i64,
) -> Result<()> {
    let path = format!("/sandboxes/{}/timeout", id_path(sandbox_id)?);
    let body = Some(
        SetTimeout {
            timeout: timeout_secs,
        }
        .to_json()
        .into_bytes(),
    );
    let resp = send(
        cfg,
        ApiRequest {
            method: Method::Post,
            path,
            body,
            idempotency: Idempotency::Idempotent,
        },
    )
    .await?;
    expect(resp, || {
        sandbox_not_found(format!("Sandbox {sandbox_id} not found"))
    })
    .map(|_| ())
}

/// Sort order of a listing, by start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    Asc,
    Desc,
}

/// The query of `GET /v2/sandboxes`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub state: Option<Vec<SandboxState>>,
    pub metadata: Option<StringMap>,
    pub limit: Option<u32>,
    pub next_token: Option<String>,
    pub order: Option<ListOrder>,
    pub template: Option<String>,
    /// Inclusive lower bound on the start time, RFC 3339.
    pub started_after: Option<String>,
}

impl ListQuery {
    fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.metadata.as_ref().filter(|m| !m.is_empty()) {
            parts.push(format!("metadata={}", encode_query_value(m)));
        }
        if let Some(states) = self.state.as_ref().filter(|s| !s.is_empty()) {
            // Arrays are `form, explode=false`: one comma list.
            let list: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
            parts.push(format!("state={}", list.join(",")));
        }
        if let Some(t) = &self.started_after {
            parts.push(format!("startedAfter={}", encode_uri_component(t)));
        }
        if let Some(t) = &self.template {
            parts.push(format!("template={}", encode_uri_component(t)));
        }
        if let Some(o) = self.order {
            parts.push(format!(
                "order={}",
                if o == ListOrder::Asc { "asc" } else { "desc" }
            ));
        }
        if let Some(l) = self.limit {
            parts.push(format!("limit={l}"));
        }
        if let Some(t) = &self.next_token {
            parts.push(format!("nextToken={}", encode_uri_component(t)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// One page of `GET /v2/sandboxes` and the token of the next one (absent or empty: no more).
pub async fn list_sandboxes(
    cfg: &ConnectionConfig,
    query: &ListQuery,
) -> Result<(Vec<ListedSandbox>, Option<String>)> {
    let path = format!("/v2/sandboxes{}", query.to_query_string());
    let resp = send(
        cfg,
        ApiRequest {
            method: Method::Get,
            path,
            body: None,
            idempotency: Idempotency::Idempotent,
        },
    )
    .await?;
    if !resp.is_success() {
        return Err(resp.into_error());
    }
    let next = resp
        .header("x-next-token")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok((resp.json(ListedSandbox::list_from_json)?, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_is_encoded_like_the_official_sdk() {
        let q = ListQuery {
            metadata: Some([("a b".to_string(), "c&d".to_string())].into()),
            state: Some(vec![SandboxState::Running, SandboxState::Paused]),
            limit: Some(1),
            ..Default::default()
        };
        // The request line observed on the wire with e2b 2.51.0.
        assert_eq!(
            q.to_query_string(),
            "?metadata=a%252520b%3Dc%252526d&state=running,paused&limit=1"
        );
        let q = ListQuery {
            next_token: Some("a+b/c==".into()),
            order: Some(ListOrder::Asc),
            ..Default::default()
        };
        assert_eq!(q.to_query_string(), "?order=asc&nextToken=a%2Bb%2Fc%3D%3D");
        assert_eq!(ListQuery::default().to_query_string(), "");
    }

    #[test]
    fn ids_are_checked_and_encoded() {
        assert!(id_path("").is_err());
        assert!(id_path("  ").is_err());
        assert_eq!(id_path("../x").unwrap(), "..%2Fx");
    }
}
