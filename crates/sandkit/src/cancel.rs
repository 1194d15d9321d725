//! Stopping a stream's reading from another task or thread: a `runCode` answer (its
//! `AbortSignal`) or a command's output (`disconnect()`), while a read of it may be pending.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

/// Stops the reading of a [`crate::interpreter::CodeRun`] or a
/// [`crate::commands::CommandHandle`] from elsewhere: the read under way, or the next, ends.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    state: Arc<CancelState>,
}

#[derive(Debug, Default)]
struct CancelState {
    cancelled: AtomicBool,
    waker: futures_util::task::AtomicWaker,
}

impl CancelHandle {
    /// Ends the reading: the read under way (or the next) stops.
    pub fn cancel(&self) {
        self.state.cancelled.store(true, Ordering::Release);
        self.state.waker.wake();
    }

    pub fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::Acquire)
    }

    /// Resolves once [`CancelHandle::cancel`] was called.
    pub(crate) fn cancelled(&self) -> impl Future<Output = ()> + Unpin + '_ {
        futures_util::future::poll_fn(move |cx| {
            self.state.waker.register(cx.waker());
            if self.is_cancelled() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}
