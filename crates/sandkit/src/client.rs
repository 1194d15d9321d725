//! A `Client` bundles what the SDK needs from its platform: a transport, a clock, an
//! environment, and a description of the runtime. Cheap to clone.

use crate::config::Env;
use crate::runtime::Runtime;
use crate::transport::Transport;
use std::sync::Arc;

/// What the SDK knows about the runtime it runs in.
#[derive(Debug, Clone)]
pub struct Platform {
    /// In a browser an API key is refused unless the caller insists.
    pub is_browser: bool,
    /// The `User-Agent` sent with every request.
    pub user_agent: String,
}

impl Platform {
    /// A platform description with the SDK's user agent and a runtime label (`rust`, `node`, …).
    pub fn new(runtime_label: &str, is_browser: bool) -> Self {
        Platform {
            is_browser,
            user_agent: format!("sandkit/{} ({runtime_label})", env!("CARGO_PKG_VERSION")),
        }
    }
}

struct Inner {
    transport: Box<dyn Transport>,
    runtime: Box<dyn Runtime>,
    env: Box<dyn Env>,
    platform: Platform,
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    // On wasm the transport is not Send; wasm has one thread, so the Arc is only a refcount.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn new(
        transport: impl Transport + 'static,
        runtime: impl Runtime + 'static,
        env: impl Env + 'static,
        platform: Platform,
    ) -> Self {
        Client {
            inner: Arc::new(Inner {
                transport: Box::new(transport),
                runtime: Box::new(runtime),
                env: Box::new(env),
                platform,
            }),
        }
    }

    pub fn transport(&self) -> &dyn Transport {
        &*self.inner.transport
    }

    pub fn runtime(&self) -> &dyn Runtime {
        &*self.inner.runtime
    }

    pub fn env(&self) -> &dyn Env {
        &*self.inner.env
    }

    pub fn platform(&self) -> &Platform {
        &self.inner.platform
    }

    /// The client used when options name none; set it once with [`Client::set_shared`].
    pub fn shared() -> Client {
        shared::get()
    }

    /// Makes `client` the default for every later call (bindings do this at load time).
    /// Returns false if a default was already in use.
    pub fn set_shared(client: Client) -> bool {
        shared::set(client)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod shared {
    use super::*;
    use crate::config::ProcessEnv;
    use crate::runtime::TokioRuntime;
    use crate::transport::NativeTransport;
    use std::sync::OnceLock;

    static SHARED: OnceLock<Client> = OnceLock::new();

    pub fn get() -> Client {
        SHARED.get_or_init(default_client).clone()
    }

    pub fn set(client: Client) -> bool {
        SHARED.set(client).is_ok()
    }

    fn default_client() -> Client {
        Client::new(
            NativeTransport::new(),
            TokioRuntime::default(),
            ProcessEnv,
            Platform::new("rust", false),
        )
    }
}

#[cfg(target_arch = "wasm32")]
mod shared {
    use super::*;
    use crate::config::NoEnv;
    use crate::runtime::JsRuntime;
    use crate::transport::FetchTransport;
    use std::cell::RefCell;

    // wasm is single-threaded: a thread-local is the whole process.
    thread_local! {
        static SHARED: RefCell<Option<Client>> = const { RefCell::new(None) };
    }

    pub fn get() -> Client {
        SHARED.with(|s| {
            s.borrow_mut()
                .get_or_insert_with(|| {
                    Client::new(
                        FetchTransport::default(),
                        JsRuntime,
                        NoEnv,
                        Platform::new("wasm", false),
                    )
                })
                .clone()
        })
    }

    pub fn set(client: Client) -> bool {
        SHARED.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_some() {
                return false;
            }
            *s = Some(client);
            true
        })
    }
}
