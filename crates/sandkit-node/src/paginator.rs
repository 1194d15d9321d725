//! `SandboxPaginator` and `SnapshotPaginator`: one page per `nextItems()`.

use crate::convert::{SandboxInfo, guarded};
use napi::Either;
use napi_derive::napi;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;

/// Pages through sandboxes. `hasNext` is true until a page comes without a next token.
#[napi]
pub struct SandboxPaginator {
    inner: Arc<Mutex<sandkit::SandboxPaginator>>,
    // Mirrors of the paginator's position, so the getters never wait on a fetch.
    has_next: Arc<AtomicBool>,
    next_token: Arc<std::sync::Mutex<Option<String>>>,
}

impl SandboxPaginator {
    pub fn new(inner: sandkit::SandboxPaginator) -> Self {
        SandboxPaginator {
            has_next: Arc::new(AtomicBool::new(inner.has_next())),
            next_token: Arc::new(std::sync::Mutex::new(
                inner.next_token().map(str::to_string),
            )),
            inner: Arc::new(Mutex::new(inner)),
        }
    }
}

#[napi]
impl SandboxPaginator {
    #[napi(getter)]
    pub fn has_next(&self) -> bool {
        self.has_next.load(Ordering::SeqCst)
    }

    #[napi(getter)]
    pub fn next_token(&self) -> Either<String, ()> {
        crate::convert::or_undefined(self.next_token.lock().map(|t| t.clone()).unwrap_or(None))
    }

    /// Fetches the next page; throws once there are no more.
    #[napi]
    pub async fn next_items(&self) -> napi::Result<Vec<SandboxInfo>> {
        let (inner, has_next, next_token) = (
            self.inner.clone(),
            self.has_next.clone(),
            self.next_token.clone(),
        );
        guarded(async move {
            let mut p = inner.lock().await;
            let items = p.next_items().await;
            has_next.store(p.has_next(), Ordering::SeqCst);
            if let Ok(mut t) = next_token.lock() {
                *t = p.next_token().map(str::to_string);
            }
            Ok(items?.into_iter().map(SandboxInfo::from).collect())
        })
        .await
    }
}

/// A snapshot: its id (what sandboxes are created from) and its names.
#[napi(object)]
pub struct SnapshotInfo {
    pub snapshot_id: String,
    pub names: Vec<String>,
}

impl From<sandkit::SnapshotInfo> for SnapshotInfo {
    fn from(s: sandkit::SnapshotInfo) -> Self {
        SnapshotInfo {
            snapshot_id: s.snapshot_id,
            names: s.names,
        }
    }
}

/// Pages through snapshots, newest first. `hasNext` is true until a page comes without a
/// next token.
#[napi]
pub struct SnapshotPaginator {
    // Replaced by the advanced copy when a page has come; the getters read it at once.
    inner: Arc<std::sync::Mutex<sandkit::SnapshotPaginator>>,
}

impl SnapshotPaginator {
    pub fn new(inner: sandkit::SnapshotPaginator) -> Self {
        SnapshotPaginator {
            inner: Arc::new(std::sync::Mutex::new(inner)),
        }
    }
}

#[napi]
impl SnapshotPaginator {
    #[napi(getter)]
    pub fn has_next(&self) -> bool {
        self.inner.lock().is_ok_and(|p| p.has_next())
    }

    #[napi(getter)]
    pub fn next_token(&self) -> Either<String, ()> {
        let token = self
            .inner
            .lock()
            .ok()
            .and_then(|p| p.next_token().map(str::to_string));
        crate::convert::or_undefined(token)
    }

    /// Fetches the next page; throws once there are no more.
    #[napi]
    pub async fn next_items(&self) -> napi::Result<Vec<SnapshotInfo>> {
        let inner = self.inner.clone();
        guarded(async move {
            let page = inner.lock().map(|p| p.next_page()).map_err(|_| {
                sandkit::Error::new(
                    sandkit::ErrorKind::Sandbox,
                    "internal error in sandkit (a bug): the paginator's lock is poisoned",
                )
            })?;
            let (next, items) = page.await?;
            if let Ok(mut p) = inner.lock() {
                *p = next;
            }
            Ok(items.into_iter().map(SnapshotInfo::from).collect())
        })
        .await
    }
}
