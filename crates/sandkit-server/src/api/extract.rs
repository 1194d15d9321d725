//! Request extractors whose rejections are JSON `{code, message}` bodies, unlike axum's
//! plain-text defaults.

use crate::error::{ApiError, shorten};
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use std::time::Duration;

/// The largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How much of an oversized body is read and discarded so that the client, still sending,
/// gets the 413 rather than a connection reset.
const DRAIN_LIMIT_BYTES: usize = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The `{id}` path segment. A segment that cannot be decoded names no sandbox: 404.
#[derive(Debug, Clone)]
pub struct SandboxId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SandboxId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if !id.is_empty() => Ok(SandboxId(id)),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "sandbox not found: the id in the path is not a valid id",
            )),
        }
    }
}

/// A JSON body of type `T`; a missing body is an error.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// A JSON body of type `T`; an empty body means `T::default()`.
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req).await?;
        if bytes.trim_ascii().is_empty() {
            return Err(ApiError::bad_request(
                "request body is empty: a JSON object is required",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// A required JSON body of type `T` and its bytes, for the fields `T` does not carry.
#[derive(Debug, Clone)]
pub struct JsonBodyAndBytes<T>(pub T, pub Bytes);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBodyAndBytes<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req).await?;
        let JsonBody(value) =
            JsonBody::from_request(Request::new(Body::from(bytes.clone())), state).await?;
        Ok(JsonBodyAndBytes(value, bytes))
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req).await?;
        if bytes.trim_ascii().is_empty() {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// Reads the whole body, at most [`MAX_BODY_BYTES`]. Chunked bodies (Node's default) have no
/// length up front, so the cap is enforced while reading.
async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        drain(body).await;
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                drain(body).await;
                return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, Bytes::len);
            if seen > DRAIN_LIMIT_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Parses JSON, naming the offending field when a value has the wrong type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            Category::Data if path != "." => {
                ApiError::bad_request(format!("invalid field `{}`: {inner}", shorten(&path)))
            }
            Category::Data => ApiError::bad_request(format!("invalid request body: {inner}")),
            _ => ApiError::bad_request(format!("malformed JSON body: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandkit::wire::NewSandbox;

    #[test]
    fn names_the_field_of_a_wrong_type() {
        let err =
            parse_json::<NewSandbox>(br#"{"templateID":"base","metadata":{"k":1}}"#).unwrap_err();
        assert!(err.message.contains("`metadata.k`"), "{}", err.message);
        let err = parse_json::<NewSandbox>(br#"{"templateID":"base","timeout":"x"}"#).unwrap_err();
        assert!(err.message.contains("`timeout`"), "{}", err.message);
        let err = parse_json::<NewSandbox>(br#"{"templateID":"base""#).unwrap_err();
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);
        let err = parse_json::<NewSandbox>(br#"{"templateID":"base"} x"#).unwrap_err();
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);
        let err = parse_json::<NewSandbox>(b"{}").unwrap_err();
        assert!(err.message.contains("templateID"), "{}", err.message);
    }
}
