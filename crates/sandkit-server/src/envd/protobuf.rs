//! The binary protobuf codec of the daemon's RPCs, for exactly the messages sandkitd serves.
//!
//! Nothing here knows what a message means: a binary message is decoded into the JSON value
//! the JSON codec would have carried (protobuf's JSON mapping: lowerCamelCase names, enums by
//! name, `bytes` in base64, 64-bit integers as strings, `Timestamp` in RFC 3339), and a
//! response value is encoded from that same JSON. The handlers only ever see JSON; a table per
//! message (below, from `process.proto` and `filesystem.proto`) drives both directions.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    Bytes,
    Bool,
    U32,
    I32,
    S32,
    I64,
    Enum(&'static [(&'static str, i32)]),
    Msg(&'static Message),
    /// `map<string, string>`: entries `{key = 1, value = 2}`; a JSON object.
    StrMap,
    /// `google.protobuf.Timestamp` `{seconds = 1, nanos = 2}`; an RFC 3339 string.
    Time,
}

/// One field: its number, its JSON name, what it holds, whether it repeats.
#[derive(Debug)]
pub struct Field {
    pub number: u32,
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
}

/// A message: its fields.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

const fn f(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: false,
    }
}

const fn rep(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: true,
    }
}

use Kind::{Bool, Bytes, Enum, I32, I64, Msg, S32, Str, StrMap, Time, U32};

// process.proto

pub static EMPTY: Message = Message {
    name: "Empty",
    fields: &[],
};
static PTY_SIZE: Message = Message {
    name: "PTY.Size",
    fields: &[f(1, "cols", U32), f(2, "rows", U32)],
};
static PTY: Message = Message {
    name: "PTY",
    fields: &[f(1, "size", Msg(&PTY_SIZE))],
};
static PROCESS_CONFIG: Message = Message {
    name: "ProcessConfig",
    fields: &[
        f(1, "cmd", Str),
        rep(2, "args", Str),
        f(3, "envs", StrMap),
        f(4, "cwd", Str),
    ],
};
static PROCESS_SELECTOR: Message = Message {
    name: "ProcessSelector",
    fields: &[f(1, "pid", U32), f(2, "tag", Str)],
};
static PROCESS_INPUT: Message = Message {
    name: "ProcessInput",
    fields: &[f(1, "stdin", Bytes), f(2, "pty", Bytes)],
};
static SIGNALS: &[(&str, i32)] = &[
    ("SIGNAL_UNSPECIFIED", 0),
    ("SIGNAL_SIGTERM", 15),
    ("SIGNAL_SIGKILL", 9),
];
pub static START_REQUEST: Message = Message {
    name: "StartRequest",
    fields: &[
        f(1, "process", Msg(&PROCESS_CONFIG)),
        f(2, "pty", Msg(&PTY)),
        f(3, "tag", Str),
        f(4, "stdin", Bool),
    ],
};
/// `ConnectRequest`, `CloseStdinRequest`: `{process: ProcessSelector}`.
pub static SELECT_REQUEST: Message = Message {
    name: "SelectRequest",
    fields: &[f(1, "process", Msg(&PROCESS_SELECTOR))],
};
pub static UPDATE_REQUEST: Message = Message {
    name: "UpdateRequest",
    fields: &[
        f(1, "process", Msg(&PROCESS_SELECTOR)),
        f(2, "pty", Msg(&PTY)),
    ],
};
pub static SEND_INPUT_REQUEST: Message = Message {
    name: "SendInputRequest",
    fields: &[
        f(1, "process", Msg(&PROCESS_SELECTOR)),
        f(2, "input", Msg(&PROCESS_INPUT)),
    ],
};
static STREAM_INPUT_START: Message = Message {
    name: "StreamInputRequest.StartEvent",
    fields: &[f(1, "process", Msg(&PROCESS_SELECTOR))],
};
static STREAM_INPUT_DATA: Message = Message {
    name: "StreamInputRequest.DataEvent",
    fields: &[f(2, "input", Msg(&PROCESS_INPUT))],
};
/// One message of a `StreamInput` stream: a oneof of the three.
pub static STREAM_INPUT_REQUEST: Message = Message {
    name: "StreamInputRequest",
    fields: &[
        f(1, "start", Msg(&STREAM_INPUT_START)),
        f(2, "data", Msg(&STREAM_INPUT_DATA)),
        f(3, "keepalive", Msg(&EMPTY)),
    ],
};
pub static SEND_SIGNAL_REQUEST: Message = Message {
    name: "SendSignalRequest",
    fields: &[
        f(1, "process", Msg(&PROCESS_SELECTOR)),
        f(2, "signal", Enum(SIGNALS)),
    ],
};
static PROCESS_INFO: Message = Message {
    name: "ProcessInfo",
    fields: &[
        f(1, "config", Msg(&PROCESS_CONFIG)),
        f(2, "pid", U32),
        f(3, "tag", Str),
    ],
};
pub static LIST_RESPONSE: Message = Message {
    name: "ListResponse",
    fields: &[rep(1, "processes", Msg(&PROCESS_INFO))],
};
static START_EVENT: Message = Message {
    name: "ProcessEvent.StartEvent",
    fields: &[f(1, "pid", U32)],
};
static DATA_EVENT: Message = Message {
    name: "ProcessEvent.DataEvent",
    fields: &[
        f(1, "stdout", Bytes),
        f(2, "stderr", Bytes),
        f(3, "pty", Bytes),
    ],
};
static END_EVENT: Message = Message {
    name: "ProcessEvent.EndEvent",
    fields: &[
        f(1, "exitCode", S32),
        f(2, "exited", Bool),
        f(3, "status", Str),
        f(4, "error", Str),
    ],
};
static PROCESS_EVENT: Message = Message {
    name: "ProcessEvent",
    fields: &[
        f(1, "start", Msg(&START_EVENT)),
        f(2, "data", Msg(&DATA_EVENT)),
        f(3, "end", Msg(&END_EVENT)),
        f(4, "keepalive", Msg(&EMPTY)),
    ],
};
/// `StartResponse`, `ConnectResponse`: `{event: ProcessEvent}`.
pub static PROCESS_STREAM_RESPONSE: Message = Message {
    name: "StartResponse",
    fields: &[f(1, "event", Msg(&PROCESS_EVENT))],
};

// filesystem.proto

static FILE_TYPES: &[(&str, i32)] = &[
    ("FILE_TYPE_UNSPECIFIED", 0),
    ("FILE_TYPE_FILE", 1),
    ("FILE_TYPE_DIRECTORY", 2),
    ("FILE_TYPE_SYMLINK", 3),
];
static EVENT_TYPES: &[(&str, i32)] = &[
    ("EVENT_TYPE_UNSPECIFIED", 0),
    ("EVENT_TYPE_CREATE", 1),
    ("EVENT_TYPE_WRITE", 2),
    ("EVENT_TYPE_REMOVE", 3),
    ("EVENT_TYPE_RENAME", 4),
    ("EVENT_TYPE_CHMOD", 5),
];
static ENTRY_INFO: Message = Message {
    name: "EntryInfo",
    fields: &[
        f(1, "name", Str),
        f(2, "type", Enum(FILE_TYPES)),
        f(3, "path", Str),
        f(4, "size", I64),
        f(5, "mode", U32),
        f(6, "permissions", Str),
        f(7, "owner", Str),
        f(8, "group", Str),
        f(9, "modifiedTime", Time),
        f(10, "symlinkTarget", Str),
        f(11, "metadata", StrMap),
    ],
};
/// `StatRequest`, `MakeDirRequest`, `RemoveRequest`: `{path}`.
pub static PATH_REQUEST: Message = Message {
    name: "PathRequest",
    fields: &[f(1, "path", Str)],
};
pub static MOVE_REQUEST: Message = Message {
    name: "MoveRequest",
    fields: &[f(1, "source", Str), f(2, "destination", Str)],
};
pub static LIST_DIR_REQUEST: Message = Message {
    name: "ListDirRequest",
    fields: &[f(1, "path", Str), f(2, "depth", U32)],
};
pub static WATCH_DIR_REQUEST: Message = Message {
    name: "WatchDirRequest",
    fields: &[
        f(1, "path", Str),
        f(2, "recursive", Bool),
        f(3, "includeEntry", Bool),
        f(4, "allowNetworkMounts", Bool),
    ],
};
/// `StatResponse`, `MakeDirResponse`, `MoveResponse`: `{entry}`.
pub static ENTRY_RESPONSE: Message = Message {
    name: "EntryResponse",
    fields: &[f(1, "entry", Msg(&ENTRY_INFO))],
};
pub static LIST_DIR_RESPONSE: Message = Message {
    name: "ListDirResponse",
    fields: &[rep(1, "entries", Msg(&ENTRY_INFO))],
};
static FILESYSTEM_EVENT: Message = Message {
    name: "FilesystemEvent",
    fields: &[
        f(1, "name", Str),
        f(2, "type", Enum(EVENT_TYPES)),
        f(3, "entry", Msg(&ENTRY_INFO)),
    ],
};
pub static WATCH_DIR_RESPONSE: Message = Message {
    name: "WatchDirResponse",
    fields: &[
        f(1, "start", Msg(&EMPTY)),
        f(2, "filesystem", Msg(&FILESYSTEM_EVENT)),
        f(3, "keepalive", Msg(&EMPTY)),
    ],
};
/// `CreateWatcherResponse`, `GetWatcherEventsRequest`, `RemoveWatcherRequest`: `{watcherId}`.
pub static WATCHER_ID: Message = Message {
    name: "WatcherId",
    fields: &[f(1, "watcherId", Str)],
};
pub static GET_WATCHER_EVENTS_RESPONSE: Message = Message {
    name: "GetWatcherEventsResponse",
    fields: &[rep(1, "events", Msg(&FILESYSTEM_EVENT))],
};

/// The request and response messages of an RPC sandkitd serves.
pub fn schema(service: &str, method: &str) -> Option<(&'static Message, &'static Message)> {
    Some(match (service, method) {
        ("process.Process", "List") => (&EMPTY, &LIST_RESPONSE),
        ("process.Process", "Start") => (&START_REQUEST, &PROCESS_STREAM_RESPONSE),
        ("process.Process", "Connect") => (&SELECT_REQUEST, &PROCESS_STREAM_RESPONSE),
        ("process.Process", "Update") => (&UPDATE_REQUEST, &EMPTY),
        ("process.Process", "SendInput") => (&SEND_INPUT_REQUEST, &EMPTY),
        ("process.Process", "StreamInput") => (&STREAM_INPUT_REQUEST, &EMPTY),
        ("process.Process", "SendSignal") => (&SEND_SIGNAL_REQUEST, &EMPTY),
        ("process.Process", "CloseStdin") => (&SELECT_REQUEST, &EMPTY),
        ("filesystem.Filesystem", "Stat" | "MakeDir" | "Remove") => (
            &PATH_REQUEST,
            if method == "Remove" {
                &EMPTY
            } else {
                &ENTRY_RESPONSE
            },
        ),
        ("filesystem.Filesystem", "Move") => (&MOVE_REQUEST, &ENTRY_RESPONSE),
        ("filesystem.Filesystem", "ListDir") => (&LIST_DIR_REQUEST, &LIST_DIR_RESPONSE),
        ("filesystem.Filesystem", "WatchDir") => (&WATCH_DIR_REQUEST, &WATCH_DIR_RESPONSE),
        // `CreateWatcherRequest` has `WatchDirRequest`'s fields.
        ("filesystem.Filesystem", "CreateWatcher") => (&WATCH_DIR_REQUEST, &WATCHER_ID),
        ("filesystem.Filesystem", "GetWatcherEvents") => {
            (&WATCHER_ID, &GET_WATCHER_EVENTS_RESPONSE)
        }
        ("filesystem.Filesystem", "RemoveWatcher") => (&WATCHER_ID, &EMPTY),
        _ => return None,
    })
}

// Wire format.

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, number: u32, wire: u32) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn put_len(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_tag(out, number, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The enveloped `StartResponse{event{data{<member>: output}}}` (member 1 stdout, 2 stderr,
/// 3 pty), written straight from the output: going through [`encode`] would base64 it into
/// the JSON form only to decode it again, and output is most of what a process stream sends.
pub fn output_frame(member: u32, output: &[u8]) -> bytes::Bytes {
    fn varint_len(mut v: usize) -> usize {
        let mut n = 1;
        while v >= 0x80 {
            v >>= 7;
            n += 1;
        }
        n
    }
    let data = 1 + varint_len(output.len()) + output.len();
    let event = 1 + varint_len(data) + data;
    let response = 1 + varint_len(event) + event;
    let mut out = Vec::with_capacity(5 + response);
    out.push(0);
    out.extend_from_slice(&(response as u32).to_be_bytes());
    put_tag(&mut out, 1, LEN);
    put_varint(&mut out, event as u64);
    put_tag(&mut out, 2, LEN);
    put_varint(&mut out, data as u64);
    put_len(&mut out, member, output);
    out.into()
}

/// A cursor over a message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

/// One field's value as it came off the wire.
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err("truncated varint".into());
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err("truncated field".into());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field: its number and value; `None` at the end.
    fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        if number == 0 {
            return Err("field number 0".into());
        }
        let value = match (key & 7) as u32 {
            VARINT => Wire::Varint(self.varint()?),
            FIXED64 => {
                let b = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| "fixed64")?))
            }
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
                Wire::Len(self.take(n)?)
            }
            FIXED32 => {
                let b = self.take(4)?;
                Wire::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| "fixed32")?))
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok(Some((number, value)))
    }
}

/// Decodes a binary message into its JSON form. Unknown fields are skipped, as protobuf does.
pub fn decode(msg: &Message, bytes: &[u8]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader { buf: bytes };
    while let Some((number, wire)) = r.field()? {
        let Some(field) = msg.fields.iter().find(|f| f.number == number) else {
            continue;
        };
        let what = || format!("{}.{}", msg.name, field.json);
        if let StrMap = field.kind {
            let Wire::Len(entry) = wire else {
                return Err(format!("{}: a map entry must be length-delimited", what()));
            };
            let (k, v) = map_entry(entry).map_err(|e| format!("{}: {e}", what()))?;
            let slot = out
                .entry(field.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = slot {
                m.insert(k, Value::String(v));
            }
            continue;
        }
        if field.repeated {
            let slot = out
                .entry(field.json)
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else { continue };
            match (field.kind, wire) {
                // Packed numbers.
                (Bool | U32 | I32 | S32 | I64 | Enum(_), Wire::Len(packed)) => {
                    let mut p = Reader { buf: packed };
                    while !p.buf.is_empty() {
                        let v = p.varint().map_err(|e| format!("{}: {e}", what()))?;
                        items.push(
                            scalar(field.kind, Wire::Varint(v))
                                .map_err(|e| format!("{}: {e}", what()))?,
                        );
                    }
                }
                (kind, wire) => {
                    items.push(scalar(kind, wire).map_err(|e| format!("{}: {e}", what()))?)
                }
            }
            continue;
        }
        let value = scalar(field.kind, wire).map_err(|e| format!("{}: {e}", what()))?;
        out.insert(field.json.to_string(), value);
    }
    Ok(Value::Object(out))
}

fn map_entry(bytes: &[u8]) -> Result<(String, String), String> {
    let (mut k, mut v) = (String::new(), String::new());
    let mut r = Reader { buf: bytes };
    while let Some((number, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Len(b)) => k = utf8(b)?,
            (2, Wire::Len(b)) => v = utf8(b)?,
            _ => {}
        }
    }
    Ok((k, v))
}

fn utf8(b: &[u8]) -> Result<String, String> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| "a string is not UTF-8".to_string())
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: what an RFC 3339 timestamp can say.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// One non-map value in its JSON form.
fn scalar(kind: Kind, wire: Wire<'_>) -> Result<Value, String> {
    let mismatch = || "unexpected wire type".to_string();
    Ok(match (kind, wire) {
        (Str, Wire::Len(b)) => Value::String(utf8(b)?),
        (Bytes, Wire::Len(b)) => Value::String(B64.encode(b)),
        (Msg(m), Wire::Len(b)) => decode(m, b)?,
        (Time, Wire::Len(b)) => {
            let (mut seconds, mut nanos) = (0i64, 0i64);
            let mut r = Reader { buf: b };
            while let Some((number, wire)) = r.field()? {
                match (number, wire) {
                    (1, Wire::Varint(v)) => seconds = v as i64,
                    (2, Wire::Varint(v)) => nanos = i64::from(v as i32),
                    _ => {}
                }
            }
            // Protobuf's JSON form has years 1 to 9999 only (found by fuzz/connect: a year
            // 1256286 decoded, then could not be written back).
            if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds)
                || !(0..1_000_000_000).contains(&nanos)
            {
                return Err(format!("a timestamp out of range: {seconds} s {nanos} ns"));
            }
            Value::String(sandkit::wire::time::format_rfc3339_millis(
                seconds * 1000 + nanos / 1_000_000,
            ))
        }
        (Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (U32, Wire::Varint(v)) => Value::from(v as u32),
        (U32, Wire::Fixed32(v)) => Value::from(v),
        (I32, Wire::Varint(v)) => Value::from(v as i32),
        (S32, Wire::Varint(v)) => {
            let v = v as u32;
            Value::from(((v >> 1) as i32) ^ -((v & 1) as i32))
        }
        (I64, Wire::Varint(v)) => Value::String((v as i64).to_string()),
        (I64, Wire::Fixed64(v)) => Value::String((v as i64).to_string()),
        (Enum(names), Wire::Varint(v)) => {
            let n = v as i32;
            match names.iter().find(|(_, num)| *num == n) {
                Some((name, _)) => Value::String((*name).to_string()),
                None => Value::from(n),
            }
        }
        _ => return Err(mismatch()),
    })
}

/// Encodes the JSON form of a message. Fields the message does not have are an error (a bug
/// in the handler that made the value), so are values of the wrong shape.
pub fn encode(msg: &Message, value: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let obj = match value {
        Value::Object(o) => o,
        Value::Null => return Ok(out),
        other => return Err(format!("{}: not an object: {other}", msg.name)),
    };
    for key in obj.keys() {
        if !msg.fields.iter().any(|f| f.json == key) {
            return Err(format!("{} has no field {key}", msg.name));
        }
    }
    for field in msg.fields {
        let Some(v) = obj.get(field.json) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let what = || format!("{}.{}", msg.name, field.json);
        match (field.kind, field.repeated) {
            (StrMap, _) => {
                let Value::Object(m) = v else {
                    return Err(format!("{}: not an object", what()));
                };
                for (k, val) in m {
                    let Value::String(val) = val else {
                        return Err(format!("{}: a value is not a string", what()));
                    };
                    let mut entry = Vec::new();
                    put_len(&mut entry, 1, k.as_bytes());
                    put_len(&mut entry, 2, val.as_bytes());
                    put_len(&mut out, field.number, &entry);
                }
            }
            (kind, true) => {
                let Value::Array(items) = v else {
                    return Err(format!("{}: not an array", what()));
                };
                for item in items {
                    encode_one(&mut out, field.number, kind, item)
                        .map_err(|e| format!("{}: {e}", what()))?;
                }
            }
            (kind, false) => encode_one(&mut out, field.number, kind, v)
                .map_err(|e| format!("{}: {e}", what()))?,
        }
    }
    Ok(out)
}

fn integer(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u as i64))
            .ok_or_else(|| format!("not an integer: {n}")),
        Value::String(s) => s.parse().map_err(|_| format!("not an integer: {s:?}")),
        other => Err(format!("not an integer: {other}")),
    }
}

fn encode_one(out: &mut Vec<u8>, number: u32, kind: Kind, v: &Value) -> Result<(), String> {
    match kind {
        Str => {
            let s = v.as_str().ok_or("not a string")?;
            put_len(out, number, s.as_bytes());
        }
        Bytes => {
            let s = v.as_str().ok_or("not a base64 string")?;
            let b = B64.decode(s).map_err(|e| format!("not base64: {e}"))?;
            put_len(out, number, &b);
        }
        Bool => {
            let b = v.as_bool().ok_or("not a boolean")?;
            put_tag(out, number, VARINT);
            put_varint(out, u64::from(b));
        }
        U32 => {
            let n = integer(v)?;
            let n = u32::try_from(n).map_err(|_| format!("{n} is not a uint32"))?;
            put_tag(out, number, VARINT);
            put_varint(out, u64::from(n));
        }
        I32 => {
            let n = integer(v)?;
            let n = i32::try_from(n).map_err(|_| format!("{n} is not an int32"))?;
            put_tag(out, number, VARINT);
            put_varint(out, i64::from(n) as u64);
        }
        S32 => {
            let n = integer(v)?;
            let n = i32::try_from(n).map_err(|_| format!("{n} is not a sint32"))?;
            put_tag(out, number, VARINT);
            put_varint(out, u64::from(((n << 1) ^ (n >> 31)) as u32));
        }
        I64 => {
            let n = integer(v)?;
            put_tag(out, number, VARINT);
            put_varint(out, n as u64);
        }
        Enum(names) => {
            let n = match v {
                Value::String(s) => names
                    .iter()
                    .find(|(name, _)| name == s)
                    .map(|(_, n)| *n)
                    .ok_or_else(|| format!("unknown enum value {s}"))?,
                other => i32::try_from(integer(other)?).map_err(|_| "enum out of range")?,
            };
            put_tag(out, number, VARINT);
            put_varint(out, i64::from(n) as u64);
        }
        Msg(m) => {
            let b = encode(m, v)?;
            put_len(out, number, &b);
        }
        Time => {
            let s = v.as_str().ok_or("not a timestamp string")?;
            let ms = sandkit::wire::time::parse_rfc3339_millis(s)
                .ok_or_else(|| format!("not an RFC 3339 timestamp: {s}"))?;
            let (seconds, nanos) = (ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000);
            let mut b = Vec::new();
            if seconds != 0 {
                put_tag(&mut b, 1, VARINT);
                put_varint(&mut b, seconds as u64);
            }
            if nanos != 0 {
                put_tag(&mut b, 2, VARINT);
                put_varint(&mut b, nanos as u64);
            }
            put_len(out, number, &b);
        }
        StrMap => return Err("a map inside a list".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_zigzag() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        let v = json!({"event": {"end": {"exitCode": -1, "status": "signal: killed"}}});
        let bytes = encode(&PROCESS_STREAM_RESPONSE, &v).unwrap();
        // event(1) → end(3) → exitCode(1) sint32 -1 = zigzag 1.
        assert_eq!(&bytes[..6], &[0x0a, 20, 0x1a, 18, 0x08, 0x01]);
        assert_eq!(decode(&PROCESS_STREAM_RESPONSE, &bytes).unwrap(), v);
    }

    #[test]
    fn requests_decode_to_the_json_the_handlers_read() {
        // StartRequest{process{cmd:"/bin/sh", args:["-c","echo hi"], envs{A:"1"}}, stdin:false}
        let mut config = Vec::new();
        put_len(&mut config, 1, b"/bin/sh");
        put_len(&mut config, 2, b"-c");
        put_len(&mut config, 2, b"echo hi");
        let mut entry = Vec::new();
        put_len(&mut entry, 1, b"A");
        put_len(&mut entry, 2, b"1");
        put_len(&mut config, 3, &entry);
        let mut req = Vec::new();
        put_len(&mut req, 1, &config);
        put_tag(&mut req, 4, VARINT);
        put_varint(&mut req, 0);
        put_tag(&mut req, 99, VARINT); // unknown: skipped
        put_varint(&mut req, 7);
        assert_eq!(
            decode(&START_REQUEST, &req).unwrap(),
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "echo hi"], "envs": {"A": "1"}}, "stdin": false})
        );
        // SendSignal with an enum number, SendInput with bytes.
        let mut sel = Vec::new();
        put_tag(&mut sel, 1, VARINT);
        put_varint(&mut sel, 42);
        let mut req = Vec::new();
        put_len(&mut req, 1, &sel);
        put_tag(&mut req, 2, VARINT);
        put_varint(&mut req, 9);
        assert_eq!(
            decode(&SEND_SIGNAL_REQUEST, &req).unwrap(),
            json!({"process": {"pid": 42}, "signal": "SIGNAL_SIGKILL"})
        );
        let mut input = Vec::new();
        put_len(&mut input, 1, b"abc");
        let mut req = Vec::new();
        put_len(&mut req, 2, &input);
        assert_eq!(
            decode(&SEND_INPUT_REQUEST, &req).unwrap(),
            json!({"input": {"stdin": "YWJj"}})
        );
        assert!(decode(&START_REQUEST, &[0x0a, 5, 1]).is_err());
        assert!(decode(&START_REQUEST, &[0x0b]).is_err());
    }

    #[test]
    fn output_frames_are_what_encode_writes() {
        for (member, name) in [(1, "stdout"), (2, "stderr"), (3, "pty")] {
            for len in [0, 1, 127, 128, 16_383, 16_384, 40_000] {
                let output: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let value = json!({ "event": { "data": { name: B64.encode(&output) } } });
                let want = encode(&PROCESS_STREAM_RESPONSE, &value).unwrap();
                let frame = output_frame(member, &output);
                assert_eq!(
                    &frame[..5],
                    &[&[0u8][..], &(want.len() as u32).to_be_bytes()].concat()[..]
                );
                assert_eq!(&frame[5..], &want[..], "{name} of {len} bytes");
            }
        }
    }

    #[test]
    fn responses_round_trip() {
        let entry = json!({
            "name": "a.txt", "type": "FILE_TYPE_FILE", "path": "/home/user/a.txt",
            "size": "12", "mode": 420, "permissions": "-rw-r--r--", "owner": "user",
            "group": "user", "modifiedTime": "2026-01-02T03:04:05.678Z",
            "metadata": {"k": "v"}
        });
        let v = json!({"entries": [entry, {"name": "l", "type": "FILE_TYPE_SYMLINK", "symlinkTarget": "/x"}]});
        let bytes = encode(&LIST_DIR_RESPONSE, &v).unwrap();
        assert_eq!(decode(&LIST_DIR_RESPONSE, &bytes).unwrap(), v);
        let v = json!({"filesystem": {"name": "sub/c", "type": "EVENT_TYPE_CHMOD"}});
        let bytes = encode(&WATCH_DIR_RESPONSE, &v).unwrap();
        assert_eq!(decode(&WATCH_DIR_RESPONSE, &bytes).unwrap(), v);
        let v = json!({"keepalive": {}});
        assert_eq!(encode(&WATCH_DIR_RESPONSE, &v).unwrap(), [0x1a, 0]);
        let v = json!({"processes": [{"config": {"cmd": "sleep", "args": ["9"], "envs": {}}, "pid": 7, "tag": "t"}]});
        let bytes = encode(&LIST_RESPONSE, &v).unwrap();
        assert_eq!(
            decode(&LIST_RESPONSE, &bytes).unwrap(),
            json!({"processes": [{"config": {"cmd": "sleep", "args": ["9"]}, "pid": 7, "tag": "t"}]})
        );
        assert!(encode(&EMPTY, &json!({"nope": 1})).is_err());
        assert!(encode(&ENTRY_RESPONSE, &json!({"entry": {"size": "x"}})).is_err());
    }

    #[test]
    fn timestamps_outside_rfc_3339_years_are_refused() {
        let at = |seconds: u64| {
            let mut time = Vec::new();
            put_tag(&mut time, 1, VARINT);
            put_varint(&mut time, seconds);
            let mut entry = Vec::new();
            put_len(&mut entry, 9, &time);
            let mut resp = Vec::new();
            put_len(&mut resp, 1, &entry);
            decode(&ENTRY_RESPONSE, &resp)
        };
        let ok = at(MAX_TIMESTAMP_SECONDS as u64).unwrap();
        assert_eq!(ok["entry"]["modifiedTime"], "9999-12-31T23:59:59.000Z");
        assert!(encode(&ENTRY_RESPONSE, &ok).is_ok());
        assert!(at(MAX_TIMESTAMP_SECONDS as u64 + 1).is_err());
        assert!(
            at(MIN_TIMESTAMP_SECONDS as u64).is_ok(),
            "year 1, negative seconds"
        );
        assert!(at((MIN_TIMESTAMP_SECONDS - 1) as u64).is_err());
    }
}
