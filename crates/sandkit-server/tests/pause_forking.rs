//! Pausing a sandbox whose processes fork without pause: a binary of its own, because the
//! sandbox keeps both CPUs busy, and tests running beside it in one binary would starve.

mod common;

use common::envd::{Envd, start_isolated};
use serde_json::json;

#[tokio::test]
async fn a_sandbox_that_forks_without_pause_freezes_every_time() {
    // Processes forked while the freezer works can leave a v1 cgroup in FREEZING; the pause
    // must still settle, each of many times.
    let Some(server) = start_isolated("sandboxes without isolation have no cgroup to freeze").await
    else {
        return;
    };
    let envd = Envd::create(&server).await;
    let api = envd.api.clone();
    let id = envd.id.clone();
    envd.ok(
        "for j in 1 2 3 4; do (setsid sh -c 'while :; do /bin/true; done' >/dev/null 2>&1 &); done",
    )
    .await;
    for round in 0..200 {
        let paused = api.post(&format!("/sandboxes/{id}/pause"), json!({})).await;
        assert_eq!(paused.status, 204, "pause {round}: {}", paused.text);
        let resumed = api
            .post(
                &format!("/v2/sandboxes/{id}/connect"),
                json!({"timeout": 60}),
            )
            .await;
        assert_eq!(resumed.status, 201, "resume {round}: {}", resumed.text);
    }
    assert_eq!(api.delete(&format!("/sandboxes/{id}")).await.status, 204);
}
