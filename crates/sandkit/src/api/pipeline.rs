//! The request pipeline of the control plane: auth and SDK headers, the request deadline,
//! retries, and error mapping from the response body's `code` as the official SDK does it.

use crate::config::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::json::{JsonError, Value};
use crate::retry::{Idempotency, Outcome, Retries};
use crate::transport::{
    HttpRequest, HttpResponse, Method, RequestBody, ResponseHeaders, TransportError,
};
use crate::wire::LooseErrorBody;
use bytes::Bytes;
use futures_util::future::{Either, select};

pub(crate) struct ApiRequest {
    pub method: Method,
    /// Path and query, already encoded, starting with `/`.
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub idempotency: Idempotency,
}

pub(crate) struct ApiResponse {
    pub status: u16,
    pub headers: ResponseHeaders,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name)
    }

    /// The body read by `read`; a body that does not parse is a `SandboxError`.
    pub fn json<T>(&self, read: fn(&Value<'_>) -> std::result::Result<T, JsonError>) -> Result<T> {
        crate::json::parse(&self.body)
            .and_then(|v| read(&v))
            .map_err(|e| self.unreadable(e))
    }

    fn unreadable(&self, e: JsonError) -> Error {
        Error::new(
            ErrorKind::Sandbox,
            format!(
                "the API answered {} with a body that does not parse: {e}",
                self.status
            ),
        )
        .with_status(self.status)
    }

    /// The `code` of an error body, else the HTTP status (a body the SDK cannot read).
    pub fn error_code(&self) -> u16 {
        LooseErrorBody::from_body(&self.body)
            .and_then(|b| b.code)
            .unwrap_or(self.status)
    }

    fn error_message(&self) -> Option<String> {
        match LooseErrorBody::from_body(&self.body) {
            Some(b) => b.message,
            None => Some(String::from_utf8_lossy(&self.body).trim().to_string())
                .filter(|s| !s.is_empty()),
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The generic mapping of a failed response to a typed error.
    pub fn into_error(self) -> Error {
        status_error(self.status, self.error_message())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message of an error body, if it has one.
    pub fn message(&self) -> Option<String> {
        self.error_message()
    }
}

/// The typed error of a failure the API reported with `status` and `msg`, mapped as the
/// official SDK maps them.
pub(crate) fn status_error(status: u16, msg: Option<String>) -> Error {
    let with = |prefix: &str| match &msg {
        Some(m) => format!("{prefix} - {m}"),
        None => prefix.to_string(),
    };
    let (kind, message) = match status {
        401 => (
            ErrorKind::Authentication,
            with("Unauthorized, please check your credentials."),
        ),
        429 => (
            ErrorKind::RateLimit,
            with("Rate limit exceeded, please try again later"),
        ),
        503 => (
            ErrorKind::ServiceBusy,
            with("Service temporarily unavailable, please retry"),
        ),
        s => (
            ErrorKind::Sandbox,
            format!("{s}: {}", msg.unwrap_or_else(|| "no message".into())),
        ),
    };
    Error::new(kind, message).with_status(status)
}

fn header_pairs(cfg: &ConnectionConfig, api_key: &str, has_body: bool) -> Vec<(String, String)> {
    let mut headers = vec![
        ("x-api-key".to_string(), api_key.to_string()),
        (
            "user-agent".to_string(),
            cfg.client().platform().user_agent.clone(),
        ),
    ];
    if has_body {
        headers.push(("content-type".to_string(), "application/json".to_string()));
    }
    for (k, v) in &cfg.headers {
        let k = k.to_ascii_lowercase();
        headers.retain(|(have, _)| *have != k);
        headers.push((k, v.clone()));
    }
    headers
}

fn timeout_error(ms: u64) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "Request timed out after {ms} ms: the API did not answer in time (`requestTimeoutMs`; 0 disables the limit)."
        ),
    )
}

fn transport_error(e: TransportError) -> Error {
    e.into_error("API")
}

/// Sends one control-plane request, retrying as the policy allows. Boxed: the callers' state
/// machines then hold a pointer instead of this one.
pub(crate) fn send(
    cfg: &ConnectionConfig,
    req: ApiRequest,
) -> crate::maybe_send::BoxFuture<'_, Result<ApiResponse>> {
    Box::pin(send_inner(cfg, req))
}

async fn send_inner(cfg: &ConnectionConfig, req: ApiRequest) -> Result<ApiResponse> {
    let api_key = cfg.require_api_key()?;
    let url = format!("{}{}", cfg.api_url, req.path);
    let headers = header_pairs(cfg, api_key, req.body.is_some());
    let body = req.body.map(Bytes::from);
    let mut retries = Retries::start(cfg);
    loop {
        let http = HttpRequest {
            method: req.method,
            url: url.clone(),
            headers: headers.clone(),
            body: body.clone().map(RequestBody::Bytes),
            stream_response: false,
        };
        let result = attempt_once(cfg, http, retries.start_ms()).await?;
        let outcome = match &result {
            Ok(resp) if resp.is_success() => return result.map_err(transport_error),
            Ok(resp) => Outcome::Status {
                status: resp.status,
                headers: &resp.headers,
            },
            Err(e) => Outcome::Transport(e.kind),
        };
        if !retries.again(req.idempotency, outcome).await {
            return result.map_err(transport_error);
        }
    }
}

/// `work`, bounded by the request timeout (`requestTimeoutMs`; 0 for none).
pub(crate) async fn with_deadline<T>(
    cfg: &ConnectionConfig,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    if cfg.request_timeout_ms == 0 {
        return work.await;
    }
    let runtime = cfg.client().runtime();
    let timer = runtime.deadline_timer(cfg.request_timeout_ms);
    match select(Box::pin(work), timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(timeout_error(cfg.request_timeout_ms)),
    }
}

/// One attempt, bounded by what is left of the request deadline. The outer error is the
/// deadline passing; the inner one a transport failure that the policy may retry.
async fn attempt_once(
    cfg: &ConnectionConfig,
    http: HttpRequest,
    start: f64,
) -> Result<std::result::Result<ApiResponse, TransportError>> {
    let transport = cfg.client().transport();
    let exchange = async move {
        let HttpResponse {
            status,
            headers,
            body,
        } = transport.send(http).await?;
        let body = body.bytes().await?;
        Ok::<_, TransportError>(ApiResponse {
            status,
            headers,
            body,
        })
    };
    if cfg.request_timeout_ms == 0 {
        return Ok(exchange.await);
    }
    let runtime = cfg.client().runtime();
    let left = cfg.request_timeout_ms as f64 - (runtime.now_ms() - start);
    if left <= 0.0 {
        return Err(timeout_error(cfg.request_timeout_ms));
    }
    let timer = runtime.deadline_timer(left.ceil() as u64);
    match select(Box::pin(exchange), timer).await {
        Either::Left((r, _)) => Ok(r),
        Either::Right(_) => Err(timeout_error(cfg.request_timeout_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> ApiResponse {
        ApiResponse {
            status,
            headers: ResponseHeaders::default(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn maps_statuses_like_the_official_sdk() {
        let cases: &[(u16, &str, ErrorKind, &str)] = &[
            (
                401,
                r#"{"code":401,"message":"Invalid API key"}"#,
                ErrorKind::Authentication,
                "Unauthorized, please check your credentials. - Invalid API key",
            ),
            (
                401,
                "",
                ErrorKind::Authentication,
                "Unauthorized, please check your credentials.",
            ),
            (
                429,
                r#"{"code":429,"message":"slow down"}"#,
                ErrorKind::RateLimit,
                "Rate limit exceeded, please try again later - slow down",
            ),
            (
                503,
                r#"{"code":503,"message":"busy"}"#,
                ErrorKind::ServiceBusy,
                "Service temporarily unavailable, please retry - busy",
            ),
            (
                400,
                r#"{"code":400,"message":"limit must be 1..100"}"#,
                ErrorKind::Sandbox,
                "400: limit must be 1..100",
            ),
            (
                500,
                "upstream exploded",
                ErrorKind::Sandbox,
                "500: upstream exploded",
            ),
            (502, "", ErrorKind::Sandbox, "502: no message"),
        ];
        for (status, body, kind, message) in cases {
            let e = resp(*status, body).into_error();
            assert_eq!(
                (e.kind(), e.message(), e.status_code()),
                (*kind, *message, Some(*status)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn reads_the_code_from_the_body() {
        // The official SDK's 404 branches read the body's `code`, not the status.
        assert_eq!(resp(404, r#"{"code":404,"message":"x"}"#).error_code(), 404);
        assert_eq!(resp(400, r#"{"code":404,"message":"x"}"#).error_code(), 404);
        assert_eq!(resp(404, "not json").error_code(), 404);
        assert_eq!(resp(500, r#"{"message":"no code"}"#).error_code(), 500);
    }

    #[test]
    fn binding_messages_carry_the_class() {
        let e = resp(404, "").into_error();
        assert_eq!(
            e.to_binding_message(),
            r#"SANDKIT_ERROR:{"name":"SandboxError","code":"sandbox_error","message":"404: no message","statusCode":404}"#
        );
    }
}
