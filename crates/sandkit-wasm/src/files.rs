//! Files in a sandbox: the low-level calls `js/wrap.mjs` builds `sandbox.files` on (the same
//! surface as the napi binding's, less `filesOpenWrite`: here the data of a write, a stream
//! included, goes to `fetch` as it is, without passing through wasm memory).

use crate::convert::{
    arg_value, array_of, opt_string_arg, or_reject, promise, read_opts, run, run_map, string_arg,
};
use crate::sandbox::{Sandbox, undefined};
use js_sys::{Array, Date, Object, Promise, Reflect, Uint8Array};
use sandkit::files::{FileData, WriteEntry};
use sandkit::js_options;
use sandkit::{Op, Result};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// How much a read hands across at most per call.
const READ_BATCH: usize = 1 << 20;

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn opt_str(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

fn metadata(m: &std::collections::BTreeMap<String, String>) -> JsValue {
    if m.is_empty() {
        return JsValue::UNDEFINED;
    }
    let obj = Object::new();
    for (k, v) in m {
        set(&obj, k, &JsValue::from_str(v));
    }
    obj.into()
}

fn entry(e: &sandkit::files::EntryInfo) -> JsValue {
    let obj = Object::new();
    set(&obj, "name", &JsValue::from_str(&e.name));
    set(&obj, "type", &opt_str(e.file_type.map(|t| t.as_str())));
    set(&obj, "path", &JsValue::from_str(&e.path));
    set(&obj, "size", &JsValue::from_f64(e.size as f64));
    set(&obj, "mode", &JsValue::from(e.mode));
    set(&obj, "permissions", &JsValue::from_str(&e.permissions));
    set(&obj, "owner", &JsValue::from_str(&e.owner));
    set(&obj, "group", &JsValue::from_str(&e.group));
    let modified = e.modified_time.map_or(JsValue::UNDEFINED, |t| {
        Date::new(&JsValue::from_f64(t.unix_millis() as f64)).into()
    });
    set(&obj, "modifiedTime", &modified);
    set(&obj, "symlinkTarget", &opt_str(e.symlink_target.as_deref()));
    set(&obj, "metadata", &metadata(&e.metadata));
    obj.into()
}

fn written(w: &sandkit::files::WriteInfo) -> JsValue {
    let obj = Object::new();
    set(&obj, "name", &JsValue::from_str(&w.name));
    set(&obj, "type", &opt_str(w.file_type.map(|t| t.as_str())));
    set(&obj, "path", &JsValue::from_str(&w.path));
    set(&obj, "metadata", &metadata(&w.metadata));
    obj.into()
}

/// `{ path, data }[]` read for the core, which checks it: each `path` as it is, each `data`
/// kept a JavaScript value (`fetch` sends it as it is).
fn write_entries(v: &JsValue) -> Result<Vec<WriteEntry>> {
    let given = if Array::is_array(v) {
        let array: &Array = v.unchecked_ref();
        let mut items = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            // Field by field: `data` may be a large buffer, never to be walked as options.
            let field =
                |key: &str| Reflect::get(&item, &JsValue::from_str(key)).unwrap_or_default();
            let path = arg_value(&field("path"), &format!("files[{i}].path"))?;
            items.push((path, Ok(FileData::Host(field("data")))));
        }
        js_options::EntriesGiven::Items(items)
    } else {
        js_options::EntriesGiven::NotAnArray(arg_value(v, "files")?)
    };
    js_options::write_entries(given)
}

#[wasm_bindgen]
impl Sandbox {
    #[wasm_bindgen(js_name = filesReadStream, unchecked_return_type = "Promise<FileReader>")]
    pub fn files_read_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op = read_opts(opts, js_options::files_opts)
            .map(|o| self.inner.files().read_stream(&path, &o.0));
        run_map(op, |stream| {
            JsValue::from(FileReader {
                inner: Rc::new(RefCell::new(Some(Box::new(stream)))),
                cancelled: Rc::default(),
            })
        })
    }

    #[wasm_bindgen(js_name = filesWrite, unchecked_return_type = "Promise<WriteInfo>")]
    pub fn files_write(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(js_name = dataIn, unchecked_param_type = "string | Uint8Array")]
        data_in: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesWriteOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op = read_opts(opts, js_options::write_opts)
            .map(|o| self.inner.files().write(&path, FileData::Host(data_in), &o));
        run_map(op, |info| written(&info))
    }

    #[wasm_bindgen(js_name = filesWriteMany, unchecked_return_type = "Promise<WriteInfo[]>")]
    pub fn files_write_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FilesWriteEntry[]")] entries: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesWriteOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let opts = read_opts(opts, js_options::write_opts);
        let op = write_entries(&entries).and_then(|entries| {
            let o = opts?;
            Ok(self.inner.files().write_files(entries, &o))
        });
        run_map(op, |infos| array_of(&infos, written))
    }

    #[wasm_bindgen(js_name = filesList, unchecked_return_type = "Promise<EntryInfo[]>")]
    pub fn files_list(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op = read_opts(opts, js_options::files_opts)
            .map(|(opts, depth)| self.inner.files().list(&path, depth, &opts));
        run_map(op, |entries| array_of(&entries, entry))
    }

    #[wasm_bindgen(js_name = filesExists, unchecked_return_type = "Promise<boolean>")]
    pub fn files_exists(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op =
            read_opts(opts, js_options::files_opts).map(|o| self.inner.files().exists(&path, &o.0));
        run_map(op, JsValue::from)
    }

    #[wasm_bindgen(js_name = filesGetInfo, unchecked_return_type = "Promise<EntryInfo>")]
    pub fn files_get_info(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op = read_opts(opts, js_options::files_opts)
            .map(|o| self.inner.files().get_info(&path, &o.0));
        run_map(op, |e| entry(&e))
    }

    #[wasm_bindgen(js_name = filesRemove, unchecked_return_type = "Promise<void>")]
    pub fn files_remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op =
            read_opts(opts, js_options::files_opts).map(|o| self.inner.files().remove(&path, &o.0));
        run_map(op, undefined)
    }

    #[wasm_bindgen(js_name = filesRename, unchecked_return_type = "Promise<EntryInfo>")]
    pub fn files_rename(
        &self,
        #[wasm_bindgen(js_name = oldPath, unchecked_param_type = "string")] old_path: JsValue,
        #[wasm_bindgen(js_name = newPath, unchecked_param_type = "string")] new_path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let old_path = or_reject!(string_arg(&old_path, "oldPath"));
        let new_path = or_reject!(string_arg(&new_path, "newPath"));
        let op = read_opts(opts, js_options::files_opts)
            .map(|o| self.inner.files().rename(&old_path, &new_path, &o.0));
        run_map(op, |e| entry(&e))
    }

    #[wasm_bindgen(js_name = filesMakeDir, unchecked_return_type = "Promise<boolean>")]
    pub fn files_make_dir(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let op = read_opts(opts, js_options::files_opts)
            .map(|o| self.inner.files().make_dir(&path, &o.0));
        run_map(op, JsValue::from)
    }

    #[wasm_bindgen(js_name = filesWatchDir, unchecked_return_type = "Promise<FileWatcher>")]
    pub fn files_watch_dir(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FilesWatchOpts | null")] opts: Option<
            JsValue,
        >,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let files = self.inner.files();
        let op = read_opts(opts, js_options::watch_opts).map(|o| files.watch_dir(&path, &o));
        run_map(op, |handle| {
            JsValue::from(FileWatcher {
                stopper: handle.stopper(),
                inner: Rc::new(RefCell::new(Some(Box::new(handle)))),
            })
        })
    }

    /// A URL that uploads a file with a multipart POST and no headers.
    #[wasm_bindgen(js_name = uploadUrl, unchecked_return_type = "Promise<string>")]
    pub fn upload_url(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] path: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "FileUrlOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(opt_string_arg(path, "path"));
        let url = read_opts(opts, js_options::url_opts)
            .and_then(|o| self.inner.files().upload_url(path.as_deref(), &o));
        run(Op::ready(url.map(|u| JsValue::from_str(&u))))
    }

    /// A URL that downloads a file with a plain GET.
    #[wasm_bindgen(js_name = downloadUrl, unchecked_return_type = "Promise<string>")]
    pub fn download_url(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FileUrlOpts | null")] opts: Option<JsValue>,
    ) -> Promise {
        let path = or_reject!(string_arg(&path, "path"));
        let url = read_opts(opts, js_options::url_opts)
            .and_then(|o| self.inner.files().download_url(&path, &o));
        run(Op::ready(url.map(|u| JsValue::from_str(&u))))
    }
}

fn busy() -> sandkit::Error {
    sandkit::Error::new(
        sandkit::ErrorKind::Sandbox,
        "another call on this handle is still in flight",
    )
}

/// A file being read: `nextChunk()` until it returns `null`.
#[wasm_bindgen]
pub struct FileReader {
    // Taken out while a call is in flight and put back after: never borrowed across an await.
    inner: Rc<RefCell<Option<Box<sandkit::files::FileStream>>>>,
    /// Set by `cancel()`, which may come while a read is in flight.
    cancelled: Rc<std::cell::Cell<bool>>,
}

#[wasm_bindgen]
impl FileReader {
    /// The next piece of the file (what has arrived, up to 1 MiB); `null` at the end.
    #[wasm_bindgen(js_name = nextChunk, unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn next_chunk(&self) -> Promise {
        let slot = Rc::clone(&self.inner);
        let cancelled = Rc::clone(&self.cancelled);
        promise(Box::pin(async move {
            let Some(mut stream) = slot.try_borrow_mut().map_err(|_| busy())?.take() else {
                return Ok(JsValue::NULL);
            };
            let chunk = stream.next_batch(READ_BATCH).await?;
            let Some(chunk) = chunk.filter(|_| !cancelled.get()) else {
                return Ok(JsValue::NULL);
            };
            *slot.try_borrow_mut().map_err(|_| busy())? = Some(stream);
            Ok(Uint8Array::from(chunk.as_ref()).into())
        }))
    }

    /// Stops reading and closes the connection.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self) -> Promise {
        self.cancelled.set(true);
        if let Ok(mut slot) = self.inner.try_borrow_mut() {
            slot.take();
        }
        run(Op::ready(Ok(JsValue::UNDEFINED)))
    }
}

/// A running watch: `nextEvent()` until it returns `null`; `stop()` ends it.
#[wasm_bindgen]
pub struct FileWatcher {
    stopper: sandkit::files::WatchStopper,
    inner: Rc<RefCell<Option<Box<sandkit::files::WatchHandle>>>>,
}

#[wasm_bindgen]
impl FileWatcher {
    #[wasm_bindgen(js_name = nextEvent, unchecked_return_type = "Promise<FilesystemEvent | null>")]
    pub fn next_event(&self) -> Promise {
        let slot = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let Some(mut handle) = slot.try_borrow_mut().map_err(|_| busy())?.take() else {
                return Ok(JsValue::NULL);
            };
            let Some(event) = handle.next_event().await? else {
                return Ok(JsValue::NULL);
            };
            *slot.try_borrow_mut().map_err(|_| busy())? = Some(handle);
            let obj = Object::new();
            set(&obj, "name", &JsValue::from_str(&event.name));
            set(&obj, "type", &JsValue::from_str(event.event_type.as_str()));
            set(
                &obj,
                "entry",
                &event.entry.as_ref().map_or(JsValue::UNDEFINED, entry),
            );
            Ok(obj.into())
        }))
    }

    pub fn stop(&self) {
        self.stopper.stop();
    }
}
