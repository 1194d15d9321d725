//! Ends sandboxes whose time is up, so that they are freed even if nobody asks about them, and
//! freezes those that asked to be paused instead (`autoPause`).

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
                for id in store.take_auto_paused() {
                    // A sandbox that cannot be frozen would go on running while reported
                    // paused: it ends instead (the create was accepted only where pausing is
                    // possible, so this is a failure of the freezer itself).
                    if let Err(why) = live.freeze_if_paused(&store, &id).await {
                        live.log_error(&id, "pause the sandbox at its timeout", &why);
                        store.end(&id);
                        live.end(&id).await;
                    }
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
