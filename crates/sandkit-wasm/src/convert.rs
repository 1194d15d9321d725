//! JavaScript values to the core's options and back. An options argument is read as it is
//! (a `JsAny`); which fields it has, their types and every check of a value live in the core
//! (`sandkit::js_options`, `sandkit::options::from_js`).

use js_sys::{Array, Date, Object, Promise, Reflect};
use sandkit::js_options;
use sandkit::options::from_js;
use sandkit::{Error, ErrorKind, Op, Result, SandboxInfo};
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
    sandkit::js_task::spawn_promise(Box::pin(async move {
        job.await.map_err(|e| JsValue::from(js_error(e)))
    }))
}

/// Runs a call of one request as a `Promise`. Every such call of the binding is an
/// `Op<JsValue>`, so they all share this one state machine (`Op::run`) instead of an `async`
/// block each.
pub fn run(op: Op<JsValue>) -> Promise {
    promise(Box::pin(op.run()))
}

// Positional arguments are taken as `JsValue`s and read by the core: wasm-bindgen's `String`
// and `f64` parameters take any value in its release glue (a number becomes text, a string a
// number), where the napi binding's would refuse it.

/// A positional argument as it is, for the core to read; `name` names it in messages.
pub fn arg_value(v: &JsValue, name: &str) -> Result<from_js::JsAny> {
    any(v, name, 0)
}

/// A positional string argument (`path`, `sandboxId`, …).
pub fn string_arg(v: &JsValue, name: &str) -> Result<String> {
    js_options::string_arg(arg_value(v, name)?, name)
}

/// A positional string that may be left out.
pub fn opt_string_arg(v: Option<JsValue>, name: &str) -> Result<Option<String>> {
    js_options::opt_string_arg(
        v.map_or(Ok(from_js::JsAny::Undefined), |v| arg_value(&v, name))?,
        name,
    )
}

/// A `timeoutMs` argument.
pub fn timeout_arg(v: &JsValue) -> Result<std::time::Duration> {
    js_options::timeout_arg(&arg_value(v, "timeoutMs")?)
}

/// A `timeoutMs` argument that may be left out.
pub fn opt_timeout_arg(v: Option<JsValue>) -> Result<Option<std::time::Duration>> {
    js_options::opt_timeout_arg(&v.map_or(Ok(from_js::JsAny::Undefined), |v| {
        arg_value(&v, "timeoutMs")
    })?)
}

/// A `pid` argument: a process id.
pub fn pid_arg(v: &JsValue) -> Result<u32> {
    js_options::pid_arg(&arg_value(v, "pid")?)
}

/// A `port` argument: a port number.
pub fn port_arg(v: &JsValue) -> Result<u16> {
    js_options::port_arg(&arg_value(v, "port")?)
}

/// The value of a `Result`, or, from a method that returns a `Promise`, a rejected one.
macro_rules! or_reject {
    ($result:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => return $crate::convert::rejected(e),
        }
    };
}
pub(crate) use or_reject;

/// A `Promise` rejected with the binding's error: a call refused before anything was sent.
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

fn describe_thrown(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| type_name(e))
}

/// An options argument read as it is (`undefined` when not given) and handed to `read`, one of
/// `sandkit::js_options`' readers, which knows its fields and checks them.
pub fn read_opts<T>(
    v: Option<JsValue>,
    read: impl FnOnce(&from_js::JsAny) -> Result<T>,
) -> Result<T> {
    match v {
        Some(v) => read(&any(&v, "", 0)?),
        None => read(&from_js::JsAny::Undefined),
    }
}

/// A JavaScript value as it is, for the options whose shape the core checks; `path` names it
/// in messages.
fn any(v: &JsValue, path: &str, depth: usize) -> Result<from_js::JsAny> {
    use from_js::JsAny;
    if depth > from_js::JS_ANY_MAX_DEPTH {
        return Err(from_js::too_deep(path));
    }
    // Each test is a call into JavaScript: the most common kinds of option value first.
    Ok(if let Some(s) = v.as_string() {
        JsAny::String(s)
    } else if let Some(n) = v.as_f64() {
        JsAny::Number(n)
    } else if v.is_undefined() {
        JsAny::Undefined
    } else if v.is_null() {
        JsAny::Null
    } else if let Some(b) = v.as_bool() {
        JsAny::Bool(b)
    } else if Array::is_array(v) {
        let array: &Array = v.unchecked_ref();
        let mut items = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            let at = member_path(&item, depth, || format!("{path}[{i}]"));
            items.push(any(&item, &at, depth + 1)?);
        }
        JsAny::Array(items)
    } else if v.is_function() {
        JsAny::Other("function")
    } else if let Some(date) = v.dyn_ref::<Date>() {
        JsAny::Date(date.get_time())
    } else if js_sys::ArrayBuffer::is_view(v) || v.is_instance_of::<js_sys::ArrayBuffer>() {
        // Bytes are no options: their indices are not walked as keys.
        JsAny::Other(from_js::BINARY)
    } else if v.is_object() {
        let keys = Object::keys(v.unchecked_ref::<Object>());
        let mut members = Vec::with_capacity(keys.length() as usize);
        for js_key in keys.iter() {
            let key = js_key.as_string().unwrap_or_default();
            // A getter may throw.
            let item = Reflect::get(v, &js_key).map_err(|e| {
                Error::invalid_argument(format!(
                    "reading {} threw: {}",
                    from_js::field_path(path, &key),
                    describe_thrown(&e)
                ))
            })?;
            let at = member_path(&item, depth, || from_js::field_path(path, &key));
            members.push((key, any(&item, &at, depth + 1)?));
        }
        JsAny::Object(members)
    } else if v.is_symbol() {
        JsAny::Other("symbol")
    } else {
        JsAny::Other("bigint")
    })
}

/// The path of `item`, a member of a value at `depth`, made only when a message can name it:
/// when `item` is an object or array (whose own members may be wrong) or is one level too deep.
fn member_path(item: &JsValue, depth: usize, path: impl FnOnce() -> String) -> String {
    if item.is_object() || depth >= from_js::JS_ANY_MAX_DEPTH {
        path()
    } else {
        String::new()
    }
}

/// `SandboxNetworkUpdate`, the argument of `updateNetwork`, checked by the core.
pub fn network_update(v: JsValue) -> Result<sandkit::SandboxNetworkUpdateConfig> {
    from_js::network_update_value(any(&v, "network", 0)?)
}

/// A JavaScript array of `f` of every item (pushed one by one: `collect::<Array>()` brings a
/// kilobyte of iterator code).
pub fn array_of<I: IntoIterator>(items: I, f: impl Fn(I::Item) -> JsValue) -> JsValue {
    let out = Array::new();
    for item in items {
        out.push(&f(item));
    }
    out.into()
}

/// `SandboxMetrics` objects: plain objects with a `Date`, as the official SDK returns them.
pub fn metrics_objects(samples: Vec<sandkit::SandboxMetrics>) -> JsValue {
    array_of(samples, |m| {
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
        obj.into()
    })
}

/// One `SandboxInfo` as a plain object, made by one `JSON.parse` of the core's JSON of it
/// (`sandkit::info_json`; a listing's pages are made the same way): building it field by field
/// through the boundary costs a string conversion per key and value, which made listing slower
/// than the official SDK. (`JSON.parse` also defines a metadata key such as `__proto__` as an
/// own property, where an assignment would not.) Its dates are Unix milliseconds, which
/// `js/wrap.mjs` makes `Date`s.
pub fn info_object(info: SandboxInfo) -> Result<JsValue> {
    parse_json(&sandkit::info_json::info_json(&info))
}

/// JSON that the core wrote, as JavaScript values.
pub fn parse_json(text: &str) -> Result<JsValue> {
    js_sys::JSON::parse(text)
        .map_err(|_| Error::new(ErrorKind::Sandbox, "internal error in sandkit: JSON.parse"))
}
