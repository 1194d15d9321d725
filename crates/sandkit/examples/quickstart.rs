//! Creates sandboxes with metadata, lists them with a filter page by page and as a stream,
//! extends one, and kills them. Point it at a server with E2B_API_URL and E2B_API_KEY, e.g.
//! `node scripts/with-sandkitd.mjs cargo run -p sandkit --example quickstart`.

use futures_util::TryStreamExt;
use sandkit::{ListOpts, Sandbox, SandboxOpts, SandboxState};
use std::time::Duration;

#[tokio::main]
async fn main() -> sandkit::Result<()> {
    let run = format!("rust-example-{}", std::process::id());
    let mut sandboxes = Vec::new();
    for user in ["ada", "grace", "ada"] {
        let sbx = Sandbox::create(
            SandboxOpts::new()
                .metadata([("run", run.as_str()), ("user", user)])
                .timeout(Duration::from_secs(120)),
        )
        .await?;
        println!("created {} for {user}", sbx.sandbox_id());
        sandboxes.push(sbx);
    }

    let filter = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut ada = Sandbox::list(ListOpts {
        state: Some(vec![SandboxState::Running]),
        metadata: Some(filter(&[("run", &run), ("user", "ada")])),
        limit: Some(1),
        ..Default::default()
    });
    while ada.has_next() {
        for info in ada.next_items().await? {
            println!("ada's sandbox {} ends at {}", info.sandbox_id, info.end_at);
        }
    }

    let all: Vec<_> = Sandbox::list(ListOpts {
        metadata: Some(filter(&[("run", &run)])),
        ..Default::default()
    })
    .try_collect()
    .await?;
    println!("{} sandboxes in this run", all.len());

    sandboxes[0].set_timeout(Duration::from_secs(600)).await?;
    println!(
        "{} now ends at {}",
        sandboxes[0].sandbox_id(),
        sandboxes[0].get_info().await?.end_at
    );

    for sbx in &sandboxes {
        println!("kill {} -> {}", sbx.sandbox_id(), sbx.kill().await?);
    }
    match sandboxes[0].get_info().await {
        Err(e) => println!("after kill: {} ({})", e, e.code()),
        Ok(_) => println!("unexpected: still there"),
    }
    Ok(())
}
