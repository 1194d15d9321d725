//! Rate limits and quotas, as E2B's plans set them: requests to the control plane per team,
//! sandbox operations (daemon and public-URL requests) per client IP, sandbox creations per
//! team, running sandboxes per team, and the longest lifetime a call may ask for.
//!
//! Request rates are counted in fixed windows, one per key: a key has `requests` admissions
//! from its first request until `per` later, then starts afresh. Only keys with a window still
//! open are remembered, so memory follows the callers of the last window, never all callers
//! ever seen. A refusal is 429 with `Retry-After` (whole seconds until the window ends: the
//! official JS SDK retries only on digits) and the `RateLimit-*` headers.

use crate::api::AppState;
use crate::auth::API_KEY_HEADER;
use crate::config::LimitsConfig;
use crate::error::ApiError;
use crate::store::{Store, now_ns};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `requests` per `per`: one limit on a request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl Rate {
    pub const fn new(requests: u32, per_secs: u64) -> Rate {
        Rate {
            requests,
            per: Duration::from_secs(per_secs),
        }
    }

    /// `<requests>/<seconds>` (`s` after the seconds allowed).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let (n, secs) = s
            .split_once('/')
            .ok_or_else(|| "no '/' between requests and seconds".to_string())?;
        let requests = n
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{n:?} is not a number of requests (1 or more)"))?;
        let secs = secs
            .trim()
            .trim_end_matches('s')
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(|| format!("{secs:?} is not a number of seconds (1-86400)"))?;
        Ok(Rate::new(requests, secs))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}s", self.requests, self.per.as_secs())
    }
}

/// Where a key stands in its window: what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The most admissions in a window (`RateLimit-Limit`).
    pub limit: u32,
    /// Admissions left in this window (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Whole seconds until the window ends (`RateLimit-Reset`, and `Retry-After` on a refusal).
    pub reset_secs: u64,
}

impl Quota {
    /// Adds the `RateLimit-*` headers, and `Retry-After` too when the request was refused.
    pub fn write_headers(&self, headers: &mut HeaderMap, refused: bool) {
        let num = |n: u64| HeaderValue::from(n);
        headers.insert("ratelimit-limit", num(self.limit.into()));
        headers.insert("ratelimit-remaining", num(self.remaining.into()));
        headers.insert("ratelimit-reset", num(self.reset_secs));
        if refused {
            headers.insert("retry-after", num(self.reset_secs));
        }
    }
}

/// Whole seconds in `d`, rounded up, at least 1: waiting that long always reaches the end.
fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The smallest number of remembered keys worth sweeping for closed windows.
const MIN_SWEEP: usize = 1024;

struct Window {
    opened: Instant,
    used: u32,
}

struct Windows<K> {
    open: HashMap<K, Window>,
    /// Closed windows are swept when the map reaches this size, which then doubles the number
    /// still open: each sweep costs no more than the insertions since the last.
    sweep_at: usize,
}

/// One request rate, counted per key in fixed windows.
pub struct Limiter<K> {
    rate: Rate,
    windows: Mutex<Windows<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            windows: Mutex::new(Windows {
                open: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// Counts one request of `key` at `now`: `Ok` with what is left, or `Err` once the window
    /// is used up (a refused request is not counted).
    pub fn admit(&self, key: &K, now: Instant) -> Result<Quota, Quota> {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let per = self.rate.per;
        if w.open.len() >= w.sweep_at {
            w.open.retain(|_, win| now.duration_since(win.opened) < per);
            w.sweep_at = (w.open.len() * 2).max(MIN_SWEEP);
        }
        let window = w.open.entry(key.clone()).or_insert(Window {
            opened: now,
            used: 0,
        });
        if now.duration_since(window.opened) >= per {
            *window = Window {
                opened: now,
                used: 0,
            };
        }
        let quota = |used: u32| Quota {
            limit: self.rate.requests,
            remaining: self.rate.requests.saturating_sub(used),
            reset_secs: whole_secs((window.opened + per).saturating_duration_since(now)),
        };
        if window.used >= self.rate.requests {
            return Err(quota(window.used));
        }
        window.used += 1;
        Ok(quota(window.used))
    }

    /// How many keys are remembered (those with a window still open, and some closed ones
    /// until the next sweep).
    pub fn remembered(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .len()
    }
}

/// Every limit of one server.
pub struct Limits {
    config: LimitsConfig,
    control: Limiter<String>,
    ops: Limiter<IpAddr>,
    creates: Limiter<String>,
    /// Held while a team's running sandboxes are counted and one more is started or resumed,
    /// so that two concurrent creates cannot both take the last slot.
    admission: Mutex<()>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Limits {
    pub fn new(config: LimitsConfig) -> Self {
        Limits {
            control: Limiter::new(config.rate_limit),
            ops: Limiter::new(config.ops_rate_limit),
            creates: Limiter::new(config.create_rate),
            admission: Mutex::new(()),
            config,
        }
    }

    /// The longest lifetime, in seconds, a create, connect or timeout call may ask for.
    pub fn max_timeout_secs(&self) -> u32 {
        self.config.max_timeout_secs
    }

    /// One control-plane request of `team`.
    pub fn admit_control(&self, team: &str) -> Result<Quota, ApiError> {
        let rate = self.config.rate_limit;
        self.control.admit(&team.to_string(), Instant::now()).map_err(|q| {
            refused(
                format!("team \"{team}\" made more than {rate} control-plane requests (--rate-limit); retry in {} s", q.reset_secs),
                q,
            )
        })
    }

    /// One sandbox operation (a daemon or public-URL request) from `client`.
    pub fn admit_op(&self, client: IpAddr) -> Result<Quota, Quota> {
        self.ops.admit(&client, Instant::now())
    }

    /// A message for a refused sandbox operation.
    pub fn op_refusal_message(&self, quota: &Quota) -> String {
        format!(
            "Rate limit exceeded: more than {} sandbox operations from this client (--ops-rate-limit); retry in {} s",
            self.config.ops_rate_limit, quota.reset_secs
        )
    }

    /// One sandbox creation of `team`.
    pub fn admit_create(&self, team: &str) -> Result<(), ApiError> {
        let rate = self.config.create_rate;
        self.creates
            .admit(&team.to_string(), Instant::now())
            .map(drop)
            .map_err(|q| {
                refused(
                    format!("team \"{team}\" created more than {rate} sandboxes (--create-rate); retry in {} s", q.reset_secs),
                    q,
                )
            })
    }

    /// Runs `start` (which makes one more of `team`'s sandboxes run) if the team has fewer
    /// running than `--max-sandboxes`; paused sandboxes do not count. A refusal's
    /// `Retry-After` is when the first of the team's running sandboxes ends.
    pub fn within_max_sandboxes<T>(
        &self,
        store: &Store,
        team: &str,
        start: impl FnOnce() -> T,
    ) -> Result<T, ApiError> {
        let _one_at_a_time = self.lock_admission();
        let max = self.config.max_sandboxes;
        let now = now_ns();
        // Fewer records in all than the limit: no team can be at it, and nothing need be counted.
        if store.len() < max as usize {
            return Ok(start());
        }
        let (running, first_end_ms) = store.running(team, now);
        if running < max as usize {
            return Ok(start());
        }
        let now_ms = now.div_euclid(1_000_000);
        let first_end_ms = first_end_ms.unwrap_or(now_ms);
        let wait = Duration::from_millis(first_end_ms.saturating_sub(now_ms).max(0) as u64);
        let quota = Quota {
            limit: max,
            remaining: 0,
            reset_secs: whole_secs(wait),
        };
        Err(refused(
            format!(
                "team \"{team}\" has {running} running sandboxes, the most allowed (--max-sandboxes {max}): kill or pause one first"
            ),
            quota,
        ))
    }

    fn lock_admission(&self) -> MutexGuard<'_, ()> {
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A timeout in seconds: absent means the API default; negative or beyond `--max-timeout`
    /// is refused with 400, as E2B refuses it.
    pub fn timeout_secs(&self, timeout: Option<i64>) -> Result<u32, ApiError> {
        let max = self.config.max_timeout_secs;
        match timeout {
            None => Ok(sandkit::wire::DEFAULT_TIMEOUT_SECS.min(max)),
            Some(t) if t < 0 => Err(ApiError::bad_request(format!(
                "timeout must not be negative (got {t})"
            ))),
            Some(t) if t > i64::from(max) => Err(ApiError::bad_request(format!(
                "Timeout cannot be greater than {} (got {t} seconds)",
                describe_secs(max)
            ))),
            // In range, so it fits.
            Some(t) => Ok(t as u32),
        }
    }
}

/// `24 hours` for whole hours (E2B's wording), else `90 seconds`.
fn describe_secs(secs: u32) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} hours", secs / 3600)
    } else {
        format!("{secs} seconds")
    }
}

/// Middleware in front of the control plane: counts every request of a known team against
/// `--rate-limit` and reports where the team stands in the `RateLimit-*` headers. Requests
/// without a known key are left to the routes, which answer them 401.
pub async fn control_plane(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let team = req
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|key| app.keys.team_of(key.trim()))
        .map(str::to_string);
    let Some(team) = team else {
        return next.run(req).await;
    };
    match app.limits.admit_control(&team) {
        Err(refusal) => refusal.into_response(),
        Ok(quota) => {
            let mut res = next.run(req).await;
            // A refusal by another limit (creations, running sandboxes) keeps its own numbers.
            if !res.headers().contains_key("ratelimit-limit") {
                quota.write_headers(res.headers_mut(), false);
            }
            res
        }
    }
}

fn refused(message: String, quota: Quota) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).with_quota(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(Rate::parse("20000/30"), Ok(Rate::new(20_000, 30)));
        assert!(Rate::parse("5").is_err());
        assert_eq!(Rate::parse("3/60s"), Ok(Rate::new(3, 60)));
        for bad in ["", "0/1", "x/1", "1/0", "1/x", "-1/2", "1/2/3", "1/100000"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate::new(40_000, 60).to_string(), "40000/60s");
    }

    #[test]
    fn a_window_admits_its_requests_then_refuses_until_it_ends() {
        let limiter = Limiter::new(Rate::new(2, 10));
        let t0 = Instant::now();
        let key = "team".to_string();
        assert_eq!(limiter.admit(&key, t0).map(|q| q.remaining), Ok(1));
        assert_eq!(limiter.admit(&key, t0).map(|q| q.remaining), Ok(0));
        let refused = limiter.admit(&key, t0 + Duration::from_millis(2500));
        assert_eq!(
            refused,
            Err(Quota {
                limit: 2,
                remaining: 0,
                reset_secs: 8
            })
        );
        // Another key has its own window.
        assert!(limiter.admit(&"other".to_string(), t0).is_ok());
        // Once the window has ended, a new one opens.
        assert!(limiter.admit(&key, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn forgets_keys_whose_window_closed() {
        let limiter = Limiter::new(Rate::new(1, 1));
        let t0 = Instant::now();
        for i in 0..5000u32 {
            let _ = limiter.admit(&i, t0);
        }
        assert_eq!(limiter.remembered(), 5000);
        let later = t0 + Duration::from_secs(2);
        for i in 5000..10_000u32 {
            let _ = limiter.admit(&i, later);
        }
        // The first 5000, their window closed, were swept on the way; the new ones are kept.
        assert_eq!(limiter.remembered(), 5000);
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_secs(Duration::ZERO), 1);
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::from_millis(1001)), 2);
        assert_eq!(whole_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn timeouts_within_the_maximum() {
        let limits = Limits::new(LimitsConfig::default());
        assert_eq!(limits.timeout_secs(None), Ok(300));
        assert_eq!(limits.timeout_secs(Some(86_400)), Ok(86_400));
        assert!(limits.timeout_secs(Some(-1)).is_err());
        let e = limits.timeout_secs(Some(86_401)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("24 hours"), "{}", e.message);
        let short = Limits::new(LimitsConfig {
            max_timeout_secs: 90,
            ..LimitsConfig::default()
        });
        assert!(
            short
                .timeout_secs(Some(91))
                .unwrap_err()
                .message
                .contains("90 seconds")
        );
    }
}
