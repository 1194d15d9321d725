//! `files.watchDir`: a server stream of filesystem events under a directory.

use super::EntryInfo;
use super::entry::{decode, entry_from_json};
use crate::envd::connect::{Codec, Context};
use crate::envd::{Envd, MessageStream};
use crate::error::{Error, ErrorKind, Result};
use crate::json::{self, Value, Writer};
use crate::op::{Answer, Op, Request};
use futures_util::future::{Either, select};
use futures_util::task::AtomicWaker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

/// What the official SDK waits by default before a watch ends.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of [`super::Files::watch_dir`].
#[derive(Debug, Clone, Default)]
pub struct WatchOpts {
    pub user: Option<String>,
    /// Events in subdirectories too.
    pub recursive: bool,
    /// Send each event's [`EntryInfo`].
    pub include_entry: bool,
    /// How long the watch lasts; [`DEFAULT_WATCH_TIMEOUT`] when unset, no limit when zero.
    pub timeout: Option<Duration>,
    /// This call's `requestTimeoutMs` (0 for none), which bounds the start only; the
    /// sandbox's when unset.
    pub request_timeout_ms: Option<u64>,
}

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Create,
    Write,
    Remove,
    Rename,
    Chmod,
}

impl EventType {
    /// `create`, `write`, …: the `e2b` package's values.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "create",
            EventType::Write => "write",
            EventType::Remove => "remove",
            EventType::Rename => "rename",
            EventType::Chmod => "chmod",
        }
    }

    fn from_wire(s: &str) -> Option<EventType> {
        Some(match s {
            "EVENT_TYPE_CREATE" => EventType::Create,
            "EVENT_TYPE_WRITE" => EventType::Write,
            "EVENT_TYPE_REMOVE" => EventType::Remove,
            "EVENT_TYPE_RENAME" => EventType::Rename,
            "EVENT_TYPE_CHMOD" => EventType::Chmod,
            _ => return None,
        })
    }
}

/// One change under the watched directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemEvent {
    /// Relative to the watched directory.
    pub name: String,
    pub event_type: EventType,
    pub entry: Option<EntryInfo>,
}

/// A message of the watch stream: `{start}`, `{filesystem: {name, type, entry?}}` or a
/// keepalive.
struct WatchMessage {
    start: bool,
    /// The name, the type as sent, the entry.
    filesystem: Option<(String, String, Option<EntryInfo>)>,
}

fn watch_message(v: &Value<'_>) -> json::Result<WatchMessage> {
    let o = v.object()?;
    let start = o.opt("start")?.is_some();
    let filesystem = match o.opt("filesystem")? {
        Some(e) => {
            let e = e.object()?;
            let [name, kind] = [e.str_or_empty("name")?, e.str_or_empty("type")?];
            let entry = e.opt("entry")?.map(entry_from_json).transpose()?;
            Some((name.into(), kind.into(), entry))
        }
        None => None,
    };
    Ok(WatchMessage { start, filesystem })
}

#[derive(Default)]
struct StopState {
    stopped: AtomicBool,
    waker: AtomicWaker,
}

/// Stops a watch from anywhere, even while [`WatchHandle::next_event`] is waiting.
#[derive(Clone)]
pub struct WatchStopper(Arc<StopState>);

impl WatchStopper {
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.waker.wake();
    }
}

impl std::fmt::Debug for WatchStopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchStopper")
    }
}

/// A running watch.
pub struct WatchHandle {
    stream: MessageStream,
    stop: Arc<StopState>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchHandle")
    }
}

pub(super) fn start_op(envd: &Envd, path: &str, opts: &WatchOpts) -> Op<WatchHandle> {
    let mut w = Writer::new();
    w.begin_object();
    w.field_str("path", path);
    w.field_bool("recursive", opts.recursive);
    w.field_bool("includeEntry", opts.include_entry);
    w.field_bool("allowNetworkMounts", false);
    w.end_object();
    let timeout = opts.timeout.unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let request = Request::stream(
        &envd.for_call(opts.request_timeout_ms),
        "filesystem.Filesystem/WatchDir",
        w.finish().into_bytes(),
        Codec::Json,
        opts.user.as_deref(),
        timeout.as_millis().min(u128::from(u64::MAX)) as u64,
        Context::Files,
    );
    Op::new(request, |answer| {
        let (stream, first) = Answer::stream(answer)?;
        let started = first
            .map(|m| decode(&m, watch_message))
            .transpose()?
            .is_some_and(|m| m.start);
        if !started {
            return Err(Error::new(ErrorKind::Sandbox, "Expected start event"));
        }
        Ok(WatchHandle {
            stream,
            stop: Arc::default(),
        })
    })
}

impl WatchHandle {
    pub fn stopper(&self) -> WatchStopper {
        WatchStopper(self.stop.clone())
    }

    /// The next event; `None` once stopped or when the daemon ended the watch cleanly.
    pub async fn next_event(&mut self) -> Result<Option<FilesystemEvent>> {
        loop {
            let stop = self.stop.clone();
            let stopped = futures_util::future::poll_fn(move |cx| {
                stop.waker.register(cx.waker());
                if stop.stopped.load(Ordering::SeqCst) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            let message =
                match select(Box::pin(self.stream.next_message()), Box::pin(stopped)).await {
                    Either::Left((m, _)) => m?,
                    Either::Right(_) => None,
                };
            let Some(message) = message else {
                return Ok(None);
            };
            // Keepalives and events of unknown types are skipped, as the official SDK does.
            let Some((name, kind, entry)) = decode(&message, watch_message)?.filesystem else {
                continue;
            };
            let Some(event_type) = EventType::from_wire(&kind) else {
                continue;
            };
            return Ok(Some(FilesystemEvent {
                name,
                event_type,
                entry,
            }));
        }
    }
}
