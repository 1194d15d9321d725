//! Files in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.files` on. File
//! contents cross in batches (reads) and chunks (streamed writes), never as one copy of a
//! whole large file.

use crate::convert::{JsAnyArg, WriteEntriesArg, date, guarded, guarded_sync, opt_arg, read_opts};
use crate::sandbox::Sandbox;
use chrono::{DateTime, Utc};
use napi::Either;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use sandkit::files::FileData;
use sandkit::js_options;
use sandkit::transport::{TransportError, TransportErrorKind};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How much a read hands across at most per call.
const READ_BATCH: usize = 256 << 10;
/// Chunks a streamed write may have in flight before `write()` waits.
const WRITE_QUEUE: usize = 4;

/// A file, directory or symlink.
#[napi(object)]
pub struct EntryInfo {
    pub name: String,
    /// `file`, `dir` or `symlink`.
    #[napi(js_name = "type")]
    pub file_type: Option<String>,
    pub path: String,
    pub size: f64,
    pub mode: u32,
    pub permissions: String,
    pub owner: String,
    pub group: String,
    pub modified_time: Option<DateTime<Utc>>,
    /// Present (and `undefined`) when there is none, as in the `e2b` package.
    #[napi(ts_type = "string | undefined")]
    pub symlink_target: Either<String, ()>,
    #[napi(ts_type = "Record<string, string> | undefined")]
    pub metadata: Either<HashMap<String, String>, ()>,
}

/// A written file.
#[napi(object)]
pub struct WriteInfo {
    pub name: String,
    #[napi(js_name = "type")]
    pub file_type: Option<String>,
    pub path: String,
    /// Present (and `undefined`) when there is none, as in the `e2b` package.
    #[napi(ts_type = "Record<string, string> | undefined")]
    pub metadata: Either<HashMap<String, String>, ()>,
}

/// A change under a watched directory.
#[napi(object)]
pub struct FilesystemEvent {
    pub name: String,
    /// `create`, `write`, `remove`, `rename` or `chmod`.
    #[napi(js_name = "type")]
    pub event_type: String,
    pub entry: Option<EntryInfo>,
}

fn metadata(m: std::collections::BTreeMap<String, String>) -> Either<HashMap<String, String>, ()> {
    if m.is_empty() {
        Either::B(())
    } else {
        Either::A(m.into_iter().collect())
    }
}

fn entry(e: sandkit::files::EntryInfo) -> EntryInfo {
    EntryInfo {
        name: e.name,
        file_type: e.file_type.map(|t| t.as_str().to_string()),
        path: e.path,
        size: e.size as f64,
        mode: e.mode,
        permissions: e.permissions,
        owner: e.owner,
        group: e.group,
        modified_time: e.modified_time.map(date),
        symlink_target: e.symlink_target.map_or(Either::B(()), Either::A),
        metadata: metadata(e.metadata),
    }
}

fn written(w: sandkit::files::WriteInfo) -> WriteInfo {
    WriteInfo {
        name: w.name,
        file_type: w.file_type.map(|t| t.as_str().to_string()),
        path: w.path,
        metadata: metadata(w.metadata),
    }
}

fn data(d: Either<String, Uint8Array>) -> FileData {
    match d {
        Either::A(s) => FileData::from(s),
        Either::B(b) => FileData::from(b.to_vec()),
    }
}

#[napi]
impl Sandbox {
    #[napi]
    pub async fn files_read_stream(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<FileReader> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            let stream = files
                .read_stream(&path, &read_opts(opts, js_options::files_opts)?.0)
                .await?;
            Ok(FileReader {
                inner: Arc::new(Mutex::new(Some(stream))),
            })
        })
        .await
    }

    #[napi]
    pub async fn files_write(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        data_in: Either<String, Uint8Array>,
        #[napi(ts_arg_type = "FilesWriteOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<WriteInfo> {
        let files = self.inner.files();
        let body = data(data_in);
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            Ok(written(
                files
                    .write(&path, body, &read_opts(opts, js_options::write_opts)?)
                    .await?,
            ))
        })
        .await
    }

    #[napi]
    pub async fn files_write_many(
        &self,
        #[napi(ts_arg_type = "Array<FilesWriteEntry>")] entries: WriteEntriesArg,
        #[napi(ts_arg_type = "FilesWriteOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Vec<WriteInfo>> {
        let files = self.inner.files();
        guarded(async move {
            let entries = js_options::write_entries(entries.0)?;
            let infos = files
                .write_files(entries, &read_opts(opts, js_options::write_opts)?)
                .await?;
            Ok(infos.into_iter().map(written).collect())
        })
        .await
    }

    /// Starts a streamed write: chunks go in with `write()`, `finish()` gives the result.
    #[napi]
    pub async fn files_open_write(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesWriteOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<FileWriter> {
        let files = self.inner.files();
        let (path, opts) = guarded_sync(|| {
            let path = js_options::string_arg(path.0, "path")?;
            Ok((path, read_opts(opts, js_options::write_opts)?))
        })?;
        let (tx, rx) = mpsc::channel::<Result<bytes::Bytes, TransportError>>(WRITE_QUEUE);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let (done, task) = oneshot::channel();
        // Driven on its own while JavaScript feeds chunks through `write()`.
        napi::bindgen_prelude::spawn(async move {
            let result = files
                .write(&path, FileData::Stream(Box::pin(stream)), &opts)
                .await;
            let _ = done.send(result);
        });
        Ok(FileWriter {
            tx: Mutex::new(Some(tx)),
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    #[napi]
    pub async fn files_list(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<Vec<EntryInfo>> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            let (opts, depth) = read_opts(opts, js_options::files_opts)?;
            let entries = files.list(&path, depth, &opts).await?;
            Ok(entries.into_iter().map(entry).collect())
        })
        .await
    }

    #[napi]
    pub async fn files_exists(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<bool> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            files
                .exists(&path, &read_opts(opts, js_options::files_opts)?.0)
                .await
        })
        .await
    }

    #[napi]
    pub async fn files_get_info(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<EntryInfo> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            Ok(entry(
                files
                    .get_info(&path, &read_opts(opts, js_options::files_opts)?.0)
                    .await?,
            ))
        })
        .await
    }

    #[napi]
    pub async fn files_remove(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<()> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            files
                .remove(&path, &read_opts(opts, js_options::files_opts)?.0)
                .await
        })
        .await
    }

    #[napi]
    pub async fn files_rename(
        &self,
        #[napi(ts_arg_type = "string")] old_path: JsAnyArg,
        #[napi(ts_arg_type = "string")] new_path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<EntryInfo> {
        let files = self.inner.files();
        guarded(async move {
            let old_path = js_options::string_arg(old_path.0, "oldPath")?;
            let new_path = js_options::string_arg(new_path.0, "newPath")?;
            Ok(entry(
                files
                    .rename(
                        &old_path,
                        &new_path,
                        &read_opts(opts, js_options::files_opts)?.0,
                    )
                    .await?,
            ))
        })
        .await
    }

    #[napi]
    pub async fn files_make_dir(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<bool> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            files
                .make_dir(&path, &read_opts(opts, js_options::files_opts)?.0)
                .await
        })
        .await
    }

    #[napi]
    pub async fn files_watch_dir(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FilesWatchOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<FileWatcher> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            let handle = files
                .watch_dir(&path, &read_opts(opts, js_options::watch_opts)?)
                .await?;
            Ok(FileWatcher {
                stopper: handle.stopper(),
                inner: Arc::new(Mutex::new(Some(handle))),
            })
        })
        .await
    }

    /// A URL that uploads a file with a multipart POST and no headers.
    #[napi]
    pub async fn upload_url(
        &self,
        #[napi(ts_arg_type = "string | undefined | null")] path: Option<JsAnyArg>,
        #[napi(ts_arg_type = "FileUrlOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::opt_string_arg(opt_arg(path), "path")?;
            files.upload_url(path.as_deref(), &read_opts(opts, js_options::url_opts)?)
        })
        .await
    }

    /// A URL that downloads a file with a plain GET.
    #[napi]
    pub async fn download_url(
        &self,
        #[napi(ts_arg_type = "string")] path: JsAnyArg,
        #[napi(ts_arg_type = "FileUrlOpts | undefined | null")] opts: Option<JsAnyArg>,
    ) -> napi::Result<String> {
        let files = self.inner.files();
        guarded(async move {
            let path = js_options::string_arg(path.0, "path")?;
            files.download_url(&path, &read_opts(opts, js_options::url_opts)?)
        })
        .await
    }
}

/// A file being read: `nextChunk()` until it returns `null`.
#[napi]
pub struct FileReader {
    inner: Arc<Mutex<Option<sandkit::files::FileStream>>>,
}

#[napi]
impl FileReader {
    /// The next piece of the file (what has arrived, up to 256 KiB); `null` at the end.
    #[napi]
    pub async fn next_chunk(&self) -> napi::Result<Option<Uint8Array>> {
        let inner = self.inner.clone();
        guarded(async move {
            let mut slot = inner.lock().await;
            let Some(stream) = slot.as_mut() else {
                return Ok(None);
            };
            let chunk = stream.next_batch(READ_BATCH).await?;
            if chunk.is_none() {
                *slot = None;
            }
            Ok(chunk.map(|b| Uint8Array::from(Vec::from(b))))
        })
        .await
    }

    /// Stops reading and closes the connection.
    #[napi]
    pub async fn cancel(&self) -> napi::Result<()> {
        self.inner.lock().await.take();
        Ok(())
    }
}

/// A streamed write in progress.
#[napi]
pub struct FileWriter {
    tx: Mutex<Option<mpsc::Sender<Result<bytes::Bytes, TransportError>>>>,
    task: Arc<Mutex<Option<oneshot::Receiver<sandkit::Result<sandkit::files::WriteInfo>>>>>,
}

async fn outcome(
    task: &Mutex<Option<oneshot::Receiver<sandkit::Result<sandkit::files::WriteInfo>>>>,
) -> sandkit::Result<sandkit::files::WriteInfo> {
    let Some(handle) = task.lock().await.take() else {
        return Err(sandkit::Error::new(
            sandkit::ErrorKind::Sandbox,
            "the write has already finished",
        ));
    };
    handle.await.unwrap_or_else(|_| {
        Err(sandkit::Error::new(
            sandkit::ErrorKind::Sandbox,
            "internal error in sandkit (a bug): the upload task was abandoned",
        ))
    })
}

#[napi]
impl FileWriter {
    /// Queues a chunk; waits while the upload is behind.
    #[napi]
    pub async fn write(&self, chunk: Uint8Array) -> napi::Result<()> {
        let bytes = bytes::Bytes::copy_from_slice(&chunk);
        let tx = self.tx.lock().await.clone();
        let task = self.task.clone();
        guarded(async move {
            let Some(tx) = tx else {
                return Err(sandkit::Error::new(
                    sandkit::ErrorKind::Sandbox,
                    "the write has already finished",
                ));
            };
            if tx.send(Ok(bytes)).await.is_err() {
                // The upload ended early: its error says why.
                return outcome(&task).await.map(drop);
            }
            Ok(())
        })
        .await
    }

    /// Ends the file; the result of the upload.
    #[napi]
    pub async fn finish(&self) -> napi::Result<WriteInfo> {
        self.tx.lock().await.take();
        let task = self.task.clone();
        guarded(async move { Ok(written(outcome(&task).await?)) }).await
    }

    /// Abandons the write; the file keeps its previous contents.
    #[napi]
    pub async fn abort(&self, reason: Option<String>) -> napi::Result<()> {
        if let Some(tx) = self.tx.lock().await.take() {
            let reason = reason.unwrap_or_else(|| "the write was aborted".into());
            let _ = tx
                .send(Err(TransportError::new(TransportErrorKind::Other, reason)))
                .await;
        }
        let _ = outcome(&self.task).await;
        Ok(())
    }
}

/// A running watch: `nextEvent()` until it returns `null`; `stop()` ends it.
#[napi]
pub struct FileWatcher {
    stopper: sandkit::files::WatchStopper,
    inner: Arc<Mutex<Option<sandkit::files::WatchHandle>>>,
}

#[napi]
impl FileWatcher {
    #[napi]
    pub async fn next_event(&self) -> napi::Result<Option<FilesystemEvent>> {
        let inner = self.inner.clone();
        guarded(async move {
            let mut slot = inner.lock().await;
            let Some(handle) = slot.as_mut() else {
                return Ok(None);
            };
            let event = handle.next_event().await;
            if !matches!(event, Ok(Some(_))) {
                *slot = None;
            }
            Ok(event?.map(|e| FilesystemEvent {
                name: e.name,
                event_type: e.event_type.as_str().to_string(),
                entry: e.entry.map(entry),
            }))
        })
        .await
    }

    #[napi]
    pub fn stop(&self) {
        self.stopper.stop();
    }
}
