//! `SandboxPaginator`: one page per `nextItems()`.

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
