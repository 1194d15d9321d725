//! Snapshots and forks: the options of [`crate::Sandbox::list_snapshots`] and
//! [`crate::Sandbox::fork_by_id`], and the paginator of snapshots.

use crate::api::{self, SnapshotQuery};
use crate::config::{ConnectionConfig, ConnectionOpts};
use crate::error::{Error, ErrorKind, Result};
use crate::maybe_send::Shared;
use crate::op::Op;
use crate::options::check_list_limit;
pub use crate::wire::SnapshotInfo;
use std::time::Duration;

/// Options of [`crate::Sandbox::list_snapshots`].
#[derive(Debug, Clone, Default)]
pub struct SnapshotListOpts {
    /// Only the snapshots of this sandbox.
    pub sandbox_id: Option<String>,
    /// Only the snapshot this name or id names (`name`, `name:tag`, an id).
    pub name: Option<String>,
    /// Page size, 1 to 100; the server's default (100) when unset.
    pub limit: Option<u32>,
    /// Start from this page.
    pub next_token: Option<String>,
    pub connection: ConnectionOpts,
}

impl SnapshotListOpts {
    fn into_query(self) -> Result<SnapshotQuery> {
        Ok(SnapshotQuery {
            limit: check_list_limit(self.limit)?,
            sandbox_id: self.sandbox_id,
            name: self.name,
        })
    }
}

/// Options of [`crate::Sandbox::fork_by_id`] and [`crate::Sandbox::fork`].
#[derive(Debug, Clone, Default)]
pub struct ForkOpts {
    /// How many sandboxes to make from the one copy of the files; 1 when unset.
    pub count: Option<u32>,
    /// How long each fork lives; the API's default (15 s) when unset.
    pub timeout: Option<Duration>,
    pub connection: ConnectionOpts,
}

/// Pages through snapshots (`GET /snapshots`), newest first. `has_next` starts true; after
/// each page it is true only if the server sent a next-page token.
#[derive(Clone)]
pub struct SnapshotPaginator {
    // Options are checked on the first fetch, so a bad option surfaces as a typed error there.
    setup: Shared<Result<(ConnectionConfig, SnapshotQuery)>>,
    has_next: bool,
    next_token: Option<String>,
}

impl SnapshotPaginator {
    pub(crate) fn new(opts: SnapshotListOpts) -> Self {
        let config = ConnectionConfig::resolve(&opts.connection);
        Self::starting(config, opts)
    }

    /// The paginator of a sandbox's own snapshots, on its connection.
    pub(crate) fn of_sandbox(
        config: ConnectionConfig,
        sandbox_id: &str,
        opts: SnapshotListOpts,
    ) -> Self {
        let opts = SnapshotListOpts {
            sandbox_id: Some(sandbox_id.to_string()),
            ..opts
        };
        Self::starting(Ok(config), opts)
    }

    /// At `opts.next_token` (the first page when unset), on `config`.
    fn starting(config: Result<ConnectionConfig>, opts: SnapshotListOpts) -> Self {
        let next_token = opts.next_token.clone();
        SnapshotPaginator {
            setup: Shared::new(config.and_then(|c| Ok((c, opts.into_query()?)))),
            has_next: true,
            next_token,
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

    /// The next page, and a copy of this paginator moved past it (this one stays as it is).
    /// Errors with "No more items to fetch" once `has_next` is false.
    pub fn next_page(&self) -> Op<(SnapshotPaginator, Vec<SnapshotInfo>)> {
        if !self.has_next {
            return Op::ready(Err(Error::new(
                ErrorKind::InvalidArgument,
                "No more items to fetch",
            )));
        }
        let mut next = self.clone();
        Op::build(
            self.setup
                .as_ref()
                .as_ref()
                .map_err(Error::clone)
                .map(|(config, query)| {
                    api::list_snapshots_page(config, query, self.next_token.as_deref()).map(
                        move |(items, token)| {
                            next.has_next = token.is_some();
                            next.next_token = token;
                            (next, items)
                        },
                    )
                }),
        )
    }

    /// Fetches the next page (see [`SnapshotPaginator::next_page`]).
    pub async fn next_items(&mut self) -> Result<Vec<SnapshotInfo>> {
        let (next, items) = self.next_page().await?;
        *self = next;
        Ok(items)
    }
}
