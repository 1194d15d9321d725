//! `sandbox.files`: read, write, list, move, remove and watch the sandbox's files.
//!
//! File bodies travel as streams: reads come chunk by chunk ([`FileStream`]), writes take a
//! stream ([`FileData::Stream`]), and neither is held whole unless the caller asks for it.
//!
//! ```no_run
//! use sandkit::{Sandbox, SandboxOpts, files::{FileData, FsOpts, WriteOpts}};
//! # async fn demo() -> sandkit::Result<()> {
//! let sandbox = Sandbox::create(SandboxOpts::new()).await?;
//! let files = sandbox.files();
//! files.write("notes.txt", FileData::from("hello"), &WriteOpts::default()).await?;
//! let text = files.read("notes.txt", &FsOpts::default()).await?;
//! assert_eq!(&text[..], b"hello");
//! # Ok(()) }
//! ```

mod entry;
mod signature;
mod watch;

pub use entry::{EntryInfo, FileType, WriteInfo};
pub use signature::{sign, signature_for};
pub use watch::{
    DEFAULT_WATCH_TIMEOUT, EventType, FilesystemEvent, WatchHandle, WatchOpts, WatchStopper,
};

use crate::envd::Envd;
use crate::envd::connect::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::json::Writer;
use crate::maybe_send::BoxStream;
use crate::maybe_send::MaybeSend;
use crate::op::{Answer, Op, Request};
use crate::transport::{Body, BodyPart, Method, RequestBody, TransportError};
use crate::wire::metadata::form_encode;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use std::collections::BTreeMap;

/// Options every filesystem call takes.
#[derive(Debug, Clone, Default)]
pub struct FsOpts {
    /// Whose home relative paths resolve against, and who owns what is created; the
    /// sandbox's default user (`user`) when unset.
    pub user: Option<String>,
    /// This call's `requestTimeoutMs` (0 for none); the sandbox's when unset.
    pub request_timeout_ms: Option<u64>,
}

/// Options of [`Files::write`] and [`Files::write_files`].
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub user: Option<String>,
    /// This call's `requestTimeoutMs` (0 for none); the sandbox's when unset.
    pub request_timeout_ms: Option<u64>,
    /// Stored with the file (as `user.e2b.<key>` extended attributes by E2B's daemon); keys
    /// are HTTP tokens, values printable ASCII.
    pub metadata: BTreeMap<String, String>,
}

/// The contents of a file to write.
pub enum FileData {
    Bytes(Bytes),
    /// Uploaded as it is produced.
    Stream(BoxStream<'static, std::result::Result<Bytes, TransportError>>),
    /// A JavaScript value `fetch` accepts as a body (`Blob`, typed array, string,
    /// `ReadableStream`), handed over without passing through wasm memory.
    #[cfg(target_arch = "wasm32")]
    Host(wasm_bindgen::JsValue),
}

impl std::fmt::Debug for FileData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileData::Bytes(b) => write!(f, "FileData::Bytes({} bytes)", b.len()),
            FileData::Stream(_) => f.write_str("FileData::Stream"),
            #[cfg(target_arch = "wasm32")]
            FileData::Host(_) => f.write_str("FileData::Host"),
        }
    }
}

impl From<Bytes> for FileData {
    fn from(b: Bytes) -> Self {
        FileData::Bytes(b)
    }
}
impl From<Vec<u8>> for FileData {
    fn from(b: Vec<u8>) -> Self {
        FileData::Bytes(b.into())
    }
}
impl From<&str> for FileData {
    fn from(s: &str) -> Self {
        FileData::Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}
impl From<String> for FileData {
    fn from(s: String) -> Self {
        FileData::Bytes(s.into())
    }
}

impl FileData {
    fn into_part(self) -> BodyPart {
        match self {
            FileData::Bytes(b) => BodyPart::Bytes(b),
            FileData::Stream(s) => BodyPart::Stream(s),
            #[cfg(target_arch = "wasm32")]
            FileData::Host(v) => BodyPart::Host(v),
        }
    }
}

/// One file of [`Files::write_files`].
#[derive(Debug)]
pub struct WriteEntry {
    pub path: String,
    pub data: FileData,
}

/// Options of [`Files::upload_url`] and [`Files::download_url`].
#[derive(Debug, Clone, Default)]
pub struct UrlOpts {
    pub user: Option<String>,
    /// How many seconds from now the signature stays valid (negative: already expired);
    /// forever when unset. Only for sandboxes with an access token (created `secure`).
    pub signature_expiration: Option<i64>,
}

/// The files of one sandbox; from [`crate::Sandbox::files`].
#[derive(Debug, Clone)]
pub struct Files {
    envd: Envd,
    /// Where signed URLs point (no routing headers can go with them).
    direct_url: String,
}

/// `{"path":…}` (`PathRequest`), left open for more members.
fn path_request(key: &str, path: &str) -> Writer {
    let mut w = Writer::new();
    w.begin_object();
    w.field_str(key, path);
    w
}

/// `?path=…[&username=…]`, encoded as `URLSearchParams` does.
fn file_query(path: Option<&str>, user: Option<&str>) -> String {
    let mut q = String::new();
    let mut add = |k: &str, v: &str| {
        q.push(if q.is_empty() { '?' } else { '&' });
        q.push_str(k);
        q.push('=');
        q.push_str(&form_encode(v));
    };
    if let Some(u) = user {
        add("username", u);
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        add("path", p);
    }
    q
}

fn is_metadata_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `X-Metadata-<key>` headers, after the checks the official SDK makes.
fn metadata_headers(metadata: &BTreeMap<String, String>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(metadata.len());
    for (k, v) in metadata {
        // JSON quoting rather than `{k:?}`, whose escaping brings Unicode tables into wasm.
        let quoted = crate::json::quote(k);
        if !is_metadata_key(k) {
            return Err(Error::invalid_argument(format!(
                "Invalid metadata key {quoted}: keys must be non-empty and use only HTTP token characters (letters, digits and !#$%&'*+-.^_`|~)."
            )));
        }
        if !v.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(Error::invalid_argument(format!(
                "Invalid metadata value for key {quoted}: values must be printable US-ASCII."
            )));
        }
        out.push((format!("x-metadata-{}", k.to_ascii_lowercase()), v.clone()));
    }
    Ok(out)
}

/// `filename="…"` as browsers write it: quotes and line breaks percent-encoded.
fn quoted_filename(path: &str) -> String {
    path.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn check_path(path: &str) -> Result<()> {
    check_named_path("path", path)
}

/// A path the filesystem can have: no NUL (the kernel would cut it there).
fn check_named_path(name: &str, path: &str) -> Result<()> {
    if path.contains('\0') {
        return Err(Error::invalid_argument(format!(
            "{name} cannot contain a NUL byte"
        )));
    }
    Ok(())
}

/// `Op::ready` of the error when `$check` fails.
macro_rules! checked {
    ($check:expr) => {
        if let Err(e) = $check {
            return Op::ready(Err(e));
        }
    };
}

impl Files {
    pub(crate) fn new(envd: Envd, direct_url: String) -> Self {
        Files { envd, direct_url }
    }

    /// A call to the filesystem service (`request` is closed here); `finish` reads the
    /// answer or the error.
    fn rpc<T: 'static>(
        &self,
        method: &str,
        mut request: Writer,
        opts: &FsOpts,
        finish: impl FnOnce(Result<Bytes>) -> Result<T> + MaybeSend + 'static,
    ) -> Op<T> {
        request.end_object();
        let rpc = format!("filesystem.Filesystem/{method}");
        Op::rpc(
            &self.envd.for_call(opts.request_timeout_ms),
            &rpc,
            request.finish(),
            opts.user.as_deref(),
            Context::Files,
            finish,
        )
    }

    /// An HTTP call to `/files`, whose non-2xx answers are errors.
    fn files_request(
        &self,
        method: Method,
        query: String,
        headers: Vec<(String, String)>,
        body: Option<RequestBody>,
        stream: bool,
        request_timeout_ms: Option<u64>,
    ) -> Request {
        let path = format!("/files{query}");
        let envd = self.envd.for_call(request_timeout_ms);
        crate::op::http(&envd, method, path, headers, body, true, stream)
    }

    /// A `POST /files` of `parts`: one file at `path`, or a multipart body (`None`).
    fn upload(
        &self,
        path: Option<&str>,
        headers: Headers,
        parts: Vec<BodyPart>,
        opts: &WriteOpts,
    ) -> Request {
        let query = file_query(path, opts.user.as_deref());
        let body = Some(RequestBody::Parts(parts));
        let timeout = opts.request_timeout_ms;
        self.files_request(Method::Post, query, headers, body, false, timeout)
    }

    /// Reads a whole file.
    pub async fn read(&self, path: &str, opts: &FsOpts) -> Result<Bytes> {
        check_path(path)?;
        let response = self
            .envd
            .for_call(opts.request_timeout_ms)
            .http_ok(
                Method::Get,
                &format!("/files{}", file_query(Some(path), opts.user.as_deref())),
                identity(),
                None,
                false,
            )
            .await?;
        let expected = expected_length(&response.headers);
        let body = response.body.bytes().await.map_err(read_error)?;
        match expected {
            Some(n) if n != body.len() as u64 => Err(read_error(short(body.len() as u64, n))),
            _ => Ok(body),
        }
    }

    /// Opens a file for reading chunk by chunk. The request timeout bounds only the opening.
    pub fn read_stream(&self, path: &str, opts: &FsOpts) -> Op<FileStream> {
        Op::build(check_path(path).map(|()| {
            let query = file_query(Some(path), opts.user.as_deref());
            let timeout = opts.request_timeout_ms;
            let request = self.files_request(Method::Get, query, identity(), None, true, timeout);
            Op::new(request, |answer| {
                let response = Answer::http(answer)?;
                let expected = expected_length(&response.headers);
                let body = match response.body {
                    Body::Stream(s) => s,
                    Body::Full(b) => Box::pin(futures_util::stream::iter([Ok(b)])),
                };
                Ok(FileStream {
                    body: checked_length(body, expected),
                    done: false,
                })
            })
        }))
    }

    /// Writes one file, creating its parent directories; an existing file is replaced.
    pub fn write(&self, path: &str, data: FileData, opts: &WriteOpts) -> Op<WriteInfo> {
        let headers = check_path(path).and_then(|()| metadata_headers(&opts.metadata));
        Op::build(headers.map(|mut headers| {
            headers.push(("content-type".into(), "application/octet-stream".into()));
            let request = self.upload(Some(path), headers, vec![data.into_part()], opts);
            Op::new(request, |answer| {
                entry::write_infos(&Answer::body(answer)?)?
                    .into_iter()
                    .next()
                    .ok_or_else(not_written)
            })
        }))
    }

    /// Writes several files in one request (multipart).
    pub fn write_files(&self, files: Vec<WriteEntry>, opts: &WriteOpts) -> Op<Vec<WriteInfo>> {
        if files.is_empty() {
            return Op::ready(Ok(Vec::new()));
        }
        Op::build(self.multipart(files, opts).map(|(headers, parts)| {
            let request = self.upload(None, headers, parts, opts);
            Op::new(request, |answer| {
                let infos = entry::write_infos(&Answer::body(answer)?)?;
                if infos.is_empty() {
                    return Err(not_written());
                }
                Ok(infos)
            })
        }))
    }

    /// The headers and the body parts of a multipart upload.
    fn multipart(
        &self,
        files: Vec<WriteEntry>,
        opts: &WriteOpts,
    ) -> Result<(Headers, Vec<BodyPart>)> {
        let mut headers = metadata_headers(&opts.metadata)?;
        let random = self.envd.config().client().runtime().random();
        let boundary = format!("sandkit-{:016x}", (random * u64::MAX as f64) as u64);
        headers.push((
            "content-type".into(),
            format!("multipart/form-data; boundary={boundary}"),
        ));
        let mut parts = Vec::with_capacity(files.len() * 2 + 1);
        for (i, f) in files.into_iter().enumerate() {
            check_path(&f.path)?;
            let head = format!(
                "{}--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                if i == 0 { "" } else { "\r\n" },
                quoted_filename(&f.path)
            );
            parts.push(BodyPart::Bytes(head.into()));
            parts.push(f.data.into_part());
        }
        parts.push(BodyPart::Bytes(format!("\r\n--{boundary}--\r\n").into()));
        Ok((headers, parts))
    }

    /// The entries of a directory, `depth` levels down (at least 1).
    pub fn list(&self, path: &str, depth: u32, opts: &FsOpts) -> Op<Vec<EntryInfo>> {
        checked!(check_path(path));
        if depth < 1 {
            return Op::ready(Err(Error::invalid_argument("depth should be at least one")));
        }
        let mut request = path_request("path", path);
        request.field_u64("depth", depth.into());
        self.rpc("ListDir", request, opts, |body| {
            entry::list_response(&body?)
        })
    }

    /// Whether the path exists.
    pub fn exists(&self, path: &str, opts: &FsOpts) -> Op<bool> {
        self.get_info(path, opts).then(|info| match info {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::FileNotFound => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// What is at the path.
    pub fn get_info(&self, path: &str, opts: &FsOpts) -> Op<EntryInfo> {
        checked!(check_path(path));
        let request = path_request("path", path);
        self.rpc("Stat", request, opts, |body| {
            entry::entry_response(
                &body?,
                "Expected to receive information about the file or directory",
            )
        })
    }

    /// Removes a file or a directory with everything in it.
    pub fn remove(&self, path: &str, opts: &FsOpts) -> Op<()> {
        checked!(check_path(path));
        let request = path_request("path", path);
        self.rpc("Remove", request, opts, |body| body.map(drop))
    }

    /// Moves a file or directory; returns what is at the new path.
    pub fn rename(&self, old_path: &str, new_path: &str, opts: &FsOpts) -> Op<EntryInfo> {
        checked!(check_named_path("oldPath", old_path));
        checked!(check_named_path("newPath", new_path));
        let mut request = path_request("source", old_path);
        request.field_str("destination", new_path);
        self.rpc("Move", request, opts, |body| {
            entry::entry_response(&body?, "Expected to receive information about moved object")
        })
    }

    /// Creates a directory and its parents: `false` if it already existed.
    pub fn make_dir(&self, path: &str, opts: &FsOpts) -> Op<bool> {
        checked!(check_path(path));
        let request = path_request("path", path);
        self.rpc("MakeDir", request, opts, |body| match body {
            Ok(_) => Ok(true),
            Err(e) if crate::envd::connect::has_code(&e, "already_exists") => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// Watches a directory; events arrive through [`WatchHandle::next_event`].
    pub fn watch_dir(&self, path: &str, opts: &WatchOpts) -> Op<WatchHandle> {
        checked!(check_path(path));
        watch::start_op(&self.envd, path, opts)
    }

    /// A URL that uploads to `path` with a multipart POST and no headers (signed when the
    /// sandbox has an access token).
    pub fn upload_url(&self, path: Option<&str>, opts: &UrlOpts) -> Result<String> {
        self.file_url(path.unwrap_or(""), "write", opts)
    }

    /// A URL that downloads `path` with a plain GET.
    pub fn download_url(&self, path: &str, opts: &UrlOpts) -> Result<String> {
        self.file_url(path, "read", opts)
    }

    fn file_url(&self, path: &str, operation: &str, opts: &UrlOpts) -> Result<String> {
        check_path(path)?;
        let user = opts.user.as_deref();
        let mut url = format!("{}/files{}", self.direct_url, file_query(Some(path), user));
        let Some(token) = self.envd.access_token() else {
            if opts.signature_expiration.is_some() {
                return Err(Error::invalid_argument(
                    "Signature expiration can be used only when sandbox is created as secured.",
                ));
            }
            return Ok(url);
        };
        let expiration = opts.signature_expiration.map(|secs| {
            let now_s = (self.envd.config().client().runtime().now_ms() / 1000.0).floor() as i64;
            now_s.saturating_add(secs)
        });
        let signature = sign(path, operation, user.unwrap_or(""), token, expiration);
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("signature=");
        url.push_str(&form_encode(&signature));
        if let Some(exp) = expiration {
            url.push_str(&format!("&signature_expiration={exp}"));
        }
        Ok(url)
    }
}

type Headers = Vec<(String, String)>;

fn not_written() -> Error {
    Error::new(
        ErrorKind::Sandbox,
        "Expected to receive information about written file",
    )
}

pub(crate) fn read_error(e: TransportError) -> Error {
    Error::new(
        ErrorKind::Connection,
        format!(
            "the connection to the sandbox broke while reading: {}",
            e.message
        ),
    )
}

/// Downloads ask for the file as it is: then its `Content-Length` tells a whole answer from
/// one cut short (Node's `fetch` ends a gzip body cut by a reset as if it were whole). Browsers
/// choose the encoding themselves (see the fetch transport) and report a cut body as an error.
fn identity() -> Vec<(String, String)> {
    vec![("accept-encoding".to_string(), "identity".to_string())]
}

/// The length the answer announced for its body as it arrives: its `Content-Length`, unless a
/// `Content-Encoding` means the transport decodes it into another length.
fn expected_length(headers: &crate::transport::ResponseHeaders) -> Option<u64> {
    let encoded = headers
        .get("content-encoding")
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    if encoded {
        return None;
    }
    crate::wire::parse_u64(headers.get("content-length")?.trim())
}

fn short(got: u64, expected: u64) -> TransportError {
    TransportError::new(
        crate::transport::TransportErrorKind::Reset,
        format!("the file's answer brought {got} bytes where its Content-Length said {expected}"),
    )
}

/// `body`, whose end is an error when it brought other than `expected` bytes: some runtimes'
/// `fetch` end a body cut by a reset as if it were whole.
fn checked_length(
    body: BoxStream<'static, std::result::Result<Bytes, TransportError>>,
    expected: Option<u64>,
) -> BoxStream<'static, std::result::Result<Bytes, TransportError>> {
    let Some(expected) = expected else {
        return body;
    };
    Box::pin(futures_util::stream::unfold(
        Some((body, 0u64)),
        move |state| async move {
            let (mut body, got) = state?;
            match body.next().await {
                Some(Ok(chunk)) => {
                    let got = got + chunk.len() as u64;
                    if got > expected {
                        return Some((Err(short(got, expected)), None));
                    }
                    Some((Ok(chunk), Some((body, got))))
                }
                Some(Err(e)) => Some((Err(e), None)),
                None if got != expected => Some((Err(short(got, expected)), None)),
                None => None,
            }
        },
    ))
}

/// A file being read: its contents chunk by chunk, as they arrive.
pub struct FileStream {
    body: BoxStream<'static, std::result::Result<Bytes, TransportError>>,
    /// The body has ended (a finished stream must not be polled again).
    done: bool,
}

/// What [`FileStream::next_batch`] waits to gather before it hands a piece over.
pub const MIN_BATCH: usize = 64 * 1024;

impl std::fmt::Debug for FileStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileStream")
    }
}

impl FileStream {
    /// The next chunk; `None` at the end of the file.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        let chunk = self.body.next().await.transpose().map_err(read_error)?;
        self.done = chunk.is_none();
        Ok(chunk)
    }

    /// The next piece of the file, up to about `max` bytes: chunks are gathered until at
    /// least [`MIN_BATCH`] bytes (or the end) have come, then whatever else has already
    /// arrived is added. Fewer, larger pieces for a binding to hand across, since each
    /// crossing costs (on wasm a `fetch` body arrives in 4–16 KiB chunks).
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Bytes>> {
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut len = 0;
        while len < max && !self.done {
            let next = if len < MIN_BATCH.min(max) {
                Some(self.body.next().await)
            } else {
                self.body.next().now_or_never()
            };
            let Some(next) = next else {
                break;
            };
            match next.transpose().map_err(read_error)? {
                Some(chunk) => {
                    len += chunk.len();
                    pieces.push(chunk);
                }
                None => self.done = true,
            }
        }
        Ok(match pieces.len() {
            0 => None,
            1 => pieces.pop(),
            _ => {
                let mut all = Vec::with_capacity(len);
                for p in &pieces {
                    all.extend_from_slice(p);
                }
                Some(Bytes::from(all))
            }
        })
    }
}

impl futures_util::Stream for FileStream {
    type Item = Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        let polled = self.body.poll_next_unpin(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.done = true;
        }
        polled.map(|c| c.map(|r| r.map_err(read_error)))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_body_of_another_length_than_announced_is_an_error() {
        use futures_util::FutureExt;
        let run = |chunks: &[&'static str], expected: Option<u64>| {
            let body = futures_util::stream::iter(
                chunks
                    .iter()
                    .map(|c| Ok(Bytes::from_static(c.as_bytes())))
                    .collect::<Vec<_>>(),
            );
            let stream = FileStream {
                body: checked_length(Box::pin(body), expected),
                done: false,
            };
            stream
                .collect::<Vec<_>>()
                .now_or_never()
                .unwrap()
                .into_iter()
                .collect::<Result<Vec<_>>>()
                .map(|c| c.concat())
        };
        assert_eq!(run(&["ab", "cd"], Some(4)).unwrap(), b"abcd");
        assert_eq!(run(&["ab", "cd"], None).unwrap(), b"abcd");
        for (chunks, n) in [(&["ab"][..], 4), (&["ab", "cde"][..], 4), (&[][..], 1)] {
            let e = run(chunks, Some(n)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
            assert!(e.message().contains("Content-Length said"), "{e}");
        }
        let h = |pairs: &[(&str, &str)]| {
            crate::transport::ResponseHeaders::from_pairs(pairs.iter().copied())
        };
        assert_eq!(expected_length(&h(&[("content-length", " 12 ")])), Some(12));
        assert_eq!(
            expected_length(&h(&[
                ("content-length", "12"),
                ("content-encoding", "gzip")
            ])),
            None
        );
        assert_eq!(expected_length(&h(&[("content-length", "x")])), None);
    }

    use super::*;

    #[test]
    fn queries_are_encoded_like_url_search_params() {
        assert_eq!(
            file_query(Some("/home/user/a b.txt"), None),
            "?path=%2Fhome%2Fuser%2Fa+b.txt"
        );
        assert_eq!(file_query(Some("x"), Some("root")), "?username=root&path=x");
        assert_eq!(file_query(None, None), "");
        assert_eq!(file_query(Some(""), Some("user")), "?username=user");
    }

    #[test]
    fn metadata_is_checked_as_the_official_sdk_checks_it() {
        let m = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            metadata_headers(&m("Owner", "me")).unwrap(),
            vec![("x-metadata-owner".to_string(), "me".to_string())]
        );
        assert!(metadata_headers(&m("", "x")).is_err());
        assert!(metadata_headers(&m("a b", "x")).is_err());
        assert!(metadata_headers(&m("k", "caf\u{e9}")).is_err());
        assert!(metadata_headers(&m("k", "line\nbreak")).is_err());
    }

    #[test]
    fn filenames_cannot_break_out_of_their_quotes() {
        assert_eq!(quoted_filename("a\"b\r\nc"), "a%22b%0D%0Ac");
    }
}
