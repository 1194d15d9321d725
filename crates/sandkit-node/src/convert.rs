//! JavaScript values to the core and back: options arguments read as they are (`JsAnyArg`,
//! which `sandkit::js_options` reads), results as the shapes generated into index.d.ts.

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use napi::bindgen_prelude::{
    FromNapiValue, Object, PromiseRaw, ToNapiValue, TypeName, Uint8Array, ValueType,
};
use napi::{Env, JsValue, Status, sys};
use napi_derive::napi;
use sandkit::Error;
use sandkit::files::FileData;
use sandkit::js_options;
use sandkit::options::from_js::{self, JsAny};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// `typeof`, with `null` and `array` told apart, for messages.
unsafe fn js_type(env: sys::napi_env, value: sys::napi_value) -> napi::Result<&'static str> {
    let mut t = 0;
    let mut array = false;
    // SAFETY: `env` and `value` come from napi for the duration of this conversion.
    unsafe {
        napi::check_status!(sys::napi_typeof(env, value, &mut t))?;
        napi::check_status!(sys::napi_is_array(env, value, &mut array))?;
    }
    Ok(match ValueType::from(t) {
        _ if array => "array",
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::BigInt => "bigint",
        _ => "unknown",
    })
}

/// A wrong-typed value. napi appends ` on Struct.field` for each enclosing object, and
/// `js/wrap.mjs` turns that into a path (`metadata.a must be a string, got number`).
fn wrong_type(what: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, what)
}

/// `TypeName` of an argument napi cannot check by its type (the conversion reads any value):
/// the TypeScript type for messages, and no expected `ValueType`.
macro_rules! type_name {
    ($type:ty, $ts:literal) => {
        impl TypeName for $type {
            fn type_name() -> &'static str {
                $ts
            }

            fn value_type() -> ValueType {
                ValueType::Unknown
            }
        }
    };
}

/// The first argument of `Sandbox.create`: a template name or the options.
pub enum TemplateOrOpts {
    Template(String),
    Opts(from_js::JsAny),
}

type_name!(TemplateOrOpts, "string | SandboxOpts");

impl FromNapiValue for TemplateOrOpts {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: as for every `from_napi_value`, the values are live for this call.
        unsafe {
            match js_type(env, value)? {
                "string" => Ok(TemplateOrOpts::Template(String::from_napi_value(
                    env, value,
                )?)),
                "object" => Ok(TemplateOrOpts::Opts(read_any(env, value, "", 0)?)),
                t => Err(wrong_type(format!(
                    "templateOrOpts must be a template name or an options object, got {t}"
                ))),
            }
        }
    }
}

/// A JavaScript value read as it is, for the options whose shape the core checks.
pub struct JsAnyArg(pub from_js::JsAny);

type_name!(JsAnyArg, "unknown");

impl FromNapiValue for JsAnyArg {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: as for every `from_napi_value`, the values are live for this call.
        unsafe { read_any(env, value, "", 0).map(JsAnyArg) }
    }
}

/// A JavaScript value as it is; `path` names it in messages (`''` for an options argument,
/// whose fields are named bare).
///
/// # Safety
/// `env` and `value` come from napi for the duration of this conversion.
unsafe fn read_any(
    env: sys::napi_env,
    value: sys::napi_value,
    path: &str,
    depth: usize,
) -> napi::Result<from_js::JsAny> {
    use from_js::JsAny;
    if depth > from_js::JS_ANY_MAX_DEPTH {
        return Err(js_error(from_js::too_deep(path)));
    }
    // SAFETY: the caller's contract.
    unsafe {
        Ok(match js_type(env, value)? {
            "undefined" => JsAny::Undefined,
            "null" => JsAny::Null,
            "boolean" => JsAny::Bool(bool::from_napi_value(env, value)?),
            "number" => JsAny::Number(f64::from_napi_value(env, value)?),
            "string" => JsAny::String(String::from_napi_value(env, value)?),
            "array" => {
                let items = array_items(env, value)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(read_any(env, item, &format!("{path}[{i}]"), depth + 1)?);
                }
                JsAny::Array(out)
            }
            "object" if is_binary(env, value)? => JsAny::Other(from_js::BINARY),
            "object" if is_date(env, value)? => {
                let mut ms = 0.0;
                napi::check_status!(sys::napi_get_date_value(env, value, &mut ms))?;
                JsAny::Date(ms)
            }
            "object" => {
                let obj = Object::from_napi_value(env, value)?;
                let keys = Object::keys(&obj)?;
                let mut members = Vec::with_capacity(keys.len());
                for key in keys {
                    let v: Option<napi::Unknown> = obj.get(&key)?;
                    let item = match v {
                        Some(v) => {
                            let at = from_js::field_path(path, &key);
                            read_any(env, v.raw(), &at, depth + 1)?
                        }
                        None => JsAny::Undefined,
                    };
                    members.push((key, item));
                }
                JsAny::Object(members)
            }
            t => JsAny::Other(t),
        })
    }
}

/// The first argument of a many-file write, read for the core (`js_options::write_entries`,
/// which checks it): each item's `path` as it is, its `data` as a string or bytes.
pub struct WriteEntriesArg(pub js_options::EntriesGiven);

type_name!(WriteEntriesArg, "FilesWriteEntry[]");

impl FromNapiValue for WriteEntriesArg {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        use js_options::EntriesGiven;
        // SAFETY: as for every `from_napi_value`, the values are live for this call.
        unsafe {
            if js_type(env, value)? != "array" {
                return Ok(WriteEntriesArg(EntriesGiven::NotAnArray(read_any(
                    env, value, "files", 0,
                )?)));
            }
            let array = array_items(env, value)?;
            let mut items = Vec::with_capacity(array.len());
            for (i, item) in array.into_iter().enumerate() {
                if js_type(env, item)? != "object" {
                    // As `item.path` reads it: nothing there.
                    items.push((JsAny::Undefined, Err(JsAny::Undefined)));
                    continue;
                }
                let field = |key: &std::ffi::CStr| -> napi::Result<sys::napi_value> {
                    let mut v = std::ptr::null_mut();
                    napi::check_status!(sys::napi_get_named_property(
                        env,
                        item,
                        key.as_ptr(),
                        &mut v
                    ))?;
                    Ok(v)
                };
                let path = read_any(env, field(c"path")?, &format!("files[{i}].path"), 1)?;
                let data = field(c"data")?;
                let data = match js_type(env, data)? {
                    "string" => Ok(FileData::from(String::from_napi_value(env, data)?)),
                    _ => match Uint8Array::from_napi_value(env, data) {
                        Ok(bytes) => Ok(FileData::from(bytes.to_vec())),
                        Err(_) => Err(read_any(env, data, &format!("files[{i}].data"), 1)?),
                    },
                };
                items.push((path, data));
            }
            Ok(WriteEntriesArg(EntriesGiven::Items(items)))
        }
    }
}

/// The items of an array, in order.
///
/// # Safety
/// `env` and `value` (an array) come from napi for the duration of this conversion.
unsafe fn array_items(
    env: sys::napi_env,
    value: sys::napi_value,
) -> napi::Result<Vec<sys::napi_value>> {
    let mut len = 0u32;
    // SAFETY: the caller's contract.
    unsafe {
        napi::check_status!(sys::napi_get_array_length(env, value, &mut len))?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut item = std::ptr::null_mut();
            napi::check_status!(sys::napi_get_element(env, value, i, &mut item))?;
            items.push(item);
        }
        Ok(items)
    }
}

/// Bytes (an `ArrayBuffer` or a view of one) are no options: their indices are not walked.
///
/// # Safety
/// `env` and `value` come from napi for the duration of this conversion.
unsafe fn is_binary(env: sys::napi_env, value: sys::napi_value) -> napi::Result<bool> {
    let (mut buffer, mut typed, mut view) = (false, false, false);
    // SAFETY: the caller's contract.
    unsafe {
        napi::check_status!(sys::napi_is_arraybuffer(env, value, &mut buffer))?;
        napi::check_status!(sys::napi_is_typedarray(env, value, &mut typed))?;
        napi::check_status!(sys::napi_is_dataview(env, value, &mut view))?;
    }
    Ok(buffer || typed || view)
}

/// # Safety
/// `env` and `value` come from napi for the duration of this conversion.
unsafe fn is_date(env: sys::napi_env, value: sys::napi_value) -> napi::Result<bool> {
    let mut date = false;
    // SAFETY: the caller's contract.
    unsafe { napi::check_status!(sys::napi_is_date(env, value, &mut date))? };
    Ok(date)
}

impl ToNapiValue for JsAnyArg {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        use from_js::JsAny;
        // SAFETY: `env` is live for this conversion; nested values under the same contract.
        unsafe {
            match value.0 {
                JsAny::Undefined | JsAny::Other(_) => <()>::to_napi_value(env, ()),
                JsAny::Null => {
                    napi::bindgen_prelude::Null::to_napi_value(env, napi::bindgen_prelude::Null)
                }
                JsAny::Bool(b) => bool::to_napi_value(env, b),
                JsAny::Number(n) => f64::to_napi_value(env, n),
                JsAny::String(s) => String::to_napi_value(env, s),
                JsAny::Array(items) => {
                    Vec::to_napi_value(env, items.into_iter().map(JsAnyArg).collect::<Vec<_>>())
                }
                JsAny::Object(members) => Ordered::to_napi_value(
                    env,
                    Ordered(members.into_iter().map(|(k, v)| (k, JsAnyArg(v))).collect()),
                ),
                JsAny::Date(ms) => {
                    let mut date = std::ptr::null_mut();
                    napi::check_status!(sys::napi_create_date(env, ms, &mut date))?;
                    Ok(date)
                }
            }
        }
    }
}

/// `getInfo().network`: the settings as the official SDK maps them.
#[napi(object, object_from_js = false)]
pub struct SandboxNetworkInfo {
    pub allow_out: Option<Vec<String>>,
    pub deny_out: Option<Vec<String>>,
    #[napi(ts_type = "Record<string, SandboxNetworkRuleInfo[]>")]
    pub rules: Option<Ordered<Vec<SandboxNetworkRuleInfo>>>,
    /// The proxy the sandbox's egress goes through; never with its password.
    pub egress_proxy: Option<SandboxEgressProxyInfo>,
    pub allow_public_traffic: Option<bool>,
    pub mask_request_host: Option<String>,
    pub https_ports: Option<Vec<u32>>,
}

/// A rule of `getInfo().network.rules`.
#[napi(object, object_from_js = false)]
pub struct SandboxNetworkRuleInfo {
    pub transform: Option<SandboxNetworkTransform>,
}

/// What is done to a matching outbound request.
#[napi(object, object_from_js = false)]
pub struct SandboxNetworkTransform {
    /// Headers set on the request, replacing any of the same name.
    #[napi(ts_type = "Record<string, string>")]
    pub headers: Option<Ordered<String>>,
}

/// `getInfo().network.egressProxy`: the API never returns the password.
#[napi(object, object_from_js = false)]
pub struct SandboxEgressProxyInfo {
    pub address: String,
    pub username: Option<String>,
}

/// An object whose keys keep their order.
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> TypeName for Ordered<T> {
    fn type_name() -> &'static str {
        "Record<string, unknown>"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: ToNapiValue> ToNapiValue for Ordered<T> {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        let mut obj = std::ptr::null_mut();
        // SAFETY: `env` is live for this conversion; each value is converted under the same
        // contract.
        unsafe {
            napi::check_status!(sys::napi_create_object(env, &mut obj))?;
            for (k, v) in value.0 {
                let key = String::to_napi_value(env, k)?;
                let v = T::to_napi_value(env, v)?;
                napi::check_status!(sys::napi_set_property(env, obj, key, v))?;
            }
        }
        Ok(obj)
    }
}

impl From<sandkit::NetworkConfig> for SandboxNetworkInfo {
    fn from(n: sandkit::NetworkConfig) -> Self {
        let rule = |r: sandkit::NetworkRule| SandboxNetworkRuleInfo {
            transform: r.transform.map(|t| SandboxNetworkTransform {
                headers: t.headers.map(|h| Ordered(h.0)),
            }),
        };
        SandboxNetworkInfo {
            allow_out: n.allow_out,
            deny_out: n.deny_out,
            rules: n.rules.map(|r| {
                Ordered(
                    r.0.into_iter()
                        .map(|(host, rules)| (host, rules.into_iter().map(rule).collect()))
                        .collect(),
                )
            }),
            egress_proxy: n.egress_proxy.map(|p| SandboxEgressProxyInfo {
                address: p.address,
                username: p.username,
            }),
            allow_public_traffic: n.allow_public_traffic,
            mask_request_host: n.mask_request_host,
            https_ports: n
                .https_ports
                .map(|p| p.into_iter().map(u32::from).collect()),
        }
    }
}

/// One sample of a sandbox's CPU, memory and disk use.
#[napi(object)]
pub struct SandboxMetrics {
    pub timestamp: DateTime<Utc>,
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

impl From<sandkit::SandboxMetrics> for SandboxMetrics {
    fn from(m: sandkit::SandboxMetrics) -> Self {
        SandboxMetrics {
            timestamp: date(m.timestamp),
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

/// What happens when the sandbox's time runs out.
#[napi(object)]
pub struct SandboxInfoLifecycle {
    pub on_timeout: String,
    pub auto_resume: bool,
}

/// A sandbox as listed or looked up.
#[napi(object, object_from_js = false)]
pub struct SandboxInfo {
    pub sandbox_id: String,
    pub template_id: String,
    /// The template alias.
    pub name: Option<String>,
    pub metadata: HashMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// `'running'` or `'paused'`.
    pub state: String,
    pub cpu_count: u32,
    #[napi(js_name = "memoryMB")]
    pub memory_mb: u32,
    pub envd_version: String,
    pub sandbox_domain: Option<String>,
    pub allow_internet_access: Option<bool>,
    /// Only from `getInfo`: the network settings.
    pub network: Option<SandboxNetworkInfo>,
    pub lifecycle: Option<SandboxInfoLifecycle>,
}

pub fn date(t: sandkit::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.unix_millis()).unwrap_or_default()
}

impl From<sandkit::SandboxInfo> for SandboxInfo {
    fn from(i: sandkit::SandboxInfo) -> Self {
        SandboxInfo {
            started_at: date(i.started_at),
            end_at: date(i.end_at),
            sandbox_id: i.sandbox_id,
            template_id: i.template_id,
            name: i.name,
            metadata: i.metadata.into_iter().collect(),
            state: i.state.as_str().to_string(),
            cpu_count: i.cpu_count,
            memory_mb: i.memory_mb,
            envd_version: i.envd_version,
            sandbox_domain: i.sandbox_domain,
            allow_internet_access: i.allow_internet_access,
            network: i.network.map(SandboxNetworkInfo::from),
            lifecycle: i.lifecycle.map(|l| SandboxInfoLifecycle {
                on_timeout: l.on_timeout,
                auto_resume: l.auto_resume,
            }),
        }
    }
}

/// An options argument read as it is (`undefined` when not given) and handed to `read`, one of
/// `sandkit::js_options`' readers, which knows its fields and checks them.
pub fn read_opts<T>(
    opts: Option<JsAnyArg>,
    read: impl FnOnce(&from_js::JsAny) -> Result<T, Error>,
) -> Result<T, Error> {
    read(&opt_arg(opts))
}

/// An optional positional argument as the core reads it: `undefined` when not given.
pub fn opt_arg(v: Option<JsAnyArg>) -> from_js::JsAny {
    v.map_or(from_js::JsAny::Undefined, |v| v.0)
}

/// `undefined` rather than napi's `null` for an absent value, as the `e2b` package has it.
pub fn or_undefined(v: Option<String>) -> napi::Either<String, ()> {
    v.map_or(napi::Either::B(()), napi::Either::A)
}

/// A core error as the JavaScript error `js/wrap.mjs` turns into a typed class.
pub fn js_error(e: Error) -> napi::Error {
    napi::Error::from_reason(e.to_binding_message())
}

/// Runs a call, turning core errors and panics into JavaScript errors: a panic must never
/// unwind into Node, where it would end the process.
pub async fn guarded<T>(f: impl Future<Output = Result<T, Error>>) -> napi::Result<T> {
    match AssertUnwindSafe(f).catch_unwind().await {
        Ok(r) => r.map_err(js_error),
        Err(payload) => Err(js_error(Error::from_panic(payload.as_ref()))),
    }
}

/// A static call's promise. napi-rs (3.16) keeps a reference to the class for every call of
/// a static `async fn` in a `#[napi]` impl, meant for factories, and deletes it only when the
/// call builds an instance: every other call (`Sandbox.getInfo`, `Sandbox.kill`, …) leaked a
/// reference and its global handle, about 80 bytes. A plain fn that spawns the future takes
/// no reference.
pub fn static_call<T: ToNapiValue + Send + 'static>(
    env: &Env,
    f: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> napi::Result<PromiseRaw<'_, T>> {
    env.spawn_future(guarded(f))
}

/// The synchronous form of [`guarded`].
pub fn guarded_sync<T>(f: impl FnOnce() -> Result<T, Error>) -> napi::Result<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(js_error),
        Err(payload) => Err(js_error(Error::from_panic(payload.as_ref()))),
    }
}
