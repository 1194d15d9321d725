//! `getSignature`: the signature of a `/files` URL, made by the core.
// Only JavaScript calls a free `#[napi]` function; a test build of the crate sees no caller.
#![cfg_attr(test, allow(dead_code))]

use crate::convert::{JsAnyArg, js_error};
use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;

/// A signature and when it expires (unix seconds; `null` for never).
#[napi(object)]
pub struct Signature {
    pub signature: String,
    #[napi(ts_type = "number | null")]
    pub expiration: Either<f64, Null>,
}

/// The signature of a `/files` URL for `path`, `operation` and `user`, as `e2b`'s
/// `getSignature` makes it.
#[napi(js_name = "getSignature", ts_return_type = "Promise<Signature>")]
pub fn get_signature(
    #[napi(ts_arg_type = "SignatureOpts")] opts: JsAnyArg,
) -> napi::Result<Signature> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64);
    let (signature, expiration) =
        sandkit::js_options::signature(&opts.0, now_ms).map_err(js_error)?;
    Ok(Signature {
        signature,
        expiration: expiration.map_or(Either::B(Null), |e| Either::A(e as f64)),
    })
}
