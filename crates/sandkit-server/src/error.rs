//! Every error leaves the server as `{"code": <status>, "message": "..."}` with the matching
//! HTTP status: the official SDKs branch on the body's `code`, not on the status line.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sandkit::wire::ApiErrorBody;
use serde::Serialize;

/// A control-plane error: an HTTP status and a message safe to show to the caller.
///
/// Messages must never contain an API key; they may echo ids and query values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, also sent as `code` in the body.
    pub status: StatusCode,
    /// A human-readable explanation.
    pub message: String,
    /// For a refusal by a rate limit or quota: the `Retry-After` and `RateLimit-*` headers.
    pub quota: Option<crate::limits::Quota>,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            quota: None,
        }
    }

    /// The same error, sent with the `Retry-After` and `RateLimit-*` headers of `quota`.
    pub fn with_quota(mut self, quota: crate::limits::Quota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// 400: the request is malformed or a value is out of range.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no API key, or one the server does not know.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 404 for a sandbox id that does not exist, has ended, or belongs to another team.
    /// The three cases are indistinguishable on purpose.
    pub fn sandbox_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("sandbox \"{}\" not found", shorten(id)),
        )
    }

    /// 404 for a template this server does not have, worded as E2B's API words it.
    pub fn template_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("template '{}' not found", shorten(name)),
        )
    }

    /// 413: the body is larger than the server accepts.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            code: self.status.as_u16(),
            message: self.message,
        };
        let mut res = json_response(self.status, &body);
        if let Some(quota) = self.quota {
            quota.write_headers(res.headers_mut(), true);
        }
        res
    }
}

/// Serializes `value` as the JSON body of a response with `status`.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut res = (status, bytes).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        // Our wire types always serialize; if one ever does not, say so without panicking.
        Err(e) => {
            let mut res = (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "{{\"code\":500,\"message\":{}}}",
                    serde_json::Value::String(format!("cannot encode response: {e}"))
                ),
            )
                .into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
    }
}

/// Caps a caller-supplied string before it is echoed in a message.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_long_input_on_a_char_boundary() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), 65);
    }
}
