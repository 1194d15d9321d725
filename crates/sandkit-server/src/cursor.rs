//! List order and the `nextToken` cursor of `GET /v2/sandboxes`.
//!
//! A cursor names the position of the last entry of a page, not an offset, so sandboxes that
//! are created or killed between two pages shift nothing: the next page is simply every entry
//! strictly after that position in the chosen order. Wire form, as upstream's:
//! base64url (no padding) of `<startNanos>__<sandboxID>`, with `__asc` appended for ascending
//! listings so that a token is never replayed against the other order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Sort order of a listing, by start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first: the API's default.
    #[default]
    Desc,
}

impl Order {
    /// `asc` or `desc`, exactly.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "asc" => Some(Order::Asc),
            "desc" => Some(Order::Desc),
            _ => None,
        }
    }

    /// The query-string spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// A sandbox's unique position in start order. The store never hands out the same
/// `start_ns` twice, and the id breaks ties anyway.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StartKey {
    /// Start time, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// The sandbox id.
    pub id: String,
}

/// Why a `nextToken` was refused; the message is meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorError(pub String);

impl std::fmt::Display for CursorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The token that resumes a listing in `order` after `key`.
pub fn encode(key: &StartKey, order: Order) -> String {
    let suffix = if order == Order::Asc { "__asc" } else { "" };
    URL_SAFE_NO_PAD.encode(format!("{}__{}{suffix}", key.start_ns, key.id))
}

/// Reads a token back; it must have been issued for the same `order`.
pub fn decode(token: &str, order: Order) -> Result<StartKey, CursorError> {
    let forged = || CursorError("invalid nextToken: it is not a token this server issued".into());
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| forged())?;
    let text = String::from_utf8(raw).map_err(|_| forged())?;
    let mut parts = text.split("__");
    let (Some(ns), Some(id)) = (parts.next(), parts.next()) else {
        return Err(forged());
    };
    let token_order = match (parts.next(), parts.next()) {
        (None, _) => Order::Desc,
        (Some("asc"), None) => Order::Asc,
        _ => return Err(forged()),
    };
    let valid_ns = !ns.is_empty() && ns.len() <= 19 && ns.bytes().all(|b| b.is_ascii_digit());
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let start_ns = match ns.parse::<i64>() {
        Ok(n) if valid_ns && valid_id => n,
        _ => return Err(forged()),
    };
    if token_order != order {
        return Err(CursorError(format!(
            "invalid nextToken: it continues an order={} listing, but this request asks for order={}",
            token_order.as_str(),
            order.as_str()
        )));
    }
    Ok(StartKey {
        start_ns,
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StartKey {
        StartKey {
            start_ns: 1_729_026_787_311_000_123,
            id: "abc123".into(),
        }
    }

    #[test]
    fn round_trips_in_both_orders() {
        for order in [Order::Asc, Order::Desc] {
            assert_eq!(decode(&encode(&key(), order), order), Ok(key()));
        }
        assert_eq!(
            URL_SAFE_NO_PAD.decode(encode(&key(), Order::Asc)).unwrap(),
            b"1729026787311000123__abc123__asc"
        );
    }

    #[test]
    fn refuses_the_other_order() {
        let err = decode(&encode(&key(), Order::Asc), Order::Desc).unwrap_err();
        assert!(err.0.contains("order=asc"), "{err}");
        assert!(decode(&encode(&key(), Order::Desc), Order::Asc).is_err());
    }

    #[test]
    fn refuses_forgeries() {
        for raw in [
            "",
            "12",
            "__abc",
            "12__",
            "x1__abc",
            "12__ABC",
            "12__abc__desc",
            "12__abc__asc__asc",
            "99999999999999999999__abc",
        ] {
            assert!(
                decode(&URL_SAFE_NO_PAD.encode(raw), Order::Desc).is_err()
                    && decode(&URL_SAFE_NO_PAD.encode(raw), Order::Asc).is_err(),
                "{raw}"
            );
        }
        assert!(decode("forged!", Order::Desc).is_err());
    }
}
