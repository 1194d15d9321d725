//! One retry policy for every call that may be repeated: 429 (honouring `Retry-After`, in
//! seconds or as an HTTP date, and the `RateLimit-*` headers), 502/503/504 and broken
//! connections, with jittered exponential backoff, never past the request's deadline.

use crate::transport::{ResponseHeaders, TransportErrorKind};

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
        headers: &'a ResponseHeaders,
    },
    Transport(TransportErrorKind),
}

/// What the policy needs besides the outcome: the attempt (from 0) and the budget of retries,
/// how many earlier waits were backoff (the exponent: a 429 the server paced is no sign of a
/// failing server, so its wait does not make the next backoff longer), the time left before
/// the deadline, the wall clock (for a `Retry-After` date) and a number in [0, 1) for the
/// jitter.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub attempt: u32,
    pub backoffs: u32,
    pub max_retries: u32,
    pub remaining_ms: f64,
    pub now_ms: f64,
    pub random: f64,
}

/// A wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    pub ms: u64,
    /// Backoff of ours, rather than the server's `Retry-After` or `RateLimit` pacing: the
    /// caller counts these into [`Budget::backoffs`].
    pub backoff: bool,
}

/// The delay before the next attempt, or `None` to stop and report what happened.
pub fn next_delay_ms(
    idempotency: Idempotency,
    outcome: Outcome<'_>,
    budget: Budget,
) -> Option<Delay> {
    let Budget {
        attempt,
        backoffs,
        max_retries,
        remaining_ms,
        now_ms,
        random,
    } = budget;
    if attempt >= max_retries {
        return None;
    }
    let backoff = || (backoff_ms(backoffs, random), true);
    let (delay, backoff) = match outcome {
        Outcome::Status {
            status: 429,
            headers,
        } => server_delay_ms(headers, now_ms).map_or_else(backoff, |ms| (ms, false)),
        Outcome::Status {
            status: 502..=504, ..
        } if idempotency == Idempotency::Idempotent => backoff(),
        // A refused connection never reached the server, so even a create may go again.
        Outcome::Transport(TransportErrorKind::Connect) => backoff(),
        Outcome::Transport(TransportErrorKind::Reset) if idempotency == Idempotency::Idempotent => {
            backoff()
        }
        _ => return None,
    };
    (delay < remaining_ms).then_some(Delay {
        ms: delay as u64,
        backoff,
    })
}

/// One call's retries so far, for the loops that send it (the control plane's and the
/// daemon's): the attempts made, how many waits were backoff, and the call's time budget
/// (its request timeout, or the default one when it has none).
pub(crate) struct Retries<'a> {
    config: &'a crate::config::ConnectionConfig,
    attempt: u32,
    backoffs: u32,
    start_ms: f64,
    budget_ms: f64,
}

impl<'a> Retries<'a> {
    pub(crate) fn start(config: &'a crate::config::ConnectionConfig) -> Self {
        let budget_ms = match config.request_timeout_ms {
            0 => crate::config::DEFAULT_REQUEST_TIMEOUT_MS,
            ms => ms,
        } as f64;
        Retries {
            config,
            attempt: 0,
            backoffs: 0,
            start_ms: config.client().runtime().now_ms(),
            budget_ms,
        }
    }

    /// When the call started, by the runtime's clock.
    pub(crate) fn start_ms(&self) -> f64 {
        self.start_ms
    }

    /// After an attempt that ended with `outcome`: waits as the policy says and returns
    /// `true` to send again, or returns `false` to report the outcome.
    pub(crate) async fn again(&mut self, idempotency: Idempotency, outcome: Outcome<'_>) -> bool {
        let runtime = self.config.client().runtime();
        let now_ms = runtime.now_ms();
        let budget = Budget {
            attempt: self.attempt,
            backoffs: self.backoffs,
            max_retries: self.config.retries,
            remaining_ms: self.budget_ms - (now_ms - self.start_ms),
            now_ms,
            random: runtime.random(),
        };
        let Some(delay) = next_delay_ms(idempotency, outcome, budget) else {
            return false;
        };
        self.backoffs += u32::from(delay.backoff);
        self.attempt += 1;
        runtime.sleep(delay.ms).await;
        true
    }
}

/// Full-range exponential backoff with jitter in [50%, 100%] of the step.
fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let step = (BASE_DELAY_MS * 2f64.powi(attempt.min(20) as i32)).min(MAX_DELAY_MS);
    step * (0.5 + 0.5 * random.clamp(0.0, 1.0))
}

/// What the server asked for: `Retry-After` seconds or date, else `RateLimit-Reset` seconds,
/// else the `t=` (or `reset=`) parameter of the structured `RateLimit` header. A date in the
/// past means at once.
fn server_delay_ms(headers: &ResponseHeaders, now_ms: f64) -> Option<f64> {
    let secs = |v: &str| -> Option<f64> {
        let v = v.trim();
        (!v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| crate::wire::parse_u64(v).map(|s| s as f64))?
    };
    if let Some(v) = headers.get("retry-after") {
        if let Some(s) = secs(&v) {
            return Some(s * 1000.0);
        }
        if let Some(at) = crate::wire::time::parse_http_date_millis(&v, now_ms) {
            return Some((at as f64 - now_ms).max(0.0));
        }
    }
    if let Some(s) = headers.get("ratelimit-reset").as_deref().and_then(secs) {
        return Some(s * 1000.0);
    }
    let structured = headers.get("ratelimit")?;
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

    fn h(pairs: &[(&str, &str)]) -> ResponseHeaders {
        ResponseHeaders::from_pairs(pairs.iter().copied())
    }

    /// A fixed wall clock: 2015-10-21T07:28:00Z.
    const NOW: f64 = 1_445_412_480_000.0;

    fn next(
        idempotency: Idempotency,
        outcome: Outcome<'_>,
        attempt: u32,
        max_retries: u32,
        remaining_ms: f64,
        random: f64,
    ) -> Option<u64> {
        let budget = Budget {
            attempt,
            backoffs: attempt,
            max_retries,
            remaining_ms,
            now_ms: NOW,
            random,
        };
        next_delay_ms(idempotency, outcome, budget).map(|d| d.ms)
    }

    #[test]
    fn waits_the_server_paced_do_not_lengthen_the_backoff() {
        let paced = h(&[("retry-after", "1")]);
        let budget = Budget {
            attempt: 6,
            backoffs: 1,
            max_retries: 9,
            remaining_ms: 1e9,
            now_ms: NOW,
            random: 1.0,
        };
        let d = next_delay_ms(Idempotent, status(429, &paced), budget).unwrap();
        assert_eq!((d.ms, d.backoff), (1000, false));
        // After six attempts of which one backed off: the second step, not the seventh.
        let d = next_delay_ms(Idempotent, status(503, &h(&[])), budget).unwrap();
        assert_eq!((d.ms, d.backoff), (200, true));
    }

    fn status(status: u16, headers: &ResponseHeaders) -> Outcome<'_> {
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
                next(Idempotent, status(429, &headers), 0, 3, 60_000.0, 0.0),
                want,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn reads_retry_after_as_an_http_date() {
        let cases = [
            // Two seconds after NOW, in each of the three forms.
            ("Wed, 21 Oct 2015 07:28:02 GMT", Some(2000)),
            ("Wednesday, 21-Oct-15 07:28:02 GMT", Some(2000)),
            ("Wed Oct 21 07:28:02 2015", Some(2000)),
            // Now, or already past: at once.
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(0)),
            ("Tue, 20 Oct 2015 07:28:00 GMT", Some(0)),
            // Past the deadline (60 s): no retry.
            ("Wed, 21 Oct 2015 07:30:00 GMT", None),
        ];
        for (date, want) in cases {
            let headers = h(&[("retry-after", date)]);
            assert_eq!(
                next(Idempotent, status(429, &headers), 0, 3, 60_000.0, 0.0),
                want,
                "{date}"
            );
        }
        // A date wins over RateLimit-Reset, as seconds do.
        let headers = h(&[
            ("ratelimit-reset", "9"),
            ("retry-after", "Wed, 21 Oct 2015 07:28:01 GMT"),
        ]);
        assert_eq!(
            next(Idempotent, status(429, &headers), 0, 3, 60_000.0, 0.0),
            Some(1000)
        );
    }

    #[test]
    fn falls_back_to_backoff_for_unreadable_retry_after() {
        for bad in ["soon", "-1", "1.5", "Wed, 21 Oct 2015 07:28:02 CET"] {
            let headers = h(&[("retry-after", bad)]);
            assert_eq!(
                next(Idempotent, status(429, &headers), 0, 3, 60_000.0, 1.0),
                Some(100),
                "{bad}"
            );
        }
        // An unreadable Retry-After leaves RateLimit-Reset to speak.
        let headers = h(&[("retry-after", "soon"), ("ratelimit-reset", "2")]);
        assert_eq!(
            next(Idempotent, status(429, &headers), 0, 3, 60_000.0, 1.0),
            Some(2000)
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let none = h(&[]);
        assert_eq!(
            next(Idempotent, status(503, &none), 0, 9, 1e9, 0.0),
            Some(50)
        );
        assert_eq!(
            next(Idempotent, status(503, &none), 0, 9, 1e9, 1.0),
            Some(100)
        );
        assert_eq!(
            next(Idempotent, status(502, &none), 3, 9, 1e9, 1.0),
            Some(800)
        );
        assert_eq!(
            next(Idempotent, status(504, &none), 8, 9, 1e9, 1.0),
            Some(10_000)
        );
    }

    #[test]
    fn never_sleeps_past_the_deadline_or_the_budget() {
        let wait = h(&[("retry-after", "30")]);
        assert_eq!(
            next(Idempotent, status(429, &wait), 0, 3, 29_000.0, 0.5),
            None
        );
        assert_eq!(next(Idempotent, status(503, &h(&[])), 3, 3, 1e9, 0.5), None);
    }

    #[test]
    fn create_is_not_repeated_blindly() {
        assert_eq!(next(Once, status(503, &h(&[])), 0, 3, 1e9, 1.0), None);
        assert_eq!(
            next(
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
            next(
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
            next(
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
                next(Idempotent, status(s, &h(&[])), 0, 3, 1e9, 1.0),
                None,
                "{s}"
            );
        }
    }
}
