//! `filesystem.Filesystem/CreateWatcher`, `GetWatcherEvents` and `RemoveWatcher`: directory
//! watches that the client polls instead of streaming (the official Python SDK's
//! `files.watch_dir` uses them).
//!
//! A watcher is the same inotify watch as `WatchDir`'s (`watch::start`): same path
//! resolution inside the sandbox, same errors, same events. Instead of a response stream, a
//! task per watcher moves its events into a queue that `GetWatcherEvents` empties.
//!
//! What envd leaves unbounded is bounded here:
//! - at most [`MAX_WATCHERS`] watchers per sandbox; one more is refused with
//!   `resource_exhausted` until one is removed or expires;
//! - a watcher not polled for [`IDLE`] is removed (its id then answers `not_found`, like a
//!   removed one);
//! - at most [`MAX_EVENTS`] events wait between two polls; one more fails the watcher with
//!   `resource_exhausted` (nothing is dropped silently), as an inotify queue overflow fails it
//!   with `internal`. A failed watcher answers every poll with its error, as envd's does, until
//!   it is removed or expires.
//!
//! Every watcher of a sandbox ends with it: its task stops when the sandbox is killed or
//! expires, which closes the inotify descriptor.

use super::connect::{self, RpcError};
use super::watch::{self, Item};
use super::{Call, user_of};
use crate::live::LiveSandbox;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// Watchers one sandbox may hold at once.
pub const MAX_WATCHERS: usize = 64;
/// How long a watcher lives without a `GetWatcherEvents` call.
pub const IDLE: Duration = Duration::from_secs(5 * 60);
/// Events one watcher keeps between two polls.
pub const MAX_EVENTS: usize = 10_000;
/// How long a poll waits at most for the events already on their way (see `watch::Backlog`).
const SETTLE: Duration = Duration::from_millis(100);

/// A sandbox's polling watchers, by id.
#[derive(Debug, Default)]
pub struct Watchers {
    slots: Arc<Mutex<HashMap<String, Arc<Slot>>>>,
}

#[derive(Debug)]
struct Slot {
    state: Mutex<State>,
    /// Wakes the watcher's task when the watcher is removed.
    removed: Notify,
}

#[derive(Debug)]
struct State {
    events: Vec<Value>,
    /// Set once the watch failed; every poll answers it from then on.
    error: Option<RpcError>,
    last_poll: Instant,
    /// What the watch has not handed on yet; `None` once it failed.
    backlog: Option<Arc<watch::Backlog>>,
}

impl Watchers {
    /// How many watchers the sandbox holds.
    pub fn len(&self) -> usize {
        self.slots.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: &str) -> Result<Arc<Slot>, RpcError> {
        self.slots
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or_else(|| unknown(id))
    }
}

/// envd's answer for an id it does not hold.
fn unknown(id: &str) -> RpcError {
    RpcError::not_found(format!("watcher with id {id} not found"))
}

fn too_many() -> RpcError {
    RpcError::new(
        "resource_exhausted",
        format!(
            "this sandbox already has {MAX_WATCHERS} watchers; remove one (RemoveWatcher) first"
        ),
    )
}

#[derive(Deserialize)]
struct WatcherRequest {
    #[serde(default, rename = "watcherId", alias = "watcher_id")]
    watcher_id: String,
}

/// A new watcher id: `w` and 16 random hex digits (envd's are `w` and a random id too).
fn new_id() -> Result<String, RpcError> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| RpcError::internal(format!("making a watcher id: {e}")))?;
    Ok(bytes
        .iter()
        .fold(String::from("w"), |s, b| s + &format!("{b:02x}")))
}

pub async fn dispatch(live: Arc<LiveSandbox>, method: &str, call: Call) -> Response {
    let encoder = call.encoder();
    let result = match method {
        "CreateWatcher" => create(&live, &call).await,
        "GetWatcherEvents" => poll(&live, &call).await,
        _ => remove(&live, &call),
    };
    match result {
        Ok(v) => encoder.unary_ok(&v),
        Err(e) => connect::unary_error(&e),
    }
}

async fn create(live: &Arc<LiveSandbox>, call: &Call) -> Result<Value, RpcError> {
    let body = call.unary_message()?;
    let user = user_of(live, call)?;
    // Checked first so that a refused call opens nothing, and again when the watcher is added.
    if live.watchers.len() >= MAX_WATCHERS {
        return Err(too_many());
    }
    let (items, stop, backlog) = watch::start(live, user, &body, true).await?;
    let id = new_id()?;
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            events: Vec::new(),
            error: None,
            last_poll: Instant::now(),
            backlog,
        }),
        removed: Notify::new(),
    });
    {
        let mut slots = live
            .watchers
            .slots
            .lock()
            .map_err(|_| RpcError::internal("the watcher table is poisoned"))?;
        if slots.len() >= MAX_WATCHERS {
            return Err(too_many()); // dropping `stop` ends the watch's thread
        }
        slots.insert(id.clone(), slot.clone());
    }
    tokio::spawn(pump(
        live.watchers.slots.clone(),
        id.clone(),
        slot,
        items,
        stop,
        live.handle.ended(),
    ));
    Ok(json!({ "watcherId": id }))
}

async fn poll(live: &LiveSandbox, call: &Call) -> Result<Value, RpcError> {
    let req: WatcherRequest = connect::decode(&call.unary_message()?)?;
    let slot = live.watchers.get(&req.watcher_id)?;
    // The events of what ended before this call may still be on their way from the kernel:
    // they are waited for, up to SETTLE (a directory that never rests gets what came so far).
    let backlog = slot.state.lock().ok().and_then(|s| s.backlog.clone());
    if let Some(backlog) = backlog {
        let until = Instant::now() + SETTLE;
        while !backlog.is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut state = slot
        .state
        .lock()
        .map_err(|_| RpcError::internal("the watcher is poisoned"))?;
    state.last_poll = Instant::now();
    if let Some(e) = &state.error {
        return Err(e.clone());
    }
    let events = std::mem::take(&mut state.events);
    Ok(json!({ "events": events }))
}

fn remove(live: &LiveSandbox, call: &Call) -> Result<Value, RpcError> {
    let req: WatcherRequest = connect::decode(&call.unary_message()?)?;
    let slot = live
        .watchers
        .slots
        .lock()
        .ok()
        .and_then(|mut m| m.remove(&req.watcher_id))
        .ok_or_else(|| unknown(&req.watcher_id))?;
    slot.removed.notify_one();
    Ok(json!({}))
}

/// A watcher's life: moves its events into the queue until it is removed, goes unpolled for
/// [`IDLE`] or the sandbox ends; then drops the watch (closing its inotify descriptor) and
/// its entry.
async fn pump(
    slots: Arc<Mutex<HashMap<String, Arc<Slot>>>>,
    id: String,
    slot: Arc<Slot>,
    items: mpsc::Receiver<Item>,
    stop: OwnedFd,
    ended: impl std::future::Future<Output = ()> + Send + 'static,
) {
    // Both dropped once the watch failed: the thread needs to run no longer.
    let mut watch = Some((items, stop));
    tokio::pin!(ended);
    loop {
        let deadline = match slot.state.lock() {
            Ok(state) => state.last_poll + IDLE,
            Err(_) => break,
        };
        let next = async {
            match watch.as_mut() {
                Some((items, _)) => items.recv().await,
                None => std::future::pending().await,
            }
        };
        enum Next {
            Stop,
            Deadline,
            Item(Option<Item>),
        }
        let next = tokio::select! {
            _ = &mut ended => Next::Stop,
            _ = slot.removed.notified() => Next::Stop,
            _ = tokio::time::sleep_until(deadline) => Next::Deadline,
            item = next => Next::Item(item),
        };
        let Ok(mut state) = slot.state.lock() else {
            break;
        };
        if let (Next::Item(Some(_)), Some(backlog)) = (&next, &state.backlog) {
            backlog.taken();
        }
        let failed = match next {
            Next::Stop => break,
            Next::Deadline if state.last_poll + IDLE <= Instant::now() => break,
            Next::Deadline => None,
            Next::Item(Some(Ok(event))) if state.events.len() < MAX_EVENTS => {
                state.events.push(event);
                None
            }
            Next::Item(Some(Ok(_))) => Some(RpcError::new(
                "resource_exhausted",
                format!(
                    "watcher error: more than {MAX_EVENTS} events waited for a poll; poll more often"
                ),
            )),
            Next::Item(Some(Err(e))) => Some(e),
            Next::Item(None) => Some(RpcError::internal("watcher error: the watch ended")),
        };
        if let Some(e) = failed {
            state.error = Some(e);
            state.events.clear();
            state.backlog = None;
            watch = None;
        }
    }
    drop(watch);
    if let Ok(mut slots) = slots.lock()
        && slots.get(&id).is_some_and(|s| Arc::ptr_eq(s, &slot))
    {
        slots.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_w_and_hex() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 17);
        assert!(a.starts_with('w'));
        assert!(a[1..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn requests_take_both_spellings() {
        let r: WatcherRequest = connect::decode(br#"{"watcherId":"w1"}"#).unwrap();
        assert_eq!(r.watcher_id, "w1");
        let r: WatcherRequest = connect::decode(br#"{"watcher_id":"w2"}"#).unwrap();
        assert_eq!(r.watcher_id, "w2");
    }
}
