//! Waits on JavaScript (a promise settling, a timer firing) through two callbacks made once
//! for the whole module, told which wait they end by an argument bound to them.
//!
//! `JsFuture` and a `Closure` per timer made two wasm-bindgen closures for every promise a
//! call awaits and one per timer: each closure is a JavaScript function compiled on its first
//! call, an entry in a `FinalizationRegistry`, and calls across the boundary to drop it. A
//! `getInfo` awaited two promises and a timer. A bound function costs the engine none of
//! that.
//!
//! Where a timer can be let go of without clearing it (Node's `unref`), every timer of the
//! module is one `setTimeout`, set for the earliest of them ([`Alarms`]). Node keeps a list
//! of timers per delay, and a request deadline's timer, alone in its list, made a list and
//! dropped it at every call: about 3% of a `getInfo`. Only a sleep holds Node's event loop
//! open; a deadline bounds work that holds it itself (a request, a stream), so letting it go
//! would only cost a `ref` and an `unref` per request.

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
    /// What `setTimeout` returns: in Node an object that can stop (`unref`) and resume
    /// (`ref`) holding the event loop open, elsewhere a number.
    type TimerHandle;
    #[wasm_bindgen(method, getter, js_name = unref)]
    fn unref_member(this: &TimerHandle) -> JsValue;
    #[wasm_bindgen(method)]
    fn unref(this: &TimerHandle);
    #[wasm_bindgen(method, js_name = ref)]
    fn hold(this: &TimerHandle);
    /// A clock that the wall clock's steps do not move.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn monotonic_now() -> f64;
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
    static ALARMS: RefCell<Alarms> = const {
        RefCell::new(Alarms {
            mode: Mode::Unknown,
            pending: Vec::new(),
            timer: None,
            held: false,
        })
    };
    /// The shared timer's callback (of the others' type: one kind of closure in the glue).
    static ALARM: Callback = callback(|_, _| ring());
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

/// How this runtime's timers are made, found out at the first one.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Unknown,
    /// A `setTimeout` for each timer (browsers, workerd: a Worker's timers belong to the
    /// request that set them, so one could not serve the next request's calls).
    Own,
    /// One `setTimeout` for them all (Node).
    Shared,
}

/// A timer of [`Alarms`].
struct Pending {
    /// When it ends, on [`monotonic_now`]'s clock.
    at: f64,
    /// Its wait's slot.
    id: u32,
    /// Whether it holds Node's event loop open while pending (a sleep, not a deadline).
    holds: bool,
}

/// The timers of [`Mode::Shared`].
struct Alarms {
    mode: Mode,
    pending: Vec<Pending>,
    /// The `setTimeout` while it has not fired, and when it fires: never after the earliest
    /// pending timer ends.
    timer: Option<(TimerHandle, f64)>,
    /// Whether it holds Node's event loop open: exactly while a sleep is pending, as a
    /// `setTimeout` per sleep would.
    held: bool,
}

impl Alarms {
    /// Starts a timer of `ms` for the wait `id`; `None` where the runtime has no timers.
    fn start(&mut self, id: u32, ms: f64, holds: bool) -> Option<Source> {
        if self.mode == Mode::Unknown {
            self.mode = probe();
        }
        if self.mode == Mode::Own {
            return set_timeout(&bound(&RESOLVED, id), ms).ok().map(Source::Own);
        }
        let now = monotonic_now();
        self.pending.push(Pending {
            at: now + ms,
            id,
            holds,
        });
        self.arm(now);
        Some(Source::Shared)
    }

    /// Sets the timer for the earliest pending one, unless it fires before that already.
    fn arm(&mut self, now: f64) {
        let Some(first) = self.pending.iter().map(|p| p.at).reduce(f64::min) else {
            self.hold_while_sleeping();
            return;
        };
        if let Some((handle, at)) = &self.timer {
            if *at <= first {
                self.hold_while_sleeping();
                return;
            }
            clear_timeout(handle);
        }
        let delay = (first - now).max(0.0).ceil();
        self.timer = ALARM
            .with(|f| set_timeout(f, delay))
            .ok()
            .map(|h| (h.unchecked_into(), now + delay));
        // A new `setTimeout` holds the loop.
        self.held = true;
        self.hold_while_sleeping();
    }

    /// Holds Node's event loop open with the timer exactly while a sleep is pending: left
    /// to fire in vain, or bounding work that holds the loop itself, it must not keep Node
    /// running.
    fn hold_while_sleeping(&mut self) {
        let hold = self.pending.iter().any(|p| p.holds);
        if let (Some((handle, _)), true) = (&self.timer, hold != self.held) {
            if hold {
                handle.hold();
            } else {
                handle.unref();
            }
        }
        self.held = hold && self.timer.is_some();
    }

    /// Forgets the timer of `id`, if it has not ended.
    fn cancel(&mut self, id: u32) {
        if let Some(i) = self.pending.iter().position(|p| p.id == id) {
            let was = self.pending.swap_remove(i);
            if was.holds {
                self.hold_while_sleeping();
            }
        }
    }
}

/// Whether timer handles can be let go of ([`Mode::Shared`]); the probe's timer is cleared.
fn probe() -> Mode {
    let has_clock = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .is_ok_and(|p| p.is_object());
    match ALARM.with(|f| set_timeout(f, 1000.0)) {
        Ok(handle) => {
            let can_let_go = handle
                .unchecked_ref::<TimerHandle>()
                .unref_member()
                .is_function();
            clear_timeout(&handle);
            if has_clock && can_let_go {
                Mode::Shared
            } else {
                Mode::Own
            }
        }
        Err(_) => Mode::Own,
    }
}

/// The shared timer fired: ends the timers that are due, one at a time (each may start
/// others as it ends), then sets it for the rest. Early (Node's loop clock counts whole
/// milliseconds) it ends none and is set again.
fn ring() {
    let now = monotonic_now();
    ALARMS.with_borrow_mut(|a| {
        a.timer = None;
        a.held = false;
    });
    while let Some(id) = ALARMS.with_borrow_mut(|a| {
        let i = a.pending.iter().position(|p| p.at <= now)?;
        Some(a.pending.swap_remove(i).id)
    }) {
        settle(id, Ok(JsValue::UNDEFINED));
    }
    // Those woken may have taken a while, and started timers of their own.
    let now = monotonic_now();
    ALARMS.with_borrow_mut(|a| a.arm(now));
}

enum Source {
    Own(JsValue),
    Shared,
    Fired,
}

/// A timer, cleared (or forgotten) when dropped before it fired: a deadline that lost its
/// race must not keep Node's event loop (or a Worker's request) alive until it fires. `None`
/// where the runtime has no timers.
pub struct Timer {
    wait: Wait,
    source: Source,
}

impl Timer {
    /// A timer of `ms`, at most `i32::MAX` (a longer one fires at once). `holds`: whether it
    /// holds Node's event loop open while pending, as a sleep must; a deadline on work that
    /// holds the loop itself need not.
    pub fn start(ms: f64, holds: bool) -> Option<Timer> {
        let wait = Wait::new();
        match ALARMS.with_borrow_mut(|a| a.start(wait.0, ms, holds)) {
            Some(source) => Some(Timer { wait, source }),
            None => {
                SLOTS.with_borrow_mut(|s| s.release(wait.0));
                None
            }
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if matches!(self.source, Source::Fired) {
            return Poll::Ready(());
        }
        let out = self.wait.poll_outcome(cx).map(|_| ());
        if out.is_ready() {
            self.source = Source::Fired;
        }
        out
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Cleared or forgotten, its callback never comes; fired, it came. Either way the
        // slot is free.
        match std::mem::replace(&mut self.source, Source::Fired) {
            Source::Own(handle) => clear_timeout(&handle),
            Source::Shared => ALARMS.with_borrow_mut(|a| a.cancel(self.wait.0)),
            Source::Fired => {}
        }
        SLOTS.with_borrow_mut(|s| s.release(self.wait.0));
    }
}
