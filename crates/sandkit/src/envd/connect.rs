//! The client side of the Connect protocol: request envelopes, an incremental reader of
//! response envelopes (whichever codec their messages are in), and the mapping of Connect
//! errors (JSON in either codec) to SDK errors, as the official SDK maps them.

use crate::error::{Error, ErrorKind};
use crate::json::{self, JsonError, Value};
use bytes::{Buf, BufMut, Bytes, BytesMut};

const END_STREAM: u8 = 0x02;
const COMPRESSED: u8 = 0x01;
/// The largest message accepted from a server (a PTY or output chunk is at most 32 KiB).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// How a streaming call's messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Json,
    /// Protobuf's binary encoding ([`super::proto`]).
    Proto,
}

/// One request message in an envelope.
pub fn envelope(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.freeze()
}

/// What the reader found in the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Message(Bytes),
    /// The end-stream frame's JSON.
    End(Bytes),
}

/// Splits a response body into envelopes, however it was chunked. Frames that arrive whole
/// in a chunk are handed out as slices of it (no copy); only a frame split across chunks is
/// gathered, into a buffer sized for it once its header is known.
#[derive(Default)]
pub struct EnvelopeReader {
    /// The unread rest of the last chunk, while nothing is being gathered.
    whole: Bytes,
    /// A frame being gathered across chunks (and whatever came after it).
    partial: BytesMut,
}

/// A frame header: flags and payload length, checked.
fn header(b: &[u8]) -> Result<Option<(u8, usize)>, Error> {
    if b.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
    if len > MAX_MESSAGE {
        return Err(protocol_error(format!(
            "a message of {len} bytes is too large"
        )));
    }
    if b[0] & COMPRESSED != 0 {
        return Err(protocol_error("the server sent a compressed message"));
    }
    Ok(Some((b[0], len)))
}

fn frame(flags: u8, payload: Bytes) -> Frame {
    if flags & END_STREAM != 0 {
        Frame::End(payload)
    } else {
        Frame::Message(payload)
    }
}

impl EnvelopeReader {
    pub fn push(&mut self, chunk: &[u8]) {
        self.push_bytes(Bytes::copy_from_slice(chunk));
    }

    /// Adds a chunk of the body, without copying it when it can be sliced.
    pub fn push_bytes(&mut self, chunk: Bytes) {
        if self.partial.is_empty() && self.whole.is_empty() {
            self.whole = chunk;
        } else {
            self.gather();
            self.partial.extend_from_slice(&chunk);
        }
    }

    /// Moves the unread rest of the last chunk into the gathering buffer.
    fn gather(&mut self) {
        if self.whole.is_empty() {
            return;
        }
        let want = match header(&self.whole) {
            Ok(Some((_, len))) => 5 + len,
            _ => self.whole.len(),
        };
        self.partial.reserve(want.max(self.whole.len()));
        self.partial.extend_from_slice(&self.whole);
        self.whole = Bytes::new();
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        if !self.whole.is_empty() {
            let Some((flags, len)) = header(&self.whole)? else {
                self.gather();
                return Ok(None);
            };
            if self.whole.len() < 5 + len {
                self.gather();
                return Ok(None);
            }
            let payload = self.whole.slice(5..5 + len);
            self.whole = self.whole.slice(5 + len..);
            return Ok(Some(frame(flags, payload)));
        }
        let Some((flags, len)) = header(&self.partial)? else {
            return Ok(None);
        };
        if self.partial.len() < 5 + len {
            return Ok(None);
        }
        self.partial.advance(5);
        let payload = self.partial.split_to(len).freeze();
        if !self.partial.is_empty() {
            // What follows goes back to being sliced rather than gathered.
            self.whole = self.partial.split().freeze();
        }
        Ok(Some(frame(flags, payload)))
    }

    /// Bytes left over that do not make a frame.
    pub fn has_partial(&self) -> bool {
        !self.whole.is_empty() || !self.partial.is_empty()
    }
}

fn protocol_error(message: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::Sandbox,
        format!(
            "the sandbox's daemon broke the protocol: {}",
            message.into()
        ),
    )
}

/// A Connect error as the server sends it.
#[derive(Debug, Clone, Default)]
pub struct ConnectError {
    pub code: String,
    pub message: String,
}

impl ConnectError {
    /// `{code, message}`, both defaulting to empty.
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let [code, message] = [o.str_or_empty("code")?, o.str_or_empty("message")?];
        Ok(ConnectError {
            code: code.into(),
            message: message.into(),
        })
    }

    /// A whole body that is a Connect error; `None` when it is not one.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        json::parse(body)
            .and_then(|v| ConnectError::from_json(&v))
            .ok()
    }
}

/// The error an end-stream frame carries, if any.
pub fn end_stream_error(frame: &[u8]) -> Result<Option<ConnectError>, Error> {
    let read = |v: &Value<'_>| {
        v.object()?
            .opt("error")?
            .map(ConnectError::from_json)
            .transpose()
    };
    if frame.is_empty() {
        return Ok(None);
    }
    json::parse(frame)
        .and_then(|v| read(&v))
        .map_err(|e| protocol_error(format!("bad end-stream frame: {e}")))
}

/// Where an error happened, which changes some mappings (as in the official SDK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A filesystem call: `not_found` means a file.
    Files,
    /// A process call.
    Process,
}

/// Whether `e` is a Connect error with `code` that [`map_error`] left generic.
pub fn has_code(e: &Error, code: &str) -> bool {
    e.kind() == ErrorKind::Sandbox
        && crate::error::find(e.message(), ": ").is_some_and(|at| {
            e.message()
                .get(at + 2..)
                .and_then(|r| r.strip_prefix('['))
                .and_then(|r| r.strip_prefix(code))
                .is_some_and(|r| r.starts_with(']'))
        })
}

/// The Connect codes in the order of their numbers (`canceled` is 1).
const CODES: [&str; 16] = [
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

/// A Connect error as an SDK error, the way the official SDK maps them. Its messages are
/// connect-es's: `[code] message`; a code with no class of its own is also preceded by the
/// code's number, as the official SDK prints the enum.
pub fn map_error(e: &ConnectError, context: Context) -> Error {
    let number = CODES.iter().position(|c| *c == e.code);
    // connect-es reads a code it does not know as `unknown`.
    let code = number.map_or("unknown", |n| CODES[n]);
    let msg = &if e.message.is_empty() {
        format!("[{code}]")
    } else {
        format!("[{code}] {}", e.message)
    };
    match code {
        "invalid_argument" => Error::new(ErrorKind::InvalidArgument, msg.clone()),
        "unauthenticated" => Error::new(ErrorKind::Authentication, msg.clone()),
        "not_found" if context == Context::Files => {
            Error::new(ErrorKind::FileNotFound, msg.clone())
        }
        "not_found" => Error::new(ErrorKind::NotFound, msg.clone()),
        "resource_exhausted" => Error::new(
            ErrorKind::RateLimit,
            format!("{msg}: Rate limit exceeded, please try again later."),
        ),
        "unavailable" => Error::new(
            ErrorKind::Timeout,
            format!(
                "{msg}: This error is likely due to sandbox timeout. You can modify the sandbox timeout by passing 'timeoutMs' when starting the sandbox or calling '.setTimeout' on the sandbox with the desired timeout."
            ),
        ),
        "canceled" => Error::new(
            ErrorKind::Timeout,
            format!(
                "{msg}: This error is likely due to exceeding 'requestTimeoutMs'. You can pass the request timeout value as an option when making the request."
            ),
        ),
        "deadline_exceeded" => Error::new(
            ErrorKind::Timeout,
            format!(
                "{msg}: This error is likely due to exceeding 'timeoutMs' — the total time a long running request (like command execution or directory watch) can be active. It can be modified by passing 'timeoutMs' when making the request. Use '0' to disable the timeout."
            ),
        ),
        _ => Error::new(
            ErrorKind::Sandbox,
            format!("{}: {msg}", number.map_or(2, |n| n + 1)),
        ),
    }
}

/// The Connect code a plain HTTP status stands for (a proxy answering instead of the daemon).
pub fn code_from_status(status: u16) -> &'static str {
    match status {
        400 => "internal",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "unimplemented",
        429 | 502 | 503 | 504 => "unavailable",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_envelopes_across_chunk_boundaries() {
        let mut all = Vec::new();
        all.extend_from_slice(&envelope(br#"{"a":1}"#));
        all.extend_from_slice(&[END_STREAM, 0, 0, 0, 2, b'{', b'}']);
        for split in 0..all.len() {
            let mut r = EnvelopeReader::default();
            let mut frames = Vec::new();
            for part in [&all[..split], &all[split..]] {
                r.push(part);
                while let Some(f) = r.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            assert_eq!(
                frames,
                vec![
                    Frame::Message(Bytes::from_static(br#"{"a":1}"#)),
                    Frame::End(Bytes::from_static(b"{}"))
                ],
                "split at {split}"
            );
            assert!(!r.has_partial());
        }
        // Three frames split at every pair of points: each arrives once, in order, intact.
        let mut three = Vec::new();
        for m in [&br#"{"n":1}"#[..], br#"{"n":22}"#, br#"{"n":333}"#] {
            three.extend_from_slice(&envelope(m));
        }
        for i in 0..three.len() {
            for j in i..three.len() {
                let mut r = EnvelopeReader::default();
                let mut got = Vec::new();
                for part in [&three[..i], &three[i..j], &three[j..]] {
                    r.push_bytes(Bytes::copy_from_slice(part));
                    while let Some(Frame::Message(m)) = r.next_frame().unwrap() {
                        got.push(m);
                    }
                }
                assert_eq!(
                    got,
                    [&br#"{"n":1}"#[..], br#"{"n":22}"#, br#"{"n":333}"#],
                    "split at {i}, {j}"
                );
                assert!(!r.has_partial());
            }
        }
        let mut r = EnvelopeReader::default();
        r.push(&[COMPRESSED, 0, 0, 0, 0]);
        assert!(r.next_frame().is_err());
        let mut r = EnvelopeReader::default();
        r.push(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert!(r.next_frame().is_err());
    }

    #[test]
    fn maps_errors_like_the_official_sdk() {
        let e = |code: &str| ConnectError {
            code: code.into(),
            message: "m".into(),
        };
        assert_eq!(
            map_error(&e("not_found"), Context::Files).kind(),
            ErrorKind::FileNotFound
        );
        assert_eq!(
            map_error(&e("not_found"), Context::Process).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            map_error(&e("invalid_argument"), Context::Process).kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            map_error(&e("unauthenticated"), Context::Files).kind(),
            ErrorKind::Authentication
        );
        assert_eq!(
            map_error(&e("deadline_exceeded"), Context::Process).kind(),
            ErrorKind::Timeout
        );
        assert_eq!(
            map_error(&e("unavailable"), Context::Process).kind(),
            ErrorKind::Timeout
        );
        assert_eq!(
            map_error(&e("resource_exhausted"), Context::Process).kind(),
            ErrorKind::RateLimit
        );
        // connect-es's `[code] message`, the enum's number before codes with no class.
        assert_eq!(
            map_error(&e("internal"), Context::Process).message(),
            "13: [internal] m"
        );
        assert_eq!(
            map_error(&e("not_found"), Context::Files).message(),
            "[not_found] m"
        );
        assert_eq!(
            map_error(&e("deadline_exceeded"), Context::Process)
                .message()
                .split(": ")
                .next(),
            Some("[deadline_exceeded] m")
        );
        let empty = ConnectError {
            code: "invalid_argument".into(),
            message: String::new(),
        };
        assert_eq!(
            map_error(&empty, Context::Files).message(),
            "[invalid_argument]"
        );
        assert_eq!(
            map_error(&e("no_such_code"), Context::Files).message(),
            "2: [unknown] m"
        );
        let exists = map_error(&e("already_exists"), Context::Files);
        assert!(has_code(&exists, "already_exists"));
        assert!(!has_code(&exists, "already"));
        assert!(!has_code(&exists, "not_found"));
        assert_eq!(end_stream_error(b"{}").unwrap().map(|e| e.code), None);
        assert_eq!(end_stream_error(b"").unwrap().map(|e| e.code), None);
        assert_eq!(
            end_stream_error(br#"{"error":null,"metadata":{}}"#)
                .unwrap()
                .map(|e| e.code),
            None
        );
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"error":1}"#,
            br#"{"error":{"code":null}}"#,
            br#"{"error":{},"error":{}}"#,
        ] {
            assert!(end_stream_error(bad).is_err());
        }
        assert_eq!(
            end_stream_error(br#"{"error":{"code":"not_found","message":"x"}}"#)
                .unwrap()
                .map(|e| e.code),
            Some("not_found".to_string())
        );
    }
}
