//! What the daemon says about files: `EntryInfo` (protobuf JSON: `FILE_TYPE_*` enums, `size`
//! as a string, `modifiedTime` as RFC 3339) and the `/files` upload answer.

use crate::error::{Error, ErrorKind, Result};
use crate::info::Timestamp;
use crate::json::{self, JsonError, Obj, Value, owned};
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

/// A 64-bit integer sent as a string (protobuf JSON) or as a number; `null` is zero.
fn lenient_u64(v: &Value<'_>) -> json::Result<u64> {
    if v.is_null() {
        return Ok(0);
    }
    let Ok(text) = v.as_str() else {
        return v
            .u64()
            .map_err(|_| v.invalid_type("an unsigned integer or a string holding one"));
    };
    crate::wire::parse_u64(text)
        .ok_or_else(|| JsonError::custom(format!("\"{text}\" is not an unsigned integer")))
}

fn file_type(o: Obj<'_, '_>) -> json::Result<Option<FileType>> {
    Ok(o.opt("type")?
        .map(Value::as_str)
        .transpose()?
        .and_then(FileType::from_wire))
}

/// An `EntryInfo` message. Every field is checked before any is copied (see `json`).
pub(crate) fn entry_from_json(v: &Value<'_>) -> json::Result<EntryInfo> {
    let o = v.object()?;
    let [name, path] = [o.str_or_empty("name")?, o.str_or_empty("path")?];
    let file_type = file_type(o)?;
    let size = o.get("size")?.map_or(Ok(0), lenient_u64)?;
    let mode = o.u32_or_zero("mode")?;
    let [permissions, owner, group] = [
        o.str_or_empty("permissions")?,
        o.str_or_empty("owner")?,
        o.str_or_empty("group")?,
    ];
    let [modified, symlink_target] = [o.opt_str("modifiedTime")?, o.opt_str("symlinkTarget")?];
    let metadata = o.opt_string_object("metadata")?;
    Ok(EntryInfo {
        name: name.into(),
        file_type,
        path: path.into(),
        size,
        mode,
        permissions: permissions.into(),
        owner: owner.into(),
        group: group.into(),
        modified_time: modified.and_then(Timestamp::parse_rfc3339),
        symlink_target: owned(symlink_target),
        metadata: metadata.map(Obj::to_string_map).unwrap_or_default(),
    })
}

/// A daemon's message read by `read`; one that does not read is a `SandboxError`.
pub(crate) fn decode<T>(bytes: &[u8], read: fn(&Value<'_>) -> json::Result<T>) -> Result<T> {
    json::parse(bytes).and_then(|v| read(&v)).map_err(|e| {
        Error::new(
            ErrorKind::Sandbox,
            format!("the sandbox's daemon sent a message the SDK cannot read: {e}"),
        )
    })
}

/// `{entry}` of Stat, Move, MakeDir; `missing` is the error when there is none.
pub(crate) fn entry_response(body: &[u8], missing: &str) -> Result<EntryInfo> {
    decode(body, |v| {
        v.object()?.opt("entry")?.map(entry_from_json).transpose()
    })?
    .ok_or_else(|| Error::new(ErrorKind::Sandbox, missing))
}

/// `{entries}` of ListDir, without the kinds the SDK does not know.
pub(crate) fn list_response(body: &[u8]) -> Result<Vec<EntryInfo>> {
    let mut entries = decode(body, |v| match v.object()?.get("entries")? {
        Some(list) => json::read_all(list.array()?, entry_from_json),
        None => Ok(Vec::new()),
    })?;
    entries.retain(|e| e.file_type.is_some());
    Ok(entries)
}

/// The JSON array `/files` answers an upload with.
pub(crate) fn write_infos(body: &[u8]) -> Result<Vec<WriteInfo>> {
    decode(body, |v| json::read_all(v.array()?, write_info))
}

fn write_info(w: &Value<'_>) -> json::Result<WriteInfo> {
    let o = w.object()?;
    let [name, path] = [o.str_or_empty("name")?, o.str_or_empty("path")?];
    let file_type = file_type(o)?;
    let metadata = o.opt_string_object("metadata")?;
    Ok(WriteInfo {
        name: name.into(),
        path: path.into(),
        file_type,
        metadata: metadata.map(Obj::to_string_map).unwrap_or_default(),
    })
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
    fn lenient_fields_default() {
        let e = entry_response(
            br#"{"entry":{"size":null,"type":null,"modifiedTime":"not a date","symlinkTarget":null,"metadata":null}}"#,
            "m",
        )
        .unwrap();
        assert_eq!((e.size, e.file_type, e.modified_time), (0, None, None));
        assert_eq!(e.symlink_target, None);
        assert!(e.metadata.is_empty());
        let e = entry_response(
            br#"{"entry":{"size":"18446744073709551615","x":[{}]}}"#,
            "m",
        );
        assert_eq!(e.unwrap().size, u64::MAX);
        assert!(list_response(b"{}").unwrap().is_empty());
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
        assert!(entry_response(br#"{"entry":null}"#, "missing").is_err());
        assert!(entry_response(br#"{"entry":{"size":"-1"}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"size":-1}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"size":1.5}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"size":true}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"name":null}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"mode":-1}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"type":7}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"modifiedTime":7}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"metadata":{"k":1}}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{"name":"a","name":"b"}}"#, "m").is_err());
        assert!(entry_response(br#"{"entry":{}} x"#, "m").is_err());
        assert!(list_response(br#"{"entries":null}"#).is_err());
        assert!(list_response(br#"{"entries":[1]}"#).is_err());
        assert!(write_infos(b"not json").is_err());
        assert!(write_infos(b"{}").is_err());
        assert!(write_infos(br#"[{"path":1}]"#).is_err());
        assert_eq!(
            write_infos(br#"[{"name":"x","path":"/x","type":"file"}]"#).unwrap()[0].file_type,
            Some(FileType::File)
        );
    }
}
