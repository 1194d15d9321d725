//! One retry policy for every call that may be repeated: 429 (honouring `Retry-After` and the
//! `RateLimit-*` headers), 502/503/504 and broken connections, with jittered exponential
//! backoff, never past the request's deadline.

use crate::transport::{TransportErrorKind, header_value};

const BASE_DELAY_MS: f64 = 100.0;
const MAX_DELAY_MS: f64 = 10_000.0;

/// May this call be sent again?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it has the effect of doing it once (reads, kill, set-timeout, connect).
    Idempotent,
    /// Repeat only when the server certainly did not act on it (create).
    Once,
}

/// What came back from one attempt.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    Status {
        status: u16,
        headers: &'a [(String, String)],
    },
    Transport(TransportErrorKind),
}

/// The delay before the next attempt, or `None` to stop and report what happened.
/// `attempt` counts from 0; `remaining_ms` is the time left before the deadline.
pub fn next_delay_ms(
    idempotency: Idempotency,
    outcome: Outcome<'_>,
    attempt: u32,
    max_retries: u32,
    remaining_ms: f64,
    random: f64,
) -> Option<u64> {
    if attempt >= max_retries {
        return None;
    }
    let delay = match outcome {
        Outcome::Status {
            status: 429,
            headers,
        } => server_delay_ms(headers).unwrap_or_else(|| backoff_ms(attempt, random)),
        Outcome::Status {
            status: 502..=504, ..
        } if idempotency == Idempotency::Idempotent => backoff_ms(attempt, random),
        // A refused connection never reached the server, so even a create may go again.
        Outcome::Transport(TransportErrorKind::Connect) => backoff_ms(attempt, random),
        Outcome::Transport(TransportErrorKind::Reset) if idempotency == Idempotency::Idempotent => {
            backoff_ms(attempt, random)
        }
        _ => return None,
    };
    (delay < remaining_ms).then_some(delay as u64)
}

/// Full-range exponential backoff with jitter in [50%, 100%] of the step.
fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let step = (BASE_DELAY_MS * 2f64.powi(attempt.min(20) as i32)).min(MAX_DELAY_MS);
    step * (0.5 + 0.5 * random.clamp(0.0, 1.0))
}

/// What the server asked for: `Retry-After` seconds, else `RateLimit-Reset` seconds, else the
/// `t=` (or `reset=`) parameter of the structured `RateLimit` header.
fn server_delay_ms(headers: &[(String, String)]) -> Option<f64> {
    let secs = |v: &str| -> Option<f64> {
        let v = v.trim();
        (!v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<u64>().ok().map(|s| s as f64))?
    };
    if let Some(s) = header_value(headers, "retry-after").and_then(secs) {
        return Some(s * 1000.0);
    }
    if let Some(s) = header_value(headers, "ratelimit-reset").and_then(secs) {
        return Some(s * 1000.0);
    }
    let structured = header_value(headers, "ratelimit")?;
    structured
        .split([';', ','])
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| matches!(k.trim(), "t" | "reset"))
        .and_then(|(_, v)| secs(v))
        .map(|s| s * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Idempotency::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn status(status: u16, headers: &[(String, String)]) -> Outcome<'_> {
        Outcome::Status { status, headers }
    }

    #[test]
    fn honours_server_delays_on_429() {
        let cases = [
            (h(&[("retry-after", "2")]), Some(2000)),
            (h(&[("Retry-After", " 1 ")]), Some(1000)),
            (h(&[("ratelimit-reset", "3")]), Some(3000)),
            (h(&[("ratelimit", "\"default\";r=0;t=4")]), Some(4000)),
            (
                h(&[("ratelimit", "limit=10, remaining=0, reset=5")]),
                Some(5000),
            ),
            // Retry-After wins over the others.
            (
                h(&[("ratelimit-reset", "9"), ("retry-after", "1")]),
                Some(1000),
            ),
        ];
        for (headers, want) in cases {
            assert_eq!(
                next_delay_ms(Idempotent, status(429, &headers), 0, 3, 60_000.0, 0.0),
                want,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn falls_back_to_backoff_for_unreadable_retry_after() {
        let headers = h(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(
            next_delay_ms(Idempotent, status(429, &headers), 0, 3, 60_000.0, 1.0),
            Some(100)
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let none = h(&[]);
        assert_eq!(
            next_delay_ms(Idempotent, status(503, &none), 0, 9, 1e9, 0.0),
            Some(50)
        );
        assert_eq!(
            next_delay_ms(Idempotent, status(503, &none), 0, 9, 1e9, 1.0),
            Some(100)
        );
        assert_eq!(
            next_delay_ms(Idempotent, status(502, &none), 3, 9, 1e9, 1.0),
            Some(800)
        );
        assert_eq!(
            next_delay_ms(Idempotent, status(504, &none), 8, 9, 1e9, 1.0),
            Some(10_000)
        );
    }

    #[test]
    fn never_sleeps_past_the_deadline_or_the_budget() {
        let wait = h(&[("retry-after", "30")]);
        assert_eq!(
            next_delay_ms(Idempotent, status(429, &wait), 0, 3, 29_000.0, 0.5),
            None
        );
        assert_eq!(
            next_delay_ms(Idempotent, status(503, &[]), 3, 3, 1e9, 0.5),
            None
        );
    }

    #[test]
    fn create_is_not_repeated_blindly() {
        assert_eq!(next_delay_ms(Once, status(503, &[]), 0, 3, 1e9, 1.0), None);
        assert_eq!(
            next_delay_ms(
                Once,
                Outcome::Transport(TransportErrorKind::Reset),
                0,
                3,
                1e9,
                1.0
            ),
            None
        );
        // Refused connections and explicit rate limits were not acted on.
        assert_eq!(
            next_delay_ms(
                Once,
                Outcome::Transport(TransportErrorKind::Connect),
                0,
                3,
                1e9,
                1.0
            ),
            Some(100)
        );
        assert_eq!(
            next_delay_ms(
                Once,
                status(429, &h(&[("retry-after", "1")])),
                0,
                3,
                1e9,
                1.0
            ),
            Some(1000)
        );
    }

    #[test]
    fn other_statuses_are_final() {
        for s in [400, 401, 403, 404, 409, 500] {
            assert_eq!(
                next_delay_ms(Idempotent, status(s, &[]), 0, 3, 1e9, 1.0),
                None,
                "{s}"
            );
        }
    }
}
