//! JavaScript values to the core's options and back. Every check of a value lives in
//! `sandkit::options::from_js`; here only the JavaScript types are checked, so that a value of
//! the wrong type is an `InvalidArgumentError` naming the field.

use js_sys::{Array, Date, Object, Promise, Reflect};
use sandkit::json::Writer;
use sandkit::options::from_js;
use sandkit::{
    ConnectOpts, ConnectionOpts, Error, ErrorKind, ListOpts, MetricsOpts, Op, Result, SandboxInfo,
    SandboxOpts, StringMap,
};
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::prelude::*;

/// A core error as the JavaScript `Error` that `js/wrap.mjs` turns into a typed class.
pub fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_binding_message())
}

/// The work of one async method, boxed so that every method shares one promise adapter:
/// `future_to_promise` per distinct future type would add a few KB each to the module.
pub type Job = Pin<Box<dyn Future<Output = Result<JsValue>>>>;

/// Runs `job` as a JavaScript `Promise` that rejects with the binding's error.
pub fn promise(job: Job) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        job.await.map_err(|e| JsValue::from(js_error(e)))
    })
}

/// Runs a call of one request as a `Promise`. Every such call of the binding is an
/// `Op<JsValue>`, so they all share this one state machine (`Op::run`) instead of an `async`
/// block each.
pub fn run(op: Op<JsValue>) -> Promise {
    promise(Box::pin(op.run()))
}

/// A `Promise` rejected with the binding's error: a call refused before anything was sent.
/// A string argument. wasm-bindgen's `String` parameters take any value (a number becomes
/// text, or nothing) in its release glue, so strings that matter are checked here.
pub fn string_arg(v: &JsValue, name: &str) -> Result<String> {
    v.as_string().ok_or_else(|| wrong_type(name, "a string", v))
}

pub fn rejected(e: Error) -> Promise {
    Promise::reject(&JsValue::from(js_error(e)))
}

/// Runs `op` with what it yields turned into JavaScript by `f`, or rejects with the error
/// that kept it from being made.
pub fn run_map<T: 'static>(op: Result<Op<T>>, f: impl FnOnce(T) -> JsValue + 'static) -> Promise {
    match op {
        Ok(op) => run(op.map(f)),
        Err(e) => rejected(e),
    }
}

/// A JavaScript type name for messages: `typeof`, except `null` and `array`.
fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if Array::is_array(v) {
        "array".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}

fn wrong_type(path: &str, expected: &str, got: &JsValue) -> Error {
    Error::invalid_argument(format!("{path} must be {expected}, got {}", type_name(got)))
}

/// A field path for messages: `metadata.user`, or `metadata["a b"]`.
fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}{}", from_js::key_suffix(key))
    }
}

/// The JavaScript type a scalar field must have.
#[derive(Clone, Copy)]
enum Kind {
    String,
    Bool,
    Number,
}

/// An options object (or nothing: `undefined` and `null` mean "all defaults").
pub struct Opts {
    obj: Option<Object>,
    path: String,
}

impl Opts {
    /// `what` names the argument in messages, e.g. `opts`.
    pub fn new(v: Option<JsValue>, what: &str) -> Result<Opts> {
        Opts::at(v, what.to_string(), "")
    }

    fn at(v: Option<JsValue>, describe: String, path: &str) -> Result<Opts> {
        let v = v.filter(|v| !v.is_undefined() && !v.is_null());
        match v {
            None => Ok(Opts {
                obj: None,
                path: path.to_string(),
            }),
            Some(v) if v.is_object() && !Array::is_array(&v) => Ok(Opts {
                obj: Some(v.unchecked_into()),
                path: path.to_string(),
            }),
            Some(v) => Err(wrong_type(&describe, "an object", &v)),
        }
    }

    /// Whether the object has the key (`key in obj`), whatever its value.
    pub fn has(&self, key: &str) -> Result<bool> {
        let Some(obj) = &self.obj else {
            return Ok(false);
        };
        Reflect::has(obj, &JsValue::from_str(key)).map_err(|e| {
            Error::invalid_argument(format!(
                "reading {} threw: {}",
                child_path(&self.path, key),
                describe_thrown(&e)
            ))
        })
    }

    /// The field's value; `None` when absent, `undefined` or `null`.
    pub fn get(&self, key: &str) -> Result<Option<JsValue>> {
        let Some(obj) = &self.obj else {
            return Ok(None);
        };
        // A getter may throw.
        let v = Reflect::get(obj, &JsValue::from_str(key)).map_err(|e| {
            Error::invalid_argument(format!(
                "reading {} threw: {}",
                child_path(&self.path, key),
                describe_thrown(&e)
            ))
        })?;
        Ok(Some(v).filter(|v| !v.is_undefined() && !v.is_null()))
    }

    /// The field's value if it is a `kind`; `undefined` when absent or `null`.
    fn typed(&self, key: &str, kind: Kind) -> Result<JsValue> {
        let Some(v) = self.get(key)? else {
            return Ok(JsValue::UNDEFINED);
        };
        let (ok, expected) = match kind {
            Kind::String => (v.is_string(), "a string"),
            Kind::Bool => (v.as_bool().is_some(), "a boolean"),
            Kind::Number => (v.as_f64().is_some(), "a number"),
        };
        if !ok {
            return Err(wrong_type(&child_path(&self.path, key), expected, &v));
        }
        Ok(v)
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        Ok(self.typed(key, Kind::String)?.as_string())
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        Ok(self.typed(key, Kind::Bool)?.as_bool())
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        Ok(self.typed(key, Kind::Number)?.as_f64())
    }

    /// A `Date`, as unix milliseconds; an invalid date is refused.
    pub fn date_millis(&self, key: &str) -> Result<Option<i64>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let path = child_path(&self.path, key);
        if !v.is_instance_of::<Date>() {
            return Err(wrong_type(&path, "a Date", &v));
        }
        let ms = v.unchecked_into::<Date>().get_time();
        if !ms.is_finite() {
            return Err(Error::invalid_argument(format!(
                "{path} must be a valid Date"
            )));
        }
        Ok(Some(ms as i64))
    }

    /// A nested options object.
    pub fn object(&self, key: &str) -> Result<Opts> {
        let path = child_path(&self.path, key);
        Opts::at(self.get(key)?, path.clone(), &path)
    }

    /// A `Record<string, string>`.
    pub fn string_map(&self, key: &str) -> Result<Option<StringMap>> {
        let map = self.object(key)?;
        let Some(obj) = &map.obj else {
            return Ok(None);
        };
        let mut out = StringMap::new();
        for entry in Object::entries(obj) {
            let pair: Array = entry.unchecked_into();
            let k = pair.get(0).as_string().unwrap_or_default();
            let v = pair.get(1);
            match v.as_string() {
                Some(v) => {
                    out.insert(k, v);
                }
                None => return Err(wrong_type(&child_path(&map.path, &k), "a string", &v)),
            }
        }
        Ok(Some(out))
    }

    /// A `number[]`.
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let path = child_path(&self.path, key);
        if !Array::is_array(&v) {
            return Err(wrong_type(&path, "an array of numbers", &v));
        }
        let array: Array = v.unchecked_into();
        let mut out = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            match item.as_f64() {
                Some(n) => out.push(n),
                None => return Err(wrong_type(&format!("{path}[{i}]"), "a number", &item)),
            }
        }
        Ok(Some(out))
    }

    /// A `string[]`.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let path = child_path(&self.path, key);
        if !Array::is_array(&v) {
            return Err(wrong_type(&path, "an array of strings", &v));
        }
        let array: Array = v.unchecked_into();
        let mut out = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            match item.as_string() {
                Some(s) => out.push(s),
                None => return Err(wrong_type(&format!("{path}[{i}]"), "a string", &item)),
            }
        }
        Ok(Some(out))
    }
}

fn describe_thrown(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| type_name(e))
}

/// The connection fields every options object shares.
pub fn connection(o: &Opts) -> Result<ConnectionOpts> {
    from_js::connection(from_js::ConnectionGiven {
        api_key: o.string("apiKey")?,
        api_url: o.string("apiUrl")?,
        sandbox_url: o.string("sandboxUrl")?,
        domain: o.string("domain")?,
        debug: o.bool("debug")?,
        request_timeout_ms: o.number("requestTimeoutMs")?,
        retries: o.number("retries")?,
        dangerously_allow_browser: o.bool("dangerouslyAllowBrowser")?,
    })
}

/// `SandboxApiOpts`: connection fields only.
/// The connection and `keepMemory` of a pause.
pub fn pause_opts(v: Option<JsValue>) -> Result<(ConnectionOpts, Option<bool>)> {
    let o = Opts::new(v, "opts")?;
    Ok((connection(&o)?, o.bool("keepMemory")?))
}

pub fn api_opts(v: Option<JsValue>) -> Result<ConnectionOpts> {
    connection(&Opts::new(v, "opts")?)
}

/// `SandboxOpts`; `template` (given positionally) wins over `opts.template`.
/// A JavaScript value as it is, for the options whose shape the core checks; `path` names it
/// in messages.
fn any(v: &JsValue, path: &str, depth: usize) -> Result<from_js::JsAny> {
    use from_js::JsAny;
    if depth > from_js::JS_ANY_MAX_DEPTH {
        return Err(from_js::too_deep(path));
    }
    Ok(if v.is_undefined() {
        JsAny::Undefined
    } else if v.is_null() {
        JsAny::Null
    } else if let Some(b) = v.as_bool() {
        JsAny::Bool(b)
    } else if let Some(n) = v.as_f64() {
        JsAny::Number(n)
    } else if let Some(s) = v.as_string() {
        JsAny::String(s)
    } else if Array::is_array(v) {
        let array: &Array = v.unchecked_ref();
        let mut items = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            items.push(any(&item, &format!("{path}[{i}]"), depth + 1)?);
        }
        JsAny::Array(items)
    } else if v.is_function() {
        JsAny::Other("function")
    } else if v.is_object() {
        let keys = Object::keys(v.unchecked_ref::<Object>());
        let mut members = Vec::with_capacity(keys.length() as usize);
        for key in keys.iter() {
            let key = key.as_string().unwrap_or_default();
            // A getter may throw.
            let item = Reflect::get(v, &JsValue::from_str(&key)).map_err(|e| {
                Error::invalid_argument(format!(
                    "reading {} threw: {}",
                    child_path(path, &key),
                    describe_thrown(&e)
                ))
            })?;
            let at = child_path(path, &key);
            members.push((key, any(&item, &at, depth + 1)?));
        }
        JsAny::Object(members)
    } else if v.is_symbol() {
        JsAny::Other("symbol")
    } else {
        JsAny::Other("bigint")
    })
}

impl Opts {
    /// A field as it is (see [`any`]); `None` when absent, `undefined` or `null`.
    fn any(&self, key: &str) -> Result<Option<from_js::JsAny>> {
        self.get(key)?
            .map(|v| any(&v, &child_path(&self.path, key), 0))
            .transpose()
    }
}

/// `network`, when given.
fn network(o: &Opts) -> Result<Option<sandkit::NetworkConfig>> {
    if o.get("network")?.is_none() {
        return Ok(None);
    }
    let n = o.object("network")?;
    from_js::network(from_js::NetworkGiven {
        allow_public_traffic: n.bool("allowPublicTraffic")?,
        mask_request_host: n.string("maskRequestHost")?,
        https_ports: n.numbers("httpsPorts")?,
        allow_out: n.strings("allowOut")?,
        deny_out: n.strings("denyOut")?,
        rules: n.any("rules")?,
        egress_proxy: n.any("egressProxy")?,
        allow_internet_access: None,
    })
    .map(Some)
}

/// `SandboxNetworkUpdate`, the argument of `updateNetwork`, checked by the core.
pub fn network_update(v: JsValue) -> Result<sandkit::SandboxNetworkUpdateConfig> {
    from_js::network_update_value(any(&v, "network", 0)?)
}

pub fn create_opts(template: Option<String>, o: &Opts) -> Result<SandboxOpts> {
    let lifecycle = o.object("lifecycle")?;
    let given = lifecycle.get("onTimeout")?;
    // `onTimeout`: an action, or `{ action, keepMemory }` (keepMemory: `Some` when the key is
    // there, as `'keepMemory' in onTimeout`).
    let (action, keep_memory, object_form) = match &given {
        None => (None, None, false),
        Some(v) if v.is_string() => (v.as_string(), None, false),
        Some(_) => {
            let t = lifecycle.object("onTimeout")?;
            let keep = t
                .has("keepMemory")?
                .then(|| t.bool("keepMemory"))
                .transpose()?;
            (t.string("action")?, keep, true)
        }
    };
    let on_timeout = match (given.is_some(), object_form) {
        (false, _) => None,
        (true, false) => Some(from_js::OnTimeoutGiven::Action(
            action.as_deref().unwrap_or_default(),
        )),
        (true, true) => Some(from_js::OnTimeoutGiven::Object {
            action: action.as_deref(),
            keep_memory,
        }),
    };
    let (on_timeout, keep_memory) = from_js::lifecycle(o.bool("autoPause")?, on_timeout)?;
    Ok(SandboxOpts {
        template: match template {
            Some(t) => Some(t),
            None => o.string("template")?,
        },
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        metadata: o.string_map("metadata")?,
        envs: o.string_map("envs")?,
        allow_internet_access: o.bool("allowInternetAccess")?,
        network: network(o)?,
        on_timeout,
        keep_memory,
        auto_resume: lifecycle.bool("autoResume")?,
        secure: o.bool("secure")?,
        connection: connection(o)?,
    })
}

/// `SandboxConnectOpts`.
pub fn connect_opts(v: Option<JsValue>) -> Result<ConnectOpts> {
    let o = Opts::new(v, "opts")?;
    Ok(ConnectOpts {
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        on_resume: from_js::on_resume(o.string("onResume")?.as_deref())?,
        connection: connection(&o)?,
    })
}

/// `SandboxMetricsOpts`.
pub fn metrics_opts(v: Option<JsValue>) -> Result<MetricsOpts> {
    let o = Opts::new(v, "opts")?;
    let stamp = |ms: Option<i64>| ms.map(sandkit::Timestamp::from_unix_millis);
    Ok(MetricsOpts {
        start: stamp(o.date_millis("start")?),
        end: stamp(o.date_millis("end")?),
        connection: connection(&o)?,
    })
}

/// `SandboxMetrics` objects: plain objects with a `Date`, as the official SDK returns them.
pub fn metrics_objects(samples: Vec<sandkit::SandboxMetrics>) -> JsValue {
    let out = Array::new();
    for m in samples {
        let obj = Object::new();
        let set = |k: &str, v: JsValue| {
            Reflect::set(&obj, &JsValue::from_str(k), &v).ok();
        };
        set(
            "timestamp",
            Date::new(&JsValue::from_f64(m.timestamp.unix_millis() as f64)).into(),
        );
        set("cpuUsedPct", JsValue::from_f64(m.cpu_used_pct));
        set("cpuCount", JsValue::from_f64(f64::from(m.cpu_count)));
        for (k, v) in [
            ("memUsed", m.mem_used),
            ("memTotal", m.mem_total),
            ("memCache", m.mem_cache),
            ("diskUsed", m.disk_used),
            ("diskTotal", m.disk_total),
        ] {
            set(k, JsValue::from_f64(v as f64));
        }
        out.push(&obj);
    }
    out.into()
}

/// `SandboxListOpts`.
pub fn list_opts(v: Option<JsValue>) -> Result<ListOpts> {
    let o = Opts::new(v, "opts")?;
    let query = o.object("query")?;
    Ok(ListOpts {
        state: query
            .strings("state")?
            .as_deref()
            .map(from_js::states)
            .transpose()?,
        metadata: query.string_map("metadata")?,
        limit: o.number("limit")?.map(from_js::list_limit).transpose()?,
        next_token: o.string("nextToken")?,
        order: o
            .string("order")?
            .as_deref()
            .map(from_js::order)
            .transpose()?,
        template: query.string("template")?,
        started_after_ms: query.date_millis("startedAfter")?,
        connection: connection(&o)?,
    })
}

/// A `SandboxInfo` as JSON: everything but the two dates, which `JSON.parse` cannot make.
fn write_info(w: &mut Writer, i: &SandboxInfo) {
    w.begin_object();
    w.field_str("sandboxId", &i.sandbox_id);
    w.field_str("templateId", &i.template_id);
    w.field_opt_str("name", i.name.as_deref());
    w.key("metadata");
    w.string_map(&i.metadata);
    w.field_str("state", i.state.as_str());
    w.field_u64("cpuCount", i.cpu_count.into());
    w.field_u64("memoryMB", i.memory_mb.into());
    w.field_str("envdVersion", &i.envd_version);
    w.field_opt_str("sandboxDomain", i.sandbox_domain.as_deref());
    w.field_opt_bool("allowInternetAccess", i.allow_internet_access);
    if let Some(n) = &i.network {
        w.key("network");
        n.write_json(w);
    }
    if let Some(l) = &i.lifecycle {
        w.key("lifecycle");
        w.begin_object();
        w.field_str("onTimeout", &l.on_timeout);
        w.field_bool("autoResume", l.auto_resume);
        w.end_object();
    }
    w.end_object();
}

/// `SandboxInfo`s as plain objects with `Date`s, made by one `JSON.parse`: building them
/// field by field through the boundary costs a string conversion per key and value, which
/// made listing slower than the official SDK. (`JSON.parse` also defines a metadata key such
/// as `__proto__` as an own property, where an assignment would not.)
pub fn info_objects(items: &[SandboxInfo]) -> Result<Array> {
    let mut w = Writer::new();
    w.begin_array();
    for info in items {
        write_info(&mut w, info);
    }
    w.end_array();
    let text = w.finish();
    let parsed: Array = js_sys::JSON::parse(&text)
        .map_err(|_| Error::new(ErrorKind::Sandbox, "internal error in sandkit: JSON.parse"))?
        .unchecked_into();
    let date = |t: sandkit::Timestamp| Date::new(&JsValue::from_f64(t.unix_millis() as f64));
    let (started_at, end_at) = (JsValue::from_str("startedAt"), JsValue::from_str("endAt"));
    for (i, info) in items.iter().enumerate() {
        let obj = parsed.get(i as u32);
        Reflect::set(&obj, &started_at, &date(info.started_at)).ok();
        Reflect::set(&obj, &end_at, &date(info.end_at)).ok();
    }
    Ok(parsed)
}

/// One `SandboxInfo` as a plain object.
pub fn info_object(info: SandboxInfo) -> Result<JsValue> {
    Ok(info_objects(std::slice::from_ref(&info))?.get(0))
}
