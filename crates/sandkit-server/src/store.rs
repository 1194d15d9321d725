//! The sandboxes of every team: records, start order, listing with cursors, and expiry.
//!
//! Everything sits behind one mutex held only for map operations (never across an await), so
//! each call sees and leaves a consistent state. A sandbox whose end time has passed is gone
//! for every call, whether or not the reaper has removed it yet.

use crate::cursor::{Order, StartKey};
use crate::logs::{Event, SandboxLogs};
use crate::random;
use sandkit::wire::{NetworkConfig, SandboxState, StringMap};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// What a create request asks for, already validated.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SandboxSpec {
    /// The team that owns the sandbox.
    pub team: String,
    /// Template id or alias, as given.
    pub template_id: String,
    /// The template whose layers it runs on, where that is not `template_id` (made from a
    /// snapshot, or forked from a sandbox that was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_template: Option<String>,
    /// Lifetime from now, in seconds.
    pub timeout_secs: u32,
    /// Caller's labels, matched case-sensitively by list filters.
    pub metadata: StringMap,
    /// Environment of every process the sandbox will run.
    pub env_vars: StringMap,
    /// `allow_internet_access` as sent (absent means allowed).
    pub allow_internet_access: Option<bool>,
    /// Egress and ingress rules as sent.
    pub network: Option<NetworkConfig>,
    /// `autoPause`: pause instead of kill on timeout.
    pub auto_pause: bool,
    /// `autoPauseMemory` as sent.
    pub auto_pause_memory: Option<bool>,
    /// `autoResume.enabled`.
    pub auto_resume: bool,
    /// `secure` as sent by older SDKs.
    pub secure: Option<bool>,
    /// Its size: CPUs and memory (its cgroup's limits) and disk, as reported.
    pub cpu_count: u32,
    pub memory_mb: u32,
    pub disk_size_mb: u32,
}

/// What a request for a sandbox's daemon or ports finds (see [`Store::admit_traffic`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    Running,
    /// It was paused and has just been resumed by this request: its processes must be thawed.
    Resumed,
    Paused,
    /// No such sandbox, or its time is up.
    Gone,
}

/// One sandbox as the server knows it (and, with a state directory, as it is kept on disk).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SandboxRecord {
    /// `sandboxID`.
    pub id: String,
    /// Its start time, unique within the store: the listing order and the cursor position.
    pub start_ns: i64,
    /// When it ends, in Unix milliseconds; at or after this instant it no longer exists.
    pub end_ms: i64,
    pub state: SandboxState,
    /// When it was last paused, in Unix milliseconds (what `--max-paused-age` counts from).
    #[serde(default)]
    pub paused_at_ms: Option<i64>,
    /// The first host id of its user namespace's range, which owns its files on disk: a
    /// sandbox restored after a restart must get the same one.
    #[serde(default)]
    pub host_ids: Option<u32>,
    /// Sent as `X-Access-Token` to the sandbox's envd.
    pub envd_access_token: String,
    /// Guards the sandbox's public ports when public traffic is off.
    pub traffic_access_token: String,
    /// Everything the create request asked for.
    pub spec: SandboxSpec,
}

// The tokens are secrets: no debug output (a log line, a panic message) shows them.
impl std::fmt::Debug for SandboxRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxRecord")
            .field("id", &self.id)
            .field("start_ns", &self.start_ns)
            .field("end_ms", &self.end_ms)
            .field("state", &self.state)
            .field("paused_at_ms", &self.paused_at_ms)
            .field("host_ids", &self.host_ids)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl SandboxRecord {
    /// The record's position in start order.
    pub fn key(&self) -> StartKey {
        StartKey {
            start_ns: self.start_ns,
            id: self.id.clone(),
        }
    }

    /// Start time in Unix milliseconds, the precision the API reports.
    pub fn started_ms(&self) -> i64 {
        self.start_ns.div_euclid(1_000_000)
    }

    /// A paused sandbox's time stands still: it never expires while paused.
    fn expired(&self, now_ms: i64) -> bool {
        self.state == SandboxState::Running && self.end_ms <= now_ms
    }

    fn mark_paused(&mut self, now_ms: i64) {
        self.state = SandboxState::Paused;
        self.paused_at_ms = Some(now_ms);
    }
}

/// Which sandboxes a listing returns, apart from its position and page size.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Include running sandboxes.
    pub running: bool,
    /// Include paused sandboxes.
    pub paused: bool,
    /// Every pair must be present with exactly this value (AND, case-sensitive).
    pub metadata: StringMap,
    /// Only sandboxes started at or after this Unix millisecond.
    pub started_after_ms: Option<i64>,
    /// Only sandboxes of this template.
    pub template: Option<String>,
}

impl ListFilter {
    fn matches_attributes(&self, r: &SandboxRecord) -> bool {
        self.metadata
            .iter()
            .all(|(k, v)| r.spec.metadata.get(k) == Some(v))
            && self.started_after_ms.is_none_or(|t| r.started_ms() >= t)
            && self
                .template
                .as_deref()
                .is_none_or(|t| r.spec.template_id == t)
    }

    fn matches_state(&self, r: &SandboxRecord) -> bool {
        match r.state {
            SandboxState::Running => self.running,
            SandboxState::Paused => self.paused,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// At most `limit` records, in the requested order.
    pub items: Vec<SandboxRecord>,
    /// Position of the last item when more records follow it.
    pub next: Option<StartKey>,
    /// Running sandboxes that match the filter's attributes, across all pages.
    pub total_running: usize,
}

/// Every live sandbox of every team.
#[derive(Debug, Default)]
pub struct Store {
    inner: Mutex<Inner>,
    /// Where every change is written before the call that made it returns (`--state-dir`).
    persist: Option<crate::persist::Persist>,
}

/// A change to write to the state directory, numbered in the order it was made.
#[derive(Debug)]
pub enum Change {
    Saved(Box<SandboxRecord>, u64),
    Removed(String, u64),
}

#[derive(Debug, Default)]
struct Inner {
    ordered: BTreeMap<StartKey, SandboxRecord>,
    index: HashMap<String, StartKey>,
    last_start_ns: i64,
    /// Sandboxes marked paused at their timeout, not paused in fact yet (see
    /// [`Store::auto_paused`]).
    auto_paused: Vec<String>,
    /// Changes not written yet, when the store is persisted; written as the lock is released.
    changes: Option<Vec<Change>>,
    change_seq: u64,
    /// Each sandbox's own events, written here as its state changes (see [`crate::logs`]).
    logs: Arc<SandboxLogs>,
}

impl Inner {
    /// Notes that sandbox `id` changed, for the state directory.
    fn changed(&mut self, id: &str) {
        if self.changes.is_none() {
            return;
        }
        let Some(record) = self.by_id_mut(id).map(|r| Box::new(r.clone())) else {
            return;
        };
        self.change_seq += 1;
        let seq = self.change_seq;
        if let Some(changes) = &mut self.changes {
            changes.push(Change::Saved(record, seq));
        }
    }

    /// Sandbox `id`, whatever its team, state or end.
    fn by_id_mut(&mut self, id: &str) -> Option<&mut SandboxRecord> {
        let key = self.index.get(id)?;
        self.ordered.get_mut(key)
    }

    /// The team's live sandbox `id`; an expired one is removed on the way (or paused, when it
    /// asked for that at its timeout).
    fn live_mut(&mut self, team: &str, id: &str, now_ms: i64) -> Option<&mut SandboxRecord> {
        let key = self.index.get(id)?.clone();
        let record = self.ordered.get(&key)?;
        if record.spec.team != team {
            return None;
        }
        if record.expired(now_ms) {
            if !record.spec.auto_pause {
                self.logs.lock().end(&key.id, &Event::Expired, now_ms);
                self.remove(&key);
                return None;
            }
            // Its time is up and it asked to be paused: it is, from now on.
            let id = record.id.clone();
            self.logs.lock().record(&id, &Event::AutoPaused, now_ms);
            self.auto_paused.push(id.clone());
            self.ordered.get_mut(&key)?.mark_paused(now_ms);
            self.changed(&id);
            return self.ordered.get_mut(&key);
        }
        self.ordered.get_mut(&key)
    }

    /// The one place a sandbox ends (its processes will be stopped from here).
    fn remove(&mut self, key: &StartKey) -> Option<SandboxRecord> {
        self.index.remove(&key.id);
        self.auto_paused.retain(|pending| pending != &key.id);
        let removed = self.ordered.remove(key);
        if removed.is_some() && self.changes.is_some() {
            self.change_seq += 1;
            let seq = self.change_seq;
            if let Some(changes) = &mut self.changes {
                changes.push(Change::Removed(key.id.clone(), seq));
            }
        }
        removed
    }

    /// Ends the sandboxes whose time is up, except those that asked to be paused instead
    /// (`autoPause`): those are marked paused and left in `auto_paused` for the reaper to
    /// freeze.
    fn reap(&mut self, now_ms: i64) -> Vec<SandboxRecord> {
        let expired: Vec<StartKey> = self
            .ordered
            .values()
            .filter(|r| r.expired(now_ms))
            .map(SandboxRecord::key)
            .collect();
        let mut ended = Vec::new();
        for key in expired {
            match self.ordered.get_mut(&key) {
                Some(r) if r.spec.auto_pause => {
                    r.mark_paused(now_ms);
                    self.auto_paused.push(key.id.clone());
                    self.logs.lock().record(&key.id, &Event::AutoPaused, now_ms);
                    self.changed(&key.id);
                }
                _ => {
                    self.logs.lock().end(&key.id, &Event::Expired, now_ms);
                    ended.extend(self.remove(&key));
                }
            }
        }
        ended
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose every change is written to `persist` (in the call that makes it), holding
    /// `records` (read back from it).
    pub fn persisted(
        persist: crate::persist::Persist,
        records: Vec<SandboxRecord>,
        logs: crate::logs::LogBook,
    ) -> Self {
        let mut inner = Inner {
            changes: Some(Vec::new()),
            logs: Arc::new(SandboxLogs::new(logs)),
            ..Default::default()
        };
        for record in records {
            inner.last_start_ns = inner.last_start_ns.max(record.start_ns);
            inner.index.insert(record.id.clone(), record.key());
            inner.ordered.insert(record.key(), record);
        }
        Store {
            inner: Mutex::new(inner),
            persist: Some(persist),
        }
    }

    fn lock(&self) -> Txn<'_> {
        // No code panics while holding the lock, but a poisoned map is still consistent.
        Txn {
            guard: Some(self.inner.lock().unwrap_or_else(|e| e.into_inner())),
            persist: self.persist.as_ref(),
        }
    }

    /// Starts a sandbox with a fresh id and tokens.
    pub fn create(&self, spec: SandboxSpec, now_ns: i64) -> SandboxRecord {
        let mut inner = self.lock();
        // Strictly increasing start times make every start key unique and cursors exact.
        let start_ns = now_ns.max(inner.last_start_ns + 1);
        inner.last_start_ns = start_ns;
        let id = loop {
            let id = random::sandbox_id();
            if !inner.index.contains_key(&id) {
                break id;
            }
        };
        let record = SandboxRecord {
            id,
            start_ns,
            // From the reported start, so that endAt - startedAt is exactly the timeout.
            end_ms: end_ms(start_ns, spec.timeout_secs),
            state: SandboxState::Running,
            paused_at_ms: None,
            host_ids: None,
            envd_access_token: random::hex(32),
            traffic_access_token: random::hex(32),
            spec,
        };
        let key = record.key();
        inner.index.insert(record.id.clone(), key.clone());
        inner.ordered.insert(key, record.clone());
        inner
            .logs
            .lock()
            .open(&record.id, &record.spec.team, ms(start_ns));
        inner.logs.lock().record(
            &record.id,
            &Event::Created {
                template: &record.spec.template_id,
                timeout_secs: record.spec.timeout_secs,
            },
            ms(start_ns),
        );
        inner.changed(&record.id);
        record
    }

    /// Saves the sandboxes' logs to the state directory, if the store has one.
    pub fn save_logs(&self) {
        if let Some(persist) = &self.persist
            && let Err(e) = persist.save_logs(&self.logs().snapshot())
        {
            eprintln!("sandkitd: could not save the sandboxes' logs: {e}");
        }
    }

    /// The sandboxes' logs, shared with whoever writes or reads them.
    pub fn logs(&self) -> Arc<SandboxLogs> {
        self.lock().logs.clone()
    }

    /// Notes the host id range sandbox `id` was started with (see [`SandboxRecord::host_ids`]).
    pub fn set_host_ids(&self, id: &str, base: Option<u32>) {
        let mut inner = self.lock();
        if let Some(r) = inner.by_id_mut(id)
            && r.host_ids != base
        {
            r.host_ids = base;
            inner.changed(id);
        }
    }

    /// The team's sandbox `id`, if it exists and has not ended.
    pub fn get(&self, team: &str, id: &str, now_ns: i64) -> Option<SandboxRecord> {
        self.lock()
            .live_mut(team, id, ms(now_ns))
            .map(|r| r.clone())
    }

    /// What traffic for sandbox `id` finds, whatever its team (the daemon routes authenticate
    /// with the sandbox's own access token, not an API key). A paused sandbox that asked to
    /// be resumed by traffic (`autoResume`) is resumed on the way, for its create call's
    /// timeout.
    pub fn admit_traffic(&self, id: &str, now_ns: i64) -> Traffic {
        let mut inner = self.lock();
        let logs = inner.logs.clone();
        let Some(r) = inner.by_id_mut(id) else {
            return Traffic::Gone;
        };
        match r.state {
            SandboxState::Paused if r.spec.auto_resume => {
                r.state = SandboxState::Running;
                r.end_ms = end_ms(now_ns, r.spec.timeout_secs);
                logs.lock().record(id, &Event::AutoResumed, ms(now_ns));
                inner.changed(id);
                Traffic::Resumed
            }
            SandboxState::Paused => Traffic::Paused,
            SandboxState::Running if r.expired(ms(now_ns)) => Traffic::Gone,
            SandboxState::Running => Traffic::Running,
        }
    }

    /// Ends sandbox `id`, whatever its team or state.
    pub fn end(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(key) = inner.index.get(id).cloned() {
            // Only a sandbox that could not be paused at its timeout ends this way.
            inner
                .logs
                .lock()
                .end(id, &Event::Expired, crate::logs::now_ms());
            inner.remove(&key);
        }
    }

    /// The sandboxes marked paused at their timeout whose processes are not paused yet.
    pub fn auto_paused(&self) -> Vec<String> {
        self.lock().auto_paused.clone()
    }

    /// Takes sandbox `id` off the list of [`Store::auto_paused`] ones: `true` if it was on it
    /// (its pause is then the caller's to do).
    pub fn take_auto_paused(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.auto_paused.len();
        inner.auto_paused.retain(|pending| pending != id);
        inner.auto_paused.len() != before
    }

    /// The ids of every sandbox, whatever its team or state.
    pub fn all_ids(&self) -> Vec<String> {
        self.lock().index.keys().cloned().collect()
    }

    /// Sandbox `id`, whatever its team, state or end.
    pub fn get_any(&self, id: &str) -> Option<SandboxRecord> {
        self.lock().by_id_mut(id).map(|r| r.clone())
    }

    /// Whether sandbox `id` exists and is paused, whatever its team.
    pub fn is_paused(&self, id: &str) -> bool {
        self.lock()
            .by_id_mut(id)
            .is_some_and(|r| r.state == SandboxState::Paused)
    }

    /// Marks the team's running sandbox `id` paused: `Err(true)` if it already was, `Err(false)`
    /// if there is no such sandbox.
    pub fn pause(&self, team: &str, id: &str, now_ns: i64) -> Result<SandboxRecord, bool> {
        let mut inner = self.lock();
        let record = inner.live_mut(team, id, ms(now_ns)).ok_or(false)?;
        if record.state == SandboxState::Paused {
            return Err(true);
        }
        record.mark_paused(ms(now_ns));
        let record = record.clone();
        inner.logs.lock().record(id, &Event::Paused, ms(now_ns));
        inner.changed(id);
        Ok(record)
    }

    /// Marks the team's paused sandbox `id` running again, to end `timeout_secs` from now;
    /// `None` if it is not a paused sandbox of the team.
    pub fn resume(
        &self,
        team: &str,
        id: &str,
        timeout_secs: u32,
        now_ns: i64,
    ) -> Option<SandboxRecord> {
        let mut inner = self.lock();
        let record = inner.live_mut(team, id, ms(now_ns))?;
        if record.state != SandboxState::Paused {
            return None;
        }
        record.state = SandboxState::Running;
        record.end_ms = end_ms(now_ns, timeout_secs);
        let record = record.clone();
        let resumed = Event::Resumed { timeout_secs };
        inner.logs.lock().record(id, &resumed, ms(now_ns));
        inner.changed(id);
        Some(record)
    }

    /// Marks sandbox `id` paused again: its resume failed, it is still paused as it was.
    pub fn repause(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(r) = inner.by_id_mut(id) {
            r.state = SandboxState::Paused;
            inner.changed(id);
        }
    }

    /// Puts a sandbox that was marked paused back to running, as it was (its pause failed).
    pub fn unpause(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(r) = inner.by_id_mut(id) {
            r.state = SandboxState::Running;
            inner.changed(id);
        }
    }

    /// Ends the team's sandbox `id`; `None` if there was no such live sandbox.
    pub fn kill(&self, team: &str, id: &str, now_ns: i64) -> Option<SandboxRecord> {
        let mut inner = self.lock();
        let key = inner.live_mut(team, id, ms(now_ns))?.key();
        inner.logs.lock().end(id, &Event::Killed, ms(now_ns));
        inner.remove(&key)
    }

    /// Makes the running sandbox end `timeout_secs` from now, earlier or later than before.
    /// `Err(true)`: it is paused (its time stands still until it is resumed); `Err(false)`: no
    /// such sandbox.
    pub fn set_timeout(
        &self,
        team: &str,
        id: &str,
        timeout_secs: u32,
        now_ns: i64,
    ) -> Result<SandboxRecord, bool> {
        self.retime(team, id, now_ns, |_| end_ms(now_ns, timeout_secs))
    }

    /// Makes the running sandbox live at least `timeout_secs` from now, never shorter than it
    /// would have; errors as [`Store::set_timeout`]'s.
    pub fn keep_alive(
        &self,
        team: &str,
        id: &str,
        timeout_secs: u32,
        now_ns: i64,
    ) -> Result<SandboxRecord, bool> {
        self.retime(team, id, now_ns, |end| {
            end.max(end_ms(now_ns, timeout_secs))
        })
    }

    fn retime(
        &self,
        team: &str,
        id: &str,
        now_ns: i64,
        new_end: impl FnOnce(i64) -> i64,
    ) -> Result<SandboxRecord, bool> {
        let mut inner = self.lock();
        let record = inner.live_mut(team, id, ms(now_ns)).ok_or(false)?;
        if record.state == SandboxState::Paused {
            return Err(true);
        }
        record.end_ms = new_end(record.end_ms);
        let record = record.clone();
        inner.changed(id);
        Ok(record)
    }

    /// Replaces the team's sandbox `id`'s egress rules (`PUT /sandboxes/{id}/network`): the
    /// lists, proxy and header rules as given, cleared where not given; its public-traffic
    /// settings stay. `None`: no such sandbox.
    pub fn set_network(
        &self,
        team: &str,
        id: &str,
        allow_internet_access: Option<bool>,
        egress: NetworkConfig,
        now_ns: i64,
    ) -> Option<SandboxRecord> {
        let mut inner = self.lock();
        let record = inner.live_mut(team, id, ms(now_ns))?;
        let kept = record.spec.network.take().unwrap_or_default();
        record.spec.network = Some(NetworkConfig {
            allow_public_traffic: kept.allow_public_traffic,
            mask_request_host: kept.mask_request_host,
            https_ports: kept.https_ports,
            ..egress
        });
        record.spec.allow_internet_access = allow_internet_access;
        let record = record.clone();
        inner.changed(id);
        Some(record)
    }

    /// Makes the sandbox live at least `timeout_secs` from now; never shortens its life.
    pub fn extend(
        &self,
        team: &str,
        id: &str,
        timeout_secs: u32,
        now_ns: i64,
    ) -> Option<SandboxRecord> {
        let mut inner = self.lock();
        let record = inner.live_mut(team, id, ms(now_ns))?;
        record.end_ms = record.end_ms.max(end_ms(now_ns, timeout_secs));
        let record = record.clone();
        inner.changed(id);
        Some(record)
    }

    /// One page of the team's sandboxes that match `filter`, strictly after `after` in `order`.
    pub fn list(
        &self,
        team: &str,
        filter: &ListFilter,
        order: Order,
        limit: usize,
        after: Option<&StartKey>,
        now_ns: i64,
    ) -> ListPage {
        let mut inner = self.lock();
        inner.reap(ms(now_ns));
        let wanted = |r: &&SandboxRecord| {
            r.spec.team == team && filter.matches_state(r) && filter.matches_attributes(r)
        };
        let tail = match after {
            Some(k) => (Bound::Excluded(k), Bound::Unbounded),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        let head = match after {
            Some(k) => (Bound::Unbounded, Bound::Excluded(k)),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        let page = limit.saturating_add(1);
        let mut items: Vec<SandboxRecord> = match order {
            Order::Asc => inner
                .ordered
                .range::<StartKey, _>(tail)
                .map(|(_, r)| r)
                .filter(wanted)
                .take(page)
                .cloned()
                .collect(),
            Order::Desc => inner
                .ordered
                .range::<StartKey, _>(head)
                .rev()
                .map(|(_, r)| r)
                .filter(wanted)
                .take(page)
                .cloned()
                .collect(),
        };
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(SandboxRecord::key)
        });
        let total_running = inner
            .ordered
            .values()
            .filter(|r| {
                r.spec.team == team
                    && r.state == SandboxState::Running
                    && filter.matches_attributes(r)
            })
            .count();
        ListPage {
            items,
            next: next.flatten(),
            total_running,
        }
    }

    /// How many of the team's sandboxes run, and the earliest end among them. Admission asks
    /// this on every create: it clones nothing, so creating the n-th sandbox stays cheap.
    pub fn running(&self, team: &str, now_ns: i64) -> (usize, Option<i64>) {
        let mut inner = self.lock();
        inner.reap(ms(now_ns));
        inner
            .ordered
            .values()
            .filter(|r| r.spec.team == team && r.state == SandboxState::Running)
            .fold((0, None), |(n, first), r| {
                (
                    n + 1,
                    Some(first.map_or(r.end_ms, |f: i64| f.min(r.end_ms))),
                )
            })
    }

    /// Removes every sandbox whose end time has passed and returns them.
    pub fn reap(&self, now_ns: i64) -> Vec<SandboxRecord> {
        self.lock().reap(ms(now_ns))
    }

    /// Server shutdown with a state directory: the sandboxes that are paused, or that asked to
    /// be paused at their timeout, are kept (paused, to resume as a reboot after the restart);
    /// every other one is ended. Returns (kept, ended).
    pub fn close(&self, now_ns: i64) -> (Vec<SandboxRecord>, Vec<SandboxRecord>) {
        let mut inner = self.lock();
        let keys: Vec<StartKey> = inner.ordered.keys().cloned().collect();
        let (mut kept, mut ended) = (Vec::new(), Vec::new());
        for key in keys {
            match inner.ordered.get_mut(&key) {
                Some(r) if r.state == SandboxState::Paused || r.spec.auto_pause => {
                    let was_running = r.state != SandboxState::Paused;
                    if was_running {
                        r.mark_paused(ms(now_ns));
                    }
                    kept.push(r.clone());
                    if was_running {
                        inner
                            .logs
                            .lock()
                            .record(&key.id, &Event::Paused, ms(now_ns));
                    }
                    inner.changed(&key.id);
                }
                _ => {
                    let stopped = Event::ServerStopped;
                    inner.logs.lock().end(&key.id, &stopped, ms(now_ns));
                    ended.extend(inner.remove(&key));
                }
            }
        }
        (kept, ended)
    }

    /// After a restart (records read back): a sandbox that was running is paused if it asked
    /// to be at its timeout (its processes are gone; it resumes as a reboot), else ended, as
    /// a shutdown would have done; paused ones older than `max_paused_age` are dropped.
    pub fn settle_after_restart(&self, now_ns: i64, max_paused_age: std::time::Duration) {
        let (kept, _) = self.close(now_ns);
        drop(kept);
        let age_ms = i64::try_from(max_paused_age.as_millis()).unwrap_or(i64::MAX);
        self.forget_paused_before(ms(now_ns).saturating_sub(age_ms));
    }

    /// Removes the paused sandboxes paused before `cutoff_ms` and returns them.
    pub fn forget_paused_before(&self, cutoff_ms: i64) -> Vec<SandboxRecord> {
        let mut inner = self.lock();
        let old: Vec<StartKey> = inner
            .ordered
            .values()
            .filter(|r| {
                r.state == SandboxState::Paused && r.paused_at_ms.unwrap_or(i64::MAX) < cutoff_ms
            })
            .map(SandboxRecord::key)
            .collect();
        old.iter().filter_map(|k| inner.remove(k)).collect()
    }

    /// Ends every sandbox (server shutdown) and returns them.
    pub fn end_all(&self) -> Vec<SandboxRecord> {
        let mut inner = self.lock();
        let keys: Vec<StartKey> = inner.ordered.keys().cloned().collect();
        let now_ms = crate::logs::now_ms();
        for k in &keys {
            inner.logs.lock().end(&k.id, &Event::ServerStopped, now_ms);
        }
        keys.iter().filter_map(|k| inner.remove(k)).collect()
    }

    /// How many sandboxes the store holds, expired ones not yet reaped included.
    pub fn len(&self) -> usize {
        self.lock().ordered.len()
    }

    /// Whether the store holds no sandbox at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The store's lock, held for one call. Changes the call made are written to the state
/// directory when it is released, after the lock itself (blocking file writes: they must be on
/// disk before the call's answer is sent).
struct Txn<'a> {
    guard: Option<MutexGuard<'a, Inner>>,
    persist: Option<&'a crate::persist::Persist>,
}

impl std::ops::Deref for Txn<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        // Present until `drop`.
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Txn<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        let changes = self
            .guard
            .as_mut()
            .and_then(|g| g.changes.as_mut())
            .map(std::mem::take)
            .unwrap_or_default();
        // Released first: other calls go on while these are written (in order, see Persist).
        self.guard = None;
        if let (Some(persist), false) = (self.persist, changes.is_empty()) {
            persist.write(changes);
        }
    }
}

fn ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

fn end_ms(now_ns: i64, timeout_secs: u32) -> i64 {
    ms(now_ns) + i64::from(timeout_secs) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000_000_000;
    const SEC: i64 = 1_000_000_000;

    fn spec(team: &str, pairs: &[(&str, &str)]) -> SandboxSpec {
        SandboxSpec {
            team: team.into(),
            template_id: "base".into(),
            timeout_secs: 300,
            metadata: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn all() -> ListFilter {
        ListFilter {
            running: true,
            paused: true,
            ..Default::default()
        }
    }

    #[test]
    fn debug_output_leaves_the_tokens_out() {
        let r = Store::new().create(spec("t", &[]), T0);
        let shown = format!("{r:?} {r:#?}");
        assert!(shown.contains(&r.id), "{shown}");
        assert!(!shown.contains(&r.envd_access_token), "{shown}");
        assert!(!shown.contains(&r.traffic_access_token), "{shown}");
        let ingress = crate::proxy::Ingress {
            traffic_token: Some(r.traffic_access_token.clone()),
            mask_host: None,
        };
        assert!(!format!("{ingress:?}").contains(&r.traffic_access_token));
    }

    #[test]
    fn start_keys_are_unique_even_at_the_same_instant() {
        let store = Store::new();
        let a = store.create(spec("t", &[]), T0);
        let b = store.create(spec("t", &[]), T0);
        assert!(b.start_ns > a.start_ns);
    }

    #[test]
    fn expiry_hides_and_reaps() {
        let store = Store::new();
        let r = store.create(spec("t", &[]), T0);
        assert!(store.get("t", &r.id, T0 + 299 * SEC).is_some());
        assert!(store.get("other", &r.id, T0).is_none());
        assert!(store.get("t", &r.id, T0 + 300 * SEC).is_none());
        assert!(
            store.is_empty(),
            "an expired record is removed when touched"
        );
        let r = store.create(spec("t", &[]), T0);
        assert_eq!(store.reap(T0 + 301 * SEC).len(), 1);
        assert!(store.kill("t", &r.id, T0).is_none());
    }

    #[test]
    fn extend_never_shortens_and_set_timeout_may() {
        let store = Store::new();
        let r = store.create(spec("t", &[]), T0);
        let e = store.extend("t", &r.id, 10, T0 + SEC).unwrap();
        assert_eq!(e.end_ms, r.end_ms);
        let e = store.extend("t", &r.id, 600, T0 + SEC).unwrap();
        assert_eq!(e.end_ms, ms(T0) + 601_000);
        let s = store.set_timeout("t", &r.id, 10, T0 + SEC).unwrap();
        assert_eq!(s.end_ms, ms(T0) + 11_000);
    }

    #[test]
    fn pages_are_stable_under_churn() {
        for order in [Order::Asc, Order::Desc] {
            let store = Store::new();
            let mut ids: Vec<String> = (0..20)
                .map(|i| store.create(spec("t", &[]), T0 + i).id)
                .collect();
            store.create(spec("other", &[]), T0);
            if order == Order::Desc {
                ids.reverse();
            }
            let (mut seen, mut after, mut round) = (Vec::new(), None, 0);
            loop {
                let page = store.list("t", &all(), order, 3, after.as_ref(), T0 + SEC);
                seen.extend(page.items.iter().map(|r| r.id.clone()));
                if round == 1 {
                    // Between pages: kill one already seen, one not yet seen, and create one.
                    store.kill("t", &ids[0], T0 + SEC);
                    store.kill("t", &ids[15], T0 + SEC);
                    store.create(spec("t", &[]), T0 + SEC);
                }
                round += 1;
                match page.next {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
            let mut expected = ids.clone();
            expected.remove(15);
            let newest = seen.len() == expected.len() + 1;
            if order == Order::Asc {
                // Ascending reaches the sandbox created mid-listing at the end.
                assert!(newest, "{order:?}");
                seen.pop();
            }
            assert_eq!(seen, expected, "{order:?}");
        }
    }

    #[test]
    fn filters_match_case_sensitively_and_by_and() {
        let store = Store::new();
        let a = store.create(spec("t", &[("Team", "A")]), T0);
        let b = store.create(spec("t", &[("Team", "A"), ("env", "dev")]), T0);
        store.create(spec("t", &[("team", "a")]), T0);
        let list = |pairs: &[(&str, &str)]| {
            let filter = ListFilter {
                metadata: spec("", pairs).metadata,
                ..all()
            };
            let page = store.list("t", &filter, Order::Asc, 100, None, T0);
            page.items.into_iter().map(|r| r.id).collect::<Vec<_>>()
        };
        assert_eq!(list(&[("Team", "A")]), vec![a.id.clone(), b.id.clone()]);
        assert_eq!(list(&[("Team", "A"), ("env", "dev")]), vec![b.id]);
        assert!(list(&[("Team", "a")]).is_empty());
        let paused_only = ListFilter {
            running: false,
            ..all()
        };
        let page = store.list("t", &paused_only, Order::Asc, 100, None, T0);
        assert!(page.items.is_empty());
        assert_eq!(page.total_running, 3);
    }
}
