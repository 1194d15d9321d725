//! Clock, sleeper and randomness, injected: `Instant` and `SystemTime::now` panic on
//! wasm32-unknown-unknown, and tests want control over time.

use crate::maybe_send::{BoxFuture, MaybeSend};

pub trait Runtime: MaybeSend + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> BoxFuture<'static, ()>;
    /// Resolves after `ms` milliseconds, as the bound of work that keeps the process alive
    /// itself (a request, a stream). Where a timer can (Node's), this one does not keep the
    /// process running on its own, as a sleep does: that would cost each request a `ref`
    /// and an `unref` and hold nothing the work does not.
    fn deadline_timer(&self, ms: u64) -> BoxFuture<'static, ()> {
        self.sleep(ms)
    }
    /// A number in [0, 1), for jitter. Not for secrets.
    fn random(&self) -> f64;
}

/// An instant that a run of waits shares (a stream read message by message until a timeout):
/// one timer serves them all. A timer per wait cost, on wasm, a `setTimeout`, a
/// `clearTimeout`, a promise and two closures for every message of a fast stream.
pub struct Deadline {
    at_ms: f64,
    /// Started by the first wait, for the time left then; kept while it has not fired.
    timer: Option<BoxFuture<'static, ()>>,
    passed: bool,
}

impl Deadline {
    /// A deadline at `at_ms` on the runtime's clock (`now_ms`).
    pub fn at(at_ms: f64) -> Self {
        Deadline {
            at_ms,
            timer: None,
            passed: false,
        }
    }

    pub fn at_ms(&self) -> f64 {
        self.at_ms
    }

    /// `work`'s output, or `None` once the deadline has passed: at once (without polling
    /// `work`) when it has already, else when the timer fires first.
    pub async fn race<T>(
        &mut self,
        runtime: &dyn Runtime,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let left = self.at_ms - runtime.now_ms();
        if self.passed || left <= 0.0 {
            self.passed = true;
            return None;
        }
        let timer = self
            .timer
            .get_or_insert_with(|| runtime.deadline_timer(left.ceil() as u64));
        let work = std::pin::pin!(work);
        match futures_util::future::select(work, timer).await {
            futures_util::future::Either::Left((out, _)) => Some(out),
            futures_util::future::Either::Right(_) => {
                // A fired timer is never polled again.
                self.timer = None;
                self.passed = true;
                None
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::TokioRuntime;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Wall clock from `SystemTime`, sleeps on tokio's timer.
    #[derive(Default)]
    pub struct TokioRuntime {
        seed: AtomicU64,
    }

    impl Runtime for TokioRuntime {
        fn now_ms(&self) -> f64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        }

        fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
            Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms)))
        }

        fn random(&self) -> f64 {
            // splitmix64 over a counter seeded from the clock: plenty for jitter.
            let mut z = self
                .seed
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(self.now_ms() as u64);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use wasm::JsRuntime;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::*;
    use crate::js_wait::Timer;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// `Date.now`, the global `setTimeout` and `Math.random`.
    #[derive(Default, Clone, Copy)]
    pub struct JsRuntime;

    /// The longest delay `setTimeout` keeps: a longer one (over 24.8 days) overflows, and
    /// browsers, Node and workerd all fire it at once.
    const MAX_TIMER_MS: u64 = i32::MAX as u64;

    /// A sleep: a chain of timers when it is longer than one timer takes. Dropping it clears
    /// the pending timer.
    struct Sleep {
        /// `None` when the runtime has no timers: then it ends at once rather than never.
        timer: Option<Timer>,
        rest_ms: u64,
        /// Whether it holds Node's event loop open (`js_wait::Timer::start`).
        holds: bool,
    }

    impl Sleep {
        fn new(ms: u64, holds: bool) -> Sleep {
            let now = ms.min(MAX_TIMER_MS);
            Sleep {
                timer: Timer::start(now as f64, holds),
                rest_ms: ms - now,
                holds,
            }
        }
    }

    impl Future for Sleep {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            loop {
                if let Some(timer) = self.timer.as_mut() {
                    std::task::ready!(Pin::new(timer).poll(cx));
                }
                if self.rest_ms == 0 {
                    return Poll::Ready(());
                }
                *self = Sleep::new(self.rest_ms, self.holds);
            }
        }
    }

    impl Runtime for JsRuntime {
        fn now_ms(&self) -> f64 {
            js_sys::Date::now()
        }

        fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
            Box::pin(Sleep::new(ms, true))
        }

        fn deadline_timer(&self, ms: u64) -> BoxFuture<'static, ()> {
            Box::pin(Sleep::new(ms, false))
        }

        fn random(&self) -> f64 {
            js_sys::Math::random()
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A clock the test sets, and timers that fire only when the test says so.
    #[derive(Default)]
    struct Manual {
        now: Mutex<f64>,
        timers: AtomicUsize,
        fire: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    }

    impl Runtime for Manual {
        fn now_ms(&self) -> f64 {
            *self.now.lock().unwrap()
        }
        fn sleep(&self, _ms: u64) -> BoxFuture<'static, ()> {
            self.timers.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = tokio::sync::oneshot::channel();
            *self.fire.lock().unwrap() = Some(tx);
            Box::pin(async move {
                let _ = rx.await;
            })
        }
        fn random(&self) -> f64 {
            0.5
        }
    }

    #[tokio::test]
    async fn one_timer_serves_every_wait_until_it_fires() {
        let rt = Manual::default();
        let mut deadline = Deadline::at(1_000.0);
        for i in 0..100 {
            assert_eq!(deadline.race(&rt, async { i }).await, Some(i));
        }
        assert_eq!(rt.timers.load(Ordering::SeqCst), 1);
        // The timer fires while a wait is pending: that wait ends, and so does every later one.
        rt.fire.lock().unwrap().take().unwrap().send(()).unwrap();
        let pending = std::future::pending::<()>();
        assert_eq!(deadline.race(&rt, pending).await, None);
        assert_eq!(deadline.race(&rt, async { 1 }).await, None);
        assert_eq!(rt.timers.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_deadline_passed_ends_the_wait_without_polling_the_work() {
        let rt = Manual::default();
        *rt.now.lock().unwrap() = 1_000.0;
        let mut deadline = Deadline::at(1_000.0);
        let work = async { panic!("polled after the deadline") };
        assert_eq!(deadline.race(&rt, work).await, None::<()>);
        assert_eq!(rt.timers.load(Ordering::SeqCst), 0);
    }
}
