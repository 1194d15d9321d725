//! How an embedded or command-line server is set up.

use crate::limits::Rate;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Settings of one server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub host: IpAddr,
    /// With `host` 127.0.0.1, listen on `::1` (same port) too: `*.localhost` names resolve to
    /// both loopbacks, IPv6 first for many clients. Best effort on machines without IPv6.
    pub ipv6_loopback_too: bool,
    /// Port to listen on; 0 picks a free one (see [`crate::RunningServer::local_addr`]).
    pub port: u16,
    /// Accepted API keys, each with the team it belongs to. With none, every call gets 401.
    pub api_keys: Vec<(String, String)>,
    /// The `domain` reported for sandboxes; `None` means `localhost:<port>`.
    pub domain: Option<String>,
    /// How often ended sandboxes are swept away. Expired sandboxes are never visible between
    /// sweeps either; the sweep only frees them promptly.
    pub reap_interval: Duration,
    /// How long a paused sandbox is kept before it is deleted (files and record).
    pub max_paused_age: Duration,
    /// How sandbox processes run.
    pub sandboxes: SandboxesConfig,
    /// Rate limits and quotas.
    pub limits: LimitsConfig,
    /// Sandboxes' network egress.
    pub network: crate::net::NetConfig,
}

/// Rate limits and quotas; the defaults are E2B's Pro plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Control-plane requests (create, list, kill, connect, …) per team.
    pub rate_limit: Rate,
    /// Sandbox operations (daemon and public-URL requests) per client IP address.
    pub ops_rate_limit: Rate,
    /// Sandbox creations per team.
    pub create_rate: Rate,
    /// Running sandboxes per team (paused ones do not count).
    pub max_sandboxes: u32,
    /// The longest lifetime, in seconds, that a create, connect or timeout call may ask for.
    pub max_timeout_secs: u32,
}

/// Control-plane requests per team unless `--rate-limit` says otherwise.
pub const DEFAULT_RATE_LIMIT: Rate = Rate::new(20_000, 30);
/// Sandbox operations per client IP unless `--ops-rate-limit` says otherwise.
pub const DEFAULT_OPS_RATE_LIMIT: Rate = Rate::new(40_000, 60);
/// Sandbox creations per team unless `--create-rate` says otherwise.
pub const DEFAULT_CREATE_RATE: Rate = Rate::new(5, 1);
/// Running sandboxes per team unless `--max-sandboxes` says otherwise.
pub const DEFAULT_MAX_SANDBOXES: u32 = 100;
/// The longest lifetime without a pause unless `--max-timeout` says otherwise: 24 hours.
pub const DEFAULT_MAX_TIMEOUT_SECS: u32 = 86_400;

impl LimitsConfig {
    /// Every rate and count limit lifted, for embedders whose callers are trusted (a test
    /// suite making hundreds of fixtures at once); the maximum timeout stays.
    pub fn lifted() -> Self {
        let unlimited = Rate::new(u32::MAX, 1);
        LimitsConfig {
            rate_limit: unlimited,
            ops_rate_limit: unlimited,
            create_rate: unlimited,
            max_sandboxes: u32::MAX,
            ..LimitsConfig::default()
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            rate_limit: DEFAULT_RATE_LIMIT,
            ops_rate_limit: DEFAULT_OPS_RATE_LIMIT,
            create_rate: DEFAULT_CREATE_RATE,
            max_sandboxes: DEFAULT_MAX_SANDBOXES,
            max_timeout_secs: DEFAULT_MAX_TIMEOUT_SECS,
        }
    }
}

/// How long paused sandboxes are kept unless `--max-paused-age` says otherwise.
pub const DEFAULT_MAX_PAUSED_AGE: Duration = Duration::from_secs(30 * 86_400);

/// How sandbox processes run.
#[derive(Clone, Debug)]
pub struct SandboxesConfig {
    /// Run processes at all; without, sandboxes are records with a lifetime.
    pub enabled: bool,
    /// Isolate sandboxes (namespaces, own root filesystem, seccomp, cgroup); when the machine
    /// cannot, the server refuses to start rather than isolate less than it says.
    pub isolation: bool,
    /// Isolate without a user namespace: root in a sandbox is root on the host.
    pub insecure_no_userns: bool,
    /// Isolate without the seccomp filter.
    pub insecure_no_seccomp: bool,
    /// Where sandbox files live; default a fresh directory under the system temp dir. When
    /// given, sandbox records are kept there too, and paused sandboxes outlive a restart.
    pub state_dir: Option<std::path::PathBuf>,
    /// The `sandkitd` binary that runs as each sandbox's agent; default the running one.
    pub agent_exe: Option<std::path::PathBuf>,
    /// Named templates, each a directory holding a whole root filesystem.
    pub templates: Vec<(String, std::path::PathBuf)>,
    /// At most this many processes (and threads) in one sandbox.
    pub max_pids: u32,
    /// CPUs' worth of time each sandbox may use (a cgroup quota), and reports as `cpuCount`.
    pub cpu_count: u32,
    /// Memory each sandbox may use, in MiB (a cgroup limit), reported as `memoryMB`.
    pub memory_mb: u32,
    /// The size of each sandbox's disk (its writable layers' own filesystem), in MiB,
    /// reported as `diskSizeMB`.
    pub disk_size_mb: u32,
    /// How often each running sandbox's CPU, memory and disk use is sampled.
    pub metrics_interval: std::time::Duration,
    /// The size of each sandbox's `/tmp` (memory-backed), in MiB.
    pub tmp_size_mb: u64,
    /// How many sandboxes of the default template to keep set up ahead of time.
    pub warm_pool: usize,
    /// The Python interpreter code contexts run on (a name looked up on the sandbox's PATH,
    /// or a path inside the sandbox).
    pub python: String,
    /// The TypeScript compiler package (a directory the sandbox sees) that TypeScript contexts
    /// strip types with, where Node has no stripper of its own; `None` looks on Node's paths.
    pub typescript: Option<String>,
    /// R's front end for R contexts (a name on the sandbox's PATH or a path inside it).
    pub r: String,
    /// The `java` of a JDK (11 or later) for Java contexts, likewise.
    pub java: String,
}

/// Processes and threads one sandbox may have unless `--max-pids` says otherwise.
pub const DEFAULT_MAX_PIDS: u32 = 1024;
/// CPUs per sandbox unless `--cpu-count` says otherwise (E2B's base sandbox).
pub const DEFAULT_CPU_COUNT: u32 = 2;
/// Memory per sandbox, in MiB, unless `--memory-mb` says otherwise (E2B's base sandbox).
pub const DEFAULT_MEMORY_MB: u32 = 512;
/// Disk per sandbox, in MiB, unless `--disk-size-mb` says otherwise.
pub const DEFAULT_DISK_SIZE_MB: u32 = 1024;
/// How often sandboxes are measured unless `--metrics-interval` says otherwise (E2B's).
pub const DEFAULT_METRICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// A sandbox's `/tmp`, in MiB, unless `--tmp-size` says otherwise.
pub const DEFAULT_TMP_SIZE_MB: u64 = 1024;
/// Sandboxes kept set up ahead of time unless `--warm-pool` says otherwise.
pub const DEFAULT_WARM_POOL: usize = 2;

impl Default for SandboxesConfig {
    fn default() -> Self {
        SandboxesConfig {
            enabled: true,
            isolation: true,
            insecure_no_userns: false,
            insecure_no_seccomp: false,
            state_dir: None,
            agent_exe: None,
            templates: Vec::new(),
            max_pids: DEFAULT_MAX_PIDS,
            cpu_count: DEFAULT_CPU_COUNT,
            memory_mb: DEFAULT_MEMORY_MB,
            disk_size_mb: DEFAULT_DISK_SIZE_MB,
            metrics_interval: DEFAULT_METRICS_INTERVAL,
            tmp_size_mb: DEFAULT_TMP_SIZE_MB,
            warm_pool: DEFAULT_WARM_POOL,
            python: "python3".into(),
            typescript: None,
            r: "R".into(),
            java: "java".into(),
        }
    }
}

impl SandboxesConfig {
    /// Every template name a sandbox may be created from.
    pub fn template_names(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::sandbox::template::DEFAULT_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect();
        for (name, _) in &self.templates {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}

impl Default for ServerConfig {
    /// 127.0.0.1 and ::1, a free port, no keys, the default domain, a sweep every 100 ms.
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ipv6_loopback_too: true,
            port: 0,
            api_keys: Vec::new(),
            domain: None,
            reap_interval: Duration::from_millis(100),
            max_paused_age: DEFAULT_MAX_PAUSED_AGE,
            sandboxes: SandboxesConfig::default(),
            limits: LimitsConfig::default(),
            network: crate::net::NetConfig::default(),
        }
    }
}

// API keys are secrets: debug output shows how many there are, and the teams, never the keys.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let teams: Vec<&str> = self.api_keys.iter().map(|(_, t)| t.as_str()).collect();
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("api_key_teams", &teams)
            .field("domain", &self.domain)
            .field("reap_interval", &self.reap_interval)
            .field("max_paused_age", &self.max_paused_age)
            .field("sandboxes", &self.sandboxes)
            .field("limits", &self.limits)
            .finish()
    }
}
