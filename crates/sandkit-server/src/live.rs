//! The running side of sandboxes: for each live record in the store, its agent and its
//! processes. The store decides what exists; this module starts and ends what runs.

use crate::envd::procs::ProcTable;
use crate::sandbox::{Dormant, Runtime, SandboxHandle, SandboxIdentity};
use crate::store::SandboxRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One running sandbox, as the daemon protocol needs it.
pub struct LiveSandbox {
    pub id: String,
    /// `X-Access-Token` every daemon call must carry.
    pub envd_token: String,
    pub handle: SandboxHandle,
    pub procs: ProcTable,
    /// `E2B_*` variables and the create call's `envVars`, in that order.
    pub env: Vec<(String, String)>,
    /// Becomes true when the sandbox is killed or expires: its open streams then break as a
    /// dead VM's would (cut, with no end), not with an ordinary end of their process.
    pub ended: tokio::sync::watch::Sender<bool>,
    /// The polling directory watchers (`CreateWatcher`) open in the sandbox.
    pub watchers: crate::envd::watchers::Watchers,
    /// Who may reach its ports through the proxy, and the Host they see.
    pub ingress: crate::proxy::Ingress,
    /// The proxy's kept connections to its servers.
    pub upstreams: crate::proxy::Upstreams,
    /// Its own log: processes started and ended, daemon errors.
    pub log: crate::logs::SandboxLogger,
    /// Its code interpreter's contexts (port 49999).
    pub contexts: crate::interpreter::Contexts,
    /// Its interface and rules, when sandboxes have a network here.
    pub egress: Mutex<Option<crate::net::Attachment>>,
}

// The access token is a secret: no debug output shows it (nor the traffic token, which
// `Ingress` leaves out).
impl std::fmt::Debug for LiveSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSandbox")
            .field("id", &self.id)
            .field("handle", &self.handle)
            .field("ingress", &self.ingress)
            .finish_non_exhaustive()
    }
}

impl LiveSandbox {
    /// Resolves once the sandbox has ended.
    pub async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }
}

/// Every running sandbox, and the runtime that starts them.
#[derive(Debug)]
pub struct Live {
    /// Why not, when this machine cannot run sandbox processes at all (then sandboxes are
    /// records only, and the daemon routes answer that the sandbox is not running).
    pub runtime: Result<Runtime, String>,
    sandboxes: Mutex<HashMap<String, Arc<LiveSandbox>>>,
    /// Sandboxes paused without memory: files only, until a resume reboots them.
    dormant: Mutex<HashMap<String, Dormant>>,
    /// The ids of sandboxes that ended lately, newest last: the proxy tells a request for one
    /// of them (502, gone) from one for an id that never existed (404).
    ended_ids: Mutex<std::collections::VecDeque<String>>,
    /// Where the sandboxes' own events are written (the store's, see [`Live::with_logs`]).
    logs: Arc<crate::logs::SandboxLogs>,
    /// Sandboxes' network; `Err` says why they have loopback only.
    pub net: Result<crate::net::Network, String>,
    /// Pauses and resumes under way, by sandbox: a resume waits for a pause that has begun
    /// (else it would find neither the running sandbox nor its files, and do nothing).
    transitions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A sandbox's turn to pause or resume; see [`Live::transition`].
struct Transition<'a> {
    live: &'a Live,
    id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Transition<'_> {
    fn drop(&mut self) {
        self._guard.take();
        // Only the map and this one hold it: nobody waits; forget it.
        if let Ok(mut t) = self.live.transitions.lock()
            && Arc::strong_count(&self.lock) == 2
        {
            t.remove(&self.id);
        }
    }
}

/// How many ended sandboxes' ids are remembered.
const ENDED_IDS_KEPT: usize = 10_000;

/// The public-URL rules of a sandbox: a traffic token only when public traffic is off.
pub fn ingress_of(record: &SandboxRecord) -> crate::proxy::Ingress {
    let network = record.spec.network.as_ref();
    crate::proxy::Ingress {
        traffic_token: network
            .is_some_and(|n| n.allow_public_traffic == Some(false))
            .then(|| record.traffic_access_token.clone()),
        mask_host: network
            .and_then(|n| n.mask_request_host.clone())
            .filter(|m| !m.is_empty()),
    }
}

/// The egress rules of a sandbox (checked when they were stored).
pub fn policy_of(spec: &crate::store::SandboxSpec) -> Result<crate::net::Policy, String> {
    let network = spec.network.clone().unwrap_or_default();
    crate::net::Policy::parse(
        spec.allow_internet_access,
        network.allow_out.as_deref().unwrap_or_default(),
        network.deny_out.as_deref().unwrap_or_default(),
    )
}

/// Whether a sandbox asks for any egress rule at all.
fn asks_rules(spec: &crate::store::SandboxSpec) -> bool {
    let network = spec.network.as_ref();
    let given = |list: Option<&Vec<String>>| list.is_some_and(|l| !l.is_empty());
    spec.allow_internet_access == Some(false)
        || given(network.and_then(|n| n.allow_out.as_ref()))
        || given(network.and_then(|n| n.deny_out.as_ref()))
}

/// Who a sandbox is, as its processes see it.
fn identity_of(record: &SandboxRecord) -> SandboxIdentity {
    SandboxIdentity {
        sandbox_id: record.id.clone(),
        template_id: record.spec.template_id.clone(),
        team_id: record.spec.team.clone(),
        base_template: record.spec.base_template.clone(),
    }
}

impl Live {
    pub fn new(runtime: Result<Runtime, String>) -> Live {
        Live {
            runtime,
            sandboxes: Mutex::new(HashMap::new()),
            dormant: Mutex::new(HashMap::new()),
            ended_ids: Mutex::new(Default::default()),
            logs: Default::default(),
            net: Err("not started".into()),
            transitions: Mutex::new(HashMap::new()),
        }
    }

    /// Gives sandboxes `net` (or says why they have loopback only), and starts the warm pool.
    pub fn with_network(mut self, net: Result<crate::net::Network, String>) -> Live {
        if let Ok(rt) = &self.runtime {
            rt.start_pool(net.as_ref().ok().cloned());
        }
        self.net = net;
        self
    }

    /// The banner's line on sandboxes' network.
    pub fn network_line(&self) -> String {
        match &self.net {
            Ok(net) => net.describe(),
            Err(why) => format!(
                "egress off: {why}; sandboxes have loopback only, and creates with allowOut rules are refused"
            ),
        }
    }

    /// Whether sandboxes here can have the egress rules of `spec` as they ask: `Err` is a
    /// message for a 400.
    pub fn check_egress(&self, spec: &crate::store::SandboxSpec) -> Result<(), String> {
        let policy = policy_of(spec)?;
        let shares_host_network = matches!(&self.runtime, Ok(rt) if !rt.isolated);
        if self.runtime.is_err() {
            // Records only: nothing runs that a rule could apply to.
            return Ok(());
        }
        match &self.net {
            Ok(_) => Ok(()),
            // Its processes are on the host's network: no rule can hold.
            Err(why) if shares_host_network && asks_rules(spec) => Err(format!(
                "network rules cannot be enforced: {why}; create the sandbox without allowOut, denyOut or allow_internet_access: false"
            )),
            // Without a network every deny rule holds by itself; an allow rule cannot be
            // granted, and must not be taken as if it were.
            Err(why) if !policy.allow.is_empty() || !policy.domains.is_empty() => Err(format!(
                "network.allowOut cannot be granted: sandboxes here have no network ({why})"
            )),
            Err(_) => Ok(()),
        }
    }

    /// Puts a started sandbox on the network under its record's rules.
    async fn attach(
        &self,
        handle: &SandboxHandle,
        record: &SandboxRecord,
    ) -> Result<Option<crate::net::Attachment>, String> {
        let Ok(net) = &self.net else {
            return Ok(None);
        };
        let (Some(pid), Some(netns)) = (handle.pid(), handle.netns()) else {
            return Ok(None);
        };
        let policy = policy_of(&record.spec)?;
        // Given its interface while it was set up: its rules go in before the create answers
        // (before anything of the sandbox's user runs).
        if let Some(attachment) = handle.take_link() {
            return match net.apply(&attachment, policy).await {
                Ok(()) => Ok(Some(attachment)),
                Err(e) => {
                    net.detach(attachment).await;
                    Err(format!("could not give the sandbox its network rules: {e}"))
                }
            };
        }
        net.attach(pid, netns, policy)
            .await
            .map(Some)
            .map_err(|e| format!("could not give the sandbox its network: {e}"))
    }

    /// Takes a sandbox off the network (its processes have ended).
    async fn detach(&self, live: &LiveSandbox) {
        let attachment = live.egress.lock().ok().and_then(|mut a| a.take());
        if let (Some(a), Ok(net)) = (attachment, &self.net) {
            net.detach(a).await;
        }
    }

    /// Applies a record's new egress rules to its running (or frozen) sandbox; a sandbox
    /// paused without memory gets them when it is rebooted.
    pub async fn update_egress(&self, record: &SandboxRecord) -> Result<(), String> {
        // After a resume under way, which may have attached it under the rules of before.
        let _one = self.transition(&record.id).await;
        let Some(live) = self.get(&record.id) else {
            return Ok(());
        };
        let address = live
            .egress
            .lock()
            .ok()
            .and_then(|a| a.as_ref().map(|a| a.address));
        match (address, &self.net) {
            (Some(address), Ok(net)) => net.update(address, policy_of(&record.spec)?).await,
            _ => Ok(()),
        }
    }

    /// Writes the sandboxes' events to `logs` (a `Live` of its own keeps them unread).
    pub fn with_logs(mut self, logs: Arc<crate::logs::SandboxLogs>) -> Live {
        self.logs = logs;
        self
    }

    /// Writes down that something failed for sandbox `id`.
    pub fn log_error(&self, id: &str, action: &str, error: &str) {
        self.logs
            .record(id, &crate::logs::Event::DaemonError { action, error });
    }

    /// Starts the processes of a sandbox the store just created; with a `seed`, on a copy of
    /// the seed's files.
    pub async fn start(
        &self,
        record: &SandboxRecord,
        seed: Option<&crate::sandbox::Seed>,
    ) -> std::io::Result<()> {
        let Ok(runtime) = &self.runtime else {
            return Ok(());
        };
        let identity = identity_of(record);
        let handle = runtime.start(&identity, seed).await?;
        match self.attach(&handle, record).await {
            Ok(egress) => {
                self.add(record, &identity, handle, egress);
                Ok(())
            }
            Err(e) => {
                handle.kill().await;
                Err(std::io::Error::other(e))
            }
        }
    }

    /// Resumes a sandbox the store has just marked running again: thaws its processes, or,
    /// when it was paused without memory, starts it afresh on its files (a reboot).
    pub async fn resume(
        &self,
        store: &crate::store::Store,
        record: &SandboxRecord,
    ) -> Result<(), String> {
        let _one = self.transition(&record.id).await;
        // Marked paused at its timeout, and resumed before the reaper paused it: what that
        // pause would have done first (without memory, its processes end, so this resume
        // reboots it; with memory, freezing and thawing it would change nothing).
        if store.take_auto_paused(&record.id) && record.spec.auto_pause_memory == Some(false) {
            self.stop_keeping_files(&record.id).await;
        }
        // Its rules as they are now: a network update may have come while this waited.
        let latest = store.get_any(&record.id);
        let record = latest.as_ref().unwrap_or(record);
        let dormant = self
            .dormant
            .lock()
            .ok()
            .and_then(|mut d| d.remove(&record.id));
        let Some(dormant) = dormant else {
            return self.set_paused(&record.id, false).await;
        };
        let Ok(runtime) = &self.runtime else {
            return Ok(());
        };
        let identity = identity_of(record);
        let rebooted = match runtime.reboot(&identity, &dormant).await {
            Ok(handle) => match self.attach(&handle, record).await {
                Ok(egress) => Ok((handle, egress)),
                Err(e) => {
                    handle.stop_keeping_files().await;
                    Err(e)
                }
            },
            Err(e) => Err(e.to_string()),
        };
        match rebooted {
            Ok((handle, egress)) => {
                self.add(record, &identity, handle, egress);
                Ok(())
            }
            Err(e) => {
                // Its files stay for another try, or a kill.
                if let Ok(mut d) = self.dormant.lock() {
                    d.insert(record.id.clone(), dormant);
                }
                Err(format!("could not reboot the sandbox: {e}"))
            }
        }
    }

    /// Takes back a paused sandbox's files from an earlier sandkitd (its resume reboots it).
    /// Returns the host id range its files are owned by now (another one than the record's
    /// when that was taken meanwhile).
    pub fn adopt(&self, record: &SandboxRecord) -> std::io::Result<Option<u32>> {
        let Ok(runtime) = &self.runtime else {
            return Ok(record.host_ids);
        };
        let dormant = runtime.adopt(&record.id, record.host_ids)?;
        let host_ids = dormant.host_ids();
        if let Ok(mut d) = self.dormant.lock() {
            d.insert(record.id.clone(), dormant);
        }
        Ok(host_ids)
    }

    /// The first host id of a running sandbox's user namespace range (see
    /// [`SandboxRecord::host_ids`]).
    pub fn host_ids(&self, id: &str) -> Option<u32> {
        let base = self.get(id)?.handle.ids().base;
        (base != 0).then_some(base)
    }

    /// Pauses a sandbox without its memory: its processes end, its files stay for the reboot
    /// that resuming it will be. Its streams break as a stopped VM's would.
    pub async fn stop_keeping_files(&self, id: &str) {
        let live = self.sandboxes.lock().ok().and_then(|mut m| m.remove(id));
        if let Some(live) = live {
            live.ended.send_replace(true);
            let dormant = live.handle.stop_keeping_files().await;
            if let Ok(mut d) = self.dormant.lock() {
                d.insert(id.to_string(), dormant);
            }
            // After the files are on record: a resume that comes meanwhile reboots at once
            // (on another address; this one's rules go now).
            self.detach(&live).await;
        }
    }

    fn add(
        &self,
        record: &SandboxRecord,
        identity: &SandboxIdentity,
        handle: SandboxHandle,
        egress: Option<crate::net::Attachment>,
    ) {
        let mut env = identity.env();
        env.extend(
            record
                .spec
                .env_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let live = Arc::new(LiveSandbox {
            id: record.id.clone(),
            envd_token: record.envd_access_token.clone(),
            handle,
            procs: ProcTable::default(),
            env,
            ended: tokio::sync::watch::Sender::new(false),
            watchers: Default::default(),
            ingress: ingress_of(record),
            upstreams: Default::default(),
            log: crate::logs::SandboxLogger::new(self.logs.clone(), &record.id),
            contexts: Default::default(),
            egress: Mutex::new(egress),
        });
        if let Ok(mut map) = self.sandboxes.lock() {
            map.insert(record.id.clone(), live);
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<LiveSandbox>> {
        self.sandboxes.lock().ok()?.get(id).cloned()
    }

    /// Stops (`true`) or restarts every process of a sandbox where it is. A sandbox with no
    /// processes here (records only) has nothing to do; one that cannot be frozen is refused.
    pub async fn set_paused(&self, id: &str, paused: bool) -> Result<(), String> {
        let Some(live) = self.get(id) else {
            return Ok(());
        };
        if !live.handle.can_pause() {
            return Err(match &self.runtime {
                Ok(rt) => rt.pause_support().err().unwrap_or_default(),
                Err(why) => why.clone(),
            });
        }
        live.handle
            .set_paused(paused)
            .await
            .map_err(|e| e.to_string())
    }

    /// Whether snapshots and forks can be made here, or why not.
    pub fn snapshot_support(&self) -> Result<(), String> {
        match &self.runtime {
            Ok(rt) => rt.snapshot_support(),
            Err(why) => Err(format!("no sandbox processes ({why})")),
        }
    }

    /// Copies sandbox `id`'s disk image to the new file `to`, its files as they are at one
    /// moment: a running sandbox is frozen meanwhile (and thawed after, unless the store has
    /// it paused by then), a paused one is copied as it is. Returns the first host id of the
    /// range that owns the copied files.
    pub async fn copy_disk(
        &self,
        store: &crate::store::Store,
        id: &str,
        to: std::path::PathBuf,
    ) -> Result<Option<u32>, String> {
        // No pause, resume or other copy of it in between.
        let _one = self.transition(id).await;
        if let Some(live) = self.get(id) {
            self.set_paused(id, true).await?;
            let copied = live.handle.copy_disk(to).await;
            if !store.is_paused(id) {
                self.set_paused(id, false).await?;
            }
            copied.map_err(|e| format!("copying its disk: {e}"))?;
            return Ok(Some(live.handle.ids().base).filter(|b| *b != 0));
        }
        let copied = {
            let dormant = self.dormant.lock().map_err(|e| e.to_string())?;
            let Some(dormant) = dormant.get(id) else {
                return Err("it has no files here".into());
            };
            (dormant.copier(to), dormant.host_ids())
        };
        copied
            .0
            .await
            .map_err(|e| format!("copying its disk: {e}"))?;
        Ok(copied.1)
    }

    /// Whether sandbox `id` is one this sandkitd could pause (false: no cgroup freezer here).
    pub fn can_pause(&self, id: &str) -> bool {
        self.get(id).is_none_or(|live| live.handle.can_pause())
    }

    /// Pauses a sandbox the store has just marked paused: freezes it (`keep_memory`), or ends
    /// its processes and keeps its files. `at_timeout`: the store marked it at its timeout
    /// (`autoPause`), and the pause is still due unless a resume has done it meanwhile.
    ///
    /// A resume may come before this pause has its turn: it finds the sandbox running and it
    /// goes on running, so this pause does nothing (stopping it now would end what the resumer
    /// runs); a resume of a sandbox paused at its timeout does the pending pause first (see
    /// [`Live::resume`]). A resume that comes in between resumes what is not paused yet, so
    /// afterwards a sandbox the store no longer has as paused is resumed again: either order
    /// ends with it running.
    pub async fn pause(
        &self,
        store: &crate::store::Store,
        id: &str,
        keep_memory: bool,
        at_timeout: bool,
    ) -> Result<(), String> {
        {
            let _one = self.transition(id).await;
            if !store.is_paused(id) || (at_timeout && !store.take_auto_paused(id)) {
                return Ok(());
            }
            if keep_memory {
                self.set_paused(id, true).await?;
            } else {
                self.stop_keeping_files(id).await;
            }
        }
        if !store.is_paused(id)
            && let Some(record) = store.get_any(id)
        {
            self.resume(store, &record).await?;
        }
        Ok(())
    }

    /// Holds sandbox `id`'s turn to pause or resume (forgotten when nobody waits for it).
    async fn transition(&self, id: &str) -> Transition<'_> {
        let lock = self
            .transitions
            .lock()
            .map(|mut t| t.entry(id.to_string()).or_default().clone())
            .unwrap_or_default();
        let guard = lock.clone().lock_owned().await;
        Transition {
            live: self,
            id: id.to_string(),
            lock,
            _guard: Some(guard),
        }
    }

    /// Whether `id` is one of the sandboxes that ended lately.
    pub fn ended_lately(&self, id: &str) -> bool {
        self.ended_ids
            .lock()
            .is_ok_and(|ended| ended.iter().rev().any(|e| e == id))
    }

    /// Every sandbox with processes here.
    pub fn all(&self) -> Vec<Arc<LiveSandbox>> {
        self.sandboxes
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The first running sandbox `matches` accepts.
    pub fn find(&self, matches: impl Fn(&LiveSandbox) -> bool) -> Option<Arc<LiveSandbox>> {
        self.sandboxes
            .lock()
            .ok()?
            .values()
            .find(|l| matches(l))
            .cloned()
    }

    /// Ends a sandbox's processes and frees its files.
    pub async fn end(&self, id: &str) {
        let live = self.sandboxes.lock().ok().and_then(|mut m| m.remove(id));
        if let Ok(mut ended) = self.ended_ids.lock() {
            if ended.len() == ENDED_IDS_KEPT {
                ended.pop_front();
            }
            ended.push_back(id.to_string());
        }
        if let Some(live) = live {
            live.ended.send_replace(true);
            live.handle.kill().await;
            self.detach(&live).await;
        }
        let dormant = self.dormant.lock().ok().and_then(|mut d| d.remove(id));
        if let Some(dormant) = dormant {
            dormant.discard().await;
        }
    }

    /// Ends every sandbox (shutdown); `keep_files`: the files of those paused without memory
    /// stay (a state directory kept for the next start).
    pub async fn end_all(&self, keep_files: bool) {
        let all: Vec<Arc<LiveSandbox>> = match self.sandboxes.lock() {
            Ok(mut m) => m.drain().map(|(_, v)| v).collect(),
            Err(_) => return,
        };
        for l in &all {
            l.ended.send_replace(true);
        }
        let kills = all.iter().map(|l| async {
            l.handle.kill().await;
            self.detach(l).await;
        });
        futures_util::future::join_all(kills).await;
        // Before the network closes: the pool's sandboxes have interfaces in it.
        if let Ok(runtime) = &self.runtime {
            runtime.close_pool().await;
        }
        if let Ok(net) = &self.net {
            net.close().await;
        }
        let dormant: Vec<Dormant> = match self.dormant.lock() {
            Ok(mut d) => d.drain().map(|(_, v)| v).collect(),
            Err(_) => Vec::new(),
        };
        if !keep_files {
            futures_util::future::join_all(dormant.into_iter().map(Dormant::discard)).await;
        }
        if let Ok(runtime) = &self.runtime {
            // Only if empty: a directory the user named may hold other things.
            let _ = std::fs::remove_dir(runtime.state_dir());
        }
    }
}
