//! What the daemon says about files: `EntryInfo` (protobuf JSON: `FILE_TYPE_*` enums, `size`
//! as a string, `modifiedTime` as RFC 3339) and the `/files` upload answer.

use crate::error::{Error, ErrorKind, Result};
use crate::info::Timestamp;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::collections::BTreeMap;

/// The kind of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    File,
    Dir,
    Symlink,
}

impl FileType {
    /// `file`, `dir`, `symlink`: the `e2b` package's values.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "dir",
            FileType::Symlink => "symlink",
        }
    }

    fn from_wire(s: &str) -> Option<FileType> {
        match s {
            "FILE_TYPE_FILE" | "file" => Some(FileType::File),
            "FILE_TYPE_DIRECTORY" | "dir" | "directory" => Some(FileType::Dir),
            "FILE_TYPE_SYMLINK" | "symlink" => Some(FileType::Symlink),
            _ => None,
        }
    }
}

/// A file, directory or symlink in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub name: String,
    /// `None` for kinds the SDK does not know (devices, sockets); lists leave those out.
    pub file_type: Option<FileType>,
    /// Absolute.
    pub path: String,
    pub size: u64,
    /// Unix mode bits.
    pub mode: u32,
    /// `-rw-r--r--`.
    pub permissions: String,
    pub owner: String,
    pub group: String,
    pub modified_time: Option<Timestamp>,
    pub symlink_target: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteInfo {
    pub name: String,
    pub path: String,
    pub file_type: Option<FileType>,
    pub metadata: BTreeMap<String, String>,
}

/// A 64-bit integer sent as a string (protobuf JSON) or as a number.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an unsigned integer or a string holding one")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<u64, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<u64, E> {
            v.parse()
                .map_err(|_| E::custom(format!("{v:?} is not an unsigned integer")))
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<u64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEntry {
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    file_type: Option<String>,
    #[serde(default)]
    path: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    size: u64,
    #[serde(default)]
    mode: u32,
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    group: String,
    modified_time: Option<String>,
    symlink_target: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

impl From<WireEntry> for EntryInfo {
    fn from(w: WireEntry) -> Self {
        EntryInfo {
            name: w.name,
            file_type: w.file_type.as_deref().and_then(FileType::from_wire),
            path: w.path,
            size: w.size,
            mode: w.mode,
            permissions: w.permissions,
            owner: w.owner,
            group: w.group,
            modified_time: w
                .modified_time
                .as_deref()
                .and_then(Timestamp::parse_rfc3339),
            symlink_target: w.symlink_target,
            metadata: w.metadata.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct EntryResponse {
    entry: Option<WireEntry>,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(default)]
    entries: Vec<WireEntry>,
}

#[derive(Deserialize)]
struct WireWritten {
    #[serde(default)]
    name: String,
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    file_type: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    crate::json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Sandbox,
            format!("the sandbox's daemon sent a message the SDK cannot read: {e}"),
        )
    })
}

/// `{entry}` of Stat, Move, MakeDir; `missing` is the error when there is none.
pub(crate) fn entry_response(body: &[u8], missing: &str) -> Result<EntryInfo> {
    decode::<EntryResponse>(body)?
        .entry
        .map(EntryInfo::from)
        .ok_or_else(|| Error::new(ErrorKind::Sandbox, missing))
}

pub(crate) fn entry_message(entry: Option<WireEntryRef>) -> Option<EntryInfo> {
    entry.map(|e| e.0.into())
}

/// An `EntryInfo` inside another message (watch events).
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct WireEntryRef(WireEntry);

/// `{entries}` of ListDir, without the kinds the SDK does not know.
pub(crate) fn list_response(body: &[u8]) -> Result<Vec<EntryInfo>> {
    Ok(decode::<ListResponse>(body)?
        .entries
        .into_iter()
        .map(EntryInfo::from)
        .filter(|e| e.file_type.is_some())
        .collect())
}

/// The JSON array `/files` answers an upload with.
pub(crate) fn write_infos(body: &[u8]) -> Result<Vec<WriteInfo>> {
    Ok(decode::<Vec<WireWritten>>(body)?
        .into_iter()
        .map(|w| WriteInfo {
            name: w.name,
            path: w.path,
            file_type: w.file_type.as_deref().and_then(FileType::from_wire),
            metadata: w.metadata.unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_stat_answer() {
        let body = br#"{"entry":{"name":"a.txt","type":"FILE_TYPE_FILE","path":"/home/user/a.txt","size":"12","mode":420,"permissions":"-rw-r--r--","owner":"user","group":"user","modifiedTime":"2026-01-02T03:04:05.678Z","metadata":{"k":"v"}}}"#;
        let e = entry_response(body, "none").unwrap();
        assert_eq!(e.file_type, Some(FileType::File));
        assert_eq!(e.size, 12);
        assert_eq!(e.mode, 0o644);
        assert_eq!(
            e.modified_time.unwrap().to_rfc3339(),
            "2026-01-02T03:04:05.678Z"
        );
        assert_eq!(e.metadata.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn sizes_may_be_numbers_and_unknown_kinds_are_left_out_of_lists() {
        let body = br#"{"entries":[{"name":"d","type":"FILE_TYPE_DIRECTORY","path":"/d","size":4096},{"name":"sock","type":"FILE_TYPE_UNSPECIFIED","path":"/sock"},{"name":"e","path":"/e"}]}"#;
        let entries = list_response(body).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].size, 4096);
        assert_eq!(entries[0].file_type, Some(FileType::Dir));
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        assert!(entry_response(b"{}", "missing").is_err());
        assert!(entry_response(br#"{"entry":{"size":"-1"}}"#, "m").is_err());
        assert!(write_infos(b"not json").is_err());
        assert_eq!(
            write_infos(br#"[{"name":"x","path":"/x","type":"file"}]"#).unwrap()[0].file_type,
            Some(FileType::File)
        );
    }
}
