//! `filesystem.Filesystem`: Stat, MakeDir, Move, ListDir, Remove; WatchDir is in [`super::watch`],
//! the polling watchers (CreateWatcher, GetWatcherEvents, RemoveWatcher) in [`super::watchers`].

use super::connect::{self, RpcError};
use super::fs::{Entry, FileType, FsError, SandboxFs};
use super::process::resolve_path;
use super::{Call, user_of};
use crate::live::LiveSandbox;
use crate::sandbox::User;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
struct PathRequest {
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct ListRequest {
    #[serde(default)]
    path: String,
    #[serde(default)]
    depth: u32,
}

#[derive(Deserialize)]
struct MoveRequest {
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
}

impl From<FsError> for RpcError {
    fn from(e: FsError) -> RpcError {
        let code = match e {
            FsError::NotFound(_) => "not_found",
            FsError::AlreadyExists(_) => "already_exists",
            FsError::Invalid(_) => "invalid_argument",
            FsError::NoSpace(_) => "resource_exhausted",
            FsError::PermissionDenied(_) => "permission_denied",
            FsError::Other(_) => "internal",
        };
        RpcError::new(code, e.message())
    }
}

/// The sandbox's filesystem as `user` sees it (what it creates is the user's).
pub fn sandbox_fs(live: &LiveSandbox, user: &User) -> Result<SandboxFs, FsError> {
    SandboxFs::open(live.handle.root(), live.handle.ids(), user)
}

/// `EntryInfo` in protobuf's JSON mapping (zero values left out, `size` as a string).
pub fn entry_json(e: &Entry) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("name".into(), json!(e.name));
    let t = match e.file_type {
        FileType::File => Some("FILE_TYPE_FILE"),
        FileType::Directory => Some("FILE_TYPE_DIRECTORY"),
        FileType::Symlink => Some("FILE_TYPE_SYMLINK"),
        FileType::Other => None,
    };
    if let Some(t) = t {
        v.insert("type".into(), json!(t));
    }
    v.insert("path".into(), json!(e.path));
    if e.size != 0 {
        v.insert("size".into(), json!(e.size.to_string()));
    }
    if e.mode != 0 {
        v.insert("mode".into(), json!(e.mode));
    }
    v.insert("permissions".into(), json!(e.permissions));
    v.insert("owner".into(), json!(e.owner));
    v.insert("group".into(), json!(e.group));
    v.insert(
        "modifiedTime".into(),
        json!(sandkit::wire::time::format_rfc3339_millis(
            e.modified_unix_ms
        )),
    );
    if let Some(t) = &e.symlink_target {
        v.insert("symlinkTarget".into(), json!(t));
    }
    if !e.metadata.is_empty() {
        v.insert("metadata".into(), json!(e.metadata));
    }
    Value::Object(v)
}

pub async fn dispatch(live: Arc<LiveSandbox>, method: &str, call: Call) -> Response {
    if method == "WatchDir" {
        return super::watch::watch_dir(live, call).await;
    }
    if matches!(
        method,
        "CreateWatcher" | "GetWatcherEvents" | "RemoveWatcher"
    ) {
        return super::watchers::dispatch(live, method, call).await;
    }
    let encoder = call.encoder();
    let result = async {
        let body = call.unary_message()?;
        let user = user_of(&live, &call)?;
        let home = user.home.clone();
        let live = live.clone();
        let method = method.to_string();
        tokio::task::spawn_blocking(move || -> Result<Value, RpcError> {
            let fs = sandbox_fs(&live, &user)?;
            let path = |p: &str| resolve_path(p, &home);
            match method.as_str() {
                "Stat" => {
                    let req: PathRequest = connect::decode(&body)?;
                    Ok(json!({ "entry": entry_json(&fs.stat(&path(&req.path))?) }))
                }
                "MakeDir" => {
                    let req: PathRequest = connect::decode(&body)?;
                    Ok(json!({ "entry": entry_json(&fs.make_dir(&path(&req.path))?) }))
                }
                "Move" => {
                    let req: MoveRequest = connect::decode(&body)?;
                    let e = fs.rename(&path(&req.source), &path(&req.destination))?;
                    Ok(json!({ "entry": entry_json(&e) }))
                }
                "ListDir" => {
                    let req: ListRequest = connect::decode(&body)?;
                    let entries = fs.list(&path(&req.path), req.depth)?;
                    let entries: Vec<Value> = entries.iter().map(entry_json).collect();
                    Ok(json!({ "entries": entries }))
                }
                "Remove" => {
                    let req: PathRequest = connect::decode(&body)?;
                    fs.remove(&path(&req.path))?;
                    Ok(json!({}))
                }
                other => Err(RpcError::new(
                    "unimplemented",
                    format!("filesystem.Filesystem/{other} is not served"),
                )),
            }
        })
        .await
        .map_err(|e| RpcError::internal(format!("filesystem task: {e}")))?
    }
    .await;
    match result {
        Ok(v) => encoder.unary_ok(&v),
        Err(e) => connect::unary_error(&e),
    }
}
