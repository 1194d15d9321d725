//! `filesystem.Filesystem/WatchDir`: a directory of the sandbox watched with inotify, its
//! changes streamed as `filesystem` events.
//!
//! The directory is resolved inside the sandbox (see [`super::fs`]) and watched through the
//! descriptor that resolution opened (`/proc/self/fd/<n>`), so neither `..` nor a symlink can
//! point a watch outside the sandbox. Subdirectories of a recursive watch are opened from the
//! watched directory with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so they cannot either.
//!
//! Each watch has a thread of its own that waits on the inotify descriptor and on a pipe whose
//! write end the response stream holds: the stream ending (the client went away, the timeout
//! passed, the sandbox was killed) closes the pipe, the thread returns, and the inotify
//! descriptor is closed with it.
//!
//! Events follow envd, which maps inotify through fsnotify: `IN_CREATE`/`IN_MOVED_TO` →
//! CREATE, `IN_MODIFY` → WRITE, `IN_DELETE`/`IN_DELETE_SELF` → REMOVE,
//! `IN_MOVED_FROM`/`IN_MOVE_SELF` → RENAME, `IN_ATTRIB` → CHMOD; names are relative to the
//! watched directory (`.` for the directory itself).

use super::connect::{self, RpcError};
use super::filesystem::{entry_json, sandbox_fs};
use super::fs::{FsError, SandboxFs};
use super::process::resolve_path;
use super::{Call, user_of};
use crate::live::LiveSandbox;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// What one watch may hold at most; subdirectories past it are not watched.
const MAX_WATCHES: usize = 8192;
/// Events waiting for the client; past it the watching thread waits (and the kernel queues).
const QUEUE: usize = 256;

/// What the watch listens for (fsnotify's set, which is envd's).
const MASK: u32 = libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// Filesystem magic numbers of network (and FUSE) mounts, which envd refuses to watch unless
/// `allowNetworkMounts` is set.
const NETWORK_FS: [i64; 6] = [
    0x6969,      // NFS
    0x517B,      // SMB
    0xFF53_4D42, // CIFS
    0xFE53_4D42, // SMB2
    0x6573_5546, // FUSE
    0x0102_1997, // 9P (v9fs)
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchRequest {
    #[serde(default)]
    path: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default, alias = "include_entry")]
    include_entry: bool,
    #[serde(default, alias = "allow_network_mounts")]
    allow_network_mounts: bool,
}

/// What the watching thread hands the stream: an event, or why the watch failed.
pub(super) type Item = Result<Value, RpcError>;

/// The `WatchDir` call.
pub async fn watch_dir(live: Arc<LiveSandbox>, call: Call) -> Response {
    let encoder = call.encoder();
    match open(&live, &call).await {
        Ok((items, stop)) => stream(
            encoder,
            items,
            stop,
            call.keepalive(),
            call.timeout(),
            live.handle.ended(),
        ),
        Err(e) => encoder.stream_error(&e),
    }
}

/// Sets the watch up (every error is reported before the start event, as envd does) and starts
/// its thread: the events, and the pipe end whose closing stops the thread.
async fn open(
    live: &Arc<LiveSandbox>,
    call: &Call,
) -> Result<(mpsc::Receiver<Item>, OwnedFd), RpcError> {
    let body = call.stream_message()?;
    let (items, stop, _) = start(live, user_of(live, call)?, &body, false).await?;
    Ok((items, stop))
}

/// Opens a watch of the directory a `WatchDirRequest` (or `CreateWatcherRequest`, the same
/// fields) in JSON names, as `user`, and starts its thread: the events, the pipe end whose
/// closing stops the thread, and with `backlog` what is on its way (see [`Backlog`]; whoever
/// takes the events then calls [`Backlog::taken`] for each). Shared with the polling watchers
/// of [`super::watchers`].
pub(super) async fn start(
    live: &Arc<LiveSandbox>,
    user: crate::sandbox::User,
    body: &[u8],
    backlog: bool,
) -> Result<(mpsc::Receiver<Item>, OwnedFd, Option<Arc<Backlog>>), RpcError> {
    let req: WatchRequest = connect::decode(body)?;
    let path = resolve_path(&req.path, &user.home);
    let live2 = live.clone();
    let mut watcher = tokio::task::spawn_blocking(move || -> Result<Watcher, RpcError> {
        let fs = sandbox_fs(&live2, &user)?;
        Watcher::new(fs, &path, &req)
    })
    .await
    .map_err(|e| RpcError::internal(format!("watch task: {e}")))??;
    if backlog {
        let inotify = watcher
            .inotify
            .try_clone()
            .map_err(|e| RpcError::internal(format!("creating the watch: {e}")))?;
        watcher.backlog = Some(Arc::new(Backlog {
            inotify,
            in_flight: AtomicUsize::new(0),
        }));
    }
    let backlog = watcher.backlog.clone();
    let (stop_rx, stop_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| RpcError::internal(format!("creating the watch: {e}")))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("sandkitd-watch".into())
        .spawn(move || watcher.run(stop_rx, tx))
        .map_err(|e| RpcError::internal(format!("starting the watch: {e}")))?;
    Ok((rx, stop_tx, backlog))
}

/// The response: `start`, then events, keepalives when idle, and an end-stream frame when
/// the watch fails, the `Connect-Timeout-Ms` deadline passes (`deadline_exceeded`, as envd's
/// context ends it); cut without one when the sandbox is killed.
fn stream(
    encoder: connect::Encoder,
    items: mpsc::Receiver<Item>,
    stop: OwnedFd,
    keepalive: Duration,
    timeout: Option<Duration>,
    ended: impl std::future::Future<Output = ()> + Send + 'static,
) -> Response {
    struct State {
        items: mpsc::Receiver<Item>,
        /// Held for as long as the stream lives: dropping it stops the watching thread.
        _stop: OwnedFd,
        deadline: Option<tokio::time::Instant>,
        ended: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
        phase: Phase,
    }
    enum Phase {
        Start,
        Events,
        Closed,
    }
    let state = State {
        items,
        _stop: stop,
        deadline: timeout.and_then(|t| tokio::time::Instant::now().checked_add(t)),
        ended: Box::pin(ended),
        phase: Phase::Start,
    };
    let body = futures_util::stream::unfold(state, move |mut s| async move {
        let frame = match s.phase {
            Phase::Closed => return None,
            Phase::Start => {
                s.phase = Phase::Events;
                encoder.envelope(&json!({ "start": {} }))
            }
            Phase::Events => {
                enum Next {
                    Ended,
                    Deadline,
                    Idle,
                    Item(Option<Item>),
                }
                let deadline = s.deadline;
                let next = tokio::select! {
                    biased;
                    _ = &mut s.ended => Next::Ended,
                    _ = async {
                        match deadline {
                            Some(d) => tokio::time::sleep_until(d).await,
                            None => std::future::pending().await,
                        }
                    } => Next::Deadline,
                    item = tokio::time::timeout(keepalive, s.items.recv()) => match item {
                        Err(_idle) => Next::Idle,
                        Ok(item) => Next::Item(item),
                    },
                };
                match next {
                    Next::Idle => encoder.envelope(&json!({ "keepalive": {} })),
                    Next::Item(Some(Ok(event))) => {
                        encoder.envelope(&json!({ "filesystem": event }))
                    }
                    Next::Ended => {
                        // Cut, as a vanished VM's stream is: no end-stream frame.
                        s.phase = Phase::Closed;
                        return Some((Err(std::io::Error::other("the sandbox ended")), s));
                    }
                    other => {
                        s.phase = Phase::Closed;
                        let error = match other {
                            Next::Deadline => {
                                RpcError::new("deadline_exceeded", "context deadline exceeded")
                            }
                            Next::Item(Some(Err(e))) => e,
                            _ => RpcError::internal("the watch ended"),
                        };
                        connect::end_stream(Some(&error))
                    }
                }
            }
        };
        Some((Ok::<Bytes, std::io::Error>(frame), s))
    });
    encoder.stream_response(Body::from_stream(body))
}

/// One watch: the inotify descriptor and what its watch descriptors stand for.
/// What a watch has not handed on yet: the events still in its inotify queue, and those its
/// thread has read that nobody has taken yet. A polling watcher waits (briefly) for it to
/// empty before it answers, so that a poll sees the events of whatever ended before it began
/// (a write the client made, then polls for), as they race through the thread otherwise.
#[derive(Debug)]
pub(super) struct Backlog {
    /// A duplicate of the watch's descriptor, to ask how much its queue holds.
    inotify: OwnedFd,
    /// Events read and not yet taken, plus one while the thread reads.
    in_flight: AtomicUsize,
}

impl Backlog {
    pub(super) fn is_empty(&self) -> bool {
        // The queue first: an event the thread reads after this looks is counted in flight
        // before it leaves the queue.
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int, the bytes the inotify queue holds.
        let asked = unsafe { libc::ioctl(self.inotify.as_raw_fd(), libc::FIONREAD, &mut queued) };
        (asked < 0 || queued == 0) && self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// One event was taken from the watch's channel.
    pub(super) fn taken(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a read in flight while it lasts.
struct Reading<'a>(&'a Backlog);

impl<'a> Reading<'a> {
    fn start(backlog: &'a Backlog) -> Reading<'a> {
        backlog.in_flight.fetch_add(1, Ordering::SeqCst);
        Reading(backlog)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Watcher {
    inotify: OwnedFd,
    /// Kept for a polling watcher; see [`Backlog`].
    backlog: Option<Arc<Backlog>>,
    /// The watched directory (`O_PATH`), which subdirectories are opened from.
    base: OwnedFd,
    /// For `includeEntry`.
    fs: SandboxFs,
    /// The watched directory as the sandbox names it (normalised).
    path: String,
    recursive: bool,
    include_entry: bool,
    /// Watch descriptor → directory relative to the watched one (`""` for itself).
    dirs: HashMap<i32, String>,
    root_wd: i32,
}

fn internal(what: &str, e: Errno) -> RpcError {
    RpcError::internal(format!("{what}: {}", e.desc()))
}

impl Watcher {
    fn new(fs: SandboxFs, path: &str, req: &WatchRequest) -> Result<Watcher, RpcError> {
        let path = super::fs::normalize(path);
        let base = fs.open_dir(&path).map_err(|e| match e {
            FsError::NotFound(_) => RpcError::not_found(format!("path {path} not found")),
            FsError::Invalid(_) => RpcError::invalid(format!("path {path} not a directory")),
            other => RpcError::from(other),
        })?;
        if !req.allow_network_mounts {
            let st = nix::sys::statfs::fstatfs(&base)
                .map_err(|e| internal("checking the mount of the path", e))?;
            #[allow(clippy::unnecessary_cast)] // the type differs between C libraries
            let kind = st.filesystem_type().0 as i64;
            if NETWORK_FS.contains(&kind) {
                return Err(RpcError::invalid(format!(
                    "cannot watch path on network filesystem: {path}"
                )));
            }
        }
        // SAFETY: plain system call; the descriptor is owned right away.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(internal("creating the watcher", Errno::last()));
        }
        // SAFETY: `raw` is a new descriptor nothing else owns.
        let inotify = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut w = Watcher {
            inotify,
            backlog: None,
            base,
            fs,
            path,
            recursive: req.recursive,
            include_entry: req.include_entry,
            dirs: HashMap::new(),
            root_wd: -1,
        };
        w.root_wd = w
            .add_watch(w.base.as_fd())
            .map_err(|e| internal(&format!("watching {}", w.path), e))?;
        w.dirs.insert(w.root_wd, String::new());
        if w.recursive {
            w.add_subdirs("", None);
        }
        Ok(w)
    }

    /// Watches the directory open as `dir` (through its `/proc/self/fd` link, so what is
    /// watched is exactly what was opened).
    fn add_watch(&self, dir: std::os::fd::BorrowedFd<'_>) -> Result<i32, Errno> {
        let link = CString::new(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .map_err(|_| Errno::EINVAL)?;
        // SAFETY: both descriptors are open and `link` is a valid C string.
        let wd = unsafe { libc::inotify_add_watch(self.inotify.as_raw_fd(), link.as_ptr(), MASK) };
        if wd < 0 { Err(Errno::last()) } else { Ok(wd) }
    }

    /// Opens `rel` below the watched directory, never through a symlink or above it.
    fn open_below(&self, rel: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        loop {
            match openat2(self.base.as_fd(), rel, how) {
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                other => return other,
            }
        }
    }

    /// Watches directory `rel` and, for a recursive watch, everything below it. Best effort:
    /// a directory gone meanwhile, or one past [`MAX_WATCHES`], is left out. With `found`,
    /// what is below it is listed there (see [`Watcher::add_subdirs`]).
    fn add_tree(&mut self, rel: &str, found: Option<&mut Vec<(String, bool)>>) {
        let Ok(dir) = self.open_below(rel, OFlag::O_PATH) else {
            return;
        };
        if self.dirs.len() >= MAX_WATCHES {
            return;
        }
        if let Ok(wd) = self.add_watch(dir.as_fd()) {
            self.dirs.insert(wd, rel.to_string());
        }
        if self.recursive {
            self.add_subdirs(rel, found);
        }
    }

    /// Watches every directory below `rel` (`""`: the watched one). With `found`, every entry
    /// below it goes there too, with whether it is a file that holds something: for a
    /// directory just made, what was made in it before its watch began (`mkdir -p a/b &&
    /// echo x > a/b/f` is faster than the watch), which no event will report.
    fn add_subdirs(&mut self, rel: &str, mut found: Option<&mut Vec<(String, bool)>>) {
        let mut pending = vec![rel.to_string()];
        while let Some(rel) = pending.pop() {
            let opened = if rel.is_empty() {
                self.open_below(".", OFlag::O_RDONLY)
            } else {
                self.open_below(&rel, OFlag::O_RDONLY)
            };
            let Ok(fd) = opened else { continue };
            let Ok(mut listing) = nix::dir::Dir::from_fd(fd) else {
                continue;
            };
            let items: Vec<_> = listing
                .iter()
                .flatten()
                .map(|item| {
                    (
                        item.file_name().to_string_lossy().into_owned(),
                        item.file_type(),
                    )
                })
                .filter(|(name, _)| name != "." && name != "..")
                .collect();
            let mut subdirs = Vec::new();
            for (name, file_type) in items {
                let child = join(&rel, &name);
                let is_dir = match file_type {
                    Some(nix::dir::Type::Directory) => true,
                    Some(_) => false,
                    None => self.open_below(&child, OFlag::O_PATH).is_ok(),
                };
                if let Some(found) = found.as_deref_mut() {
                    let written = !is_dir
                        && nix::sys::stat::fstatat(
                            &listing,
                            name.as_str(),
                            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                        )
                        .is_ok_and(|st| st.st_size > 0);
                    found.push((child.clone(), written));
                }
                if is_dir {
                    subdirs.push(child);
                }
            }
            for child in subdirs {
                if self.dirs.len() >= MAX_WATCHES {
                    return;
                }
                let Ok(dir) = self.open_below(&child, OFlag::O_PATH) else {
                    continue;
                };
                if let Ok(wd) = self.add_watch(dir.as_fd()) {
                    self.dirs.insert(wd, child.clone());
                    pending.push(child);
                }
            }
        }
    }

    /// Stops watching directory `rel` and everything below it (it moved away).
    fn remove_tree(&mut self, rel: &str) {
        let prefix = format!("{rel}/");
        let gone: Vec<i32> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.as_str() == rel || d.starts_with(&prefix))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in gone {
            self.dirs.remove(&wd);
            // SAFETY: plain system call on a descriptor we own.
            unsafe { libc::inotify_rm_watch(self.inotify.as_raw_fd(), wd) };
        }
    }

    /// Waits for events until the stream goes away (`stop` closes or the receiver is gone).
    fn run(mut self, stop: OwnedFd, tx: mpsc::Sender<Item>) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (ready, stopped) = {
                let mut fds = [
                    PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN),
                    PollFd::new(stop.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(internal("waiting for events", e)));
                        return;
                    }
                }
                (fds[0].any().unwrap_or(false), fds[1].any().unwrap_or(false))
            };
            if stopped {
                return;
            }
            if !ready {
                continue;
            }
            let backlog = self.backlog.clone();
            let reading = backlog.as_deref().map(Reading::start);
            let n = match nix::unistd::read(&self.inotify, &mut buf) {
                Ok(n) => n,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(internal("reading events", e)));
                    return;
                }
            };
            let items = self.process(&buf[..n]);
            if let Some(backlog) = &backlog {
                backlog.in_flight.fetch_add(items.len(), Ordering::SeqCst);
            }
            drop(reading);
            for item in items {
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        }
    }

    /// Turns a batch of raw inotify events into protocol events.
    fn process(&mut self, mut buf: &[u8]) -> Vec<Item> {
        let mut out = Vec::new();
        while buf.len() >= 16 {
            let word = |i: usize| [buf[i], buf[i + 1], buf[i + 2], buf[i + 3]];
            let wd = i32::from_ne_bytes(word(0));
            let mask = u32::from_ne_bytes(word(4));
            let len = u32::from_ne_bytes(word(12)) as usize;
            let end = (16 + len).min(buf.len());
            let raw_name = &buf[16..end];
            let raw_name = &raw_name[..raw_name
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(raw_name.len())];
            let name = String::from_utf8_lossy(raw_name).into_owned();
            buf = &buf[end..];
            if mask & libc::IN_Q_OVERFLOW != 0 {
                out.push(Err(RpcError::internal(
                    "watcher error: too many events, some were lost (inotify queue overflow)",
                )));
                return out;
            }
            self.event(wd, mask, &name, &mut out);
        }
        out
    }

    fn event(&mut self, wd: i32, mask: u32, name: &str, out: &mut Vec<Item>) {
        let Some(dir) = self.dirs.get(&wd).cloned() else {
            return; // a watch already dropped
        };
        if mask & libc::IN_IGNORED != 0 {
            self.dirs.remove(&wd);
            return;
        }
        let rel = if name.is_empty() {
            // About a watched directory itself: its parent's watch reports the same change,
            // except for the watched directory, which has none.
            if wd != self.root_wd {
                return;
            }
            ".".to_string()
        } else {
            join(&dir, name)
        };
        // What a directory just made already holds (moved-in trees are reported as one
        // entry, as their contents are not new).
        let mut found = Vec::new();
        if self.recursive && rel != "." && mask & libc::IN_ISDIR != 0 {
            if mask & libc::IN_CREATE != 0 {
                self.add_tree(&rel, Some(&mut found));
            } else if mask & libc::IN_MOVED_TO != 0 {
                self.add_tree(&rel, None);
            } else if mask & libc::IN_MOVED_FROM != 0 {
                self.remove_tree(&rel);
            }
        }
        let mut types = Vec::new();
        if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
            types.push("EVENT_TYPE_CREATE");
        }
        if mask & (libc::IN_MOVED_FROM | libc::IN_MOVE_SELF) != 0 {
            types.push("EVENT_TYPE_RENAME");
        }
        if mask & libc::IN_ATTRIB != 0 {
            types.push("EVENT_TYPE_CHMOD");
        }
        if mask & libc::IN_MODIFY != 0 {
            types.push("EVENT_TYPE_WRITE");
        }
        if mask & (libc::IN_DELETE | libc::IN_DELETE_SELF) != 0 {
            types.push("EVENT_TYPE_REMOVE");
        }
        self.emit(&rel, &types, out);
        for (child, written) in found {
            let types: &[&str] = if written {
                &["EVENT_TYPE_CREATE", "EVENT_TYPE_WRITE"]
            } else {
                &["EVENT_TYPE_CREATE"]
            };
            self.emit(&child, types, out);
        }
    }

    /// The events of `types` about `rel`, each with its entry when asked for.
    fn emit(&self, rel: &str, types: &[&str], out: &mut Vec<Item>) {
        if types.is_empty() {
            return;
        }
        let entry = self.include_entry.then(|| self.entry(rel)).flatten();
        for t in types {
            let mut event = json!({ "name": rel, "type": t });
            if let Some(entry) = &entry {
                event["entry"] = entry.clone();
            }
            out.push(Ok(event));
        }
    }

    /// The entry an event is about, when it can still be found.
    fn entry(&self, rel: &str) -> Option<Value> {
        let full = if rel == "." {
            self.path.clone()
        } else {
            join(&self.path, rel)
        };
        self.fs.stat(&full).ok().map(|e| entry_json(&e))
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_relative_to_the_watch() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a/b", "c"), "a/b/c");
        assert_eq!(join("/", "etc"), "/etc");
    }
}
