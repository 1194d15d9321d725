//! Public URLs, the request that reaches one, and sandbox handles: conversions only (the
//! rules are the core's, `sandkit::public`).

use napi_derive::napi;
use std::collections::HashMap;

/// What a browser needs to reach one sandbox without the API key (`sandbox.toHandle()`,
/// `Sandbox.fromHandle(handle)`). A secret of that sandbox: whoever holds it controls the
/// sandbox's processes and files.
#[napi(object, js_name = "SandboxHandle", object_from_js = false)]
pub struct SandboxHandleObject {
    pub sandbox_id: Option<String>,
    pub domain: Option<String>,
    pub envd_version: Option<String>,
    pub envd_access_token: Option<String>,
    pub traffic_access_token: Option<String>,
}

/// Where a request for a port of the sandbox goes, and the headers it must carry (used by
/// `sandbox.fetch`).
#[napi(object)]
pub struct PublicRequest {
    pub url: String,
    pub headers: HashMap<String, String>,
}

pub fn handle_object(h: sandkit::SandboxHandle) -> SandboxHandleObject {
    SandboxHandleObject {
        sandbox_id: Some(h.sandbox_id),
        domain: Some(h.domain),
        envd_version: Some(h.envd_version),
        envd_access_token: h.envd_access_token,
        traffic_access_token: h.traffic_access_token,
    }
}

pub fn request_object(r: sandkit::PublicRequest) -> PublicRequest {
    PublicRequest {
        url: r.url,
        headers: r.headers.into_iter().collect(),
    }
}
