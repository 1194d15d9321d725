//! `GET /files` (download) and `POST /files` (upload, multipart or raw), streamed both ways:
//! a file's bytes never sit whole in memory. Uploads may be gzipped (`Content-Encoding:
//! gzip`); downloads are gzipped when `Accept-Encoding` prefers it, and honour a single
//! `Range`.
//!
//! Auth, as envd does it: an `X-Access-Token` header, which must match; without one, a URL
//! signature (`v1_` + `base64(sha256("<path>:<read|write>:<username>:<token>[:<expiry>]"))`),
//! computed over the query values as given and checked for expiry after it matches.

use super::filesystem::sandbox_fs;
use super::fs::FsError;
use super::process::resolve_path;
use super::rest_error;
use crate::auth::constant_time_eq;
use crate::live::LiveSandbox;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, LazyLock};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;
/// How much of a refused upload's body is read (and thrown away) so that the client, still
/// sending, gets the answer instead of a broken pipe; past it the connection is closed.
const DRAIN_LIMIT: u64 = 1 << 30;
/// envd's bounds on file metadata: the xattr name (`user.e2b.` + key) fits in 255 bytes, and
/// all names and values together in one 4 KiB filesystem block.
const MAX_METADATA_KEY: usize = 255 - super::fs::xattr::PREFIX.len();
const MAX_METADATA_TOTAL: usize = 4096;

/// A refusal: the status and message of the `{code, message}` answer.
type Reject = (StatusCode, String);

fn reply(r: Reject) -> Response {
    rest_error(r.0, &r.1)
}

/// The raw (still percent-encoded) value of a query parameter, and its decoded form.
pub(super) fn query_param<'a>(query: &'a str, name: &str) -> Option<(&'a str, String)> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| (v, percent_decode(v)))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the request's URL signature was made with this sandbox's token. Signed URLs made
/// with `E2B_SANDBOX_URL` name no sandbox: the signature is how sandkitd finds it.
pub fn signed_by(live: &LiveSandbox, query: &str, op: &str) -> bool {
    let Some((_, sig)) = query_param(query, "signature") else {
        return false;
    };
    // The values as given (decoded from the query, not resolved against a home directory).
    let path = query_param(query, "path").map_or_else(String::new, |(_, v)| v);
    let user = query_param(query, "username").map_or_else(String::new, |(_, v)| v);
    // The SDK's own signing: the server checks exactly what the client computes.
    let expiration = match query_param(query, "signature_expiration") {
        None => None,
        Some((_, v)) => match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => return false,
        },
    };
    let expected = sandkit::files::sign(&path, op, &user, &live.envd_token, expiration);
    constant_time_eq(sig.as_bytes(), expected.as_bytes())
}

/// `read` for GET, `write` for POST.
pub fn operation(method: &Method) -> Option<&'static str> {
    match *method {
        Method::GET => Some("read"),
        Method::POST => Some("write"),
        _ => None,
    }
}

fn authorize(live: &LiveSandbox, req: &Request, query: &str, op: &str) -> Result<(), Reject> {
    let unauthorized = |m: &str| (StatusCode::UNAUTHORIZED, m.to_string());
    if let Some(given) = req.headers().get("x-access-token") {
        return if constant_time_eq(given.as_bytes(), live.envd_token.as_bytes()) {
            Ok(())
        } else {
            Err(unauthorized(
                "access token present in header but does not match",
            ))
        };
    }
    if query_param(query, "signature").is_none() {
        return Err(unauthorized(
            "unauthorized access, please provide a valid access token or method signing if supported",
        ));
    }
    if !signed_by(live, query, op) {
        return Err(unauthorized("invalid signature"));
    }
    if let Some((exp, _)) = query_param(query, "signature_expiration") {
        let exp: i64 = exp
            .parse()
            .map_err(|_| unauthorized("invalid signature expiration"))?;
        if exp < crate::store::now_ns() / 1_000_000_000 {
            return Err(unauthorized("signature is already expired"));
        }
    }
    Ok(())
}

fn fs_error(e: FsError) -> Reject {
    let status = match e {
        FsError::NotFound(_) => StatusCode::NOT_FOUND,
        FsError::Invalid(_) | FsError::AlreadyExists(_) => StatusCode::BAD_REQUEST,
        FsError::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        // As envd answers a write it could not make: 500.
        FsError::PermissionDenied(_) | FsError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.message().to_string())
}

pub async fn handle(live: Arc<LiveSandbox>, req: Request) -> Response {
    let query = req.uri().query().unwrap_or("").to_string();
    let Some(op) = operation(req.method()) else {
        return rest_error(StatusCode::METHOD_NOT_ALLOWED, "/files takes GET or POST");
    };
    if let Err(r) = authorize(&live, &req, &query, op) {
        return refuse(req.into_body(), r).await;
    }
    let username = query_param(&query, "username").map_or_else(|| "user".to_string(), |(_, u)| u);
    let Some(user) = live.handle.user(&username) else {
        let r = (
            StatusCode::UNAUTHORIZED,
            format!("error looking up user '{username}': user: unknown user {username}"),
        );
        return refuse(req.into_body(), r).await;
    };
    let path = query_param(&query, "path")
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
        .map(|p| resolve_path(&p, &user.home));
    if op == "read" {
        let path = path.unwrap_or_else(|| user.home.clone());
        download(&live, &user, path, req.headers()).await
    } else {
        upload(&live, &user, path, req).await
    }
}

/// Answers `r` once the rest of `body` has been read (up to [`DRAIN_LIMIT`]): a client
/// still sending an upload then reads the answer rather than a broken pipe.
async fn refuse(body: Body, r: Reject) -> Response {
    super::drain(&mut body.into_data_stream(), DRAIN_LIMIT).await;
    reply(r)
}

/// The rest of a multipart upload, read and thrown away as [`super::drain`] does.
async fn drain_multipart(multipart: &mut Multipart) {
    let mut read = 0u64;
    while read < DRAIN_LIMIT {
        let Ok(Some(mut field)) = multipart.next_field().await else {
            return;
        };
        while read < DRAIN_LIMIT {
            match field.chunk().await {
                Ok(Some(chunk)) => read += chunk.len() as u64,
                _ => break,
            }
        }
    }
}

async fn download(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: String,
    headers: &HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .map(|v| v.to_str().unwrap_or(""));
    let Some(encoding) = negotiate(accept) else {
        return rest_error(
            StatusCode::NOT_ACCEPTABLE,
            "no acceptable content encoding (gzip or identity)",
        );
    };
    let (live2, user2, path2) = (live.clone(), user.clone(), path.clone());
    let opened = tokio::task::spawn_blocking(move || {
        let fs = sandbox_fs(&live2, &user2)?;
        let file = fs.open_read(&path2)?;
        with_true_size(file).map_err(|e| FsError::Other(format!("reading {path2}: {e}")))
    })
    .await;
    let (file, len) = match opened {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return reply(fs_error(e)),
        Err(e) => return rest_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // A range is answered as asked, uncompressed; `If-Range` cannot match (no validators are
    // sent), so with it the whole file is sent, as HTTP has it.
    let range = match headers.get(header::RANGE) {
        Some(r) if !headers.contains_key(header::IF_RANGE) => {
            parse_range(r.to_str().unwrap_or(""), len)
        }
        _ => None,
    };
    let mut res = match range {
        Some(Err(Unsatisfiable)) => {
            let mut res = rest_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("the range is not satisfiable: the file has {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return res;
        }
        Some(Ok((start, end))) => {
            let count = end - start + 1;
            let mut res = Response::new(file_body(file, start, count));
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            res
        }
        None if encoding == Encoding::Gzip && len > 0 => {
            let mut res = Response::new(gzip_body(file));
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            res
        }
        None => {
            let mut res = Response::new(file_body(file, 0, len));
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            res
        }
    };
    let h = res.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let base = path.rsplit('/').next().unwrap_or("").replace('"', "");
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{base}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The most of a virtual file (see [`with_true_size`]) that a download takes.
const MAX_VIRTUAL_FILE: u64 = 64 << 20;

/// `file` and its size. The files of the kernel's virtual filesystems (`/proc`, `/sys`,
/// cgroups) tell no true size (0, or 4096 whatever they hold): such a file is read whole, once,
/// into an anonymous file, which is sent instead, so that a download holds what `cat` shows.
fn with_true_size(file: std::fs::File) -> std::io::Result<(std::fs::File, u64)> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    // SAFETY: `statfs` is plain data, filled in by the call.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a `statfs` to fill.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let virtual_fs = [
        libc::PROC_SUPER_MAGIC,
        libc::SYSFS_MAGIC,
        libc::CGROUP_SUPER_MAGIC,
        libc::CGROUP2_SUPER_MAGIC,
        libc::DEBUGFS_MAGIC,
        libc::TRACEFS_MAGIC,
        libc::SECURITYFS_MAGIC,
    ];
    #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between C libraries.
    let kind = fs.f_type as u64;
    if !virtual_fs.iter().any(|&magic| magic as u64 == kind) {
        let len = file.metadata()?.len();
        return Ok((file, len));
    }
    let mut content = Vec::new();
    (&file)
        .take(MAX_VIRTUAL_FILE + 1)
        .read_to_end(&mut content)?;
    if content.len() as u64 > MAX_VIRTUAL_FILE {
        return Err(std::io::Error::other(format!(
            "a file of a virtual filesystem larger than {MAX_VIRTUAL_FILE} bytes"
        )));
    }
    let copy = crate::memfd::holding(c"sandkit-download", &content)?;
    Ok((copy, content.len() as u64))
}

/// `count` bytes of `file` from `start`, read as they are sent.
fn file_body(file: std::fs::File, start: u64, count: u64) -> Body {
    let file = tokio::fs::File::from_std(file);
    let state = (file, start, count, false);
    let body = futures_util::stream::unfold(state, |(mut file, start, left, seeked)| async move {
        if left == 0 {
            return None;
        }
        if !seeked
            && start > 0
            && let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await
        {
            return Some((Err(e), (file, start, 0, true)));
        }
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from(buf)),
                    (file, start, left - n as u64, true),
                ))
            }
            Err(e) => Some((Err(e), (file, start, 0, true))),
        }
    });
    Body::from_stream(body)
}

/// What the response body is encoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
}

/// The encoding `Accept-Encoding` prefers: gzip when it is accepted at least as much as
/// identity; identity (the default) unless refused; `None` when neither is acceptable.
fn negotiate(accept: Option<&str>) -> Option<Encoding> {
    let Some(accept) = accept else {
        return Some(Encoding::Identity);
    };
    let (mut gzip, mut identity, mut any) = (None, None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| v.trim().parse::<f32>().unwrap_or(1.0))
            })
            .next_back()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "identity" => identity = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    let gzip = gzip.or(any).unwrap_or(0.0);
    let identity = identity.or(any).unwrap_or(1.0);
    if gzip > 0.0 && gzip >= identity {
        Some(Encoding::Gzip)
    } else if identity > 0.0 {
        Some(Encoding::Identity)
    } else {
        None
    }
}

/// A range no byte of the file is in.
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range against a file of `len` bytes, as
/// the first and last byte; `None` (send everything) for anything else, several ranges
/// included, as HTTP allows a server to.
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), Unsatisfiable>> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        let suffix = number(last)?;
        if suffix == 0 || len == 0 {
            return Some(Err(Unsatisfiable));
        }
        return Some(Ok((len.saturating_sub(suffix), len - 1)));
    }
    let start = number(first)?;
    let end = if last.is_empty() {
        u64::MAX
    } else {
        number(last)?
    };
    if end < start {
        return None;
    }
    if start >= len {
        return Some(Err(Unsatisfiable));
    }
    Some(Ok((start, end.min(len - 1))))
}

/// The media type of a file from its extension (what envd sends with a gzipped body).
fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "xml" => "text/xml; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// `file` gzipped as it is read (on a blocking thread, a chunk at a time).
fn gzip_body(file: std::fs::File) -> Body {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut file = file;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            if let Err(e) = gz.write_all(&buf[..n]) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let out = std::mem::take(gz.get_mut());
            if !out.is_empty() && tx.blocking_send(Ok(Bytes::from(out))).is_err() {
                return; // the client went away
            }
        }
        match gz.finish() {
            Ok(rest) => {
                let _ = tx.blocking_send(Ok(Bytes::from(rest)));
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    Body::from_stream(receiver_stream(rx))
}

fn receiver_stream(
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// A request body with `Content-Encoding: gzip`, decompressed as it arrives: the compressed
/// chunks go to a blocking thread that inflates them a chunk at a time (the whole upload is
/// never in memory, nor is a whole inflated chunk of a highly compressed one).
fn gunzip(body: Body) -> Body {
    let (compressed_tx, compressed_rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let (plain_tx, plain_rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut data = body.into_data_stream();
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(std::io::Error::other);
            let failed = chunk.is_err();
            if compressed_tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut decoder = flate2::read::MultiGzDecoder::new(ChannelReader {
            rx: compressed_rx,
            current: Bytes::new(),
        });
        loop {
            let mut buf = vec![0u8; CHUNK];
            match decoder.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if plain_tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = plain_tx.blocking_send(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the gzip body is invalid: {e}"),
                    )));
                    return;
                }
            }
        }
    });
    Body::from_stream(receiver_stream(plain_rx))
}

/// Blocking reads over chunks sent through a channel.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Writers of one file of one sandbox, one at a time: each truncates and writes in place, so
/// two at once would leave a mix of both.
static WRITERS: LazyLock<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// The turn of one writer of a file; the entry goes when no one else waits.
struct WriterTurn {
    key: String,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

async fn writer_turn(key: String) -> WriterTurn {
    let lock = {
        let mut writers = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
        writers.entry(key.clone()).or_default().clone()
    };
    WriterTurn {
        key,
        _turn: lock.lock_owned().await,
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        let mut writers = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
        // Held by the map and by this turn only: nobody waits.
        if writers
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) <= 2)
        {
            writers.remove(&self.key);
        }
    }
}

/// A file being uploaded: where the bytes go, and what puts it in place.
struct Upload {
    /// The staged bytes (see [`staging_file`]).
    file: tokio::fs::File,
    live: Arc<LiveSandbox>,
    user: crate::sandbox::User,
    path: String,
    _turn: WriterTurn,
}

/// An unnamed file in the host's temporary directory: the upload is kept there until its last
/// byte arrived, so a failed upload never touches the sandbox, and nothing in the sandbox
/// (listings, watchers) ever sees a name that is not the target's.
fn staging_file() -> std::io::Result<std::fs::File> {
    let dir = std::env::temp_dir();
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(&dir);
    match unnamed {
        Ok(f) => Ok(f),
        // A filesystem without O_TMPFILE: a random name, removed at once.
        Err(_) => {
            let name = dir.join(format!(".sandkitd-upload-{}", crate::random::hex(16)));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&name)?;
            std::fs::remove_file(&name)?;
            Ok(f)
        }
    }
}

/// Starts writing `path` in the sandbox, as `user`, once no other upload writes it.
async fn create(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: &str,
) -> Result<Upload, Reject> {
    let norm = super::fs::normalize(path);
    let turn = writer_turn(format!("{}:{norm}", live.id)).await;
    let (live2, user2, path2) = (live.clone(), user.clone(), norm.clone());
    // What can be refused before the body is read (a directory in the way) is refused now.
    match tokio::task::spawn_blocking(move || sandbox_fs(&live2, &user2)?.check_write(&path2)).await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(fs_error(e)),
        Err(e) => return Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
    let file = tokio::task::spawn_blocking(staging_file)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(io_error)?;
    Ok(Upload {
        file: tokio::fs::File::from_std(file),
        live: live.clone(),
        user: user.clone(),
        path: norm,
        _turn: turn,
    })
}

impl Upload {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), Reject> {
        self.file.write_all(chunk).await.map_err(io_error)
    }

    /// Writes the whole upload into the target in place, as envd writes it (a watcher sees
    /// `create` for a new file, then `write`), with `metadata`; what the upload answers.
    async fn finish(self, metadata: &BTreeMap<String, String>) -> Result<Value, Reject> {
        let Upload {
            mut file,
            live,
            user,
            path,
            _turn,
        } = self;
        file.flush().await.map_err(io_error)?;
        let mut staged = file.into_std().await;
        let metadata = metadata.clone();
        let target = path.clone();
        let kept = tokio::task::spawn_blocking(move || {
            let mut write = sandbox_fs(&live, &user)?.open_write(&target)?;
            let Some(mut file) = write.take_file() else {
                return Err(FsError::Other("no file to write".into()));
            };
            let copied = std::io::Seek::rewind(&mut staged)
                .and_then(|()| std::io::copy(&mut staged, &mut file));
            if let Err(e) = copied {
                return Err(match e.raw_os_error() {
                    Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                        FsError::NoSpace("not enough disk space available".into())
                    }
                    _ => FsError::Other(format!("error writing file: {e}")),
                });
            }
            write.keep(&file, &metadata)
        })
        .await;
        match kept {
            Ok(Ok(metadata)) => Ok(written(&path, &metadata)),
            Ok(Err(e)) => Err(fs_error(e)),
            Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
}

fn io_error(e: std::io::Error) -> Reject {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        return (
            StatusCode::INSUFFICIENT_STORAGE,
            "not enough disk space available".into(),
        );
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("error writing file: {e}"),
    )
}

type Value = serde_json::Value;

fn written(path: &str, metadata: &BTreeMap<String, String>) -> Value {
    let name = path.rsplit('/').next().unwrap_or("");
    let mut v = serde_json::json!({ "path": path, "name": name, "type": "file" });
    if !metadata.is_empty() {
        v["metadata"] = serde_json::json!(metadata);
    }
    v
}

/// The `X-Metadata-<key>` headers of an upload, keys lower-cased, checked as envd checks them.
fn upload_metadata(headers: &HeaderMap) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let Some(key) = name.as_str().strip_prefix("x-metadata-") else {
            continue;
        };
        if key.is_empty() || out.contains_key(key) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.insert(key.to_string(), value);
    }
    let mut total = 0;
    for (k, v) in &out {
        if k.len() > MAX_METADATA_KEY {
            return Err(format!(
                "metadata key \"{k}\" exceeds {MAX_METADATA_KEY} bytes"
            ));
        }
        if let Some((i, b)) = v
            .bytes()
            .enumerate()
            .find(|(_, b)| !(0x20..=0x7e).contains(b))
        {
            return Err(format!(
                "metadata value for key \"{k}\" contains non-printable-ASCII byte 0x{b:02x} at offset {i}"
            ));
        }
        total += super::fs::xattr::PREFIX.len() + k.len() + v.len();
    }
    if total > MAX_METADATA_TOTAL {
        return Err(format!(
            "total metadata size {total} exceeds {MAX_METADATA_TOTAL} bytes"
        ));
    }
    Ok(out)
}

async fn upload(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: Option<String>,
    req: Request,
) -> Response {
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let req = match encoding.as_str() {
        "" | "identity" => req,
        "gzip" | "x-gzip" => req.map(gunzip),
        other => {
            let r = (
                StatusCode::BAD_REQUEST,
                format!("error decompressing request body: unsupported Content-Encoding: {other}"),
            );
            return refuse(req.into_body(), r).await;
        }
    };
    let metadata = match upload_metadata(req.headers()) {
        Ok(m) => m,
        Err(e) => {
            let r = (StatusCode::BAD_REQUEST, format!("invalid metadata: {e}"));
            return refuse(req.into_body(), r).await;
        }
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let results = if media_type == "application/octet-stream" {
        let mut body = req.into_body().into_data_stream();
        let written = raw_upload(live, user, path, &mut body, &metadata).await;
        if written.is_err() {
            super::drain(&mut body, DRAIN_LIMIT).await;
        }
        written.map(|w| vec![w])
    } else if media_type.starts_with("multipart/") {
        let mut multipart = match Multipart::from_request(req, &()).await {
            Ok(m) => m,
            Err(e) => return rest_error(StatusCode::BAD_REQUEST, &e.body_text()),
        };
        let written = multipart_upload(live, user, path, &mut multipart, &metadata).await;
        if written.is_err() {
            drain_multipart(&mut multipart).await;
        }
        written
    } else {
        let r = (
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported content type: {content_type}, expected multipart/form-data or application/octet-stream"
            ),
        );
        return refuse(req.into_body(), r).await;
    };
    match results {
        Ok(results) => crate::error::json_response(StatusCode::OK, &results),
        Err(r) => reply(r),
    }
}

/// An `application/octet-stream` upload: the body is the file.
async fn raw_upload(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: Option<String>,
    body: &mut axum::body::BodyDataStream,
    metadata: &BTreeMap<String, String>,
) -> Result<Value, Reject> {
    let Some(path) = path else {
        return Err((
            StatusCode::BAD_REQUEST,
            "path query parameter is required for raw body upload".into(),
        ));
    };
    let mut upload = create(live, user, &path).await?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("error writing file: reading the upload: {e}"),
            )
        })?;
        upload.write(&chunk).await?;
    }
    upload.finish(metadata).await
}

/// A multipart upload: each part named `file` is a file, at the `path` parameter or at its
/// filename (a full path).
async fn multipart_upload(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: Option<String>,
    multipart: &mut Multipart,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<Value>, Reject> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let mut results = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(bad(e.body_text())),
        };
        let Some(target) = part_target(&field, path.as_deref(), &user.home, &mut seen)? else {
            continue;
        };
        let mut upload = create(live, user, &target).await?;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => upload.write(&chunk).await?,
                Ok(None) => break,
                Err(e) => return Err(bad(e.body_text())),
            }
        }
        results.push(upload.finish(metadata).await?);
    }
    Ok(results)
}

/// Where a multipart part goes: `None` for a part not named `file` (skipped), else the
/// `path` parameter or the part's filename (a path, relative to `home`), normalised; a second
/// part for the same path is refused.
fn part_target(
    field: &axum::extract::multipart::Field<'_>,
    path: Option<&str>,
    home: &str,
    seen: &mut HashSet<String>,
) -> Result<Option<String>, Reject> {
    if field.name() != Some("file") {
        return Ok(None);
    }
    let target = match (path, field.file_name()) {
        (Some(p), _) => p.to_string(),
        (None, Some(f)) if !f.is_empty() => resolve_path(f, home),
        _ => {
            return Err((
                StatusCode::BAD_REQUEST,
                "a file part has no filename and there is no path parameter".into(),
            ));
        }
    };
    let target = super::fs::normalize(&target);
    if !seen.insert(target.clone()) {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "you cannot upload multiple files to the same path '{target}' in one upload request, only the first specified file was uploaded"
            ),
        ));
    }
    Ok(Some(target))
}

/// Entry points for the fuzz targets (fuzz/): the parsing an upload or download request goes
/// through, without a sandbox to write to. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// `Range` against a file of `len` bytes, `Accept-Encoding`, and `X-Metadata-*` headers:
    /// whatever they say, an answer within bounds (checked here) and no panic.
    pub fn headers(range: &str, len: u64, accept: &str, metadata: &[(String, String)]) {
        if let Some(Ok((first, last))) = parse_range(range, len) {
            assert!(
                first <= last && last < len,
                "{range:?} of {len}: {first}-{last}"
            );
        }
        let _ = negotiate(Some(accept));
        let mut map = HeaderMap::new();
        for (k, v) in metadata {
            let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(format!("x-metadata-{k}").as_bytes()),
                HeaderValue::from_str(v),
            ) else {
                continue;
            };
            map.append(name, value);
        }
        if let Ok(m) = upload_metadata(&map) {
            let total: usize = m
                .iter()
                .map(|(k, v)| crate::envd::fs::xattr::PREFIX.len() + k.len() + v.len())
                .sum();
            assert!(total <= MAX_METADATA_TOTAL);
        }
    }

    /// A multipart upload body (gzipped when `gzip`), read as the handler reads it: each
    /// file part's target and size, or the 400 it gets.
    pub async fn multipart(
        content_type: &str,
        body: Vec<u8>,
        gzip: bool,
        path: Option<&str>,
    ) -> Result<Vec<(String, usize)>, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .map_err(|e| e.to_string())?;
        if gzip {
            req = req.map(gunzip);
        }
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| e.body_text())?;
        let mut seen = HashSet::new();
        let mut parts = Vec::new();
        while let Some(mut field) = multipart.next_field().await.map_err(|e| e.body_text())? {
            let Some(target) =
                part_target(&field, path, "/home/user", &mut seen).map_err(|(_, m)| m)?
            else {
                continue;
            };
            let mut size = 0;
            while let Some(chunk) = field.chunk().await.map_err(|e| e.body_text())? {
                size += chunk.len();
            }
            parts.push((target, size));
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_sdk_vector() {
        assert_eq!(
            sandkit::files::sign("/home/user/hello.txt", "read", "root", "tok", None),
            "v1_TRlHfiNgpf44c8IeZCoou7xiz+m60QkIJ1Pm8NXrjXk"
        );
    }

    #[test]
    fn ranges_are_read_as_http_has_them() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Ok((0, 4))));
        assert_eq!(parse_range("bytes=5-", 10), Some(Ok((5, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(parse_range("bytes=-30", 10), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=2-100", 10), Some(Ok((2, 9))));
        assert_eq!(parse_range("Bytes = 1-1", 10), Some(Ok((1, 1))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(Unsatisfiable)));
        assert_eq!(parse_range("bytes=-0", 10), Some(Err(Unsatisfiable)));
        assert_eq!(parse_range("bytes=0-", 0), Some(Err(Unsatisfiable)));
        assert_eq!(parse_range("bytes=-5", 0), Some(Err(Unsatisfiable)));
        // Not understood: the whole file.
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("bytes=4-2", 10), None);
        assert_eq!(parse_range("bytes=a-b", 10), None);
        assert_eq!(parse_range("bytes=+1-2", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
        assert_eq!(parse_range("bytes=-", 10), None);
    }

    #[test]
    fn encodings_are_negotiated() {
        assert_eq!(negotiate(None), Some(Encoding::Identity));
        assert_eq!(negotiate(Some("")), Some(Encoding::Identity));
        assert_eq!(negotiate(Some("gzip")), Some(Encoding::Gzip));
        assert_eq!(negotiate(Some("gzip, deflate, br")), Some(Encoding::Gzip));
        assert_eq!(negotiate(Some("br")), Some(Encoding::Identity));
        assert_eq!(
            negotiate(Some("gzip;q=0.5, identity")),
            Some(Encoding::Identity)
        );
        assert_eq!(negotiate(Some("gzip;q=0")), Some(Encoding::Identity));
        assert_eq!(negotiate(Some("*")), Some(Encoding::Gzip));
        assert_eq!(negotiate(Some("identity;q=0")), None);
        assert_eq!(negotiate(Some("br, *;q=0")), None);
        assert_eq!(negotiate(Some("gzip, *;q=0")), Some(Encoding::Gzip));
    }

    #[test]
    fn gzipped_media_types_come_from_the_extension() {
        assert_eq!(content_type("/a/b.TXT"), "text/plain; charset=utf-8");
        assert_eq!(content_type("/a.b/c"), "application/octet-stream");
        assert_eq!(content_type("x.json"), "application/json");
    }

    #[test]
    fn query_values_come_raw_and_decoded() {
        let q = "path=%2Fhome%2Fuser%2Fa%20b.txt&username=user";
        assert_eq!(
            query_param(q, "path"),
            Some((
                "%2Fhome%2Fuser%2Fa%20b.txt",
                "/home/user/a b.txt".to_string()
            ))
        );
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
