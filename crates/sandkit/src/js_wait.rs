//! Waits on JavaScript (a promise settling, a timer firing) through two callbacks made once
//! for the whole module, told which wait they end by an argument bound to them.
//!
//! `JsFuture` and a `Closure` per timer made two wasm-bindgen closures for every promise a
//! call awaits and one per timer: each closure is a JavaScript function compiled on its first
//! call, an entry in a `FinalizationRegistry`, and calls across the boundary to drop it. A
//! `getInfo` awaited two promises and a timer. A bound function costs the engine none of
//! that.

use js_sys::Promise;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::{Closure, wasm_bindgen};
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Function)]
    type Callback;
    /// The callback with `id` as its first argument.
    #[wasm_bindgen(method)]
    fn bind(this: &Callback, this_arg: &JsValue, id: u32) -> Callback;
    #[wasm_bindgen(js_name = Promise)]
    type Thenable;
    #[wasm_bindgen(method)]
    fn then(this: &Thenable, on_resolved: &Callback, on_rejected: &Callback);
    // `catch`: a runtime without timers gets an error, not a trap.
    #[wasm_bindgen(catch, js_name = setTimeout)]
    fn set_timeout(handler: &Callback, ms: f64) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(timer: &JsValue);
}

enum Slot {
    Free,
    /// Not settled yet; the waker of the task waiting, once it has polled.
    Waiting(Option<Waker>),
    /// Settled, its outcome not taken yet.
    Settled(Result<JsValue, JsValue>),
    /// Its waiter went away: the slot is free once the callback has come (it still will).
    Abandoned,
}

struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Slots {
    fn take_slot(&mut self) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Slot::Waiting(None);
                id
            }
            None => {
                self.slots.push(Slot::Waiting(None));
                self.slots.len() as u32 - 1
            }
        }
    }

    fn release(&mut self, id: u32) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = Slot::Free;
            self.free.push(id);
        }
    }

    /// The waker to wake, if a task waits on `id`.
    fn settle(&mut self, id: u32, outcome: Result<JsValue, JsValue>) -> Option<Waker> {
        let slot = self.slots.get_mut(id as usize)?;
        match std::mem::replace(slot, Slot::Settled(outcome)) {
            Slot::Waiting(waker) => waker,
            Slot::Abandoned => {
                self.release(id);
                None
            }
            // A callback for a slot not waiting: cannot happen (a slot is released only after
            // its callback came, or after its timer was cleared); put the slot back as it was.
            other => {
                *slot = other;
                None
            }
        }
    }
}

/// The callback of a wait that ended with `outcome`.
fn settle(id: u32, outcome: Result<JsValue, JsValue>) {
    // Woken after the borrow ends: the task may run at once, and take it again.
    if let Some(waker) = SLOTS.with_borrow_mut(|s| s.settle(id, outcome)) {
        crate::js_task::wake_from_callback(waker);
    }
}

fn callback(f: impl FnMut(u32, JsValue) + 'static) -> Callback {
    Closure::<dyn FnMut(u32, JsValue)>::new(f)
        .into_js_value()
        .unchecked_into()
}

thread_local! {
    static SLOTS: RefCell<Slots> = const {
        RefCell::new(Slots {
            slots: Vec::new(),
            free: Vec::new(),
        })
    };
    /// `resolved(id, value)` and `rejected(id, reason)`, made once for the module's life.
    static RESOLVED: Callback = callback(|id, value| settle(id, Ok(value)));
    static REJECTED: Callback = callback(|id, reason| settle(id, Err(reason)));
}

fn bound(f: &'static std::thread::LocalKey<Callback>, id: u32) -> Callback {
    f.with(|f| f.bind(&JsValue::NULL, id))
}

/// One wait's slot; polling it takes the outcome once settled.
struct Wait(u32);

impl Wait {
    fn new() -> Self {
        Wait(SLOTS.with_borrow_mut(Slots::take_slot))
    }

    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<JsValue, JsValue>> {
        SLOTS.with_borrow_mut(|s| {
            let slot = &mut s.slots[self.0 as usize];
            match std::mem::replace(slot, Slot::Free) {
                Slot::Settled(outcome) => {
                    *slot = Slot::Waiting(None);
                    Poll::Ready(outcome)
                }
                _ => {
                    *slot = Slot::Waiting(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
    }
}

/// A promise's outcome: its value, or what it rejected with.
pub struct Settled {
    wait: Wait,
    done: bool,
}

/// Awaits `promise`.
pub fn settled(promise: &Promise) -> Settled {
    let wait = Wait::new();
    let promise: &Thenable = promise.unchecked_ref();
    promise.then(&bound(&RESOLVED, wait.0), &bound(&REJECTED, wait.0));
    Settled { wait, done: false }
}

impl Future for Settled {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = self.wait.poll_outcome(cx);
        self.done = out.is_ready();
        out
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        let id = self.wait.0;
        let done = self.done;
        SLOTS.with_borrow_mut(|s| {
            // Settled (taken or not): nothing will call back any more. Else the callback
            // still comes, and frees the slot then.
            let settled = matches!(s.slots[id as usize], Slot::Settled(_));
            if done || settled {
                s.release(id);
            } else {
                s.slots[id as usize] = Slot::Abandoned;
            }
        });
    }
}

/// A `setTimeout`, cleared when dropped before it fired: a deadline that lost its race must
/// not keep Node's event loop (or a Worker's request) alive until it fires. `None` where the
/// runtime has no timers.
pub struct Timer {
    wait: Wait,
    handle: Option<JsValue>,
}

impl Timer {
    pub fn start(ms: f64) -> Option<Timer> {
        let wait = Wait::new();
        let handle = set_timeout(&bound(&RESOLVED, wait.0), ms).ok();
        if handle.is_none() {
            SLOTS.with_borrow_mut(|s| s.release(wait.0));
            return None;
        }
        Some(Timer { wait, handle })
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.handle.is_none() {
            return Poll::Ready(());
        }
        let out = self.wait.poll_outcome(cx).map(|_| ());
        if out.is_ready() {
            self.handle = None;
        }
        out
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Cleared, its callback never comes; fired, it came. Either way the slot is free.
        if let Some(handle) = self.handle.take() {
            clear_timeout(&handle);
        }
        SLOTS.with_borrow_mut(|s| s.release(self.wait.0));
    }
}
