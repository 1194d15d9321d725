//! Public URLs, the request that reaches one, and sandbox handles: conversions only (the
//! rules are the core's, `sandkit::public`).

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

fn set(obj: &Object, key: &str, v: JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &v);
}

fn opt(v: Option<String>) -> JsValue {
    v.map_or(JsValue::UNDEFINED, |s| JsValue::from_str(&s))
}

/// `{ sandboxId, domain, envdVersion, envdAccessToken?, trafficAccessToken? }`.
pub fn handle_object(h: sandkit::SandboxHandle) -> JsValue {
    let obj = Object::new();
    set(&obj, "sandboxId", JsValue::from_str(&h.sandbox_id));
    set(&obj, "domain", JsValue::from_str(&h.domain));
    set(&obj, "envdVersion", JsValue::from_str(&h.envd_version));
    set(&obj, "envdAccessToken", opt(h.envd_access_token));
    set(&obj, "trafficAccessToken", opt(h.traffic_access_token));
    obj.into()
}

/// `{ url, headers }`, the headers as a plain object.
pub fn request_object(r: sandkit::PublicRequest) -> JsValue {
    let obj = Object::new();
    set(&obj, "url", JsValue::from_str(&r.url));
    let headers = Object::new();
    for (k, v) in r.headers {
        set(&headers, &k, JsValue::from_str(&v));
    }
    set(&obj, "headers", headers.into());
    obj.into()
}
