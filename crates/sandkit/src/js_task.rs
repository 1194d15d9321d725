//! Runs the SDK's futures as JavaScript promises, the way an `async` function runs: at once
//! until its first wait, then again as soon as what it waits for is done.
//!
//! wasm-bindgen-futures queues a microtask for every first poll and every wake-up, and polls
//! from there: a hop through the microtask queue and two calls across the boundary each time,
//! three times a `getInfo`. Here a wake-up that comes from a promise or timer callback
//! ([`crate::js_wait`]) polls its task in that same callback. Any other wake-up (one task
//! waking another while it runs) still goes through a microtask, so that no task runs inside
//! another's poll and finds the state it borrows already borrowed.

use js_sys::{Function, Promise};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use wasm_bindgen::prelude::{Closure, wasm_bindgen};
use wasm_bindgen::{JsCast, JsValue};

/// A future whose outcome settles a promise.
pub type Job = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &Function);
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    /// Waiting for a wake-up.
    Idle,
    /// In the queue for the next microtask.
    Queued,
    Polling,
    /// Woken while polling: polled once more at once.
    Repoll,
    Done,
}

struct Task {
    job: RefCell<Option<Job>>,
    resolve: Function,
    reject: Function,
    state: Cell<State>,
}

thread_local! {
    /// Set while a promise or timer callback wakes its task: that task may be polled there.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
    static QUEUE: RefCell<VecDeque<Rc<Task>>> = const { RefCell::new(VecDeque::new()) };
    /// Runs the queue; made once.
    static RUN_QUEUE: Function = Closure::<dyn FnMut()>::new(run_queue)
        .into_js_value()
        .unchecked_into();
}

/// Runs `wake` (a waker's wake-up) as a callback from JavaScript, where the woken task may be
/// polled at once: nothing of the module's is on the stack.
pub(crate) fn wake_from_callback(waker: Waker) {
    IN_CALLBACK.set(true);
    waker.wake();
    IN_CALLBACK.set(false);
}

/// Starts `job` at once and gives the promise of its outcome.
pub fn spawn_promise(job: Job) -> Promise {
    let mut job = Some(job);
    let mut task = None;
    let promise = Promise::new(&mut |resolve, reject| {
        task = Some(Rc::new(Task {
            job: RefCell::new(job.take()),
            resolve,
            reject,
            state: Cell::new(State::Idle),
        }));
    });
    if let Some(task) = task {
        run(&task);
    }
    promise
}

fn run_queue() {
    while let Some(task) = QUEUE.with_borrow_mut(VecDeque::pop_front) {
        run(&task);
    }
}

/// Polls `task` until it waits for something that is not done yet, or ends.
fn run(task: &Rc<Task>) {
    // Wake-ups while it runs are another task's doing, not a callback's.
    let in_callback = IN_CALLBACK.replace(false);
    loop {
        task.state.set(State::Polling);
        let waker = waker(task);
        let mut cx = Context::from_waker(&waker);
        let poll = match task.job.borrow_mut().as_mut() {
            Some(job) => job.as_mut().poll(&mut cx),
            None => break,
        };
        match poll {
            Poll::Ready(outcome) => {
                task.state.set(State::Done);
                // The job goes before the promise settles: what it holds is freed first.
                drop(task.job.borrow_mut().take());
                let (f, v) = match outcome {
                    Ok(v) => (&task.resolve, v),
                    Err(e) => (&task.reject, e),
                };
                let _ = f.call1(&JsValue::UNDEFINED, &v);
                break;
            }
            Poll::Pending if task.state.get() == State::Repoll => continue,
            Poll::Pending => {
                task.state.set(State::Idle);
                break;
            }
        }
    }
    IN_CALLBACK.set(in_callback);
}

fn wake(task: Rc<Task>) {
    match task.state.get() {
        State::Idle if IN_CALLBACK.get() => run(&task),
        State::Idle => {
            task.state.set(State::Queued);
            let first = QUEUE.with_borrow_mut(|q| {
                q.push_back(task);
                q.len() == 1
            });
            if first {
                RUN_QUEUE.with(queue_microtask);
            }
        }
        State::Polling => task.state.set(State::Repoll),
        State::Queued | State::Repoll | State::Done => {}
    }
}

// A `Waker` over an `Rc<Task>`: the module runs on one thread, and `Waker`'s `Arc` form asks
// for `Send + Sync`, which the task's JavaScript functions are not.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

fn waker(task: &Rc<Task>) -> Waker {
    let ptr = Rc::into_raw(Rc::clone(task)).cast::<()>();
    // SAFETY: the vtable's functions treat the pointer as the `Rc<Task>` it came from.
    unsafe { Waker::from_raw(RawWaker::new(ptr, &VTABLE)) }
}

unsafe fn clone_raw(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` is an `Rc<Task>` of `waker`'s; one more owner.
    unsafe { Rc::increment_strong_count(ptr.cast::<Task>()) };
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wake_raw(ptr: *const ()) {
    // SAFETY: takes over the waker's own reference.
    wake(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
}

unsafe fn wake_by_ref_raw(ptr: *const ()) {
    // SAFETY: a reference of its own for the wake-up; the waker's stays.
    unsafe { Rc::increment_strong_count(ptr.cast::<Task>()) };
    wake(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
}

unsafe fn drop_raw(ptr: *const ()) {
    // SAFETY: gives back the waker's reference.
    drop(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
}
