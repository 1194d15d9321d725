//! Wire models of the E2B control-plane API, with the exact field names of the contract.
//!
//! These types are shared by the client and by sandkitd, so that both sides name every field
//! once. Conformance with the official SDK is checked separately, by its own tests.
//!
//! sandkitd reads and writes them with their serde derives. The client does not: it writes
//! requests with `to_json` and reads answers with `from_json` (see [`crate::json`] for why),
//! and the tests below check that both ways give the same bytes and the same values.

pub mod base64;
pub mod metadata;
pub mod time;

use crate::json::{self, JsonError, Obj, Value, Writer, owned, read_all, to_strings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Default sandbox lifetime in seconds when a create or connect call names none.
pub const DEFAULT_TIMEOUT_SECS: u32 = 300;
/// The page size a list call gets when it names none, and the largest one allowed.
pub const MAX_LIST_LIMIT: u32 = 100;
/// The envd port inside every sandbox.
pub const ENVD_PORT: u16 = 49983;
/// The envd version sandkitd reports (the protocol level it speaks).
pub const ENVD_VERSION: &str = "0.6.13";

pub type StringMap = BTreeMap<String, String>;

/// A decimal `u64` as `str::parse` reads it (an optional `+`, then digits, no overflow). Its
/// own loop because `str::parse`'s generic one is 1 KB of wasm for each integer type.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// `POST /v2/sandboxes` (and the older `POST /sandboxes`) request body, its fields in the
/// order the official SDK writes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewSandbox {
    #[serde(rename = "templateID")]
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(
        rename = "allow_internet_access",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_internet_access: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_pause: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_pause_memory: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_resume: Option<AutoResume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AutoResume {
    pub enabled: bool,
}

/// `SandboxNetworkConfig`: every field camelCase on the wire, in the order the official SDK
/// writes them. `egressProxy` carries a password on the way in; [`NetworkConfig::without_secrets`]
/// is what an answer may show.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_out: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_out: Option<Vec<String>>,
    /// A SOCKS5 proxy for the sandbox's egress; `null` on the wire is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_proxy: Option<EgressProxy>,
    /// Per-host header transforms of outbound requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<NetworkRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_public_traffic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_request_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_ports: Option<Vec<u16>>,
}

/// `SandboxNetworkUpdateConfig`, the body of `PUT /sandboxes/{id}/network`: the whole egress
/// configuration, replaced (a field left out is cleared). Fields in the official SDK's order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxNetworkUpdateConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_out: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_out: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_proxy: Option<EgressProxy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<NetworkRules>,
    #[serde(
        default,
        rename = "allow_internet_access",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_internet_access: Option<bool>,
}

/// `SandboxEgressProxyConfig`: a SOCKS5 proxy, `host:port`, with optional RFC 1929
/// credentials. The password is a secret: `Debug` leaves it out, and answers never carry it.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EgressProxy {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressProxy")
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `rules`: host (an exact name or `*.suffix`) → its rules, in the order given.
pub type NetworkRules = OrderedMap<Vec<NetworkRule>>;

/// `SandboxNetworkRule`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<NetworkTransform>,
}

/// `SandboxNetworkTransform`: what is done to a matching outbound request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkTransform {
    /// Headers set on the request (replacing any of the same name), in the order given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<OrderedMap<String>>,
}

/// A JSON object whose members keep their order (as JavaScript objects and the official SDK's
/// bodies do). Of a key given twice the last value wins, at the first one's place, as in
/// JavaScript.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key`, keeping its place if it is there already.
    pub fn insert(&mut self, key: String, value: V) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = OrderedMap::new();
        for (k, v) in iter {
            map.insert(k.into(), v);
        }
        map
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<Self::Value, A::Error> {
                let mut map = OrderedMap::new();
                while let Some((k, v)) = access.next_entry::<String, V>()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// `ConnectSandboxV2`: `{timeout?, memory?}`; an empty body is valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConnectSandbox {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<bool>,
}

/// `POST /sandboxes/{id}/timeout` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetTimeout {
    pub timeout: i64,
}

/// The `Sandbox` response of create and connect.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxCreated {
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "templateID")]
    pub template_id: String,
    #[serde(rename = "clientID", default)]
    pub client_id: String,
    pub envd_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envd_access_token: Option<String>,
    #[serde(default)]
    pub traffic_access_token: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// `running` or `paused`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    Running,
    Paused,
}

impl SandboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxState::Running => "running",
            SandboxState::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(SandboxState::Running),
            "paused" => Some(SandboxState::Paused),
            _ => None,
        }
    }
}

/// One entry of `GET /v2/sandboxes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListedSandbox {
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "templateID")]
    pub template_id: String,
    #[serde(rename = "clientID", default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub started_at: String,
    pub end_at: String,
    pub cpu_count: u32,
    #[serde(rename = "memoryMB")]
    pub memory_mb: u32,
    #[serde(rename = "diskSizeMB", default)]
    pub disk_size_mb: u32,
    pub state: SandboxState,
    pub envd_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<StringMap>,
}

/// One sample of `GET /sandboxes/{id}/metrics` (`SandboxMetric`): the sandbox's own use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxMetric {
    /// RFC 3339; what the official SDKs read.
    pub timestamp: String,
    /// The same instant in Unix seconds.
    pub timestamp_unix: i64,
    pub cpu_count: u32,
    /// Of all its CPUs together, 0 to 100.
    pub cpu_used_pct: f64,
    /// Bytes.
    pub mem_used: i64,
    pub mem_total: i64,
    pub mem_cache: i64,
    pub disk_used: i64,
    pub disk_total: i64,
}

impl SandboxMetric {
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let timestamp = o.str("timestamp")?;
        let timestamp_unix = o.req("timestampUnix")?.i64()?;
        let cpu_count = o.req("cpuCount")?.u32()?;
        let cpu_used_pct = o.req("cpuUsedPct")?.f64()?;
        let [mem_used, mem_total, mem_cache, disk_used, disk_total] = [
            o.req("memUsed")?.i64()?,
            o.req("memTotal")?.i64()?,
            o.req("memCache")?.i64()?,
            o.req("diskUsed")?.i64()?,
            o.req("diskTotal")?.i64()?,
        ];
        Ok(SandboxMetric {
            timestamp: timestamp.into(),
            timestamp_unix,
            cpu_count,
            cpu_used_pct,
            mem_used,
            mem_total,
            mem_cache,
            disk_used,
            disk_total,
        })
    }
}

/// `GET /sandboxes/metrics?sandbox_ids=` (`SandboxesWithMetrics`): each sandbox's latest sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SandboxesWithMetrics {
    pub sandboxes: BTreeMap<String, SandboxMetric>,
}

/// `lifecycle` of `SandboxDetail`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    pub on_timeout: String,
    pub auto_resume: bool,
}

/// `GET /sandboxes/{id}`: a listed sandbox plus its access details, in one flat object.
///
/// Serialize only: the client decodes the two halves separately from the same body, because
/// serde's `flatten` on the decoding side buffers every field through a generic value type,
/// which costs the wasm build several KB.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SandboxDetail {
    #[serde(flatten)]
    pub listed: ListedSandbox,
    #[serde(flatten)]
    pub access: SandboxAccess,
}

/// The fields of `SandboxDetail` that a listing does not carry.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxAccess {
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envd_access_token: Option<String>,
    #[serde(default)]
    pub allow_internet_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

/// A snapshot (`SnapshotInfo`) of `POST /sandboxes/{id}/snapshots` and `GET /snapshots`: its
/// id, which new sandboxes are created from (`name:tag` when it was named), and its names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotInfo {
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    #[serde(default)]
    pub names: Vec<String>,
}

impl SnapshotInfo {
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        Ok(SnapshotInfo {
            snapshot_id: o.str("snapshotID")?.into(),
            names: o
                .opt("names")?
                .map(Value::strings)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// Every control-plane error body: `{code, message}`. The official SDK reads `code` from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiErrorBody {
    pub code: u16,
    pub message: String,
}

/// An error body as a client reads it: whatever of `{code, message}` is there.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct LooseErrorBody {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
}

// ── the client's side: requests written and answers read without serde ───────────────────

impl NewSandbox {
    /// The body as the derive would serialize it.
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.begin_object();
        w.field_str("templateID", &self.template_id);
        w.field_opt_map("metadata", self.metadata.as_ref());
        w.field_opt_map("envVars", self.env_vars.as_ref());
        w.field_opt_i64("timeout", self.timeout);
        w.field_opt_bool("allow_internet_access", self.allow_internet_access);
        if let Some(n) = &self.network {
            w.key("network");
            n.write_json(&mut w);
        }
        w.field_opt_bool("autoPause", self.auto_pause);
        w.field_opt_bool("autoPauseMemory", self.auto_pause_memory);
        if let Some(r) = &self.auto_resume {
            w.key("autoResume");
            w.begin_object();
            w.field_bool("enabled", r.enabled);
            w.end_object();
        }
        w.field_opt_bool("secure", self.secure);
        w.end_object();
        w.finish()
    }
}

/// The egress fields that create and update bodies share, in the official SDK's order.
fn write_egress(
    w: &mut Writer,
    allow_out: Option<&[String]>,
    deny_out: Option<&[String]>,
    egress_proxy: Option<&EgressProxy>,
    rules: Option<&NetworkRules>,
) {
    w.field_opt_strings("allowOut", allow_out);
    w.field_opt_strings("denyOut", deny_out);
    if let Some(p) = egress_proxy {
        w.key("egressProxy");
        w.begin_object();
        w.field_str("address", &p.address);
        w.field_opt_str("username", p.username.as_deref());
        w.field_opt_str("password", p.password.as_deref());
        w.end_object();
    }
    if let Some(rules) = rules {
        w.key("rules");
        w.begin_object();
        for (host, list) in rules.iter() {
            w.key(host);
            w.begin_array();
            for rule in list {
                w.begin_object();
                if let Some(t) = &rule.transform {
                    w.key("transform");
                    w.begin_object();
                    if let Some(headers) = &t.headers {
                        w.key("headers");
                        w.begin_object();
                        for (name, value) in headers.iter() {
                            w.key(name);
                            w.str(value);
                        }
                        w.end_object();
                    }
                    w.end_object();
                }
                w.end_object();
            }
            w.end_array();
        }
        w.end_object();
    }
}

/// `egressProxy`: `null` is none.
fn read_egress_proxy(o: Obj<'_, '_>) -> Result<Option<EgressProxy>, JsonError> {
    let Some(v) = o.opt("egressProxy")? else {
        return Ok(None);
    };
    let p = v.object()?;
    let (address, username, password) = (
        p.str("address")?,
        p.opt_str("username")?,
        p.opt_str("password")?,
    );
    Ok(Some(EgressProxy {
        address: address.into(),
        username: owned(username),
        password: owned(password),
    }))
}

/// `rules`: host → `[{transform?: {headers?: {name: value}}}]`, in order.
fn read_rules(o: Obj<'_, '_>) -> Result<Option<NetworkRules>, JsonError> {
    let Some(v) = o.opt("rules")? else {
        return Ok(None);
    };
    let mut rules = NetworkRules::new();
    for (host, list) in v.members()? {
        let mut out = Vec::new();
        for rule in list.array()? {
            let transform = match rule.object()?.opt("transform")? {
                None => None,
                Some(t) => {
                    let headers = match t.object()?.opt("headers")? {
                        None => None,
                        Some(h) => {
                            let mut headers = OrderedMap::new();
                            for (name, value) in h.members()? {
                                headers.insert(name.into(), value.string()?);
                            }
                            Some(headers)
                        }
                    };
                    Some(NetworkTransform { headers })
                }
            };
            out.push(NetworkRule { transform });
        }
        rules.insert(host.into(), out);
    }
    Ok(Some(rules))
}

impl NetworkConfig {
    /// Writes the configuration as a JSON object, the fields in the official SDK's order.
    pub fn write_json(&self, w: &mut Writer) {
        w.begin_object();
        write_egress(
            w,
            self.allow_out.as_deref(),
            self.deny_out.as_deref(),
            self.egress_proxy.as_ref(),
            self.rules.as_ref(),
        );
        w.field_opt_bool("allowPublicTraffic", self.allow_public_traffic);
        w.field_opt_str("maskRequestHost", self.mask_request_host.as_deref());
        if let Some(ports) = &self.https_ports {
            w.key("httpsPorts");
            w.begin_array();
            for p in ports {
                w.u64(u64::from(*p));
            }
            w.end_array();
        }
        w.end_object();
    }

    /// The configuration as an answer may show it: the egress proxy's password left out.
    pub fn without_secrets(&self) -> NetworkConfig {
        let mut shown = self.clone();
        if let Some(p) = &mut shown.egress_proxy {
            p.password = None;
        }
        shown
    }

    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let strings = |key| o.opt(key)?.map(Value::string_array).transpose();
        let (allow_out, deny_out) = (strings("allowOut")?, strings("denyOut")?);
        let allow_public_traffic = o.opt_bool("allowPublicTraffic")?;
        let mask_request_host = o.opt_str("maskRequestHost")?;
        let https_ports = match o.opt("httpsPorts")? {
            Some(p) => Some(read_all(p.array()?, |v| v.u16())?),
            None => None,
        };
        let egress_proxy = read_egress_proxy(o)?;
        let rules = read_rules(o)?;
        Ok(NetworkConfig {
            allow_out: allow_out.map(to_strings),
            deny_out: deny_out.map(to_strings),
            egress_proxy,
            rules,
            allow_public_traffic,
            mask_request_host: owned(mask_request_host),
            https_ports,
        })
    }
}

impl SandboxNetworkUpdateConfig {
    /// The body as the derive would serialize it.
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.begin_object();
        write_egress(
            &mut w,
            self.allow_out.as_deref(),
            self.deny_out.as_deref(),
            self.egress_proxy.as_ref(),
            self.rules.as_ref(),
        );
        w.field_opt_bool("allow_internet_access", self.allow_internet_access);
        w.end_object();
        w.finish()
    }

    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let strings = |key| o.opt(key)?.map(Value::string_array).transpose();
        let (allow_out, deny_out) = (strings("allowOut")?, strings("denyOut")?);
        let egress_proxy = read_egress_proxy(o)?;
        let rules = read_rules(o)?;
        let allow_internet_access = o.opt_bool("allow_internet_access")?;
        Ok(SandboxNetworkUpdateConfig {
            allow_out: allow_out.map(to_strings),
            deny_out: deny_out.map(to_strings),
            egress_proxy,
            rules,
            allow_internet_access,
        })
    }
}

impl ConnectSandbox {
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.begin_object();
        w.field_opt_i64("timeout", self.timeout);
        w.field_opt_bool("memory", self.memory);
        w.end_object();
        w.finish()
    }
}

impl SetTimeout {
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.begin_object();
        w.field_opt_i64("timeout", Some(self.timeout));
        w.end_object();
        w.finish()
    }
}

// The tokens are secrets: the debug output of what carries them leaves them out.
impl fmt::Debug for SandboxCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxCreated")
            .field("sandbox_id", &self.sandbox_id)
            .field("template_id", &self.template_id)
            .field("client_id", &self.client_id)
            .field("envd_version", &self.envd_version)
            .field("domain", &self.domain)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SandboxAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxAccess")
            .field("domain", &self.domain)
            .field("allow_internet_access", &self.allow_internet_access)
            .field("network", &self.network)
            .field("lifecycle", &self.lifecycle)
            .finish_non_exhaustive()
    }
}

// The readers check every field first, borrowing, then copy (see `json`).

impl SandboxCreated {
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let [id, template, client, envd] = [
            o.str("sandboxID")?,
            o.str("templateID")?,
            o.str_or_empty("clientID")?,
            o.str("envdVersion")?,
        ];
        let [envd_token, traffic_token, domain, alias] = [
            o.opt_str("envdAccessToken")?,
            o.opt_str("trafficAccessToken")?,
            o.opt_str("domain")?,
            o.opt_str("alias")?,
        ];
        Ok(SandboxCreated {
            sandbox_id: id.into(),
            template_id: template.into(),
            client_id: client.into(),
            envd_version: envd.into(),
            envd_access_token: owned(envd_token),
            traffic_access_token: owned(traffic_token),
            domain: owned(domain),
            alias: owned(alias),
        })
    }
}

impl SandboxState {
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let s = v.as_str()?;
        SandboxState::parse(s).ok_or_else(|| {
            JsonError::custom(format!(
                "unknown variant `{s}`, expected `running` or `paused`"
            ))
        })
    }
}

impl ListedSandbox {
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let [id, template, client] = [
            o.str("sandboxID")?,
            o.str("templateID")?,
            o.str_or_empty("clientID")?,
        ];
        let alias = o.opt_str("alias")?;
        let [started, end] = [o.str("startedAt")?, o.str("endAt")?];
        let [cpu, memory] = [o.req("cpuCount")?.u32()?, o.req("memoryMB")?.u32()?];
        let disk = o.u32_or_zero("diskSizeMB")?;
        let state = SandboxState::from_json(o.req("state")?)?;
        let envd = o.str("envdVersion")?;
        let metadata = o.opt_string_object("metadata")?;
        Ok(ListedSandbox {
            sandbox_id: id.into(),
            template_id: template.into(),
            client_id: client.into(),
            alias: owned(alias),
            started_at: started.into(),
            end_at: end.into(),
            cpu_count: cpu,
            memory_mb: memory,
            disk_size_mb: disk,
            state,
            envd_version: envd.into(),
            metadata: metadata.map(Obj::to_string_map),
        })
    }

    /// A page of `GET /v2/sandboxes`: an array of them.
    pub fn list_from_json(v: &Value<'_>) -> Result<Vec<Self>, JsonError> {
        read_all(v.array()?, ListedSandbox::from_json)
    }
}

impl SandboxAccess {
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        let o = v.object()?;
        let [domain, envd_token] = [o.opt_str("domain")?, o.opt_str("envdAccessToken")?];
        let allow_internet_access = o.opt_bool("allowInternetAccess")?;
        let network = o
            .opt("network")?
            .map(NetworkConfig::from_json)
            .transpose()?;
        let lifecycle = match o.opt("lifecycle")? {
            Some(v) => {
                let l = v.object()?;
                Some((l.str("onTimeout")?, l.req("autoResume")?.bool()?))
            }
            None => None,
        };
        Ok(SandboxAccess {
            domain: owned(domain),
            envd_access_token: owned(envd_token),
            allow_internet_access,
            network,
            lifecycle: lifecycle.map(|(on_timeout, auto_resume)| Lifecycle {
                on_timeout: on_timeout.into(),
                auto_resume,
            }),
        })
    }
}

impl SandboxDetail {
    /// Both halves from the one flat object.
    pub fn from_json(v: &Value<'_>) -> Result<Self, JsonError> {
        Ok(SandboxDetail {
            listed: ListedSandbox::from_json(v)?,
            access: SandboxAccess::from_json(v)?,
        })
    }
}

impl LooseErrorBody {
    /// Whatever of `{code, message}` the body has; `None` when it is not such an object.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        let v = json::parse(body).ok()?;
        let o = v.object().ok()?;
        let code = o.opt("code").ok()?.map(Value::u16).transpose().ok()?;
        let message = o.opt_str("message").ok()?;
        Some(LooseErrorBody {
            code,
            message: owned(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Debug;

    #[test]
    fn parse_u64_reads_as_str_parse_does() {
        for s in [
            "0",
            "7",
            "+7",
            "007",
            "18446744073709551615",
            "18446744073709551616",
            "",
            "+",
            "-1",
            " 1",
            "1 ",
            "1a",
            "++1",
            "٣",
        ] {
            assert_eq!(parse_u64(s), s.parse::<u64>().ok(), "{s}");
        }
    }

    /// The client's reader and the serde derive agree: the same value, or both an error.
    fn same<T>(doc: &str, ours: fn(&Value<'_>) -> Result<T, JsonError>)
    where
        T: for<'de> Deserialize<'de> + PartialEq + Debug,
    {
        let mine = json::parse(doc.as_bytes()).and_then(|v| ours(&v));
        let theirs = serde_json::from_str::<T>(doc);
        match (&mine, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{doc}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{doc}: ours {mine:?}, serde {theirs:?}"),
        }
    }

    const LISTED: &str = r#"{"sandboxID":"abc","templateID":"base","clientID":"c","alias":null,
        "startedAt":"2026-01-01T00:00:00.000Z","endAt":"2026-01-01T00:05:00Z",
        "cpuCount":2,"memoryMB":512,"diskSizeMB":0,"state":"paused","envdVersion":"0.2.0",
        "metadata":{"a b":"c=d","\u00e9":"\u00e9\ud83d\ude00"},"unknown":[1,{"x":[true,null]}]}"#;

    #[test]
    fn metrics_decode_as_the_derive_decodes_them() {
        const METRIC: &str = r#"{"timestamp":"2026-01-01T00:00:05.000Z","timestampUnix":1767225605,
            "cpuCount":2,"cpuUsedPct":12.5,"memUsed":1048576,"memTotal":536870912,"memCache":0,
            "diskUsed":4096,"diskTotal":1073741824}"#;
        same::<SandboxMetric>(METRIC, SandboxMetric::from_json);
        for (field, bad) in [
            ("cpuUsedPct", "3"),
            ("cpuUsedPct", "1e2"),
            ("cpuUsedPct", "\"1\""),
            ("cpuUsedPct", "null"),
            ("memUsed", "1.5"),
            ("memUsed", "-1"),
            ("timestampUnix", "9223372036854775808"),
            ("cpuCount", "-2"),
            ("timestamp", "5"),
        ] {
            let doc = METRIC.replacen(
                &format!("\"{field}\":"),
                &format!("\"{field}\":{bad},\"x{field}\":"),
                1,
            );
            same::<SandboxMetric>(&doc, SandboxMetric::from_json);
        }
        for field in ["timestamp", "cpuUsedPct", "diskTotal"] {
            let doc = METRIC.replacen(&format!("\"{field}\":"), &format!("\"x{field}\":"), 1);
            same::<SandboxMetric>(&doc, SandboxMetric::from_json);
        }
    }

    #[test]
    fn answers_decode_as_the_derives_decode_them() {
        same::<ListedSandbox>(LISTED, ListedSandbox::from_json);
        // Each field broken in turn: the wrong type, out of range, null, unknown values.
        for (field, bad) in [
            ("sandboxID", "1"),
            ("sandboxID", "null"),
            ("clientID", "null"),
            ("alias", "7"),
            ("cpuCount", "-1"),
            ("cpuCount", "4294967296"),
            ("cpuCount", "1.5"),
            ("cpuCount", "\"2\""),
            ("diskSizeMB", "null"),
            ("state", "\"gone\""),
            ("state", "null"),
            ("metadata", "{\"k\":1}"),
            ("metadata", "[]"),
            ("metadata", "null"),
        ] {
            let doc = LISTED.replacen(
                &format!("\"{field}\":"),
                &format!("\"{field}\":{bad},\"x{field}\":"),
                1,
            );
            same::<ListedSandbox>(&doc, ListedSandbox::from_json);
        }
        // Each field missing, and each given twice.
        for field in [
            "sandboxID",
            "clientID",
            "alias",
            "cpuCount",
            "diskSizeMB",
            "state",
            "metadata",
        ] {
            let doc = LISTED.replacen(&format!("\"{field}\":"), &format!("\"x{field}\":"), 1);
            same::<ListedSandbox>(&doc, ListedSandbox::from_json);
            let doc = LISTED.replacen(
                &format!("\"{field}\":"),
                &format!("\"{field}\":null,\"{field}\":"),
                1,
            );
            same::<ListedSandbox>(&doc, ListedSandbox::from_json);
        }
        let page = format!("[{LISTED},{LISTED}]");
        same::<Vec<ListedSandbox>>(&page, ListedSandbox::list_from_json);
        same::<Vec<ListedSandbox>>("[]", ListedSandbox::list_from_json);
        same::<Vec<ListedSandbox>>("{}", ListedSandbox::list_from_json);
        same::<ListedSandbox>("[]", ListedSandbox::from_json);

        for doc in [
            r#"{"sandboxID":"i","templateID":"t","envdVersion":"v","trafficAccessToken":null,"domain":"d"}"#,
            r#"{"sandboxID":"i","templateID":"t","clientID":"c","envdVersion":"v","envdAccessToken":"a","trafficAccessToken":"b","domain":null,"alias":"x"}"#,
            r#"{"sandboxID":"i","templateID":"t"}"#,
            r#"{"sandboxID":"i","templateID":"t","envdVersion":5}"#,
        ] {
            same::<SandboxCreated>(doc, SandboxCreated::from_json);
        }
        for doc in [
            r#"{"domain":null,"allowInternetAccess":false,"lifecycle":{"onTimeout":"kill","autoResume":false},
                "network":{"allowOut":["1.1.1.1"],"allowPublicTraffic":true,"httpsPorts":[443,8443]}}"#,
            r#"{}"#,
            r#"{"lifecycle":null,"network":null}"#,
            r#"{"lifecycle":{"onTimeout":"kill"}}"#,
            r#"{"lifecycle":{"onTimeout":"kill","autoResume":"no"}}"#,
            r#"{"network":{"httpsPorts":[70000]}}"#,
            r#"{"network":{"allowOut":"x"}}"#,
            r#"{"network":{"denyOut":[1]}}"#,
            r#"{"network":{"maskRequestHost":"h","denyOut":[]}}"#,
            r#"{"allowInternetAccess":"yes"}"#,
            r#"{"network":{"egressProxy":null,"rules":{}}}"#,
            r#"{"network":{"egressProxy":{"address":"p:1080","username":"u"},
                "rules":{"b.com":[{}],"a.com":[{"transform":{"headers":{"Z":"1","A":"2"}}},{"transform":null}]}}}"#,
            r#"{"network":{"egressProxy":{"username":"u"}}}"#,
            r#"{"network":{"egressProxy":"p:1080"}}"#,
            r#"{"network":{"rules":{"a.com":{}}}}"#,
            r#"{"network":{"rules":{"a.com":[{"transform":{"headers":{"A":1}}}]}}}"#,
            r#"{"network":{"rules":{"a.com":[{"transform":{"headers":[]}}]}}}"#,
            r#"{"network":{"rules":[]}}"#,
        ] {
            same::<SandboxAccess>(doc, SandboxAccess::from_json);
        }
    }

    #[test]
    fn error_bodies_are_read_loosely() {
        let read = |doc: &str| LooseErrorBody::from_body(doc.as_bytes());
        for doc in [
            r#"{"code":404,"message":"not \"found\"\n"}"#,
            r#"{"message":"no code"}"#,
            r#"{"code":null}"#,
            r#"{"code":1.5}"#,
            r#"{"code":70000}"#,
            r#"{"code":"404"}"#,
            r#"{"message":1}"#,
            "not json",
            "",
        ] {
            assert_eq!(read(doc), serde_json::from_str(doc).ok(), "{doc}");
        }
        // serde would read a struct from an array too; the client never has.
        assert_eq!(read("[404]"), None);
    }

    fn full_network() -> NetworkConfig {
        NetworkConfig {
            allow_out: Some(vec!["1.1.1.1".into(), "*.example.com".into()]),
            deny_out: Some(vec![]),
            egress_proxy: Some(EgressProxy {
                address: "proxy.example.com:1080".into(),
                username: Some("u\"".into()),
                password: Some("secret".into()),
            }),
            rules: Some(
                [
                    (
                        "z.example.com",
                        vec![
                            NetworkRule {
                                transform: Some(NetworkTransform {
                                    headers: Some(
                                        [("X-B", "2"), ("Authorization", "Bearer t")]
                                            .into_iter()
                                            .map(|(k, v)| (k, v.to_string()))
                                            .collect(),
                                    ),
                                }),
                            },
                            NetworkRule::default(),
                            NetworkRule {
                                transform: Some(NetworkTransform::default()),
                            },
                        ],
                    ),
                    ("*.a.example.com", vec![]),
                ]
                .into_iter()
                .collect(),
            ),
            allow_public_traffic: Some(true),
            mask_request_host: Some("h:${PORT}".into()),
            https_ports: Some(vec![443, 65535]),
        }
    }

    #[test]
    fn network_bodies_are_the_official_sdks() {
        // The create body of e2b 2.51.0 for the same options (recorded on the wire): keys in
        // its order, rules and headers in the order given.
        let body = NewSandbox {
            template_id: "base".into(),
            metadata: Some([("k".to_string(), "v".to_string())].into()),
            timeout: Some(5),
            allow_internet_access: Some(false),
            network: Some(NetworkConfig {
                allow_out: Some(vec!["api.x.com".into(), "1.1.1.1".into()]),
                deny_out: Some(vec!["0.0.0.0/0".into()]),
                egress_proxy: Some(EgressProxy {
                    address: "p:1080".into(),
                    username: Some("u".into()),
                    password: Some("pw".into()),
                }),
                rules: Some(
                    [(
                        "api.x.com",
                        vec![
                            NetworkRule {
                                transform: Some(NetworkTransform {
                                    headers: Some([("A", "b".to_string())].into_iter().collect()),
                                }),
                            },
                            NetworkRule::default(),
                        ],
                    )]
                    .into_iter()
                    .collect(),
                ),
                allow_public_traffic: Some(false),
                mask_request_host: Some("h:${PORT}".into()),
                https_ports: Some(vec![8443]),
            }),
            ..Default::default()
        };
        assert_eq!(
            body.to_json(),
            r#"{"templateID":"base","metadata":{"k":"v"},"timeout":5,"allow_internet_access":false,"network":{"allowOut":["api.x.com","1.1.1.1"],"denyOut":["0.0.0.0/0"],"egressProxy":{"address":"p:1080","username":"u","password":"pw"},"rules":{"api.x.com":[{"transform":{"headers":{"A":"b"}}},{}]},"allowPublicTraffic":false,"maskRequestHost":"h:${PORT}","httpsPorts":[8443]}}"#
        );
        let update = SandboxNetworkUpdateConfig {
            allow_out: Some(vec!["a.com".into()]),
            deny_out: Some(vec!["0.0.0.0/0".into()]),
            egress_proxy: Some(EgressProxy {
                address: "p:1080".into(),
                ..Default::default()
            }),
            rules: Some(NetworkRules::new()),
            allow_internet_access: Some(true),
        };
        assert_eq!(
            update.to_json(),
            r#"{"allowOut":["a.com"],"denyOut":["0.0.0.0/0"],"egressProxy":{"address":"p:1080"},"rules":{},"allow_internet_access":true}"#
        );
        assert_eq!(SandboxNetworkUpdateConfig::default().to_json(), "{}");
        for body in [update, SandboxNetworkUpdateConfig::default()] {
            let text = body.to_json();
            assert_eq!(text, serde_json::to_string(&body).unwrap());
            // sandkitd reads it with serde; the client's reader agrees.
            same::<SandboxNetworkUpdateConfig>(&text, SandboxNetworkUpdateConfig::from_json);
            assert_eq!(
                serde_json::from_str::<SandboxNetworkUpdateConfig>(&text).unwrap(),
                body
            );
        }
    }

    #[test]
    fn debug_output_leaves_the_tokens_out() {
        let created = SandboxCreated {
            sandbox_id: "sbx1".into(),
            template_id: "base".into(),
            client_id: String::new(),
            envd_version: "0.2.0".into(),
            envd_access_token: Some("secret-envd-token".into()),
            traffic_access_token: Some("secret-traffic-token".into()),
            domain: Some("localhost:3000".into()),
            alias: None,
        };
        let access = SandboxAccess {
            envd_access_token: Some("secret-envd-token".into()),
            ..Default::default()
        };
        for shown in [
            format!("{created:?}"),
            format!("{access:?}"),
            format!("{created:#?}"),
        ] {
            assert!(!shown.contains("secret"), "{shown}");
        }
        assert!(format!("{created:?}").contains("sbx1"));
    }

    #[test]
    fn network_config_round_trips_and_keeps_its_secret() {
        let n = full_network();
        let text = serde_json::to_string(&n).unwrap();
        // Order kept both ways, through serde and through the client's reader.
        assert_eq!(serde_json::from_str::<NetworkConfig>(&text).unwrap(), n);
        same::<NetworkConfig>(&text, NetworkConfig::from_json);
        assert!(text.find("z.example.com") < text.find("*.a.example.com"));
        assert!(text.find("X-B") < text.find("Authorization"));
        // A key given twice: the last value, at the first one's place (as JavaScript has it).
        let twice: OrderedMap<String> =
            serde_json::from_str(r#"{"a":"1","b":"2","a":"3"}"#).unwrap();
        assert_eq!(
            twice.0,
            vec![("a".into(), "3".into()), ("b".into(), "2".into())]
        );
        // The password is in no Debug output and in no answer made with without_secrets.
        assert!(!format!("{n:?}").contains("secret"));
        let shown = n.without_secrets();
        assert_eq!(shown.egress_proxy.as_ref().unwrap().password, None);
        assert!(!serde_json::to_string(&shown).unwrap().contains("secret"));
        assert_eq!(
            shown.egress_proxy.as_ref().unwrap().username.as_deref(),
            Some("u\"")
        );
    }

    #[test]
    fn requests_are_written_as_the_derives_write_them() {
        let full = NewSandbox {
            template_id: "base\"".into(),
            timeout: Some(-5),
            metadata: Some([("k".to_string(), "v\n".to_string())].into()),
            env_vars: Some(StringMap::new()),
            allow_internet_access: Some(false),
            network: Some(full_network()),
            auto_pause: Some(true),
            auto_pause_memory: Some(false),
            auto_resume: Some(AutoResume { enabled: true }),
            secure: Some(true),
        };
        for body in [
            full,
            NewSandbox::default(),
            NewSandbox {
                network: Some(NetworkConfig::default()),
                ..Default::default()
            },
        ] {
            assert_eq!(body.to_json(), serde_json::to_string(&body).unwrap());
        }
        for body in [
            ConnectSandbox::default(),
            ConnectSandbox {
                timeout: Some(300),
                memory: Some(true),
            },
        ] {
            assert_eq!(body.to_json(), serde_json::to_string(&body).unwrap());
        }
        let t = SetTimeout { timeout: 60 };
        assert_eq!(t.to_json(), serde_json::to_string(&t).unwrap());
    }
}
