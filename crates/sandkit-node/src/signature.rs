//! `getSignature`: the signature of a `/files` URL, made by the core.
// Only JavaScript calls a free `#[napi]` function; a test build of the crate sees no caller.
#![cfg_attr(test, allow(dead_code))]

use crate::convert::js_error;
use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;
use sandkit::options::from_js;

/// What `getSignature` signs.
#[napi(object)]
pub struct SignatureOpts {
    pub path: String,
    #[napi(ts_type = "'read' | 'write'")]
    pub operation: String,
    pub user: Option<String>,
    /// Seconds from now; negative for an already-expired signature.
    pub expiration_in_seconds: Option<f64>,
    pub envd_access_token: Option<String>,
}

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
pub fn get_signature(opts: SignatureOpts) -> napi::Result<Signature> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64);
    let expiration =
        from_js::seconds("expirationInSeconds", opts.expiration_in_seconds).map_err(js_error)?;
    let (signature, expiration) = sandkit::files::signature_for(
        &opts.path,
        &opts.operation,
        opts.user.as_deref(),
        opts.envd_access_token.as_deref(),
        expiration,
        now_ms,
    )
    .map_err(js_error)?;
    Ok(Signature {
        signature,
        expiration: expiration.map_or(Either::B(Null), |e| Either::A(e as f64)),
    })
}
