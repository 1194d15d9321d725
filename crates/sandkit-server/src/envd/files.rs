//! `GET /files` (download) and `POST /files` (upload, multipart or raw), streamed both ways:
//! a file's bytes never sit whole in memory.
//!
//! Auth, as envd does it: an `X-Access-Token` header, which must match; without one, a URL
//! signature (`v1_` + base64(sha256("<path>:<read|write>:<username>:<token>[:<expiry>]"))),
//! computed over the query values as given and checked for expiry after it matches.

use super::filesystem::sandbox_fs;
use super::fs::{FsError, PendingWrite};
use super::process::resolve_path;
use super::rest_error;
use crate::auth::constant_time_eq;
use crate::live::LiveSandbox;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;

/// A refusal: the status and message of the `{code, message}` answer.
type Reject = (StatusCode, String);

fn reply(r: Reject) -> Response {
    rest_error(r.0, &r.1)
}

/// The raw (still percent-encoded) value of a query parameter, and its decoded form.
fn query_param<'a>(query: &'a str, name: &str) -> Option<(&'a str, String)> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| (v, percent_decode(v)))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The signature envd expects for this path, operation and user.
pub fn signature(
    path: &str,
    op: &str,
    user: &str,
    token: &str,
    expiration: Option<&str>,
) -> String {
    let mut text = format!("{path}:{op}:{user}:{token}");
    if let Some(exp) = expiration {
        text.push(':');
        text.push_str(exp);
    }
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "v1_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// Whether the request's URL signature was made with this sandbox's token. Signed URLs made
/// with `E2B_SANDBOX_URL` name no sandbox: the signature is how sandkitd finds it.
pub fn signed_by(live: &LiveSandbox, query: &str, op: &str) -> bool {
    let Some((_, sig)) = query_param(query, "signature") else {
        return false;
    };
    // The values as given (decoded from the query, not resolved against a home directory).
    let path = query_param(query, "path").map_or_else(String::new, |(_, v)| v);
    let user = query_param(query, "username").map_or_else(String::new, |(_, v)| v);
    let expiration = query_param(query, "signature_expiration").map(|(_, v)| v);
    let expected = signature(&path, op, &user, &live.envd_token, expiration.as_deref());
    constant_time_eq(sig.as_bytes(), expected.as_bytes())
}

/// `read` for GET, `write` for POST.
pub fn operation(method: &Method) -> Option<&'static str> {
    match *method {
        Method::GET => Some("read"),
        Method::POST => Some("write"),
        _ => None,
    }
}

fn authorize(live: &LiveSandbox, req: &Request, query: &str, op: &str) -> Result<(), Reject> {
    let unauthorized = |m: &str| (StatusCode::UNAUTHORIZED, m.to_string());
    if let Some(given) = req.headers().get("x-access-token") {
        return if constant_time_eq(given.as_bytes(), live.envd_token.as_bytes()) {
            Ok(())
        } else {
            Err(unauthorized(
                "access token present in header but does not match",
            ))
        };
    }
    if query_param(query, "signature").is_none() {
        return Err(unauthorized(
            "unauthorized access, please provide a valid access token or method signing if supported",
        ));
    }
    if !signed_by(live, query, op) {
        return Err(unauthorized("invalid signature"));
    }
    if let Some((exp, _)) = query_param(query, "signature_expiration") {
        let exp: i64 = exp
            .parse()
            .map_err(|_| unauthorized("invalid signature expiration"))?;
        if exp < crate::store::now_ns() / 1_000_000_000 {
            return Err(unauthorized("signature is already expired"));
        }
    }
    Ok(())
}

fn fs_error(e: FsError) -> Reject {
    let status = match e {
        FsError::NotFound(_) => StatusCode::NOT_FOUND,
        FsError::Invalid(_) | FsError::AlreadyExists(_) => StatusCode::BAD_REQUEST,
        FsError::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        FsError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.message().to_string())
}

pub async fn handle(live: Arc<LiveSandbox>, req: Request) -> Response {
    let query = req.uri().query().unwrap_or("").to_string();
    let Some(op) = operation(req.method()) else {
        return rest_error(StatusCode::METHOD_NOT_ALLOWED, "/files takes GET or POST");
    };
    if let Err(r) = authorize(&live, &req, &query, op) {
        return reply(r);
    }
    let username = query_param(&query, "username").map_or_else(|| "user".to_string(), |(_, u)| u);
    let Some(user) = live.handle.user(&username) else {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            &format!("error looking up user '{username}'"),
        );
    };
    let path = query_param(&query, "path")
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
        .map(|p| resolve_path(&p, &user.home));
    if op == "read" {
        let path = path.unwrap_or_else(|| user.home.clone());
        download(&live, &user, path).await
    } else {
        upload(&live, &user, path, req).await
    }
}

async fn download(live: &Arc<LiveSandbox>, user: &crate::sandbox::User, path: String) -> Response {
    let (live2, user2, path2) = (live.clone(), user.clone(), path.clone());
    let opened = tokio::task::spawn_blocking(move || {
        let fs = sandbox_fs(&live2, &user2)?;
        let file = fs.open_read(&path2)?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok::<_, FsError>((file, len))
    })
    .await;
    let (file, len) = match opened {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return reply(fs_error(e)),
        Err(e) => return rest_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let file = tokio::fs::File::from_std(file);
    let body = futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut res = Response::new(Body::from_stream(body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let base = path.rsplit('/').next().unwrap_or("").replace('"', "");
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{base}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// Starts writing `path` in the sandbox, as `user`: the file to write, and the pending write
/// to commit once every byte is there.
async fn create(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: &str,
) -> Result<(tokio::fs::File, PendingWrite), Reject> {
    let (live2, user2, path2) = (live.clone(), user.clone(), path.to_string());
    match tokio::task::spawn_blocking(move || sandbox_fs(&live2, &user2)?.create_write(&path2))
        .await
    {
        Ok(Ok(mut pending)) => match pending.take_file() {
            Some(f) => Ok((tokio::fs::File::from_std(f), pending)),
            None => Err((StatusCode::INTERNAL_SERVER_ERROR, "no file to write".into())),
        },
        Ok(Err(e)) => Err(fs_error(e)),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// Flushes a written file and puts it in place.
async fn finish(mut file: tokio::fs::File, pending: PendingWrite) -> Result<(), Reject> {
    file.flush().await.map_err(io_error)?;
    drop(file);
    match tokio::task::spawn_blocking(move || pending.commit()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(fs_error(e)),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

fn io_error(e: std::io::Error) -> Reject {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        return (
            StatusCode::INSUFFICIENT_STORAGE,
            "no space left on the device".into(),
        );
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("writing the file: {e}"),
    )
}

fn written(path: &str) -> serde_json::Value {
    let name = path.rsplit('/').next().unwrap_or("");
    serde_json::json!({ "path": super::fs::normalize(path), "name": name, "type": "file" })
}

async fn upload(
    live: &Arc<LiveSandbox>,
    user: &crate::sandbox::User,
    path: Option<String>,
    req: Request,
) -> Response {
    if req
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v != "identity")
    {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "compressed uploads are not supported yet; send the body uncompressed",
        );
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut results = Vec::new();
    if content_type.starts_with("application/octet-stream") {
        let Some(path) = path else {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "an octet-stream upload needs the path parameter",
            );
        };
        let (mut file, pending) = match create(live, user, &path).await {
            Ok(f) => f,
            Err(r) => return reply(r),
        };
        let mut body = req.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    return rest_error(
                        StatusCode::BAD_REQUEST,
                        &format!("reading the upload: {e}"),
                    );
                }
            };
            if let Err(e) = file.write_all(&chunk).await {
                return reply(io_error(e));
            }
        }
        if let Err(r) = finish(file, pending).await {
            return reply(r);
        }
        results.push(written(&path));
    } else if content_type.starts_with("multipart/form-data") {
        let mut multipart = match Multipart::from_request(req, &()).await {
            Ok(m) => m,
            Err(e) => return rest_error(StatusCode::BAD_REQUEST, &e.body_text()),
        };
        let mut seen = HashSet::new();
        loop {
            let mut field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return rest_error(StatusCode::BAD_REQUEST, &e.body_text()),
            };
            if field.name() != Some("file") {
                continue;
            }
            let target = match (&path, field.file_name()) {
                (Some(p), _) => p.clone(),
                (None, Some(f)) if !f.is_empty() => resolve_path(f, &user.home),
                _ => {
                    return rest_error(
                        StatusCode::BAD_REQUEST,
                        "a file part has no filename and there is no path parameter",
                    );
                }
            };
            if !seen.insert(super::fs::normalize(&target)) {
                return rest_error(
                    StatusCode::BAD_REQUEST,
                    &format!("path '{target}' appears twice in one upload"),
                );
            }
            let (mut file, pending) = match create(live, user, &target).await {
                Ok(f) => f,
                Err(r) => return reply(r),
            };
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if let Err(e) = file.write_all(&chunk).await {
                            return reply(io_error(e));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return rest_error(StatusCode::BAD_REQUEST, &e.body_text()),
                }
            }
            if let Err(r) = finish(file, pending).await {
                return reply(r);
            }
            results.push(written(&target));
        }
    } else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "unsupported content type '{content_type}' (multipart/form-data or application/octet-stream)"
            ),
        );
    }
    crate::error::json_response(StatusCode::OK, &results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_sdk_vector() {
        assert_eq!(
            signature("/home/user/hello.txt", "read", "root", "tok", None),
            "v1_TRlHfiNgpf44c8IeZCoou7xiz+m60QkIJ1Pm8NXrjXk"
        );
    }

    #[test]
    fn query_values_come_raw_and_decoded() {
        let q = "path=%2Fhome%2Fuser%2Fa%20b.txt&username=user";
        assert_eq!(
            query_param(q, "path"),
            Some((
                "%2Fhome%2Fuser%2Fa%20b.txt",
                "/home/user/a b.txt".to_string()
            ))
        );
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
