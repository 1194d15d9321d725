//! API keys and the teams they belong to. A team sees only its own sandboxes.

use crate::api::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

/// The header the API key arrives in (header names match case-insensitively, so the
/// official SDK's `X-API-KEY` is the same header).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The keys the server accepts, each with its team.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(String, String)>,
}

// Keys are secrets: never print them, not even in debug output.
impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// `(key, team)` pairs; a key listed twice belongs to its first team.
    pub fn new(keys: Vec<(String, String)>) -> Self {
        ApiKeys { keys }
    }

    /// The team of `presented`, if it is a known key.
    pub fn team_of(&self, presented: &str) -> Option<&str> {
        // Compare against every key in full so timing says nothing about near misses.
        let mut found = None;
        for (key, team) in &self.keys {
            if constant_time_eq(key.as_bytes(), presented.as_bytes()) && found.is_none() {
                found = Some(team.as_str());
            }
        }
        found
    }
}

/// Compares secrets without leaking, through timing, how much of them matched: every byte of
/// `a` is looked at whatever the earlier ones were, and a length that differs is one more
/// difference, not an early return. The time depends on `a`'s length alone: callers pass as
/// `a` what the client sent (or a key of sandkitd's own, whose length is fixed), so it tells
/// nothing about the other value, not even its length.
/// Every comparison of a secret in sandkitd goes through here: API keys ([`ApiKeys::team_of`]),
/// daemon access tokens (envd, `/files`, the interpreter), traffic tokens (the proxy) and
/// `/files` URL signatures.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        // Against `b` over and over when `a` is longer; against zeros when `b` is empty.
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    // Opaque to the optimiser, so the loop cannot be turned into one that stops early.
    std::hint::black_box(diff) == 0
}

/// The authenticated team of a request: extracting it answers 401 without a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team(pub String);

impl FromRequestParts<Arc<AppState>> for Team {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(API_KEY_HEADER) else {
            return Err(ApiError::unauthorized(
                "missing API key: send it in the X-API-Key header",
            ));
        };
        // The message never repeats the key, right or wrong.
        let invalid = || ApiError::unauthorized("invalid API key");
        let presented = value.to_str().map_err(|_| invalid())?.trim();
        state
            .keys
            .team_of(presented)
            .map(|team| Team(team.to_string()))
            .ok_or_else(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"sk_test_team_a", b"sk_test_team_a"));
        // A difference anywhere: first byte, last byte, a middle bit.
        assert!(!constant_time_eq(b"sk_test_team_a", b"Xk_test_team_a"));
        assert!(!constant_time_eq(b"sk_test_team_a", b"sk_test_team_b"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeF"));
        // A prefix, a longer value, an empty one, a repetition: never equal.
        assert!(!constant_time_eq(b"sk_test", b"sk_test_team_a"));
        assert!(!constant_time_eq(b"sk_test_team_a", b"sk_test"));
        assert!(!constant_time_eq(b"sk_test_team_a", b"sk_test_team_a "));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(!constant_time_eq(b"x", b""));
        assert!(!constant_time_eq(b"\0\0", b""));
        assert!(!constant_time_eq(b"abab", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abab"));
        // Every single-bit difference of a token is seen.
        let token = b"0123456789abcdef0123456789abcdef";
        for i in 0..token.len() {
            for bit in 0..8 {
                let mut other = *token;
                other[i] ^= 1 << bit;
                assert!(!constant_time_eq(token, &other), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn maps_keys_to_teams() {
        let keys = ApiKeys::new(vec![
            ("k1".into(), "a".into()),
            ("k2".into(), "b".into()),
            ("k1".into(), "c".into()),
        ]);
        assert_eq!(keys.team_of("k1"), Some("a"));
        assert_eq!(keys.team_of("k2"), Some("b"));
        assert_eq!(keys.team_of("k"), None);
        assert_eq!(keys.team_of(""), None);
        assert!(!format!("{keys:?}").contains("k1"));
    }
}
