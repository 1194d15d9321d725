//! `getSignature`: the signature of a `/files` URL, made by the core.

use crate::convert::{js_error, read_opts};
use wasm_bindgen::prelude::*;

/// `getSignature({ path, operation, user?, expirationInSeconds?, envdAccessToken? })`:
/// `{ signature, expiration }`, as `e2b`'s makes them.
#[wasm_bindgen(js_name = "getSignature", skip_typescript)]
pub fn get_signature(opts: JsValue) -> Result<JsValue, JsError> {
    let (signature, expiration) = read_opts(Some(opts), |o| {
        sandkit::js_options::signature(o, js_sys::Date::now())
    })
    .map_err(js_error)?;
    let out = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &JsValue::from_str(k), &v);
    let _ = set("signature", JsValue::from_str(&signature));
    let _ = set(
        "expiration",
        expiration.map_or(JsValue::NULL, |e| JsValue::from_f64(e as f64)),
    );
    Ok(out.into())
}
