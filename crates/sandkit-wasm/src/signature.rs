//! `getSignature`: the signature of a `/files` URL, made by the core.

use crate::convert::{Opts, js_error};
use sandkit::options::from_js;
use wasm_bindgen::prelude::*;

/// `getSignature({ path, operation, user?, expirationInSeconds?, envdAccessToken? })`:
/// `{ signature, expiration }`, as `e2b`'s makes them.
#[wasm_bindgen(js_name = "getSignature", skip_typescript)]
pub fn get_signature(opts: JsValue) -> Result<JsValue, JsError> {
    let o = Opts::new(Some(opts), "opts").map_err(js_error)?;
    let text = |key: &str| o.string(key).map_err(js_error);
    let expiration = from_js::seconds(
        "expirationInSeconds",
        o.number("expirationInSeconds").map_err(js_error)?,
    )
    .map_err(js_error)?;
    let (signature, expiration) = sandkit::files::signature_for(
        &text("path")?.unwrap_or_default(),
        &text("operation")?.unwrap_or_default(),
        text("user")?.as_deref(),
        text("envdAccessToken")?.as_deref(),
        expiration,
        js_sys::Date::now(),
    )
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
