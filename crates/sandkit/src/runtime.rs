//! Clock, sleeper and randomness, injected: `Instant` and `SystemTime::now` panic on
//! wasm32-unknown-unknown, and tests want control over time.

use crate::maybe_send::{BoxFuture, MaybeSend};

pub trait Runtime: MaybeSend + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> BoxFuture<'static, ()>;
    /// A number in [0, 1), for jitter. Not for secrets.
    fn random(&self) -> f64;
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
    use js_sys::{Function, Promise};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use wasm_bindgen::JsValue;
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen_futures::JsFuture;

    /// `Date.now`, the global `setTimeout` and `Math.random`.
    #[derive(Default, Clone, Copy)]
    pub struct JsRuntime;

    // The global functions, looked up when called (every runtime the SDK supports has them;
    // `catch` turns their absence into an error instead of a trap).
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(catch, js_name = setTimeout)]
        fn set_timeout(handler: &Function, ms: f64) -> Result<JsValue, JsValue>;
        #[wasm_bindgen(catch, js_name = clearTimeout)]
        fn clear_timeout(timer: &JsValue) -> Result<(), JsValue>;
    }

    /// A pending `setTimeout`. Dropping it clears the timer: a request deadline that lost the
    /// race must not keep Node's event loop (or a Worker's request) alive until it fires. It
    /// also settles the promise: a `JsFuture` whose promise never settles keeps its two
    /// callbacks (and the externref slots they hold) for ever, two leaked closures per call.
    struct Sleep {
        fired: JsFuture,
        timer: Option<JsValue>,
        resolve: Option<Function>,
    }

    impl Future for Sleep {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            match Pin::new(&mut self.fired).poll(cx) {
                Poll::Ready(_) => {
                    self.timer = None;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        }
    }

    impl Drop for Sleep {
        fn drop(&mut self) {
            if let Some(timer) = self.timer.take() {
                let _ = clear_timeout(&timer);
                if let Some(resolve) = self.resolve.take() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
        }
    }

    impl Runtime for JsRuntime {
        fn now_ms(&self) -> f64 {
            js_sys::Date::now()
        }

        fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
            let mut timer = None;
            let mut resolve_fn = None;
            let promise = Promise::new(&mut |resolve, _reject| {
                match set_timeout(&resolve, ms as f64) {
                    Ok(t) => {
                        timer = Some(t);
                        resolve_fn = Some(resolve);
                    }
                    // No timer at all: resolve at once rather than hang forever.
                    Err(_) => {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                }
            });
            Box::pin(Sleep {
                fired: JsFuture::from(promise),
                timer,
                resolve: resolve_fn,
            })
        }

        fn random(&self) -> f64 {
            js_sys::Math::random()
        }
    }
}
