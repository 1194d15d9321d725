//! Shared plumbing: an in-process server with two teams and a small JSON HTTP client.
#![allow(dead_code)]

pub mod envd;

use reqwest::Method;
use reqwest::header::HeaderMap;
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use std::time::Duration;

pub const KEY_A: &str = "sk_test_team_a";
pub const KEY_B: &str = "sk_test_team_b";

/// A server with teams `team-a` and `team-b` and a quick reaper, without rate limits (tests
/// make fixtures in bulk; tests/limits.rs tests the limits); its sandboxes are records only
/// (see [`envd::start_with_sandboxes`] for processes).
pub async fn start_server() -> RunningServer {
    let mut config = ServerConfig::default();
    config.sandboxes.enabled = false;
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    start_with(config).await
}

/// The state directory of an in-process `server` started without one (its fresh directory).
pub fn state_dir(server: &RunningServer) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "sandkitd-{}-{}",
        std::process::id(),
        server.local_addr().port()
    ))
}

pub async fn start_with(config: ServerConfig) -> RunningServer {
    sandkit_server::start(ServerConfig {
        api_keys: vec![
            (KEY_A.into(), "team-a".into()),
            (KEY_B.into(), "team-b".into()),
        ],
        reap_interval: Duration::from_millis(20),
        ..config
    })
    .await
    .expect("the server starts")
}

/// A plain-HTTP client that ignores proxy settings.
pub fn http_client() -> reqwest::Client {
    // Whoever installs first wins; any provider will do for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A client that sends one team's key.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub key: Option<String>,
    pub http: reqwest::Client,
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts a `{code, message}` error body with this status and returns its message.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["code"], json!(status), "{body}");
        let message = body["message"].as_str().expect("a message").to_string();
        assert!(!message.is_empty());
        message
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect_json(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        self.json()
    }
}

impl Api {
    pub fn new(url: &str, key: &str) -> Self {
        Api {
            url: url.to_string(),
            key: Some(key.to_string()),
            http: http_client(),
        }
    }

    pub fn with_key(&self, key: Option<&str>) -> Self {
        Api {
            key: key.map(str::to_string),
            ..self.clone()
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.url));
        match &self.key {
            // The official SDK's spelling; header names are case-insensitive anyway.
            Some(key) => rb.header("X-API-KEY", key),
            None => rb,
        }
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        let res = rb.send().await.expect("the request is answered");
        Reply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            text: res.text().await.unwrap(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut rb = self.request(method, path);
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        self.send(rb).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a sandbox and returns its id.
    pub async fn create(&self, body: Value) -> String {
        let created = self.post("/v2/sandboxes", body).await.expect_json(201);
        created["sandboxID"].as_str().unwrap().to_string()
    }

    pub async fn create_with_metadata(&self, pairs: &[(&str, &str)]) -> String {
        let metadata: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        self.create(json!({"templateID": "base", "metadata": metadata}))
            .await
    }

    /// One page of `GET /v2/sandboxes?<query>`: the ids and the next token.
    pub async fn page(&self, query: &str) -> (Vec<String>, Option<String>) {
        let reply = self.get(&format!("/v2/sandboxes?{query}")).await;
        let body = reply.expect_json(200);
        let ids = body
            .as_array()
            .expect("an array")
            .iter()
            .map(|s| s["sandboxID"].as_str().unwrap().to_string())
            .collect();
        (ids, reply.header("x-next-token").map(str::to_string))
    }

    /// Every id of a listing, page by page.
    pub async fn list_all(&self, query: &str) -> Vec<String> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let q = match &token {
                Some(t) => format!("{query}&nextToken={t}"),
                None => query.to_string(),
            };
            let (ids, next) = self.page(&q).await;
            all.extend(ids);
            match next {
                Some(t) => token = Some(t),
                None => return all,
            }
        }
    }
}

/// The `metadata=` query value the official SDK sends for these pairs.
pub fn metadata_query(pairs: &[(&str, &str)]) -> String {
    let map = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format!(
        "metadata={}",
        sandkit::wire::metadata::encode_query_value(&map)
    )
}

/// RFC 3339 → Unix milliseconds.
/// The wall clock now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn millis(v: &Value) -> i64 {
    sandkit::wire::time::parse_rfc3339_millis(v.as_str().expect("a timestamp")).expect("RFC 3339")
}
