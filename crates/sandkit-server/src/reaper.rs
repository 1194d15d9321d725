//! Ends sandboxes whose time is up, so that they are freed even if nobody asks about them.

use crate::live::Live;
use crate::store::{Store, now_ns};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Sweeps `store` every `interval` until `stop` turns true or its sender is gone.
pub async fn run(
    store: Arc<Store>,
    live: Arc<Live>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // tokio's interval refuses zero.
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                for record in store.reap(now_ns()) {
                    live.end(&record.id).await;
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}
