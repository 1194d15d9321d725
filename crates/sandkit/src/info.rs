//! What the SDK returns about a sandbox, in the shape of the `e2b` package's `SandboxInfo`.

use crate::error::{Error, ErrorKind, Result};
use crate::wire::{self, ListedSandbox, SandboxDetail, SandboxState, StringMap};

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_rfc3339(self) -> String {
        wire::time::format_rfc3339_millis(self.0)
    }

    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        wire::time::parse_rfc3339_millis(s).map(Timestamp)
    }

    pub fn to_system_time(self) -> std::time::SystemTime {
        let d = std::time::Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 {
            std::time::UNIX_EPOCH + d
        } else {
            std::time::UNIX_EPOCH - d
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// One sample of a sandbox's use (`getMetrics`), as the official SDK returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxMetrics {
    pub timestamp: Timestamp,
    /// Of all its CPUs together, 0 to 100.
    pub cpu_used_pct: f64,
    pub cpu_count: u32,
    /// Bytes.
    pub mem_used: i64,
    pub mem_total: i64,
    pub mem_cache: i64,
    pub disk_used: i64,
    pub disk_total: i64,
}

impl From<wire::SandboxMetric> for SandboxMetrics {
    fn from(m: wire::SandboxMetric) -> Self {
        SandboxMetrics {
            // The official SDK reads the string; a server that sends an unreadable one still
            // has its Unix seconds.
            timestamp: Timestamp::parse_rfc3339(&m.timestamp)
                .unwrap_or(Timestamp(m.timestamp_unix.saturating_mul(1000))),
            cpu_used_pct: m.cpu_used_pct,
            cpu_count: m.cpu_count,
            mem_used: m.mem_used,
            mem_total: m.mem_total,
            mem_cache: m.mem_cache,
            disk_used: m.disk_used,
            disk_total: m.disk_total,
        }
    }
}

/// What happens when a sandbox's time runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleInfo {
    /// `kill` or `pause`.
    pub on_timeout: String,
    pub auto_resume: bool,
}

/// A sandbox as listed or looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxInfo {
    pub sandbox_id: String,
    pub template_id: String,
    /// The template alias, when it has one.
    pub name: Option<String>,
    pub metadata: StringMap,
    pub started_at: Timestamp,
    pub end_at: Timestamp,
    pub state: SandboxState,
    pub cpu_count: u32,
    pub memory_mb: u32,
    pub envd_version: String,
    /// Only from a lookup (`get_info`), not from a listing.
    pub sandbox_domain: Option<String>,
    pub allow_internet_access: Option<bool>,
    /// Only from a lookup: the egress and public-traffic settings, as the official SDK maps
    /// them (the egress proxy's password is never there).
    pub network: Option<wire::NetworkConfig>,
    pub lifecycle: Option<LifecycleInfo>,
}

fn timestamp(field: &str, value: &str) -> Result<Timestamp> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        Error::new(
            ErrorKind::Sandbox,
            format!("the API sent `{field}` as `{value}`, which is not an RFC 3339 date-time"),
        )
    })
}

impl TryFrom<ListedSandbox> for SandboxInfo {
    type Error = Error;

    fn try_from(s: ListedSandbox) -> Result<Self> {
        Ok(SandboxInfo {
            started_at: timestamp("startedAt", &s.started_at)?,
            end_at: timestamp("endAt", &s.end_at)?,
            sandbox_id: s.sandbox_id,
            template_id: s.template_id,
            name: s.alias,
            metadata: s.metadata.unwrap_or_default(),
            state: s.state,
            cpu_count: s.cpu_count,
            memory_mb: s.memory_mb,
            envd_version: s.envd_version,
            sandbox_domain: None,
            allow_internet_access: None,
            network: None,
            lifecycle: None,
        })
    }
}

impl TryFrom<SandboxDetail> for SandboxInfo {
    type Error = Error;

    fn try_from(d: SandboxDetail) -> Result<Self> {
        let mut info = SandboxInfo::try_from(d.listed)?;
        info.sandbox_domain = d.access.domain;
        info.allow_internet_access = d.access.allow_internet_access;
        info.network = d
            .access
            .network
            .as_ref()
            .map(wire::NetworkConfig::without_secrets);
        info.lifecycle = d.access.lifecycle.map(|l| LifecycleInfo {
            on_timeout: l.on_timeout,
            auto_resume: l.auto_resume,
        });
        Ok(info)
    }
}
