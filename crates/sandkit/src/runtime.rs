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
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};

    /// `Date.now`, the global `setTimeout` and `Math.random`.
    #[derive(Default, Clone, Copy)]
    pub struct JsRuntime;

    impl Runtime for JsRuntime {
        fn now_ms(&self) -> f64 {
            js_sys::Date::now()
        }

        fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
            let promise = Promise::new(&mut |resolve, _reject| {
                let set_timeout = Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok());
                match set_timeout {
                    Some(f) => {
                        let _ =
                            f.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from_f64(ms as f64));
                    }
                    // No timer at all: resolve at once rather than hang forever.
                    None => {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                }
            });
            Box::pin(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            })
        }

        fn random(&self) -> f64 {
            js_sys::Math::random()
        }
    }
}
