//! Real sandboxes: each one a process tree behind an agent (see [`agent`]), isolated in its own
//! user, PID, mount, UTS, IPC and network namespaces, on a root filesystem of its own (see
//! [`template`]), with a seccomp filter and a cgroup.
//!
//! [`Runtime`] starts and ends sandboxes; [`SandboxHandle`] talks to one sandbox's agent:
//! start a process (getting its pipes or PTY), signal it, learn when it ends.

mod accounts;
pub mod agent;
pub mod cgroup;
pub mod disk;
mod identity;
pub mod ids;
pub mod lockdown;
pub mod lookup;
mod mounts;
pub mod netns;
pub mod proto;
mod setup;
pub mod sudo;
pub mod sudo_client;
pub mod template;
mod userns;

use crate::config::SandboxesConfig;
use cgroup::{Cgroups, Limits, SandboxCgroup};
use ids::{IdClaim, IdMap, IdRanges};
use proto::{FromAgent, Received, SpawnRequest, ToAgent};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use template::Templates;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

/// How long a reboot waits for the last run's mount of the sandbox's disk to go.
const DISK_RELEASE: std::time::Duration = std::time::Duration::from_secs(5);

/// The uid and gid of the `user` account inside an isolated sandbox.
pub const USER_ID: u32 = 1000;

/// A Unix account of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Every group it is in (inside ids): its own first, then its supplementary groups.
    pub groups: Vec<u32>,
    /// The names of the sandbox's accounts and groups by id, as the files it was looked up in
    /// give them (for the owners and groups of file entries).
    pub names: Arc<lookup::AccountNames>,
}

/// `users`, each given the names of them all (and `nobody`) for the owners and groups of file
/// entries: what a sandbox without account files of its own goes by.
fn with_names(users: Vec<User>) -> Vec<User> {
    let mut table: Vec<(u32, String)> = users.iter().map(|u| (u.uid, u.name.clone())).collect();
    table.push((65534, "nobody".into()));
    let names = Arc::new(lookup::AccountNames {
        groups: table.clone(),
        users: table,
    });
    users
        .into_iter()
        .map(|u| User {
            names: names.clone(),
            ..u
        })
        .collect()
}

/// How sandboxes are run on this machine.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Namespaces are in use; otherwise (`--no-isolation`) processes run in the host's view, as
    /// sandkitd's user.
    pub isolated: bool,
    state_dir: PathBuf,
    exe: PathBuf,
    spawner: mpsc::UnboundedSender<SpawnJob>,
    templates: Arc<Templates>,
    /// Host id ranges for user namespaces; `None` runs without (`--insecure-no-userns`).
    ids: Option<Arc<IdRanges>>,
    /// Each sandbox's cgroup (its pids limit); `Err` says why there is none.
    cgroups: Result<Arc<Cgroups>, String>,
    seccomp: bool,
    limits: Limits,
    tmp_size_mb: u64,
    /// The sandboxes' disks; `Err` says why their size is not enforced.
    disks: Result<Arc<disk::Disks>, String>,
    pool: Arc<WarmPool>,
    /// Connects to ports inside sandboxes (the public-URL proxy).
    dialer: netns::Dialer,
    /// Sandboxes' network, once started: the warm pool gives its sandboxes their interface
    /// ahead of time (a veth pair takes longer to make than the rest of a create).
    net: Arc<std::sync::OnceLock<crate::net::Network>>,
}

/// Sandboxes of the default template set up ahead of time, so that a create only has to name
/// one (its user namespace, filesystem, cgroup and agent are ready).
#[derive(Debug, Default)]
struct WarmPool {
    ready: Mutex<Vec<SandboxHandle>>,
    wanted: usize,
    /// Being set up now: a refill makes each missing one at once, without waiting for others.
    making: std::sync::atomic::AtomicUsize,
    refill: tokio::sync::Notify,
    closed: std::sync::atomic::AtomicBool,
    started: std::sync::atomic::AtomicBool,
    next: AtomicU64,
}

/// The agent is spawned from one long-lived thread: the parent-death signal fires when the
/// *thread* that forked it ends, and tokio's blocking threads come and go.
struct SpawnJob {
    command: std::process::Command,
    reply: oneshot::Sender<std::io::Result<std::process::Child>>,
}

fn spawner_thread() -> mpsc::UnboundedSender<SpawnJob> {
    let (tx, mut rx) = mpsc::unbounded_channel::<SpawnJob>();
    std::thread::Builder::new()
        .name("sandkitd-spawner".into())
        .spawn(move || {
            while let Some(mut job) = rx.blocking_recv() {
                let _ = job.reply.send(job.command.spawn());
            }
        })
        .expect("spawning a thread at startup");
    tx
}

/// What the processes of a sandbox see in `/run/e2b` and their environment.
#[derive(Debug, Clone, Default)]
pub struct SandboxIdentity {
    pub sandbox_id: String,
    pub template_id: String,
    pub team_id: String,
    /// The template whose layers it runs on, where that is not `template_id`: a sandbox made
    /// from a snapshot runs on the layers of the template its source ran on.
    pub base_template: Option<String>,
}

/// The files a new sandbox starts from instead of its template's alone: a copy of another
/// sandbox's disk image (a snapshot, a fork), whose writable layers are owned by the host id
/// range that starts at `host_ids`.
#[derive(Debug, Clone)]
pub struct Seed {
    pub image: PathBuf,
    pub host_ids: Option<u32>,
    /// A copy of `image` made ahead of time, which the sandbox takes (moves) if it is there.
    pub spare: Option<PathBuf>,
}

impl SandboxIdentity {
    /// The template whose layers it runs on.
    pub fn layers(&self) -> &str {
        self.base_template.as_deref().unwrap_or(&self.template_id)
    }

    /// `E2B_SANDBOX`, `E2B_SANDBOX_ID`, `E2B_TEAM_ID`, `E2B_TEMPLATE_ID`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("E2B_SANDBOX".into(), "true".into()),
            ("E2B_SANDBOX_ID".into(), self.sandbox_id.clone()),
            ("E2B_TEAM_ID".into(), self.team_id.clone()),
            ("E2B_TEMPLATE_ID".into(), self.template_id.clone()),
        ]
    }
}

impl Runtime {
    /// Prepares `state_dir` and the templates, then finds out whether sandboxes can run as
    /// `config` asks, by starting one: the only reliable test of what the kernel and the
    /// container allow. Nothing is quietly weakened: when isolation as asked is impossible,
    /// this fails and says why, and which flag would accept the risk.
    ///
    /// Sandbox directories an earlier sandkitd left in `state_dir` are removed, except those
    /// of the sandboxes in `keep` (restored from its records).
    pub async fn new(
        state_dir: PathBuf,
        config: &SandboxesConfig,
        keep: &[String],
    ) -> std::io::Result<Runtime> {
        std::fs::create_dir_all(&state_dir)?;
        // Only root (sandkitd) goes in: the sandboxes' files are below.
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700))?;
        remove_left_behind(&state_dir, keep);
        // Each agent mounts a tmpfs of its own over it (see `setup::STAGE`).
        std::fs::create_dir_all(state_dir.join(setup::STAGE))?;
        let exe = match &config.agent_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe()?,
        };
        let isolated = config.isolation;
        let templates = Arc::new(Templates::prepare(
            &state_dir.join("templates"),
            &config.templates,
        )?);
        let ids = if isolated && !config.insecure_no_userns {
            Some(Arc::new(IdRanges::new(&state_dir)?))
        } else {
            None
        };
        let cgroups = if isolated {
            Cgroups::new().map(Arc::new)
        } else {
            Err("sandboxes are not isolated".into())
        };
        let disks = if isolated {
            disk::Disks::prepare(&state_dir, config.disk_size_mb).map(Arc::new)
        } else {
            Err("sandboxes are not isolated".into())
        };
        let mut runtime = Runtime {
            isolated,
            state_dir,
            exe,
            spawner: spawner_thread(),
            templates,
            ids,
            cgroups,
            seccomp: !config.insecure_no_seccomp,
            limits: Limits {
                max_pids: config.max_pids,
                cpu_count: config.cpu_count,
                memory_mb: config.memory_mb,
            },
            tmp_size_mb: config.tmp_size_mb,
            disks,
            dialer: netns::Dialer::start()?,
            net: Default::default(),
            pool: Arc::new(WarmPool {
                // Without isolation a sandbox's directory is its home: nothing to prepare.
                wanted: if isolated { config.warm_pool } else { 0 },
                ..Default::default()
            }),
        };
        let probe = SandboxIdentity {
            sandbox_id: format!("probe-{}", std::process::id()),
            template_id: template::DEFAULT_NAMES[0].into(),
            ..Default::default()
        };
        let mut started = runtime.start(&probe, None).await;
        // A disk image that cannot be mounted here (a kernel without ext4, say) leaves the
        // disks unlimited, as the banner then says, rather than the sandboxes unstartable.
        if let (Err(e), Ok(_)) = (&started, &runtime.disks) {
            runtime.disks = Err(format!("a sandbox's disk image did not mount: {e}"));
            started = runtime.start(&probe, None).await;
        }
        match started {
            Ok(handle) => {
                handle.kill().await;
                Ok(runtime)
            }
            Err(e) if isolated => Err(std::io::Error::other(format!(
                "sandboxes cannot be isolated here: {e}. sandkitd does not run them with less \
                 isolation than it says; if you accept the risk, start it with \
                 --insecure-no-userns (root in a sandbox is root on the host), \
                 --insecure-no-seccomp (no system call filter), or --no-isolation \
                 (no namespaces at all)"
            ))),
            Err(e) => Err(std::io::Error::other(format!(
                "sandbox processes cannot run here: {e}"
            ))),
        }
    }

    /// One line for sandkitd's banner: how sandboxes are isolated, and what is missing.
    pub fn describe(&self) -> String {
        if !self.isolated {
            return "NOT isolated (turned off with --no-isolation): processes run as sandkitd's \
                    user and see the host"
                .into();
        }
        let mut parts = Vec::new();
        match &self.ids {
            Some(_) => parts.push(format!(
                "user namespace per sandbox (its ids on host ids {}+, {} each)",
                ids::FIRST,
                ids::RANGE
            )),
            None => parts.push(
                "NO user namespace (--insecure-no-userns): root in a sandbox is root on the host"
                    .into(),
            ),
        }
        parts.push("PID, mount, UTS, IPC and network namespaces, own root filesystem".into());
        parts.push(if self.seccomp {
            "seccomp filter".into()
        } else {
            "NO seccomp filter (--insecure-no-seccomp)".into()
        });
        parts.push(match &self.cgroups {
            Ok(c) => {
                let (memory, cpu) = c.limits();
                let Limits {
                    max_pids,
                    cpu_count,
                    memory_mb,
                } = self.limits;
                let memory = if memory {
                    format!("{memory_mb} MiB of memory")
                } else {
                    "memory NOT limited (no memory cgroup controller)".into()
                };
                let cpu = if cpu {
                    format!("{cpu_count} CPUs")
                } else {
                    "CPU NOT limited (no cpu cgroup controller)".into()
                };
                format!(
                    "at most {max_pids} processes, {memory}, {cpu} each ({})",
                    c.describe()
                )
            }
            Err(why) => format!("NO process, memory or CPU limits ({why})"),
        });
        parts.push(match &self.disks {
            Ok(d) => format!("a {} MiB disk each (ext4 on a loop device)", d.size_mb),
            Err(why) => format!("disk size NOT limited ({why})"),
        });
        let secure = self.ids.is_some() && self.seccomp;
        format!(
            "{}: {}",
            if secure {
                "isolated"
            } else {
                "INSECURELY isolated"
            },
            parts.join("; ")
        )
    }

    /// Whether sandboxes can be paused here, and if not, why.
    pub fn pause_support(&self) -> Result<(), String> {
        match &self.cgroups {
            Ok(c) => c.freezer(),
            Err(why) => Err(format!("sandboxes have no cgroup ({why})")),
        }
    }

    /// The files of sandbox `id` left by an earlier sandkitd (a paused sandbox kept across a
    /// restart), with its host id range `host_ids` claimed again. When another sandbox (of
    /// another sandkitd) took that range meanwhile, the files move to a free one.
    pub fn adopt(&self, id: &str, host_ids: Option<u32>) -> std::io::Result<Dormant> {
        let dir = self.sandbox_dir(id);
        if !dir.is_dir() {
            return Err(std::io::Error::other(format!(
                "its directory {} is gone",
                dir.display()
            )));
        }
        let claim = match (&self.ids, host_ids) {
            (Some(ranges), Some(base)) => match ranges.claim_base(base) {
                Ok(claim) => Some(claim),
                Err(_) => {
                    let claim = ranges.claim()?;
                    let image = dir.join(disk::IMAGE);
                    if image.exists() {
                        disk::with_image_mounted(&image, |files| {
                            IdMap { base }.move_tree(files, claim.map)
                        })?;
                    }
                    IdMap { base }.move_tree(&dir, claim.map)?;
                    Some(claim)
                }
            },
            (Some(_), None) => {
                return Err(std::io::Error::other(
                    "its host id range is unknown (it ran without a user namespace)",
                ));
            }
            (None, _) => None,
        };
        Ok(Dormant { dir, claim })
    }

    /// Where the sandboxes' directories live.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.state_dir.join(id)
    }

    /// The accounts of a sandbox: `root` and `user` when isolated; otherwise both names map to
    /// sandkitd's own account (no switching without isolation).
    pub fn user(&self, sandbox_id: &str, name: &str) -> Option<User> {
        if !self.isolated {
            let home = self.sandbox_dir(sandbox_id).join("home");
            return matches!(name, "user" | "root").then(|| User {
                name: name.to_string(),
                uid: nix::unistd::getuid().as_raw(),
                gid: nix::unistd::getgid().as_raw(),
                home: home.to_string_lossy().into_owned(),
                groups: vec![nix::unistd::getgid().as_raw()],
                names: Arc::default(),
            });
        }
        match name {
            "root" => Some(User {
                name: "root".into(),
                uid: 0,
                gid: 0,
                home: "/root".into(),
                groups: vec![0],
                names: Arc::default(),
            }),
            "user" => Some(User {
                name: "user".into(),
                uid: USER_ID,
                gid: USER_ID,
                home: "/home/user".into(),
                groups: vec![USER_ID],
                names: Arc::default(),
            }),
            _ => None,
        }
    }

    /// Starts a sandbox: one set up ahead of time when its template has a warm pool, else a
    /// new one (its directory, its agent, its namespaces); then gives it its identity.
    ///
    /// With a `seed`, its writable layers start as a copy of the seed's (never a warm one).
    pub async fn start(
        &self,
        identity: &SandboxIdentity,
        seed: Option<&Seed>,
    ) -> std::io::Result<SandboxHandle> {
        if seed.is_none()
            && let Some(warm) = self.take_warm(identity.layers())
        {
            match self.name(&warm, identity).await {
                Ok(()) => return Ok(warm),
                // Gone bad while it waited (its agent killed): start a new one instead.
                Err(_) => self.discard(&warm).await,
            }
        }
        let handle = self
            .prepare(identity.layers(), &identity.sandbox_id, seed)
            .await?;
        match self.name(&handle, identity).await {
            Ok(()) => Ok(handle),
            Err(e) => {
                self.discard(&handle).await;
                Err(e)
            }
        }
    }

    /// Gives a prepared sandbox its identity: its directory's name, then (the agent) its
    /// hostname and `/run/e2b` files.
    async fn name(
        &self,
        handle: &SandboxHandle,
        identity: &SandboxIdentity,
    ) -> std::io::Result<()> {
        let dir = self.sandbox_dir(&identity.sandbox_id);
        let current = handle.dir();
        if current != dir {
            std::fs::rename(&current, &dir)?;
            if let Ok(mut d) = handle.inner.dir.lock() {
                *d = dir;
            }
        }
        let dot_files = identity
            .env()
            .into_iter()
            .map(|(k, v)| (format!(".{k}"), v))
            .collect();
        let hostname = identity.sandbox_id.clone();
        match handle
            .request(|req| ToAgent::Become {
                req,
                hostname,
                dot_files,
            })
            .await?
        {
            (FromAgent::Became { .. }, _, _) => Ok(()),
            (FromAgent::Failed { message, .. }, _, _) => Err(std::io::Error::other(format!(
                "naming the sandbox failed: {message}"
            ))),
            _ => Err(std::io::Error::other(
                "the sandbox agent answered out of turn",
            )),
        }
    }

    /// Sets a sandbox of `template_id` up in `<state>/<name>`: all but its identity.
    async fn prepare(
        &self,
        template_id: &str,
        name: &str,
        seed: Option<&Seed>,
    ) -> std::io::Result<SandboxHandle> {
        let dir = self.sandbox_dir(name);
        let result = match seed {
            Some(seed) => match self.plant(&dir, seed).await {
                Ok(()) => {
                    self.prepare_in(&dir, template_id, name, None, seed.host_ids)
                        .await
                }
                Err(e) => Err(e),
            },
            None => self.prepare_in(&dir, template_id, name, None, None).await,
        };
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    /// Starts a sandbox afresh on the files a [`Dormant`] kept (a reboot): new processes, the
    /// same filesystem and host id range. On failure the files stay, for another try or a kill.
    pub async fn reboot(
        &self,
        identity: &SandboxIdentity,
        dormant: &Dormant,
    ) -> std::io::Result<SandboxHandle> {
        let claim = dormant.claim.as_ref().map(IdClaim::try_clone).transpose()?;
        let handle = self
            .prepare_in(
                &dormant.dir,
                identity.layers(),
                &identity.sandbox_id,
                Some(claim),
                None,
            )
            .await?;
        match self.name(&handle, identity).await {
            Ok(()) => Ok(handle),
            Err(e) => {
                self.unlink(&handle).await;
                handle.stop_keeping_files().await;
                Err(e)
            }
        }
    }

    /// Whether sandboxes here can be snapshotted and forked: their writable layers must be on
    /// disk images of their own (what a snapshot copies), and a running one is frozen while
    /// its image is copied.
    pub fn snapshot_support(&self) -> Result<(), String> {
        if !self.isolated {
            return Err("sandboxes run without isolation, so without disk images".into());
        }
        if let Err(why) = &self.disks {
            return Err(format!("sandboxes have no disk images: {why}"));
        }
        self.pause_support()
    }

    /// Gives the new sandbox directory `dir` a copy of the seed's disk image: its spare if
    /// another sandbox has not taken it, else a new copy.
    async fn plant(&self, dir: &Path, seed: &Seed) -> std::io::Result<()> {
        self.snapshot_support().map_err(std::io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let to = dir.join(disk::IMAGE);
        if let Some(spare) = &seed.spare
            && std::fs::rename(spare, &to).is_ok()
        {
            return Ok(());
        }
        let from = seed.image.clone();
        tokio::task::spawn_blocking(move || disk::sparse_copy(&from, &to))
            .await
            .map_err(std::io::Error::other)?
    }

    /// `claim`: the host id range to use (`Some(None)`: none, not isolated by user namespace);
    /// `None` claims a free one. `seeded_ids`: the range that owns the files of a planted disk
    /// image, moved to the claimed one by the agent when it mounts it.
    async fn prepare_in(
        &self,
        dir: &Path,
        template_id: &str,
        name: &str,
        claim: Option<Option<IdClaim>>,
        seeded_ids: Option<u32>,
    ) -> std::io::Result<SandboxHandle> {
        // Isolated: the mount point of its root (the rest the agent makes). Not: its home.
        std::fs::create_dir_all(dir.join(if self.isolated { "root" } else { "home" }))?;
        // A sandbox whose files are on the host's disk (an earlier sandkitd's, paused) keeps
        // them there; one with an image keeps it whatever this sandkitd can do (its agent
        // then fails to mount it rather than start on empty layers), once its last run has
        // let go of it.
        let image = dir.join(disk::IMAGE);
        let disk = if image.exists() {
            tokio::task::spawn_blocking(move || disk::wait_detached(&image, DISK_RELEASE))
                .await
                .map_err(std::io::Error::other)??;
            true
        } else {
            match &self.disks {
                Ok(disks) if self.isolated && !dir.join("u0").exists() => {
                    disks.provide(dir)?;
                    true
                }
                _ => false,
            }
        };
        let template = if self.isolated {
            let t = self.templates.get(template_id).ok_or_else(|| {
                std::io::Error::other(format!("template '{template_id}' not found"))
            })?;
            Some(t.clone())
        } else {
            None
        };
        let claim = match claim {
            Some(claim) => claim,
            None => self.ids.as_ref().map(|r| r.claim()).transpose()?,
        };
        // The agent moves a planted image's files to this range, once it has mounted it.
        let moved_from =
            seeded_ids.filter(|from| claim.as_ref().is_some_and(|c| c.map.base != *from));
        let cgroup = match &self.cgroups {
            Ok(c) => Some(
                c.create(name, &self.limits)
                    .map_err(std::io::Error::other)?,
            ),
            Err(_) => None,
        };
        let config = agent::AgentConfig {
            isolated: self.isolated,
            dir: dir.to_string_lossy().into_owned(),
            state_dir: self.state_dir.to_string_lossy().into_owned(),
            template,
            ids: claim.as_ref().map(|c| c.map),
            seccomp: self.seccomp,
            tmp_size_mb: self.tmp_size_mb,
            disk,
            cgroup: cgroup.is_some(),
            moved_from,
        };
        let ids = claim.as_ref().map_or(IdMap::IDENTITY, |c| c.map);
        let spawned = self.spawn_agent(cgroup.as_ref()).await;
        let (ours, child) = match spawned {
            Ok(pair) => pair,
            Err(e) => {
                if let Some(cg) = cgroup {
                    let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
                }
                return Err(e);
            }
        };
        let root = if self.isolated {
            PathBuf::from(format!("/proc/{}/root", child.id()))
        } else {
            PathBuf::from("/")
        };
        // The agent entered the sandbox's network namespace before exec.
        let netns = if self.isolated {
            let path = format!("/proc/{}/ns/net", child.id());
            match std::fs::File::open(path) {
                Ok(file) => Some(Arc::new(OwnedFd::from(file))),
                Err(e) => {
                    let mut child = child;
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = tokio::task::spawn_blocking(move || cg_remove(cgroup)).await;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let conn = AgentConn::new(ours)?;
        let handle = SandboxHandle {
            inner: Arc::new(HandleInner {
                conn,
                root,
                ids,
                netns,
                dialer: self.dialer.clone(),
                ids_claim: Mutex::new(claim),
                cgroup: Mutex::new(cgroup),
                link: Mutex::new(None),
                // Without isolation a home is the sandbox's directory, named after it: such
                // sandboxes are never prepared ahead, so `name` is its id.
                users: with_names(
                    ["root", "user"]
                        .iter()
                        .filter_map(|user| self.user(name, user))
                        .collect(),
                ),
                own_accounts: self.isolated,
                accounts: lookup::AccountCache::default(),
                child: Mutex::new(Some(child)),
                dir: Mutex::new(dir.to_path_buf()),
                pending: Mutex::new(HashMap::new()),
                exits: Mutex::new(HashMap::new()),
                next_req: AtomicU64::new(1),
                ended: tokio::sync::watch::Sender::new(false),
            }),
        };
        // Its network interface is made while the agent sets the sandbox up: both mostly wait
        // on the kernel (the cgroup joins for an RCU grace period, `ip` and `nft` for their
        // runs), so they overlap. No rules yet: nothing of the sandbox's user runs before
        // its create has put them in (`Live::attach`), as with the warm pool's sandboxes.
        let (set_up, linked) = tokio::join!(handle.set_up(config), self.link_up(&handle));
        if let Err(e) = set_up.and(linked.map_err(std::io::Error::other)) {
            self.unlink(&handle).await;
            // Its files stay: a new sandbox's go with `prepare`, a rebooted one's are kept.
            handle.end_processes().await;
            return Err(e);
        }
        let reader = Arc::downgrade(&handle.inner);
        tokio::spawn(async move { read_loop(reader).await });
        Ok(handle)
    }

    /// A warm sandbox of `template_id`, if its pool has one (the pool then makes another).
    fn take_warm(&self, template_id: &str) -> Option<SandboxHandle> {
        if !self.templates.is_default(template_id) {
            return None;
        }
        let taken = self.pool.ready.lock().ok()?.pop();
        self.pool.refill.notify_one();
        taken
    }

    /// Keeps `pool.wanted` sandboxes of the default template set up, until the pool is closed.
    /// Each missing one is made by a task of its own as soon as it is missing, so that a
    /// refill under a stream of creates never waits for a batch to finish; made together,
    /// the agents' cgroup joins wait for one RCU grace period, not one each.
    async fn keep_pool_filled(self) {
        let pool = self.pool.clone();
        while !pool.closed.load(Ordering::Acquire) {
            let notified = pool.refill.notified();
            let have = pool.ready.lock().map_or(pool.wanted, |r| r.len())
                + pool.making.load(Ordering::Acquire);
            let missing = pool.wanted.saturating_sub(have);
            for _ in 0..missing {
                pool.making.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(self.clone().make_warm());
            }
            notified.await;
        }
    }

    /// Sets one sandbox of the pool up (its network interface too) and puts it in.
    async fn make_warm(self) {
        let pool = self.pool.clone();
        let name = format!("warm-{}", pool.next.fetch_add(1, Ordering::Relaxed));
        let made = self.prepare(template::DEFAULT_NAMES[0], &name, None).await;
        match made {
            Ok(h) => {
                // Closed is checked under the lock `close_pool` drains under: a sandbox
                // made meanwhile is either drained by it or discarded here.
                let rest = match pool.ready.lock() {
                    Ok(mut ready) if !pool.closed.load(Ordering::Acquire) => {
                        ready.push(h);
                        None
                    }
                    _ => Some(h),
                };
                if let Some(h) = rest {
                    self.discard(&h).await;
                }
            }
            Err(_) if !pool.closed.load(Ordering::Acquire) => {
                // Whatever stopped it (no free id range, a full disk) does not pass at once.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(_) => {}
        }
        pool.making.fetch_sub(1, Ordering::AcqRel);
        pool.refill.notify_one();
    }

    /// Gives a sandbox its network interface, when sandboxes have a network.
    async fn link_up(&self, handle: &SandboxHandle) -> Result<(), String> {
        let Some(net) = self.net.get() else {
            return Ok(());
        };
        let (Some(pid), Some(netns)) = (handle.pid(), handle.netns()) else {
            return Ok(());
        };
        let attachment = net.link_up(pid, netns).await?;
        if let Ok(mut link) = handle.inner.link.lock() {
            *link = Some(attachment);
        }
        Ok(())
    }

    /// Ends a sandbox no create took (of the pool, or one whose naming failed): its
    /// processes, files and interface.
    async fn discard(&self, handle: &SandboxHandle) {
        handle.kill().await;
        self.unlink(handle).await;
    }

    /// Takes the interface a sandbox was given while it was set up, if no create took it.
    async fn unlink(&self, handle: &SandboxHandle) {
        if let (Some(attachment), Some(net)) = (handle.take_link(), self.net.get()) {
            net.detach(attachment).await;
        }
    }

    /// Starts filling the warm pool (once; `--warm-pool 0` has none); sandboxes set up from
    /// then on get their interfaces in `net` when sandboxes have a network.
    pub fn start_pool(&self, net: Option<crate::net::Network>) {
        if let Some(net) = net {
            let _ = self.net.set(net);
        }
        if self.pool.wanted > 0 && !self.pool.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().keep_pool_filled());
        }
    }

    /// Ends the warm pool and the sandboxes in it (server shutdown).
    pub async fn close_pool(&self) {
        self.pool.closed.store(true, Ordering::Release);
        self.pool.refill.notify_one();
        let ready: Vec<SandboxHandle> = self
            .pool
            .ready
            .lock()
            .map(|mut r| r.drain(..).collect())
            .unwrap_or_default();
        futures_util::future::join_all(ready.iter().map(|h| self.discard(h))).await;
        // Those being made discard themselves (they see `closed`): wait for them, so that
        // nothing of the pool (a process, a cgroup, an interface) outlives the shutdown.
        for _ in 0..1000 {
            if self.pool.making.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Starts the agent process (in new namespaces when isolated, in `cgroup` when given) and
    /// returns sandkitd's end of its socket.
    async fn spawn_agent(
        &self,
        cgroup: Option<&SandboxCgroup>,
    ) -> std::io::Result<(OwnedFd, std::process::Child)> {
        let (ours, theirs) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?;
        let mut command = std::process::Command::new(&self.exe);
        // What `ps` in the sandbox shows as PID 1, instead of sandkitd's path on the host.
        command
            .arg0("sandkit-agent")
            .arg(AGENT_ARG)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .env_clear();
        let theirs_raw = theirs.as_raw_fd();
        let cgroup_procs = cgroup.map(|c| c.procs_fd().as_raw_fd());
        let isolated = self.isolated;
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // The agent moves the sandbox's PID 1 into its cgroup (see the agent).
                agent::place_descriptors(theirs_raw, cgroup_procs)?;
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if isolated {
                    // The user and PID namespaces are the agent's to make, and UTS comes
                    // later, owned by the sandbox's user namespace (see the agent).
                    let flags = libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;
                    if libc::unshare(flags) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let (reply, child) = oneshot::channel();
        self.spawner
            .send(SpawnJob { command, reply })
            .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
        let child = child
            .await
            .map_err(|_| std::io::Error::other("the spawner thread is gone"))??;
        drop(theirs);
        Ok((ours, child))
    }
}

/// The first argument that makes `sandkitd` run as a sandbox agent.
pub const AGENT_ARG: &str = "__sandbox-agent";

/// The socket to an agent, non-blocking, driven by tokio.
struct AgentConn {
    fd: AsyncFd<OwnedFd>,
    buf: tokio::sync::Mutex<Vec<u8>>,
}

impl AgentConn {
    fn new(fd: OwnedFd) -> std::io::Result<AgentConn> {
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )?;
        // SAFETY: an OwnedFd keeps its descriptor open and unchanged for as long as it lives.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(AgentConn {
            fd,
            buf: tokio::sync::Mutex::new(vec![0; proto::MAX_MESSAGE]),
        })
    }

    async fn send(&self, msg: &ToAgent) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| proto::send(fd.get_ref().as_fd(), msg, &[])) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    async fn recv(&self) -> std::io::Result<Received<FromAgent>> {
        let mut buf = self.buf.lock().await;
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| proto::recv(fd.get_ref().as_fd(), &mut buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// A started process's descriptors.
#[derive(Debug)]
pub enum ProcessIo {
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    Pty {
        master: OwnedFd,
    },
}

/// Why a start request failed.
#[derive(Debug)]
pub enum SpawnError {
    /// The request itself: no such command or directory, too large, a NUL byte.
    Invalid(String),
    /// The sandbox is gone or its agent failed.
    Sandbox(String),
}

/// An answer, and for a started process the receiver of its end (registered by the reader
/// before anything after `Spawned` is read, so the end cannot be missed).
type Answer = (
    FromAgent,
    Vec<OwnedFd>,
    Option<oneshot::Receiver<ExitStatus>>,
);
type Pending = oneshot::Sender<Answer>;

struct HandleInner {
    conn: AgentConn,
    /// The sandbox's `/` as a host path: `/proc/<agent>/root` when isolated, else `/`.
    root: PathBuf,
    /// Its ids on the host (the identity without a user namespace).
    ids: IdMap,
    /// Its network namespace; `None` without isolation (the host's own).
    netns: Option<Arc<OwnedFd>>,
    dialer: netns::Dialer,
    /// Keeps the host id range the sandbox's own until the handle goes (or a reboot's
    /// [`Dormant`] takes it over: its files on disk are owned by that range).
    ids_claim: Mutex<Option<IdClaim>>,
    /// Its cgroup, until `kill` removes it.
    cgroup: Mutex<Option<SandboxCgroup>>,
    /// Its network interface, made while it was set up, until its create (or resume) takes it.
    link: Mutex<Option<crate::net::Attachment>>,
    /// The accounts a call may name where the sandbox's own files do not say (without
    /// isolation, where there are no files of its own, or when they are unreadable).
    users: Vec<User>,
    /// Whether accounts are looked up in the sandbox's own `/etc/passwd` and `/etc/group`.
    own_accounts: bool,
    /// Those files as last read.
    accounts: lookup::AccountCache,
    child: Mutex<Option<std::process::Child>>,
    /// Its directory: `warm-<n>` while it waits in the pool, its id once named.
    dir: Mutex<PathBuf>,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Per pid, who waits for its end (the exit arrives once).
    exits: Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>,
    next_req: AtomicU64,
    /// Becomes `true` once the sandbox is killed or its agent is gone.
    ended: tokio::sync::watch::Sender<bool>,
}

/// A sandbox's files without its processes (paused without memory): its directory, whose
/// overlay upper layers are its filesystem's changes, and the host id range that owns them.
/// Dropping it leaves the files; [`Dormant::discard`] removes them.
#[derive(Debug)]
pub struct Dormant {
    dir: PathBuf,
    claim: Option<IdClaim>,
}

impl Dormant {
    /// The first host id of the range its files are owned by (`None` without a user
    /// namespace).
    pub fn host_ids(&self) -> Option<u32> {
        self.claim.as_ref().map(|c| c.map.base)
    }

    /// Copies its disk image to the new file `to` (once its last run has let go of it). The
    /// copy holds no borrow of `self`, so it can run after a lock on it is released.
    pub fn copier(
        &self,
        to: PathBuf,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static {
        let image = self.dir.join(disk::IMAGE);
        let copy = tokio::task::spawn_blocking(move || {
            disk::wait_detached(&image, DISK_RELEASE)?;
            disk::sparse_copy(&image, &to)
        });
        async move { copy.await.map_err(std::io::Error::other)? }
    }

    /// Removes the files for good (the sandbox is killed).
    pub async fn discard(self) {
        let dir = self.dir;
        let _ = tokio::task::spawn_blocking(move || remove_tree(&dir)).await;
    }
}

/// One running sandbox. Cloning shares it; [`SandboxHandle::kill`] ends it for every clone.
#[derive(Clone)]
pub struct SandboxHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// Dispatches what the agent says until it goes away.
async fn read_loop(inner: std::sync::Weak<HandleInner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        // Holding the Arc across the await is fine: kill() closes the socket, which ends this.
        let received = strong.conn.recv().await;
        match received {
            Ok(Received::Message(msg, fds)) => match msg {
                FromAgent::Exited { pid, code, signal } => {
                    let waiter = strong.exits.lock().ok().and_then(|mut m| m.remove(&pid));
                    if let Some(w) = waiter {
                        let _ = w.send(ExitStatus { code, signal });
                    }
                }
                FromAgent::Spawned { req, pid } => {
                    let (tx, rx) = oneshot::channel();
                    if let Ok(mut m) = strong.exits.lock() {
                        m.insert(pid, tx);
                    }
                    let waiter = strong.pending.lock().ok().and_then(|mut m| m.remove(&req));
                    if let Some(w) = waiter {
                        let _ = w.send((msg, fds, Some(rx)));
                    }
                }
                FromAgent::Failed { req, .. }
                | FromAgent::Signalled { req, .. }
                | FromAgent::Became { req } => {
                    let waiter = strong.pending.lock().ok().and_then(|mut m| m.remove(&req));
                    if let Some(w) = waiter {
                        let _ = w.send((msg, fds, None));
                    }
                }
                FromAgent::Ready | FromAgent::SetupFailed { .. } => {}
            },
            Ok(Received::Closed) | Err(_) => {
                // The agent is gone: nobody will answer or exit any more.
                strong.ended.send_replace(true);
                if let Ok(mut m) = strong.pending.lock() {
                    m.clear();
                }
                if let Ok(mut m) = strong.exits.lock() {
                    m.clear();
                }
                return;
            }
        }
    }
}

/// A process just started: its pid, descriptors, and a receiver for its end.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub io: ProcessIo,
    pub exit: oneshot::Receiver<ExitStatus>,
}

impl SandboxHandle {
    /// Sends a request and waits for its answer. An `InvalidInput` error means the request
    /// itself was refused (too large); any other error, that the agent is gone.
    async fn request(&self, make: impl FnOnce(u64) -> ToAgent) -> std::io::Result<Answer> {
        let gone = || std::io::Error::other("the sandbox is not running");
        let req = self.inner.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner
            .pending
            .lock()
            .map_err(|_| gone())?
            .insert(req, tx);
        let msg = make(req);
        if let Err(e) = self.inner.conn.send(&msg).await {
            if let Ok(mut pending) = self.inner.pending.lock() {
                pending.remove(&req);
            }
            return Err(if e.kind() == std::io::ErrorKind::InvalidInput {
                e
            } else {
                gone()
            });
        }
        rx.await.map_err(|_| gone())
    }

    /// Starts a process in the sandbox.
    pub async fn spawn(&self, mut req: SpawnRequest) -> Result<Spawned, SpawnError> {
        let wants_stdin = req.stdin;
        let pty = req.pty.is_some();
        let answer = self
            .request(|id| {
                req.req = id;
                ToAgent::Spawn(req)
            })
            .await;
        match answer {
            Ok((FromAgent::Spawned { pid, .. }, mut fds, Some(rx))) => {
                let io = if pty {
                    if fds.len() != 1 {
                        return Err(SpawnError::Sandbox("the agent sent no terminal".into()));
                    }
                    ProcessIo::Pty {
                        master: fds.remove(0),
                    }
                } else {
                    let expected = if wants_stdin { 3 } else { 2 };
                    if fds.len() != expected {
                        return Err(SpawnError::Sandbox("the agent sent no pipes".into()));
                    }
                    let stdin = wants_stdin.then(|| fds.remove(0));
                    let stdout = fds.remove(0);
                    let stderr = fds.remove(0);
                    ProcessIo::Pipes {
                        stdin,
                        stdout,
                        stderr,
                    }
                };
                Ok(Spawned { pid, io, exit: rx })
            }
            Ok((FromAgent::Failed { message, .. }, _, _)) => Err(SpawnError::Invalid(message)),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Err(SpawnError::Invalid(
                format!("the command, its arguments and environment are too large: {e}"),
            )),
            Ok(_) | Err(_) => Err(SpawnError::Sandbox("the sandbox is not running".into())),
        }
    }

    /// Sends `signal` to a process the agent started; `false` when there is no such process.
    pub async fn signal(&self, pid: i32, signal: i32) -> bool {
        matches!(
            self.request(|req| ToAgent::Signal { req, pid, signal })
                .await,
            Ok((FromAgent::Signalled { found: true, .. }, _, _))
        )
    }

    /// Ends the sandbox: every process in it, then its files.
    pub async fn kill(&self) {
        self.end_processes().await;
        let dir = self.dir();
        let _ = tokio::task::spawn_blocking(move || remove_tree(&dir)).await;
    }

    /// Ends every process of the sandbox but keeps its files and host id range, for a reboot
    /// ([`Runtime::reboot`]) or a kill later ([`Dormant::discard`]).
    pub async fn stop_keeping_files(&self) -> Dormant {
        self.end_processes().await;
        Dormant {
            dir: self.dir(),
            claim: self.inner.ids_claim.lock().ok().and_then(|mut c| c.take()),
        }
    }

    /// How the agent ended, for an error: it closed its socket, so it has ended or is about
    /// to (a second later it is killed).
    async fn reap_agent(&self) -> String {
        let child = self.inner.child.lock().ok().and_then(|mut c| c.take());
        let Some(mut child) = child else {
            return "already reaped".into();
        };
        let status = tokio::task::spawn_blocking(move || {
            for _ in 0..100 {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(status);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            None
        })
        .await
        .ok()
        .flatten();
        match status {
            Some(s) => s.to_string(),
            None => "still running after closing its socket: killed".into(),
        }
    }

    /// Puts the new agent in the cgroup hierarchies other than the one it started in (the
    /// v1 freezer's and the others), before it forks anything: what it forks from then on is
    /// in them too. Then hands it its configuration and waits until it is set up.
    async fn set_up(&self, config: agent::AgentConfig) -> std::io::Result<()> {
        let inner = self.inner.clone();
        let pid = self.pid();
        // Blocking: the first join waits for an RCU grace period (5-20 ms here).
        tokio::task::spawn_blocking(move || {
            let cgroup = inner.cgroup.lock().map_err(|e| e.to_string())?;
            match (&*cgroup, pid) {
                (Some(cgroup), Some(pid)) => cgroup.join_others(pid),
                _ => Ok(()),
            }
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
        self.inner
            .conn
            .send(&ToAgent::Configure(Box::new(config)))
            .await?;
        let got = match self.inner.conn.recv().await {
            Ok(Received::Message(FromAgent::Ready, _)) => return Ok(()),
            Ok(Received::Message(FromAgent::SetupFailed { message }, _)) => {
                return Err(std::io::Error::other(format!(
                    "setting the sandbox up failed: {message}"
                )));
            }
            Ok(Received::Closed) => "its socket closed".to_string(),
            Ok(Received::Message(m, _)) => format!("it sent {m:?}"),
            Err(e) => format!("reading its socket: {e}"),
        };
        let end = self.reap_agent().await;
        Err(std::io::Error::other(format!(
            "the sandbox agent exited while starting ({got}; {end})"
        )))
    }

    async fn end_processes(&self) {
        self.inner.ended.send_replace(true);
        // A paused sandbox's processes die only once they run again.
        if self.can_pause() {
            let _ = self.set_paused(false).await;
        }
        let _ = self.inner.conn.send(&ToAgent::Shutdown).await;
        let child = self.inner.child.lock().ok().and_then(|mut c| c.take());
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
        // Whatever might still run in it goes with the cgroup.
        let cgroup = self.inner.cgroup.lock().ok().and_then(|mut c| c.take());
        if let Some(cgroup) = cgroup {
            let _ = tokio::task::spawn_blocking(move || cgroup.remove()).await;
        }
    }

    /// Its CPU time and memory as its cgroup counts them (nothing without one). Blocking.
    pub fn usage(&self) -> cgroup::Usage {
        self.inner
            .cgroup
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(SandboxCgroup::usage))
            .unwrap_or_default()
    }

    /// Whether the sandbox can be paused: its cgroup has a freezer.
    pub fn can_pause(&self) -> bool {
        self.inner
            .cgroup
            .lock()
            .is_ok_and(|c| c.as_ref().is_some_and(SandboxCgroup::can_freeze))
    }

    /// Stops (`true`) every process of the sandbox, its agent included, where it is, or lets
    /// them go on (`false`); memory and open files stay as they are.
    pub async fn set_paused(&self, paused: bool) -> std::io::Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let cgroup = inner
                .cgroup
                .lock()
                .map_err(|_| std::io::Error::other("the sandbox's cgroup is unavailable"))?;
            match cgroup.as_ref() {
                Some(cg) => cg.set_frozen(paused).map_err(std::io::Error::other),
                None => Err(std::io::Error::other("the sandbox has no cgroup")),
            }
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Resolves once the sandbox has been killed or its agent has gone away: what ends the
    /// streams (a directory watch) that nothing inside the sandbox would end.
    pub fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.ended.subscribe();
        async move {
            // An error means the sandbox is gone altogether: ended too.
            let _ = rx.wait_for(|ended| *ended).await;
        }
    }

    /// A TCP connection to `port` on the sandbox's loopback, made inside its network
    /// namespace (without isolation, the host's loopback, which such sandboxes share).
    pub async fn connect_port(&self, port: u16) -> std::io::Result<tokio::net::TcpStream> {
        match &self.inner.netns {
            Some(ns) => self.inner.dialer.connect(ns, port).await,
            None => {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
        }
    }

    /// The sandbox's account called `name`, as its `/etc/passwd` and `/etc/group` say now.
    pub fn user(&self, name: &str) -> Option<User> {
        if let Some(files) = self.account_files() {
            return files.user(name);
        }
        self.inner.users.iter().find(|u| u.name == name).cloned()
    }

    /// The sandbox's own account files, where it has them and they can be read.
    fn account_files(&self) -> Option<Arc<lookup::AccountFiles>> {
        if !self.inner.own_accounts {
            return None;
        }
        self.inner.accounts.get(&self.inner.root)
    }

    /// The agent's process id (in sandkitd's PID namespace), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.inner.child.lock().ok()?.as_ref().map(|c| c.id())
    }

    /// The network interface the sandbox was given while it was set up, taken (once) by its
    /// create or resume, which puts its rules in.
    pub fn take_link(&self) -> Option<crate::net::Attachment> {
        self.inner.link.lock().ok()?.take()
    }

    /// The sandbox's network namespace (isolated sandboxes only).
    pub fn netns(&self) -> Option<&OwnedFd> {
        self.inner.netns.as_deref()
    }

    /// The sandbox's `/`, as a path on the host.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// How the sandbox's ids are the host's.
    pub fn ids(&self) -> IdMap {
        self.inner.ids
    }

    /// The sandbox's directory on the host.
    pub fn dir(&self) -> PathBuf {
        self.inner.dir.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Copies its disk image to the new file `to`, after writing out what its filesystem
    /// holds in memory. Its processes must be frozen, or the copy mixes two moments.
    pub async fn copy_disk(&self, to: PathBuf) -> std::io::Result<()> {
        let image = self.dir().join(disk::IMAGE);
        let root = self.root().to_path_buf();
        tokio::task::spawn_blocking(move || {
            // The root is an overlay: syncing it syncs the filesystem its writable layers are
            // on, the image's, whose writes then reach the image file through the loop device.
            let root = std::fs::File::open(&root)?;
            // SAFETY: `syncfs` on a descriptor this function owns.
            if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&root)) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            disk::sparse_copy(&image, &to)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// What a sandbox with a disk image has in use on it, as its own `df /` says.
    pub fn disk_used(&self) -> Option<u64> {
        if !self.dir().join(disk::IMAGE).exists() {
            return None;
        }
        disk::used_bytes(self.root())
    }
}

/// Removes the sandbox directories (`warm-<n>`, `probe-<pid>`, sandbox ids) in `state_dir`
/// that are not in `keep`: what a crashed or stopped sandkitd left.
fn remove_left_behind(state_dir: &Path, keep: &[String]) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let sandbox_like = name.starts_with("warm-")
            || name.starts_with("probe-")
            || (name.len() == 20
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if sandbox_like && !keep.contains(&name) && entry.path().is_dir() {
            remove_tree(&entry.path());
        }
    }
}

fn cg_remove(cgroup: Option<SandboxCgroup>) {
    if let Some(cg) = cgroup {
        let _ = cg.remove();
    }
}

/// Removes a sandbox's directory; an unmounted leftover mount point is retried once.
fn remove_tree(dir: &Path) {
    if std::fs::remove_dir_all(dir).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let _ = std::fs::remove_dir_all(dir);
    }
}
