//! Page-by-page listing, also usable as a `Stream` of sandboxes.

use crate::api::{self, ListQuery};
use crate::config::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::info::SandboxInfo;
use crate::maybe_send::{BoxFuture, Shared};
use crate::op::Op;
use crate::options::ListOpts;
use crate::wire::ListedSandbox;
use futures_util::{FutureExt, Stream};
use std::pin::Pin;

use std::task::{Context, Poll};

type Page = Result<(Vec<ListedSandbox>, Option<String>)>;

/// Pages through `GET /v2/sandboxes`. `has_next` starts true; after each page it is true only
/// if the server sent a next-page token.
pub struct SandboxPaginator {
    // Options are checked on the first fetch, so a bad option surfaces as a typed error there.
    // Shared by the copies (`next_items_json` works on one), never changed.
    setup: Shared<Result<(ConnectionConfig, ListQuery)>>,
    has_next: bool,
    next_token: Option<String>,
    // Only used when the paginator is polled as a Stream.
    buffer: std::vec::IntoIter<SandboxInfo>,
    in_flight: Option<BoxFuture<'static, Page>>,
}

impl Clone for SandboxPaginator {
    /// Clones the position, not a page being fetched for the stream.
    fn clone(&self) -> Self {
        SandboxPaginator {
            setup: self.setup.clone(),
            has_next: self.has_next,
            next_token: self.next_token.clone(),
            buffer: Vec::new().into_iter(),
            in_flight: None,
        }
    }
}

impl SandboxPaginator {
    pub(crate) fn new(opts: ListOpts) -> Self {
        let setup =
            ConnectionConfig::resolve(&opts.connection).and_then(|c| Ok((c, opts.into_query()?)));
        let next_token = setup.as_ref().ok().and_then(|(_, q)| q.next_token.clone());
        SandboxPaginator {
            setup: Shared::new(setup),
            has_next: true,
            next_token,
            buffer: Vec::new().into_iter(),
            in_flight: None,
        }
    }

    /// Whether another page may be fetched.
    pub fn has_next(&self) -> bool {
        self.has_next
    }

    /// The token of the next page, if the server sent one.
    pub fn next_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }

    fn fetch_op(&self) -> Result<Op<(Vec<ListedSandbox>, Option<String>)>> {
        let (config, query) = self.setup_for_next()?;
        Ok(api::list_page(config, query, self.next_token.as_deref()))
    }

    /// The connection and query, once there is a next page.
    fn setup_for_next(&self) -> Result<(&ConnectionConfig, &ListQuery)> {
        if !self.has_next {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "No more items to fetch",
            ));
        }
        let (config, query) = self.setup.as_ref().as_ref().map_err(Error::clone)?;
        Ok((config, query))
    }

    fn fetch(&self) -> Result<BoxFuture<'static, Page>> {
        Ok(Box::pin(self.fetch_op()?.run()))
    }

    fn advance(&mut self, page: Page) -> Result<Vec<SandboxInfo>> {
        let (items, next) = page?;
        let mut infos = Vec::with_capacity(items.len());
        for item in items {
            infos.push(SandboxInfo::try_from(item)?);
        }
        self.move_to(next);
        Ok(infos)
    }

    fn move_to(&mut self, next: Option<String>) {
        self.has_next = next.is_some();
        self.next_token = next;
    }

    /// Fetches the next page. Errors with "No more items to fetch" once `has_next` is false.
    pub async fn next_items(&mut self) -> Result<Vec<SandboxInfo>> {
        let page = self.fetch()?.await;
        self.advance(page)
    }

    /// The next page's sandboxes as one JSON array in the SDK's shape
    /// ([`crate::info_json::infos_json`]), read straight from the page's bytes where it can be:
    /// for a binding that makes objects with one `JSON.parse`. An [`Op`], so it works on a copy
    /// of the paginator: it yields the copy, advanced, and leaves this one as it is.
    pub fn next_items_json(&self) -> Op<(SandboxPaginator, String)> {
        let mut next = self.clone();
        Op::build(self.setup_for_next().map(|(config, query)| {
            api::list_page_response(config, query, self.next_token.as_deref()).then(move |page| {
                let (resp, token) = page?;
                let json = crate::info_json::listed_page_json(&resp)?;
                next.move_to(token);
                Ok((next, json))
            })
        }))
    }
}

impl Stream for SandboxPaginator {
    type Item = Result<SandboxInfo>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.buffer.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            if this.in_flight.is_none() {
                if !this.has_next {
                    return Poll::Ready(None);
                }
                match this.fetch() {
                    Ok(f) => this.in_flight = Some(f),
                    Err(e) => {
                        this.has_next = false;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            let Some(fut) = this.in_flight.as_mut() else {
                continue;
            };
            let page = match fut.poll_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(p) => p,
            };
            this.in_flight = None;
            match this.advance(page) {
                Ok(items) => this.buffer = items.into_iter(),
                Err(e) => {
                    // Stop after an error rather than retrying the same page forever.
                    this.has_next = false;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}
