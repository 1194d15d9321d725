//! The Connect protocol as envd speaks it over HTTP/1.1, with the JSON or the binary protobuf
//! codec: unary calls (a message in, a message or a Connect error out) and server streams (one
//! enveloped request in; enveloped messages out, closed by an end-stream frame). Errors are
//! JSON whatever the codec, as Connect has them: unary error bodies and end-stream frames.
//!
//! Handlers work on JSON values only; [`Encoder`] and [`super::Call`] translate to and from
//! protobuf (see [`super::protobuf`]) when the client asked for it.

use super::protobuf::Message;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::Value;

/// Envelope flag of the end-stream frame.
const END_STREAM: u8 = 0x02;
/// Envelope flag of a compressed message, which nothing here negotiates.
const COMPRESSED: u8 = 0x01;

/// A Connect error: a code from the protocol's fixed set, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: &'static str,
    pub message: String,
}

impl RpcError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("not_found", message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new("unauthenticated", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new("unavailable", message)
    }

    /// The HTTP status of a unary error with this code (connect-es `codeToHttpStatus`).
    pub fn http_status(&self) -> StatusCode {
        match self.code {
            "canceled" => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "invalid_argument" | "failed_precondition" | "out_of_range" => StatusCode::BAD_REQUEST,
            "deadline_exceeded" => StatusCode::GATEWAY_TIMEOUT,
            "not_found" => StatusCode::NOT_FOUND,
            "already_exists" | "aborted" => StatusCode::CONFLICT,
            "permission_denied" => StatusCode::FORBIDDEN,
            "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
            "unimplemented" => StatusCode::NOT_IMPLEMENTED,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code, "message": self.message })
    }
}

/// How the request was framed, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Unary,
    Stream,
}

/// How messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Json,
    Proto,
}

fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads the `Content-Type` of an RPC: JSON or protobuf, unary or streaming.
pub fn framing(content_type: Option<&str>) -> Result<(Framing, Codec), RpcError> {
    match media_type(content_type).as_str() {
        "application/json" => Ok((Framing::Unary, Codec::Json)),
        "application/connect+json" => Ok((Framing::Stream, Codec::Json)),
        "application/proto" => Ok((Framing::Unary, Codec::Proto)),
        "application/connect+proto" => Ok((Framing::Stream, Codec::Proto)),
        other => Err(RpcError::invalid(format!(
            "unsupported content type '{other}' (want application/json, application/proto, \
             application/connect+json or application/connect+proto)"
        ))),
    }
}

/// The codec the answer uses: the request's, JSON when it named none that is known (its
/// error is then in JSON, which a client of either codec reads).
pub fn codec_of(content_type: Option<&str>) -> Codec {
    match framing(content_type) {
        Ok((_, codec)) => codec,
        Err(_) => Codec::Json,
    }
}

/// Encodes the answers of one call in the codec it was made with.
#[derive(Debug, Clone, Copy)]
pub struct Encoder {
    pub codec: Codec,
    /// The response message, for protobuf.
    pub response: Option<&'static Message>,
}

impl Encoder {
    /// JSON, whatever the message.
    pub fn json() -> Encoder {
        Encoder {
            codec: Codec::Json,
            response: None,
        }
    }

    fn encode(&self, msg: &Value) -> Result<Vec<u8>, RpcError> {
        match (self.codec, self.response) {
            (Codec::Json, _) => {
                serde_json::to_vec(msg).map_err(|e| RpcError::internal(e.to_string()))
            }
            (Codec::Proto, Some(schema)) => super::protobuf::encode(schema, msg)
                .map_err(|e| RpcError::internal(format!("encoding the response: {e}"))),
            (Codec::Proto, None) => Err(RpcError::new(
                "unimplemented",
                "this method has no protobuf encoding here; use the JSON codec",
            )),
        }
    }

    /// A unary answer.
    pub fn unary_ok(&self, msg: &Value) -> Response {
        match self.encode(msg) {
            Ok(body) => {
                let mut res = Response::new(Body::from(body));
                let ct = match self.codec {
                    Codec::Json => "application/json",
                    Codec::Proto => "application/proto",
                };
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
                res
            }
            Err(e) => unary_error(&e),
        }
    }

    /// One data envelope. A message that cannot be encoded (a bug) is sent empty.
    pub fn envelope(&self, msg: &Value) -> Bytes {
        match self.encode(msg) {
            Ok(bytes) => frame(0, &bytes),
            Err(e) => {
                eprintln!("sandkitd: {}", e.message);
                let empty: &[u8] = match self.codec {
                    Codec::Json => b"{}",
                    Codec::Proto => b"",
                };
                frame(0, empty)
            }
        }
    }

    /// A streaming answer (always HTTP 200) over `body`.
    pub fn stream_response(&self, body: Body) -> Response {
        let mut res = Response::new(body);
        let ct = match self.codec {
            Codec::Json => "application/connect+json",
            Codec::Proto => "application/connect+proto",
        };
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        res
    }

    /// A stream that fails before its first message: only the end-stream frame.
    pub fn stream_error(&self, e: &RpcError) -> Response {
        self.stream_response(Body::from(end_stream(Some(e))))
    }
}

/// The message of a streaming request: exactly one uncompressed envelope.
pub fn unwrap_envelope(body: &[u8]) -> Result<&[u8], RpcError> {
    if body.len() < 5 {
        return Err(RpcError::invalid(
            "stream request is shorter than an envelope",
        ));
    }
    if body[0] & COMPRESSED != 0 {
        return Err(RpcError::invalid("compressed messages are not supported"));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let rest = &body[5..];
    if rest.len() != len {
        return Err(RpcError::invalid(
            "stream request must be exactly one envelope",
        ));
    }
    Ok(rest)
}

/// Decodes a request message; unknown fields are ignored.
pub fn decode<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8]) -> Result<T, RpcError> {
    let bytes = if bytes.is_empty() {
        b"{}" as &[u8]
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| RpcError::invalid(format!("invalid request: {e}")))
}

/// A unary error: the code's HTTP status and the Connect error JSON.
pub fn unary_error(e: &RpcError) -> Response {
    let mut res = (e.http_status(), e.json().to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// One data envelope, in JSON.
pub fn envelope<T: Serialize>(msg: &T) -> Bytes {
    let json = serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec());
    frame(0, &json)
}

/// The end-stream frame: `{}` or `{"error": …}`.
pub fn end_stream(error: Option<&RpcError>) -> Bytes {
    let body = match error {
        None => b"{}".to_vec(),
        Some(e) => serde_json::json!({ "error": e.json() })
            .to_string()
            .into_bytes(),
    };
    frame(END_STREAM, &body)
}

fn frame(flags: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(flags);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_unframes() {
        let f = envelope(&serde_json::json!({"a": 1}));
        assert_eq!(&f[..5], &[0, 0, 0, 0, 7]);
        assert_eq!(unwrap_envelope(&f).unwrap(), br#"{"a":1}"#);
        let end = end_stream(Some(&RpcError::not_found("x")));
        assert_eq!(end[0], 2);
        assert_eq!(
            &end[5..],
            br#"{"error":{"code":"not_found","message":"x"}}"#
        );
        assert!(unwrap_envelope(&[1, 0, 0, 0, 0]).is_err());
        assert!(unwrap_envelope(&[0, 0, 0, 0, 9, b'{']).is_err());
        assert!(unwrap_envelope(&[0, 0]).is_err());
    }

    #[test]
    fn statuses_follow_connect() {
        assert_eq!(RpcError::not_found("").http_status(), 404);
        assert_eq!(RpcError::invalid("").http_status(), 400);
        assert_eq!(RpcError::unauthenticated("").http_status(), 401);
        assert_eq!(RpcError::new("already_exists", "").http_status(), 409);
        assert_eq!(RpcError::new("canceled", "").http_status(), 499);
        assert_eq!(
            framing(Some("application/connect+json; charset=utf-8")),
            Ok((Framing::Stream, Codec::Json))
        );
        assert_eq!(
            framing(Some("application/json")),
            Ok((Framing::Unary, Codec::Json))
        );
        assert_eq!(
            framing(Some("Application/Proto")),
            Ok((Framing::Unary, Codec::Proto))
        );
        assert_eq!(
            framing(Some("application/connect+proto")),
            Ok((Framing::Stream, Codec::Proto))
        );
        assert!(framing(Some("text/plain")).is_err());
        assert_eq!(codec_of(Some("text/plain")), Codec::Json);
    }
}
