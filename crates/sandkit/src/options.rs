//! Options of the sandbox calls, with the defaults and checks of the official SDK.

use crate::api::{ListOrder, ListQuery};
use crate::config::ConnectionOpts;
use crate::error::{Error, Result};
use crate::wire::{AutoResume, MAX_LIST_LIMIT, NetworkConfig, NewSandbox, SandboxState, StringMap};
use std::time::Duration;

/// The template a sandbox is made from when none is named.
pub const DEFAULT_TEMPLATE: &str = "base";

/// What happens when a sandbox's time runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    Kill,
    Pause,
}

/// Options of [`crate::Sandbox::create`].
#[derive(Debug, Clone, Default)]
pub struct SandboxOpts {
    pub template: Option<String>,
    /// How long the sandbox lives; the server's default (300 s) when unset.
    pub timeout: Option<Duration>,
    pub metadata: Option<StringMap>,
    /// Environment variables every command in the sandbox sees.
    pub envs: Option<StringMap>,
    pub allow_internet_access: Option<bool>,
    pub network: Option<NetworkConfig>,
    pub on_timeout: Option<OnTimeout>,
    /// Keep the memory of a sandbox paused at its timeout (`onTimeout: { action: 'pause',
    /// keepMemory }`); the server's default (true) when unset.
    pub keep_memory: Option<bool>,
    pub auto_resume: Option<bool>,
    /// Deprecated upstream and not sent by the official SDK; kept for older servers.
    pub secure: Option<bool>,
    pub connection: ConnectionOpts,
}

impl SandboxOpts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn metadata<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.metadata
            .get_or_insert_with(StringMap::new)
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.envs
            .get_or_insert_with(StringMap::new)
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn connection(mut self, connection: ConnectionOpts) -> Self {
        self.connection = connection;
        self
    }

    /// The create body as the official SDK 2.51 sends it.
    pub(crate) fn into_wire(self) -> Result<NewSandbox> {
        let template = self
            .template
            .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
        if template.trim().is_empty() {
            return Err(Error::invalid_argument(
                "template must be a non-empty string",
            ));
        }
        // A template name or id is short; a long one is a mistake, not a name to send.
        if template.len() > MAX_NAME_BYTES || template.contains(|c: char| c.is_control()) {
            return Err(Error::invalid_argument(format!(
                "template must be a template name or id (at most {MAX_NAME_BYTES} bytes, no control characters), got {} bytes",
                template.len()
            )));
        }
        if let Some(envs) = &self.envs {
            check_envs(envs.iter())?;
        }
        // The official SDK's checks, in its order and words.
        let pause = self.on_timeout == Some(OnTimeout::Pause);
        if self.keep_memory.is_some() && !pause {
            return Err(Error::invalid_argument(
                "onTimeout.keepMemory is only allowed when action is 'pause'.",
            ));
        }
        if self.auto_resume == Some(true) && !pause {
            return Err(Error::invalid_argument(
                "autoResume can only be true when onTimeout action is 'pause'.",
            ));
        }
        if self.keep_memory == Some(false) && self.auto_resume == Some(true) {
            return Err(Error::invalid_argument(
                "autoResume: true is not a valid value when keepMemory: false - a filesystem-only snapshot cannot be auto-resumed by traffic and must be resumed explicitly using Sandbox.connect().",
            ));
        }
        Ok(NewSandbox {
            template_id: template,
            timeout: self.timeout.map(timeout_secs).transpose()?,
            metadata: self.metadata,
            env_vars: self.envs,
            allow_internet_access: self.allow_internet_access,
            network: self.network,
            auto_pause: self.on_timeout.map(|o| o == OnTimeout::Pause),
            auto_pause_memory: self.keep_memory,
            auto_resume: self.auto_resume.map(|enabled| AutoResume { enabled }),
            secure: self.secure,
        })
    }
}

/// The most bytes a template name or a sandbox id may have.
pub(crate) const MAX_NAME_BYTES: usize = 256;

/// Environment variables as a process can have them: a name that is not empty and holds no
/// `=` or NUL, a value without NUL (`execve` would cut or refuse either).
pub(crate) fn check_envs<'a>(envs: impl Iterator<Item = (&'a String, &'a String)>) -> Result<()> {
    for (name, value) in envs {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(Error::invalid_argument(format!(
                "envs: {} is not a variable name (it must not be empty or hold '=' or NUL)",
                crate::json::quote(name)
            )));
        }
        if value.contains('\0') {
            return Err(Error::invalid_argument(format!(
                "envs{} must not hold a NUL character",
                from_js::key_suffix(name)
            )));
        }
    }
    Ok(())
}

/// Whole seconds for the API, rounded up as the official SDK does (`Math.ceil(ms / 1000)`).
pub(crate) fn timeout_secs(timeout: Duration) -> Result<i64> {
    // u64 arithmetic: `as_millis()` is a u128, whose formatting and division cost the wasm
    // build a few KB.
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0));
    i64::try_from(secs)
        .ok()
        .filter(|s| *s <= i64::from(i32::MAX))
        .ok_or_else(|| Error::invalid_argument(format!("timeout of {secs} s is too large")))
}

/// A number as JavaScript prints it (`5`, `1.5`, `NaN`, `1e+300`), for messages about values a
/// caller passed. On wasm the runtime does the printing: Rust's float formatting would add
/// about 20 KB to the module.
pub fn js_number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Number::from(v)
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_default()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // JavaScript's spelling: `Infinity`, not `inf`; exponents past 1e21 and below 1e-6.
        if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
        } else if v.abs() >= 1e21 || v.abs() < 1e-6 {
            format!("{v:e}").replace("e", if v.abs() >= 1.0 { "e+" } else { "e" })
        } else {
            format!("{v}")
        }
    }
}

/// A JavaScript millisecond count as a `Duration`, refusing what is not a duration.
pub fn duration_from_js_millis(name: &str, ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(Error::invalid_argument(format!(
            "{name} must be a non-negative finite number of milliseconds, got {}",
            js_number_text(ms)
        )));
    }
    if ms > f64::from(i32::MAX) * 1000.0 {
        return Err(Error::invalid_argument(format!(
            "{name} of {} ms is too large",
            js_number_text(ms)
        )));
    }
    Ok(Duration::from_micros((ms * 1000.0) as u64))
}

/// Options of [`crate::Sandbox::connect`].
#[derive(Debug, Clone, Default)]
pub struct ConnectOpts {
    /// Extends the sandbox's life to at least this; the server's default (300 s) when unset.
    pub timeout: Option<Duration>,
    /// How a paused sandbox comes back; the server's default ([`OnResume::Restore`]) when unset.
    pub on_resume: Option<OnResume>,
    pub connection: ConnectionOpts,
}

/// How a paused sandbox is resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnResume {
    /// Where it stopped, memory and processes included.
    Restore,
    /// Afresh on its files: its processes start anew (`memory: false` on the wire).
    Reboot,
}

/// Options of [`crate::Sandbox::get_metrics`]: the span of samples wanted (whole seconds on
/// the wire, rounded as the official SDK rounds them).
#[derive(Debug, Clone, Default)]
pub struct MetricsOpts {
    pub start: Option<crate::Timestamp>,
    pub end: Option<crate::Timestamp>,
    pub connection: ConnectionOpts,
}

/// Options of [`crate::Sandbox::list`].
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// `running`, `paused` or both; both when unset.
    pub state: Option<Vec<SandboxState>>,
    /// Only sandboxes with every one of these pairs (case-sensitive).
    pub metadata: Option<StringMap>,
    /// Page size, 1 to 100; the server's default (100) when unset.
    pub limit: Option<u32>,
    /// Start from this page.
    pub next_token: Option<String>,
    pub order: Option<ListOrder>,
    /// Only sandboxes of this template (id or name); no filter when empty.
    pub template: Option<String>,
    /// Only sandboxes started at or after this instant (unix milliseconds).
    pub started_after_ms: Option<i64>,
    pub connection: ConnectionOpts,
}

/// A listing's page size (sandboxes or snapshots), refused outside 1 to [`MAX_LIST_LIMIT`].
pub(crate) fn check_list_limit(limit: Option<u32>) -> Result<Option<u32>> {
    match limit {
        Some(limit) if !(1..=MAX_LIST_LIMIT).contains(&limit) => Err(Error::invalid_argument(
            format!("limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}"),
        )),
        _ => Ok(limit),
    }
}

impl ListOpts {
    pub(crate) fn into_query(self) -> Result<ListQuery> {
        check_list_limit(self.limit)?;
        Ok(ListQuery {
            state: self.state,
            metadata: self.metadata,
            limit: self.limit,
            next_token: self.next_token.filter(|t| !t.is_empty()),
            order: self.order,
            template: self.template.filter(|t| !t.is_empty()),
            started_after: self
                .started_after_ms
                .map(crate::wire::time::format_rfc3339_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_environment_variables_no_process_can_have() {
        let envs = |pairs: &[(&str, &str)]| -> StringMap {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(check_envs(envs(&[("A", "1"), ("B_2", ""), ("ü", "x y")]).iter()).is_ok());
        for (bad, names) in [
            (envs(&[("", "1")]), "envs"),
            (envs(&[("A=B", "1")]), "envs"),
            (envs(&[("A\0B", "1")]), "envs"),
            (envs(&[("A", "x\0y")]), "envs.A"),
            (envs(&[("a b", "\0")]), "envs[\"a b\"]"),
        ] {
            let err = check_envs(bad.iter()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
            assert!(err.message().contains(names), "{}", err.message());
        }
        let long = SandboxOpts {
            template: Some("t".repeat(MAX_NAME_BYTES + 1)),
            ..Default::default()
        };
        assert!(long.into_wire().unwrap_err().message().contains("template"));
    }

    #[test]
    fn numbers_are_spelled_as_javascript_spells_them() {
        let cases = [
            (5.0, "5"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1e300, "1e+300"),
            (1e-7, "1e-7"),
            (1e16, "10000000000000000"),
        ];
        for (v, text) in cases {
            assert_eq!(js_number_text(v), text);
        }
    }

    #[test]
    fn timeouts_round_up_like_the_official_sdk() {
        assert_eq!(timeout_secs(Duration::from_millis(120_500)).unwrap(), 121);
        assert_eq!(timeout_secs(Duration::from_millis(30_001)).unwrap(), 31);
        assert_eq!(timeout_secs(Duration::from_millis(1000)).unwrap(), 1);
        assert_eq!(timeout_secs(Duration::ZERO).unwrap(), 0);
        assert!(timeout_secs(Duration::MAX).is_err());
    }

    #[test]
    fn js_millis_are_checked() {
        assert_eq!(
            duration_from_js_millis("t", 1500.0).unwrap(),
            Duration::from_millis(1500)
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(duration_from_js_millis("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_body_matches_the_wire() {
        let body = SandboxOpts::new()
            .metadata([("k", "v")])
            .envs([("A", "1")])
            .timeout(Duration::from_millis(120_500))
            .into_wire()
            .unwrap();
        assert_eq!(
            body.to_json(),
            // What e2b 2.51.0 sends for the same options, byte for byte.
            r#"{"templateID":"base","metadata":{"k":"v"},"envVars":{"A":"1"},"timeout":121}"#
        );
        let bad = SandboxOpts {
            auto_resume: Some(true),
            ..Default::default()
        };
        assert!(bad.into_wire().is_err());
    }

    #[test]
    fn on_timeout_in_both_forms_with_the_official_checks() {
        use from_js::{OnTimeoutGiven, on_timeout};
        let err = |r: Result<(OnTimeout, Option<bool>)>| r.unwrap_err().message().to_string();
        assert_eq!(
            on_timeout(OnTimeoutGiven::Action("pause")).unwrap(),
            (OnTimeout::Pause, None)
        );
        assert_eq!(
            err(on_timeout(OnTimeoutGiven::Action("sleep"))),
            r#"onTimeout must be one of: pause, kill (got "sleep")."#
        );
        let object = |action, keep_memory| OnTimeoutGiven::Object {
            action,
            keep_memory,
        };
        assert_eq!(
            err(on_timeout(object(None, None))),
            "onTimeout.action must be one of: pause, kill (got undefined)."
        );
        // `keepMemory` present but undefined means true, as `?? true` makes it.
        assert_eq!(
            on_timeout(object(Some("pause"), Some(None))).unwrap(),
            (OnTimeout::Pause, Some(true))
        );
        let wire = |on_timeout, keep_memory, auto_resume| {
            SandboxOpts {
                on_timeout: Some(on_timeout),
                keep_memory,
                auto_resume,
                ..Default::default()
            }
            .into_wire()
        };
        let body = wire(OnTimeout::Pause, Some(false), None).unwrap();
        assert_eq!(
            (body.auto_pause, body.auto_pause_memory, body.auto_resume),
            (Some(true), Some(false), None)
        );
        let body = wire(OnTimeout::Kill, None, Some(false)).unwrap();
        assert_eq!(
            (body.auto_pause, body.auto_pause_memory, body.auto_resume),
            (Some(false), None, Some(AutoResume { enabled: false }))
        );
        for (on_timeout, keep, resume, words) in [
            (
                OnTimeout::Kill,
                Some(true),
                None,
                "keepMemory is only allowed",
            ),
            (
                OnTimeout::Kill,
                None,
                Some(true),
                "autoResume can only be true",
            ),
            (
                OnTimeout::Pause,
                Some(false),
                Some(true),
                "filesystem-only snapshot",
            ),
        ] {
            let e = wire(on_timeout, keep, resume).unwrap_err();
            assert!(e.message().contains(words), "{e}");
        }
    }

    #[test]
    fn list_filters_are_sent_as_the_official_sdk_sends_them() {
        let query = ListOpts {
            template: Some("base".into()),
            started_after_ms: Some(1_764_806_400_123),
            ..Default::default()
        }
        .into_query()
        .unwrap();
        assert_eq!(query.template.as_deref(), Some("base"));
        assert_eq!(
            query.started_after.as_deref(),
            Some("2025-12-04T00:00:00.123Z")
        );
        let empty = ListOpts {
            template: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(empty.into_query().unwrap().template, None);
    }

    #[test]
    fn list_limit_is_checked_before_sending() {
        for bad in [0, 101, u32::MAX] {
            assert!(
                ListOpts {
                    limit: Some(bad),
                    ..Default::default()
                }
                .into_query()
                .is_err()
            );
        }
        assert!(
            ListOpts {
                limit: Some(100),
                ..Default::default()
            }
            .into_query()
            .is_ok()
        );
    }
}

/// Helpers for bindings: JavaScript values to core options, with the checks in one place.
pub mod from_js {
    use super::*;

    /// How a key continues a field path in messages: `.user`, or `["a b"]` (JSON-quoted)
    /// for keys that are not identifiers.
    pub fn key_suffix(key: &str) -> String {
        let ident = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if ident {
            format!(".{key}")
        } else {
            // JSON quoting: `{:?}` would bring Rust's Unicode printability tables into wasm.
            format!("[{}]", crate::json::quote(key))
        }
    }

    /// A field's path in messages: `timeoutMs` at the top (`parent` empty), else
    /// `lifecycle.autoResume` or `metadata["a b"]`.
    pub fn field_path(parent: &str, key: &str) -> String {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}{}", key_suffix(key))
        }
    }

    /// A page size given as a JavaScript number.
    pub fn list_limit(limit: f64) -> Result<u32> {
        if limit.fract() != 0.0 || !(1.0..=f64::from(MAX_LIST_LIMIT)).contains(&limit) {
            return Err(Error::invalid_argument(format!(
                "limit must be an integer between 1 and {MAX_LIST_LIMIT}, got {}",
                js_number_text(limit)
            )));
        }
        Ok(limit as u32)
    }

    /// A fork's `count`: a whole number of sandboxes, at least one.
    pub fn fork_count(count: f64) -> Result<u32> {
        if count.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&count) {
            return Err(Error::invalid_argument(format!(
                "count must be a whole number of sandboxes, at least 1, got {}",
                js_number_text(count)
            )));
        }
        Ok(count as u32)
    }

    pub fn states(states: &[String]) -> Result<Vec<SandboxState>> {
        let mut out = Vec::with_capacity(states.len());
        for s in states {
            out.push(SandboxState::parse(s).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "query.state must be 'running' or 'paused', got {}",
                    crate::json::quote(s)
                ))
            })?);
        }
        Ok(out)
    }

    pub fn order(order: &str) -> Result<ListOrder> {
        match order {
            "asc" => Ok(ListOrder::Asc),
            "desc" => Ok(ListOrder::Desc),
            _ => Err(Error::invalid_argument(format!(
                "order must be 'asc' or 'desc', got '{order}'"
            ))),
        }
    }

    /// `onResume`: `'restore'` or `'reboot'`, refused in the official SDK's words otherwise.
    pub fn on_resume(given: Option<&str>) -> Result<Option<OnResume>> {
        match given {
            None => Ok(None),
            Some("restore") => Ok(Some(OnResume::Restore)),
            Some("reboot") => Ok(Some(OnResume::Reboot)),
            Some(other) => Err(Error::invalid_argument(format!(
                "onResume must be one of: restore, reboot (got {}).",
                crate::json::quote(other)
            ))),
        }
    }

    /// `betaCreate`'s `autoPause` (the seeds' spelling of `lifecycle.onTimeout`): true is
    /// `'pause'`, false `'kill'`; it may repeat what `lifecycle` says but not contradict it.
    pub fn beta_auto_pause(
        auto_pause: Option<bool>,
        on_timeout: Option<OnTimeout>,
    ) -> Result<Option<OnTimeout>> {
        let wanted = auto_pause.map(|p| if p { OnTimeout::Pause } else { OnTimeout::Kill });
        match (wanted, on_timeout) {
            (Some(a), Some(b)) if a != b => Err(Error::invalid_argument(format!(
                "autoPause: {} contradicts lifecycle.onTimeout",
                auto_pause == Some(true)
            ))),
            (wanted, given) => Ok(given.or(wanted)),
        }
    }

    /// `lifecycle.onTimeout` in either form: the action, and `keepMemory` when the object
    /// form names it (`'keepMemory' in onTimeout`, whose `undefined` means true).
    pub fn on_timeout(given: OnTimeoutGiven<'_>) -> Result<(OnTimeout, Option<bool>)> {
        let (field, action, keep_memory) = match given {
            OnTimeoutGiven::Action(a) => ("onTimeout", Some(a), None),
            OnTimeoutGiven::Object {
                action,
                keep_memory,
            } => ("onTimeout.action", action, keep_memory),
        };
        let action = match action {
            Some("kill") => OnTimeout::Kill,
            Some("pause") => OnTimeout::Pause,
            other => {
                let got = other.map_or_else(|| "undefined".to_string(), crate::json::quote);
                return Err(Error::invalid_argument(format!(
                    "{field} must be one of: pause, kill (got {got})."
                )));
            }
        };
        Ok((action, keep_memory.map(|k| k.unwrap_or(true))))
    }

    /// What a binding read from `lifecycle.onTimeout`.
    #[derive(Debug, Clone, Copy)]
    pub enum OnTimeoutGiven<'a> {
        /// `'pause'` or `'kill'` (or anything else, refused).
        Action(&'a str),
        /// `{ action, keepMemory }`; `keep_memory` is `Some` when the key is present.
        Object {
            action: Option<&'a str>,
            keep_memory: Option<Option<bool>>,
        },
    }

    /// The connection fields every options object shares, as a binding read them.
    #[derive(Clone, Default)]
    pub struct ConnectionGiven {
        pub api_key: Option<String>,
        pub api_url: Option<String>,
        pub sandbox_url: Option<String>,
        pub domain: Option<String>,
        pub debug: Option<bool>,
        pub request_timeout_ms: Option<f64>,
        pub retries: Option<f64>,
        pub dangerously_allow_browser: Option<bool>,
    }

    impl std::fmt::Debug for ConnectionGiven {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // The API key is a secret: say whether there is one, never what it is.
            f.debug_struct("ConnectionGiven")
                .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
                .field("api_url", &self.api_url)
                .field("sandbox_url", &self.sandbox_url)
                .field("domain", &self.domain)
                .field("debug", &self.debug)
                .field("request_timeout_ms", &self.request_timeout_ms)
                .field("retries", &self.retries)
                .field("dangerously_allow_browser", &self.dangerously_allow_browser)
                .finish()
        }
    }

    /// The connection options: `requestTimeoutMs` and `retries` checked,
    /// `dangerouslyAllowBrowser` off unless given.
    pub fn connection(given: ConnectionGiven) -> Result<crate::ConnectionOpts> {
        Ok(crate::ConnectionOpts {
            api_key: given.api_key,
            api_url: given.api_url,
            sandbox_url: given.sandbox_url,
            domain: given.domain,
            debug: given.debug,
            request_timeout_ms: whole_millis("requestTimeoutMs", given.request_timeout_ms)?,
            retries: retries(given.retries)?,
            dangerously_allow_browser: given.dangerously_allow_browser.unwrap_or(false),
            ..Default::default()
        })
    }

    /// What a create does at its timeout, from `lifecycle.onTimeout` and the seeds'
    /// `autoPause` (which may repeat it but not contradict it): the action, and `keepMemory`
    /// when the object form names it.
    pub fn lifecycle(
        auto_pause: Option<bool>,
        on_timeout: Option<OnTimeoutGiven<'_>>,
    ) -> Result<(Option<OnTimeout>, Option<bool>)> {
        let on_timeout = on_timeout.map(self::on_timeout).transpose()?;
        Ok((
            beta_auto_pause(auto_pause, on_timeout.map(|(action, _)| action))?,
            on_timeout.and_then(|(_, keep)| keep),
        ))
    }

    /// A JavaScript value as a binding read it, for options the core reads and checks
    /// (`crate::js_options`, `network.rules`, `network.egressProxy`): objects keep their own
    /// enumerable keys in order (as `Object.entries` lists them).
    #[derive(Debug, Clone, PartialEq)]
    pub enum JsAny {
        Undefined,
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<JsAny>),
        Object(Vec<(String, JsAny)>),
        /// A `Date`, as its time value (unix milliseconds; NaN for an invalid date).
        Date(f64),
        /// A function, symbol or bigint: its `typeof`.
        Other(&'static str),
    }

    impl JsAny {
        /// The type for messages: `typeof`, with `null` and `array` told apart.
        pub fn type_name(&self) -> &'static str {
            match self {
                JsAny::Undefined => "undefined",
                JsAny::Null => "null",
                JsAny::Bool(_) => "boolean",
                JsAny::Number(_) => "number",
                JsAny::String(_) => "string",
                JsAny::Array(_) => "array",
                JsAny::Object(_) | JsAny::Date(_) => "object",
                JsAny::Other(t) => t,
            }
        }

        fn is_nullish(&self) -> bool {
            matches!(self, JsAny::Undefined | JsAny::Null)
        }

        /// An object of `members`, in order: the tests' way to write one.
        #[cfg(test)]
        pub(crate) fn object(members: &[(&str, JsAny)]) -> JsAny {
            JsAny::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            )
        }

        fn member(&self, key: &str) -> Option<&JsAny> {
            match self {
                JsAny::Object(members) => {
                    members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
                }
                _ => None,
            }
        }
    }

    /// The type name of bytes (an `ArrayBuffer` or a view of one) read as a [`JsAny`]: they
    /// are no options, so a binding does not walk their indices.
    pub const BINARY: &str = "binary data";

    /// How deep a binding reads a [`JsAny`]; deeper (or cyclic) values are refused.
    pub const JS_ANY_MAX_DEPTH: usize = 16;

    /// The error of a value nested deeper than [`JS_ANY_MAX_DEPTH`].
    pub fn too_deep(path: &str) -> Error {
        Error::invalid_argument(format!(
            "{path} is nested too deeply (more than {JS_ANY_MAX_DEPTH} levels, or cyclic)"
        ))
    }

    /// The error of a value of the wrong JavaScript type at `path`.
    pub fn wrong(path: &str, expected: &str, got: &JsAny) -> Error {
        Error::invalid_argument(format!(
            "{path} must be {expected}, got {}",
            got.type_name()
        ))
    }

    /// What a binding read from `network` (of a create, or of an update): the fields as given.
    /// `allowOut` and `denyOut` callbacks, `rules` given as a `Map` and `transform` callbacks
    /// have been resolved by the JavaScript layer already.
    #[derive(Debug, Clone, Default)]
    pub struct NetworkGiven {
        pub allow_out: Option<Vec<String>>,
        pub deny_out: Option<Vec<String>>,
        pub allow_public_traffic: Option<bool>,
        pub mask_request_host: Option<String>,
        pub https_ports: Option<Vec<f64>>,
        pub rules: Option<JsAny>,
        pub egress_proxy: Option<JsAny>,
        /// Only of an update (`allowInternetAccess`).
        pub allow_internet_access: Option<bool>,
    }

    /// `network` of a create as the wire sends it; `httpsPorts` are ports other than the
    /// daemon's.
    pub fn network(given: NetworkGiven) -> Result<crate::wire::NetworkConfig> {
        let https_ports = given
            .https_ports
            .map(|ports| {
                ports
                    .into_iter()
                    .map(|p| {
                        let port = self::port(p).map_err(|_| {
                            Error::invalid_argument(format!(
                                "network.httpsPorts must hold integers from 1 to 65535, got {}",
                                js_number_text(p)
                            ))
                        })?;
                        if port == crate::wire::ENVD_PORT {
                            return Err(Error::invalid_argument(format!(
                                "network.httpsPorts must not contain the envd port {port}"
                            )));
                        }
                        Ok(port)
                    })
                    .collect::<Result<Vec<u16>>>()
            })
            .transpose()?;
        Ok(crate::wire::NetworkConfig {
            egress_proxy: given.egress_proxy.map(egress_proxy).transpose()?.flatten(),
            rules: given.rules.map(rules).transpose()?.flatten(),
            allow_out: given.allow_out,
            deny_out: given.deny_out,
            allow_public_traffic: given.allow_public_traffic,
            mask_request_host: given.mask_request_host,
            https_ports,
        })
    }

    /// The body of `updateNetwork` (`SandboxNetworkUpdateConfig`); the fields only a create
    /// has are not read, as the official SDK does not send them.
    pub fn network_update(given: NetworkGiven) -> Result<crate::wire::SandboxNetworkUpdateConfig> {
        Ok(crate::wire::SandboxNetworkUpdateConfig {
            egress_proxy: given.egress_proxy.map(egress_proxy).transpose()?.flatten(),
            rules: given.rules.map(rules).transpose()?.flatten(),
            allow_out: given.allow_out,
            deny_out: given.deny_out,
            allow_internet_access: given.allow_internet_access,
        })
    }

    /// A `string[]` field (`path` names it); `None` when `null` or `undefined`.
    pub fn string_list(path: &str, given: JsAny) -> Result<Option<Vec<String>>> {
        let items = match given {
            JsAny::Undefined | JsAny::Null => return Ok(None),
            JsAny::Array(items) => items,
            other => return Err(wrong(path, "an array of strings", &other)),
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                JsAny::String(s) => out.push(s),
                other => return Err(wrong(&format!("{path}[{i}]"), "a string", &other)),
            }
        }
        Ok(Some(out))
    }

    /// The argument of `updateNetwork` (`SandboxNetworkUpdate`) as a binding read it: an
    /// object, whose fields are checked here.
    pub fn network_update_value(given: JsAny) -> Result<crate::wire::SandboxNetworkUpdateConfig> {
        let JsAny::Object(members) = given else {
            return Err(wrong("network", "an object", &given));
        };
        let mut n = NetworkGiven::default();
        for (key, value) in members {
            match key.as_str() {
                "allowOut" => n.allow_out = string_list("network.allowOut", value)?,
                "denyOut" => n.deny_out = string_list("network.denyOut", value)?,
                "rules" => n.rules = Some(value),
                "egressProxy" => n.egress_proxy = Some(value),
                "allowInternetAccess" => {
                    n.allow_internet_access = match value {
                        JsAny::Undefined | JsAny::Null => None,
                        JsAny::Bool(b) => Some(b),
                        other => {
                            return Err(wrong("network.allowInternetAccess", "a boolean", &other));
                        }
                    }
                }
                _ => {}
            }
        }
        network_update(n)
    }

    /// `network.egressProxy`: `{ address, username?, password? }`; `null` or `undefined` is
    /// none. The official SDK refuses anything without a string `address` in these words. The
    /// password is never part of a message.
    pub fn egress_proxy(given: JsAny) -> Result<Option<crate::wire::EgressProxy>> {
        if given.is_nullish() {
            return Ok(None);
        }
        let address = match (&given, given.member("address")) {
            (JsAny::Object(_), Some(JsAny::String(a))) => a.clone(),
            _ => {
                return Err(Error::invalid_argument(
                    "network egressProxy must be an object with a string 'address' (e.g. 'proxy.example.com:1080').",
                ));
            }
        };
        let credential = |key: &str| match given.member(key) {
            None | Some(JsAny::Undefined | JsAny::Null) => Ok(None),
            Some(JsAny::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong(
                &format!("network.egressProxy.{key}"),
                "a string",
                other,
            )),
        };
        Ok(Some(crate::wire::EgressProxy {
            address,
            username: credential("username")?,
            password: credential("password")?,
        }))
    }

    /// `network.rules`: host → `[{ transform?: { headers?: { name: value } } }]`, in the
    /// order given; `null` or `undefined` is none. A rule's other fields are left out, as the
    /// official SDK leaves them out; a transform holds headers and nothing else.
    pub fn rules(given: JsAny) -> Result<Option<crate::wire::NetworkRules>> {
        use crate::wire::{NetworkRule, NetworkRules, NetworkTransform, OrderedMap};
        let JsAny::Object(hosts) = given else {
            return if given.is_nullish() {
                Ok(None)
            } else {
                Err(wrong("network.rules", "an object or a Map", &given))
            };
        };
        let mut out = NetworkRules::new();
        for (host, list) in hosts {
            let at = format!("network.rules{}", key_suffix(&host));
            let JsAny::Array(list) = list else {
                return Err(wrong(&at, "an array of rules", &list));
            };
            let mut rules = Vec::with_capacity(list.len());
            for (i, rule) in list.into_iter().enumerate() {
                let at = format!("{at}[{i}]");
                if !matches!(rule, JsAny::Object(_)) {
                    return Err(wrong(&at, "an object", &rule));
                }
                let transform = match rule.member("transform") {
                    None | Some(JsAny::Undefined | JsAny::Null) => None,
                    Some(JsAny::Object(fields)) => {
                        let mut headers = None;
                        for (field, value) in fields {
                            let at = format!("{at}.transform{}", key_suffix(field));
                            match (field.as_str(), value) {
                                (_, JsAny::Undefined) => {}
                                ("headers", JsAny::Null) => headers = None,
                                ("headers", JsAny::Object(pairs)) => {
                                    let mut map = OrderedMap::new();
                                    for (name, v) in pairs {
                                        match v {
                                            JsAny::String(v) => map.insert(name.clone(), v.clone()),
                                            JsAny::Undefined => {}
                                            other => {
                                                let at = format!("{at}{}", key_suffix(name));
                                                return Err(wrong(&at, "a string", other));
                                            }
                                        }
                                    }
                                    headers = Some(map);
                                }
                                ("headers", other) => return Err(wrong(&at, "an object", other)),
                                _ => {
                                    return Err(Error::invalid_argument(format!(
                                        "{at} is not a transform sandkit knows (only headers)"
                                    )));
                                }
                            }
                        }
                        Some(NetworkTransform { headers })
                    }
                    Some(other) => {
                        return Err(wrong(&format!("{at}.transform"), "an object", other));
                    }
                };
                rules.push(NetworkRule { transform });
            }
            out.insert(host, rules);
        }
        Ok(Some(out))
    }

    /// A TCP port given as a JavaScript number.
    pub fn port(port: f64) -> Result<u16> {
        if port.fract() != 0.0 || !(0.0..=65535.0).contains(&port) {
            return Err(Error::invalid_argument(format!(
                "port must be an integer from 0 to 65535, got {}",
                js_number_text(port)
            )));
        }
        Ok(port as u16)
    }

    /// A process id given as a JavaScript number.
    pub fn pid(pid: f64) -> Result<u32> {
        if pid.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&pid) {
            return Err(Error::invalid_argument(format!(
                "pid must be a whole number, got {}",
                js_number_text(pid)
            )));
        }
        Ok(pid as u32)
    }

    /// A directory listing depth: a whole number, at least 1.
    pub fn depth(depth: f64) -> Result<u32> {
        if depth.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&depth) {
            return Err(Error::invalid_argument(format!(
                "depth should be at least one (a whole number), got {}",
                js_number_text(depth)
            )));
        }
        Ok(depth as u32)
    }

    /// A JavaScript count of seconds from now (`useSignatureExpiration`). Negative counts
    /// are kept: the official SDK makes an already-expired URL from them.
    pub fn seconds(name: &str, s: Option<f64>) -> Result<Option<i64>> {
        s.map(|s| {
            if s.fract() != 0.0 || !(-1e12..=1e12).contains(&s) {
                return Err(Error::invalid_argument(format!(
                    "{name} must be a whole number of seconds, got {}",
                    js_number_text(s)
                )));
            }
            Ok(s as i64)
        })
        .transpose()
    }

    /// `retries`: how many times a call that may be repeated is sent again; a whole number
    /// from 0 to 100 (the request's deadline bounds them anyway).
    pub fn retries(r: Option<f64>) -> Result<Option<u32>> {
        r.map(|r| {
            if r.fract() != 0.0 || !(0.0..=100.0).contains(&r) {
                return Err(Error::invalid_argument(format!(
                    "retries must be a whole number from 0 to 100, got {}",
                    js_number_text(r)
                )));
            }
            Ok(r as u32)
        })
        .transpose()
    }

    /// A JavaScript millisecond count as an optional `Duration`.
    pub fn millis(name: &str, ms: Option<f64>) -> Result<Option<Duration>> {
        ms.map(|ms| duration_from_js_millis(name, ms)).transpose()
    }

    /// [`millis`] in whole milliseconds (`requestTimeoutMs` of a connection or of one call,
    /// the interpreter's `timeoutMs`).
    pub fn whole_millis(name: &str, ms: Option<f64>) -> Result<Option<u64>> {
        Ok(millis(name, ms)?.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn s(v: &str) -> JsAny {
            JsAny::String(v.into())
        }

        fn message(e: Error) -> String {
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{e}");
            e.message().to_string()
        }

        #[test]
        fn retries_are_a_whole_number_up_to_a_hundred() {
            assert_eq!(retries(None), Ok(None));
            assert_eq!(retries(Some(0.0)), Ok(Some(0)));
            assert_eq!(retries(Some(100.0)), Ok(Some(100)));
            for bad in [-1.0, 1.5, 101.0, f64::NAN, f64::INFINITY] {
                let m = message(retries(Some(bad)).unwrap_err());
                assert!(m.starts_with("retries must be a whole number"), "{m}");
            }
        }

        #[test]
        fn egress_proxy_is_checked_as_the_official_sdk_checks_it() {
            assert_eq!(egress_proxy(JsAny::Null).unwrap(), None);
            assert_eq!(egress_proxy(JsAny::Undefined).unwrap(), None);
            let p = egress_proxy(JsAny::object(&[
                ("address", s("p:1080")),
                ("username", s("u")),
                ("password", s("hunter2")),
                ("extra", JsAny::Number(1.0)),
            ]))
            .unwrap()
            .unwrap();
            assert_eq!(
                (
                    p.address.as_str(),
                    p.username.as_deref(),
                    p.password.as_deref()
                ),
                ("p:1080", Some("u"), Some("hunter2"))
            );
            let official = "network egressProxy must be an object with a string 'address' (e.g. 'proxy.example.com:1080').";
            for bad in [
                s("p:1080"),
                JsAny::Array(vec![]),
                JsAny::object(&[]),
                JsAny::object(&[
                    ("address", JsAny::Number(1080.0)),
                    ("password", s("hunter2")),
                ]),
                JsAny::Other("function"),
            ] {
                assert_eq!(message(egress_proxy(bad).unwrap_err()), official);
            }
            let e = egress_proxy(JsAny::object(&[
                ("address", s("p:1080")),
                ("password", JsAny::Number(7.0)),
            ]))
            .unwrap_err();
            assert_eq!(
                message(e),
                "network.egressProxy.password must be a string, got number"
            );
        }

        #[test]
        fn rules_keep_their_order_and_name_the_bad_field() {
            let given = JsAny::object(&[
                (
                    "z.com",
                    JsAny::Array(vec![
                        JsAny::object(&[(
                            "transform",
                            JsAny::object(&[(
                                "headers",
                                JsAny::object(&[
                                    ("B", s("1")),
                                    ("A", s("2")),
                                    ("C", JsAny::Undefined),
                                ]),
                            )]),
                        )]),
                        JsAny::object(&[("transform", JsAny::Null), ("other", s("dropped"))]),
                        JsAny::object(&[(
                            "transform",
                            JsAny::object(&[("headers", JsAny::Undefined)]),
                        )]),
                    ]),
                ),
                ("*.a.com", JsAny::Array(vec![])),
            ]);
            let rules = rules(given).unwrap().unwrap();
            let mut w = crate::json::Writer::new();
            crate::wire::NetworkConfig {
                rules: Some(rules),
                ..Default::default()
            }
            .write_json(&mut w);
            assert_eq!(
                w.finish(),
                r#"{"rules":{"z.com":[{"transform":{"headers":{"B":"1","A":"2"}}},{},{"transform":{}}],"*.a.com":[]}}"#
            );
            let bad = |v: JsAny| message(super::rules(v).unwrap_err());
            assert_eq!(
                bad(s("x")),
                "network.rules must be an object or a Map, got string"
            );
            assert_eq!(
                bad(JsAny::object(&[("a.com", JsAny::object(&[]))])),
                r#"network.rules["a.com"] must be an array of rules, got object"#
            );
            assert_eq!(
                bad(JsAny::object(&[("a", JsAny::Array(vec![JsAny::Null]))])),
                "network.rules.a[0] must be an object, got null"
            );
            assert_eq!(
                bad(JsAny::object(&[(
                    "a",
                    JsAny::Array(vec![JsAny::object(&[("transform", s("x"))])])
                )])),
                "network.rules.a[0].transform must be an object, got string"
            );
            assert_eq!(
                bad(JsAny::object(&[(
                    "a",
                    JsAny::Array(vec![JsAny::object(&[(
                        "transform",
                        JsAny::object(&[(
                            "headers",
                            JsAny::object(&[("X-Key", JsAny::Number(1.0))])
                        )])
                    )])])
                )])),
                r#"network.rules.a[0].transform.headers["X-Key"] must be a string, got number"#
            );
            assert!(
                bad(JsAny::object(&[(
                    "a",
                    JsAny::Array(vec![JsAny::object(&[(
                        "transform",
                        JsAny::object(&[("body", s("x"))])
                    )])])
                )]))
                .contains("network.rules.a[0].transform.body")
            );
        }

        #[test]
        fn update_bodies_leave_out_what_only_a_create_has() {
            let body = network_update(NetworkGiven {
                allow_out: Some(vec!["a.com".into()]),
                https_ports: Some(vec![443.0]),
                allow_public_traffic: Some(false),
                allow_internet_access: Some(false),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(
                body.to_json(),
                r#"{"allowOut":["a.com"],"allow_internet_access":false}"#
            );
        }

        #[test]
        fn checks_js_values() {
            assert_eq!(list_limit(7.0).unwrap(), 7);
            for bad in [0.0, 101.0, -1.0, 1.5, f64::NAN] {
                assert!(list_limit(bad).is_err(), "{bad}");
            }
            assert!(states(&["running".into(), "paused".into()]).is_ok());
            assert!(states(&["Running".into()]).is_err());
            assert!(order("up").is_err());
            assert!(on_timeout(OnTimeoutGiven::Action("explode")).is_err());
            assert_eq!(pid(42.0).unwrap(), 42);
            for bad in [-1.0, 1.5, f64::NAN, 5e9] {
                assert!(pid(bad).is_err(), "{bad}");
            }
            assert_eq!(depth(2.0).unwrap(), 2);
            for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY] {
                assert!(depth(bad).is_err(), "{bad}");
            }
            assert_eq!(seconds("s", Some(60.0)).unwrap(), Some(60));
            assert_eq!(seconds("s", Some(-120.0)).unwrap(), Some(-120));
            for bad in [0.5, f64::NAN, 1e20, -1e20] {
                assert!(seconds("s", Some(bad)).is_err(), "{bad}");
            }
        }
    }
}
