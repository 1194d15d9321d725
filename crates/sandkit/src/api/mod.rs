//! One function per control-plane endpoint, wire-exact: paths, bodies, query encoding, and the
//! per-call handling of 404 that the official SDK has.

mod pipeline;

use crate::config::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::op::Op;
use crate::retry::Idempotency;
use crate::transport::Method;
use crate::wire::metadata::{encode_query_value, encode_uri_component};
use crate::wire::{
    ConnectSandbox, ListedSandbox, NewSandbox, SandboxCreated, SandboxDetail, SandboxMetric,
    SandboxNetworkUpdateConfig, SandboxState, SetTimeout, SnapshotInfo, StringMap,
};
pub(crate) use pipeline::{ApiRequest, ApiResponse, send, status_error, with_deadline};

/// Sandbox ids go into paths: refuse the empty one, encode the rest.
fn id_path(sandbox_id: &str) -> Result<String> {
    path_segment("sandboxId", "a sandbox id", sandbox_id)
}

/// `value`, the id `field` names, encoded for a path: refused when empty, and when it cannot
/// be an id (`what`) at all: ids are short and printable, and anything else would only make
/// a huge or unreadable URL.
fn path_segment(field: &str, what: &str, value: &str) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::invalid_argument(format!(
            "{field} must be a non-empty string"
        )));
    }
    if value.len() > crate::options::MAX_NAME_BYTES
        || value.contains(|c: char| c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(Error::invalid_argument(format!(
            "{field} must be {what} (at most {} bytes, no control or direction characters), got {} bytes",
            crate::options::MAX_NAME_BYTES,
            value.len()
        )));
    }
    Ok(encode_uri_component(value))
}

/// The response if it is a success; a 404 (by the body's `code`) is a `SandboxNotFound`
/// error with `not_found` as its message.
fn expect(resp: ApiResponse, not_found: &str) -> Result<ApiResponse> {
    if resp.is_success() {
        Ok(resp)
    } else if resp.error_code() == 404 {
        Err(Error::new(ErrorKind::SandboxNotFound, not_found).with_status(404))
    } else {
        Err(resp.into_error())
    }
}

fn request(
    method: Method,
    path: String,
    body: Option<String>,
    idempotency: Idempotency,
) -> ApiRequest {
    ApiRequest {
        method,
        path,
        body: body.map(String::into_bytes),
        idempotency,
    }
}

/// `POST /v2/sandboxes`.
pub fn create_sandbox(cfg: &ConnectionConfig, body: &NewSandbox) -> Op<SandboxCreated> {
    let req = request(
        Method::Post,
        "/v2/sandboxes".into(),
        Some(body.to_json()),
        Idempotency::Once,
    );
    Op::api(cfg, req, |resp| {
        if !resp.is_success() {
            return Err(resp.into_error());
        }
        resp.json(SandboxCreated::from_json)
    })
}

/// `POST /v2/sandboxes/{id}/connect`: resumes a paused sandbox, extends a running one.
pub fn connect_sandbox(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    body: &ConnectSandbox,
) -> Op<SandboxCreated> {
    Op::build(id_path(sandbox_id).map(|id| {
        let path = format!("/v2/sandboxes/{id}/connect");
        let req = request(
            Method::Post,
            path,
            Some(body.to_json()),
            Idempotency::Idempotent,
        );
        let not_found = format!("Paused sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| {
            expect(resp, &not_found)?.json(SandboxCreated::from_json)
        })
    }))
}

/// `GET /sandboxes/{id}`.
pub fn get_sandbox(cfg: &ConnectionConfig, sandbox_id: &str) -> Op<SandboxDetail> {
    Op::build(id_path(sandbox_id).map(|id| {
        let req = request(
            Method::Get,
            format!("/sandboxes/{id}"),
            None,
            Idempotency::Idempotent,
        );
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| {
            expect(resp, &not_found)?.json(SandboxDetail::from_json)
        })
    }))
}

/// `GET /sandboxes/{id}/metrics?start=&end=` (Unix seconds; each omitted when unset).
pub fn get_metrics(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    start: Option<i64>,
    end: Option<i64>,
) -> Op<Vec<SandboxMetric>> {
    Op::build(id_path(sandbox_id).map(|id| {
        let query: Vec<String> = [("start", start), ("end", end)]
            .iter()
            .filter_map(|(name, v)| v.map(|v| format!("{name}={v}")))
            .collect();
        let path = format!("/sandboxes/{id}/metrics{}", query_string(&query));
        let req = request(Method::Get, path, None, Idempotency::Idempotent);
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| {
            expect(resp, &not_found)?
                .json(|v| crate::json::read_all(v.array()?, SandboxMetric::from_json))
        })
    }))
}

/// `DELETE /sandboxes/{id}`: `false` when there was no such sandbox.
pub fn kill_sandbox(cfg: &ConnectionConfig, sandbox_id: &str) -> Op<bool> {
    Op::build(id_path(sandbox_id).map(|id| delete(cfg, format!("/sandboxes/{id}"))))
}

/// `DELETE path`: `true`, or `false` for a 404 (by the body's `code`), as the official SDK's
/// `kill` and `deleteSnapshot` answer.
fn delete(cfg: &ConnectionConfig, path: String) -> Op<bool> {
    let req = request(Method::Delete, path, None, Idempotency::Idempotent);
    Op::api(cfg, req, |resp| {
        if resp.is_success() {
            Ok(true)
        } else if resp.error_code() == 404 {
            Ok(false)
        } else {
            Err(resp.into_error())
        }
    })
}

/// `POST /sandboxes/{id}/pause` `{memory?}`: `true` when this call paused it, `false` when it
/// already was paused (409).
pub fn pause_sandbox(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    keep_memory: Option<bool>,
) -> Op<bool> {
    Op::build(id_path(sandbox_id).map(|id| {
        let path = format!("/sandboxes/{id}/pause");
        let body = match keep_memory {
            Some(keep) => format!("{{\"memory\":{keep}}}"),
            None => "{}".to_string(),
        };
        // Retrying is safe: the sandbox ends up paused either way.
        let req = request(Method::Post, path, Some(body), Idempotency::Idempotent);
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| {
            if resp.error_code() == 409 {
                return Ok(false);
            }
            expect(resp, &not_found).map(|_| true)
        })
    }))
}

/// `POST /sandboxes/{id}/timeout`: the sandbox now ends `timeout_secs` from now.
pub fn set_sandbox_timeout(cfg: &ConnectionConfig, sandbox_id: &str, timeout_secs: i64) -> Op<()> {
    Op::build(id_path(sandbox_id).map(|id| {
        let path = format!("/sandboxes/{id}/timeout");
        let body = SetTimeout {
            timeout: timeout_secs,
        }
        .to_json();
        let req = request(Method::Post, path, Some(body), Idempotency::Idempotent);
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| expect(resp, &not_found).map(drop))
    }))
}

/// `PUT /sandboxes/{id}/network`: the sandbox's egress configuration, replaced as a whole.
pub fn update_network(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    body: &SandboxNetworkUpdateConfig,
) -> Op<()> {
    Op::build(id_path(sandbox_id).map(|id| {
        let path = format!("/sandboxes/{id}/network");
        // A replacement: sending it twice leaves the same configuration.
        let req = request(
            Method::Put,
            path,
            Some(body.to_json()),
            Idempotency::Idempotent,
        );
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| expect(resp, &not_found).map(drop))
    }))
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
    /// The query with `next_token` in place of the query's own.
    fn query_string(&self, next_token: Option<&str>) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.metadata.as_ref().filter(|m| !m.is_empty()) {
            parts.push(format!("metadata={}", encode_query_value(m)));
        }
        if let Some(states) = self.state.as_ref().filter(|s| !s.is_empty()) {
            // Arrays are `form, explode=false`: one comma list.
            let mut list = String::from("state=");
            for (i, s) in states.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                list.push_str(s.as_str());
            }
            parts.push(list);
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
        if let Some(t) = next_token {
            parts.push(format!("nextToken={}", encode_uri_component(t)));
        }
        query_string(&parts)
    }
}

/// `?a&b` from `[a, b]`, or nothing. A loop rather than `[String]::join`, which is 1 KB of wasm.
fn query_string(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(part);
    }
    out
}

/// One page of `GET /v2/sandboxes` and the token of the next one (absent or empty: no more).
pub fn list_sandboxes(
    cfg: &ConnectionConfig,
    query: &ListQuery,
) -> Op<(Vec<ListedSandbox>, Option<String>)> {
    list_page(cfg, query, query.next_token.as_deref())
}

/// [`list_sandboxes`] for the page `next_token` (the first when `None`).
pub(crate) fn list_page(
    cfg: &ConnectionConfig,
    query: &ListQuery,
    next_token: Option<&str>,
) -> Op<(Vec<ListedSandbox>, Option<String>)> {
    list_page_response(cfg, query, next_token).then(|page| {
        page.and_then(|(resp, next)| Ok((resp.json(ListedSandbox::list_from_json)?, next)))
    })
}

/// The page `next_token` of `GET /v2/sandboxes` as it came (a success), with the token of
/// the next one; the caller reads the sandboxes.
pub(crate) fn list_page_response(
    cfg: &ConnectionConfig,
    query: &ListQuery,
    next_token: Option<&str>,
) -> Op<(ApiResponse, Option<String>)> {
    get_page(
        cfg,
        format!("/v2/sandboxes{}", query.query_string(next_token)),
    )
}

/// A page of a listing, `GET path`, as it came (a success), with the token of the next page
/// (`X-Next-Token`).
fn get_page(cfg: &ConnectionConfig, path: String) -> Op<(ApiResponse, Option<String>)> {
    let req = request(Method::Get, path, None, Idempotency::Idempotent);
    Op::api(cfg, req, |resp| {
        if !resp.is_success() {
            return Err(resp.into_error());
        }
        let next = resp.header("x-next-token").filter(|t| !t.is_empty());
        Ok((resp, next))
    })
}

/// `POST /sandboxes/{id}/snapshots` `{name?}`: a snapshot of the sandbox's files, which new
/// sandboxes can be created from. Not retried: a second try would make a second snapshot.
pub fn create_snapshot(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    name: Option<&str>,
) -> Op<SnapshotInfo> {
    Op::build(id_path(sandbox_id).map(|id| {
        let path = format!("/sandboxes/{id}/snapshots");
        let body = match name {
            Some(name) => {
                let mut body = String::from("{\"name\":");
                crate::json::quote_into(&mut body, name);
                body.push('}');
                body
            }
            None => "{}".to_string(),
        };
        let req = request(Method::Post, path, Some(body), Idempotency::Once);
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| {
            expect(resp, &not_found)?.json(SnapshotInfo::from_json)
        })
    }))
}

/// A `GET /snapshots` query (see [`crate::snapshots::SnapshotListOpts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotQuery {
    pub sandbox_id: Option<String>,
    pub name: Option<String>,
    pub limit: Option<u32>,
}

/// One page of `GET /snapshots` from `next_token` (the first when `None`), and the token of
/// the next one.
pub fn list_snapshots_page(
    cfg: &ConnectionConfig,
    query: &SnapshotQuery,
    next_token: Option<&str>,
) -> Op<(Vec<SnapshotInfo>, Option<String>)> {
    let mut parts = Vec::new();
    if let Some(id) = &query.sandbox_id {
        parts.push(format!("sandboxID={}", encode_uri_component(id)));
    }
    if let Some(name) = &query.name {
        parts.push(format!("name={}", encode_uri_component(name)));
    }
    if let Some(limit) = query.limit {
        parts.push(format!("limit={limit}"));
    }
    if let Some(token) = next_token {
        parts.push(format!("nextToken={}", encode_uri_component(token)));
    }
    get_page(cfg, format!("/snapshots{}", query_string(&parts))).then(|page| {
        page.and_then(|(resp, next)| {
            let items =
                resp.json(|v| crate::json::read_all(v.array()?, SnapshotInfo::from_json))?;
            Ok((items, next))
        })
    })
}

/// `DELETE /templates/{id}` of a snapshot: `false` when there was no such snapshot.
pub fn delete_snapshot(cfg: &ConnectionConfig, snapshot_id: &str) -> Op<bool> {
    let checked = path_segment("snapshotId", "a snapshot id", snapshot_id);
    Op::build(checked.map(|id| delete(cfg, format!("/templates/{id}"))))
}

/// `POST /sandboxes/{id}/fork` `{timeout?, count?}`: one outcome per fork, each the new
/// sandbox or the error that kept it from starting. Not retried: a second try would fork again.
pub fn fork_sandbox(
    cfg: &ConnectionConfig,
    sandbox_id: &str,
    timeout_secs: Option<i64>,
    count: Option<u32>,
) -> Op<Vec<std::result::Result<SandboxCreated, Error>>> {
    Op::build(id_path(sandbox_id).map(|id| {
        let path = format!("/sandboxes/{id}/fork");
        let mut body = String::from("{");
        if let Some(t) = timeout_secs {
            body.push_str(&format!("\"timeout\":{t}"));
        }
        if let Some(c) = count {
            if body.len() > 1 {
                body.push(',');
            }
            body.push_str(&format!("\"count\":{c}"));
        }
        body.push('}');
        let req = request(Method::Post, path, Some(body), Idempotency::Once);
        let not_found = format!("Sandbox {sandbox_id} not found");
        Op::api(cfg, req, move |resp| {
            // The official SDK goes by the status here, not the body's code.
            if resp.status() == 404 {
                let message = resp.message().unwrap_or(not_found);
                return Err(Error::new(ErrorKind::SandboxNotFound, message).with_status(404));
            }
            if !resp.is_success() {
                return Err(resp.into_error());
            }
            resp.json(|v| crate::json::read_all(v.array()?, read_fork_result))
        })
    }))
}

/// One `SandboxForkResult`: `{sandbox}` or `{error: {code, message}}`.
fn read_fork_result(
    v: &crate::json::Value<'_>,
) -> std::result::Result<std::result::Result<SandboxCreated, Error>, crate::json::JsonError> {
    let o = v.object()?;
    if let Some(sandbox) = o.opt("sandbox")?
        && o.opt("error")?.is_none()
    {
        return Ok(Ok(SandboxCreated::from_json(sandbox)?));
    }
    let Some(error) = o.opt("error")? else {
        return Ok(Err(Error::new(
            ErrorKind::Sandbox,
            "Failed to start forked sandbox",
        )));
    };
    let e = error.object()?;
    let code = match e.opt("code")? {
        Some(c) => u16::try_from(c.i64()?).unwrap_or(500),
        None => 500,
    };
    let message = e.opt_str("message")?.map(str::to_string);
    // As the official SDK: a fork's 404 is a NotFoundError, the rest as any failed call.
    if code == 404 {
        let message = format!("404: {}", message.unwrap_or_default());
        return Ok(Err(
            Error::new(ErrorKind::NotFound, message).with_status(404)
        ));
    }
    Ok(Err(status_error(code, message)))
}

#[cfg(test)]
mod tests {

    #[test]
    fn reads_each_fork_outcome_as_the_official_sdk_does() {
        let page = br#"[
            {"sandbox": {"sandboxID": "a", "templateID": "base", "clientID": "c", "envdVersion": "0.2.0"}},
            {"error": {"code": 429, "message": "quota"}},
            {"error": {"code": 404, "message": "gone"}},
            {"error": {"code": 500, "message": "broke"}},
            {}
        ]"#;
        let v = crate::json::parse(page).unwrap();
        let forks = crate::json::read_all(v.array().unwrap(), read_fork_result).unwrap();
        assert_eq!(forks[0].as_ref().unwrap().sandbox_id, "a");
        let errors: Vec<(ErrorKind, String)> = forks[1..]
            .iter()
            .map(|f| {
                let e = f.as_ref().unwrap_err();
                (e.kind(), e.message().to_string())
            })
            .collect();
        assert_eq!(
            errors,
            [
                (
                    ErrorKind::RateLimit,
                    "Rate limit exceeded, please try again later - quota".to_string()
                ),
                (ErrorKind::NotFound, "404: gone".to_string()),
                (ErrorKind::Sandbox, "500: broke".to_string()),
                (
                    ErrorKind::Sandbox,
                    "Failed to start forked sandbox".to_string()
                ),
            ]
        );
    }
    use super::*;

    #[test]
    fn sandbox_ids_must_be_short_and_printable() {
        assert_eq!(id_path("abc-1_x").unwrap(), "abc-1_x");
        assert_eq!(id_path("a b").unwrap(), "a%20b");
        for bad in [
            String::new(),
            " ".into(),
            "a\nb".into(),
            "\u{202e}abc".into(),
            "x".repeat(257),
        ] {
            let err = id_path(&bad).unwrap_err();
            assert!(err.message().contains("sandboxId"), "{}", err.message());
        }
    }

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
            q.query_string(q.next_token.as_deref()),
            "?metadata=a%252520b%3Dc%252526d&state=running,paused&limit=1"
        );
        let q = ListQuery {
            next_token: Some("a+b/c==".into()),
            order: Some(ListOrder::Asc),
            ..Default::default()
        };
        assert_eq!(
            q.query_string(q.next_token.as_deref()),
            "?order=asc&nextToken=a%2Bb%2Fc%3D%3D"
        );
        assert_eq!(ListQuery::default().query_string(None), "");
    }

    #[test]
    fn ids_are_checked_and_encoded() {
        assert!(id_path("").is_err());
        assert!(id_path("  ").is_err());
        assert_eq!(id_path("../x").unwrap(), "..%2Fx");
    }
}
