//! Ends sandboxes whose time is up, so that they are freed even if nobody asks about them, and
//! freezes those that asked to be paused instead (`autoPause`).

use crate::live::Live;
use crate::store::{Store, now_ns};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// How often the reaper sweeps, and how long a paused sandbox is kept.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub interval: Duration,
    pub max_paused_age: Duration,
}

/// Sweeps `store` every `interval` until `stop` turns true or its sender is gone.
pub async fn run(
    store: Arc<Store>,
    live: Arc<Live>,
    timing: Timing,
    mut stop: watch::Receiver<bool>,
) {
    // tokio's interval refuses zero.
    let mut ticks = tokio::time::interval(timing.interval.max(Duration::from_millis(1)));
    let max_paused_ms = i64::try_from(timing.max_paused_age.as_millis()).unwrap_or(i64::MAX);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                for record in store.reap(now_ns()) {
                    live.end(&record.id).await;
                }
                let cutoff = now_ns().div_euclid(1_000_000).saturating_sub(max_paused_ms);
                for record in store.forget_paused_before(cutoff) {
                    live.end(&record.id).await;
                }
                for id in store.auto_paused() {
                    let keep_memory = store
                        .get_any(&id)
                        .is_none_or(|r| r.spec.auto_pause_memory != Some(false));
                    // A sandbox that cannot be frozen would go on running while reported
                    // paused: it ends instead (the create was accepted only where pausing is
                    // possible, so this is a failure of the freezer itself).
                    if let Err(why) = live.pause(&store, &id, keep_memory, true).await {
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
