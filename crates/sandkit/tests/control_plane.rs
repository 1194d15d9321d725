//! The core against a real sandkitd over real HTTP: every control-plane call, filters,
//! pagination under churn, team isolation, expiry, and bad input.

mod common;

use common::{TEAM_A_KEY, TEAM_B_KEY, conn, start_server, unique_tag};
use futures_util::TryStreamExt;
use sandkit::{
    ConnectOpts, ErrorKind, ListOpts, ListOrder, Sandbox, SandboxOpts, SandboxState, StringMap,
};
use std::collections::HashSet;
use std::time::Duration;

fn meta(pairs: &[(&str, &str)]) -> StringMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn create(url: &str, pairs: &[(&str, &str)]) -> Sandbox {
    Sandbox::create(
        SandboxOpts::new()
            .metadata(meta(pairs))
            .connection(conn(url, TEAM_A_KEY)),
    )
    .await
    .expect("create")
}

fn list_opts(url: &str, tag: &str, limit: Option<u32>) -> ListOpts {
    ListOpts {
        metadata: Some(meta(&[("tag", tag)])),
        limit,
        connection: conn(url, TEAM_A_KEY),
        ..Default::default()
    }
}

async fn collect_ids(opts: ListOpts) -> Vec<String> {
    common::list_all(opts)
        .await
        .into_iter()
        .map(|i| i.sandbox_id)
        .collect()
}

#[tokio::test]
async fn create_get_info_connect_timeout_kill() {
    let server = start_server().await;
    let url = server.url();
    let tag = unique_tag("lifecycle");
    let sbx = Sandbox::create(
        SandboxOpts::new()
            .metadata([("tag", tag.as_str()), ("Owner", "Ada")])
            .envs([("GREETING", "hi")])
            .timeout(Duration::from_secs(120))
            .connection(conn(&url, TEAM_A_KEY)),
    )
    .await
    .unwrap();
    assert!(!sbx.sandbox_id().is_empty());
    // Public traffic is allowed by default: no traffic token (tests/public.rs has one).
    assert!(sbx.traffic_access_token().is_none());
    assert!(sbx.envd_access_token().is_some_and(|t| !t.is_empty()));
    assert!(!sbx.sandbox_domain().is_empty());

    let info = sbx.get_info().await.unwrap();
    assert_eq!(info.sandbox_id, sbx.sandbox_id());
    assert_eq!(info.template_id, "base");
    assert_eq!(info.state, SandboxState::Running);
    assert_eq!(info.metadata, meta(&[("tag", &tag), ("Owner", "Ada")]));
    let life = info.end_at.unix_millis() - info.started_at.unix_millis();
    assert!((119_000..=121_000).contains(&life), "lifetime {life} ms");

    sbx.set_timeout(Duration::from_secs(600)).await.unwrap();
    let later = sbx.get_info().await.unwrap();
    assert!(
        later.end_at.unix_millis() >= info.end_at.unix_millis() + 470_000,
        "end moved to {}",
        later.end_at
    );

    // Connect extends, never shortens: a 60 s connect leaves the 600 s end in place.
    let again = Sandbox::connect(
        sbx.sandbox_id(),
        ConnectOpts {
            timeout: Some(Duration::from_secs(60)),
            connection: conn(&url, TEAM_A_KEY),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.sandbox_id(), sbx.sandbox_id());
    assert!(again.get_info().await.unwrap().end_at >= later.end_at);

    assert!(sbx.kill().await.unwrap());
    assert!(
        !Sandbox::kill_by_id(sbx.sandbox_id(), &conn(&url, TEAM_A_KEY))
            .await
            .unwrap()
    );
    let gone = sbx.get_info().await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::SandboxNotFound, "{gone}");
    assert_eq!(
        gone.message(),
        format!("Sandbox {} not found", sbx.sandbox_id())
    );
    let gone = Sandbox::connect(
        sbx.sandbox_id(),
        ConnectOpts {
            connection: conn(&url, TEAM_A_KEY),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::SandboxNotFound);
    let gone = sbx.set_timeout(Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::SandboxNotFound);
    server.shutdown().await;
}

#[tokio::test]
async fn filters_by_state_and_metadata() {
    let server = start_server().await;
    let url = server.url();
    let tag = unique_tag("filters");
    let upper = create(&url, &[("tag", &tag), ("Team", "A")]).await;
    let lower = create(&url, &[("tag", &tag), ("team", "a")]).await;
    let both = create(&url, &[("tag", &tag), ("Team", "A"), ("env", "dev")]).await;
    let odd = create(&url, &[("tag", &tag), ("a b", "c&d=e%f")]).await;

    let ids = |pairs: &[(&str, &str)], state: Option<Vec<SandboxState>>| {
        let mut m = meta(pairs);
        m.insert("tag".into(), tag.clone());
        let opts = ListOpts {
            metadata: Some(m),
            state,
            connection: conn(&url, TEAM_A_KEY),
            ..Default::default()
        };
        async move { collect_ids(opts).await.into_iter().collect::<HashSet<_>>() }
    };
    let set = |s: &[&Sandbox]| {
        s.iter()
            .map(|s| s.sandbox_id().to_string())
            .collect::<HashSet<_>>()
    };

    assert_eq!(ids(&[("Team", "A")], None).await, set(&[&upper, &both]));
    assert_eq!(ids(&[("team", "a")], None).await, set(&[&lower]));
    assert_eq!(
        ids(&[("Team", "A"), ("env", "dev")], None).await,
        set(&[&both])
    );
    assert_eq!(ids(&[("a b", "c&d=e%f")], None).await, set(&[&odd]));
    assert_eq!(ids(&[("Team", "a")], None).await, set(&[]));
    assert_eq!(
        ids(&[("Team", "A")], Some(vec![SandboxState::Running])).await,
        set(&[&upper, &both])
    );
    assert_eq!(
        ids(&[("Team", "A")], Some(vec![SandboxState::Paused])).await,
        set(&[])
    );
    assert_eq!(
        ids(&[], Some(vec![SandboxState::Running, SandboxState::Paused]))
            .await
            .len(),
        4
    );
    server.shutdown().await;
}

/// The wasm binding's pages (the SDK's JSON, written straight from the page where the fast
/// path can) are the typed pages written as JSON, page for page, tokens included: also for a
/// page that the fast path leaves to the usual reading (a metadata value with escapes).
#[tokio::test]
async fn json_pages_are_the_typed_pages() {
    let server = start_server().await;
    let url = server.url();
    let tag = unique_tag("json-pages");
    for extra in [
        ("a", "1"),
        ("quote", "say \"hi\"\n"),
        ("é", "ü"),
        ("b", "2"),
        ("z", ""),
    ] {
        create(&url, &[("tag", &tag), extra]).await;
    }
    let mut typed = Sandbox::list(list_opts(&url, &tag, Some(2)));
    let mut json = typed.clone();
    let mut pages = 0;
    while typed.has_next() {
        let items = typed.next_items().await.unwrap();
        let (next_json, text) = json.next_items_json().await.unwrap();
        assert_eq!(text, sandkit::info_json::infos_json(&items));
        assert_eq!(typed.next_token(), next_json.next_token());
        assert_eq!(typed.has_next(), next_json.has_next());
        json = next_json;
        pages += 1;
    }
    assert_eq!(pages, 3);
    let Err(err) = json.next_items_json().await else {
        panic!("a page past the last")
    };
    assert_eq!(err.message(), "No more items to fetch");
    server.shutdown().await;
}

#[tokio::test]
async fn pages_through_many_sandboxes_exactly_once_even_under_churn() {
    let server = start_server().await;
    let url = server.url();
    let tag = unique_tag("pages");
    let created: Vec<Sandbox> = futures_util::future::try_join_all((0..260).map(|i| {
        Sandbox::create(
            SandboxOpts::new()
                .metadata([("tag", tag.as_str()), ("i", &i.to_string())])
                .connection(conn(&url, TEAM_A_KEY)),
        )
        .run()
    }))
    .await
    .unwrap();
    let all: HashSet<String> = created.iter().map(|s| s.sandbox_id().to_string()).collect();

    for limit in [100, 7] {
        let ids = collect_ids(list_opts(&url, &tag, Some(limit))).await;
        assert_eq!(ids.len(), all.len(), "limit {limit}: {} ids", ids.len());
        assert_eq!(
            ids.iter().cloned().collect::<HashSet<_>>(),
            all,
            "limit {limit}"
        );
    }

    // The paginator is also a Stream of sandboxes.
    let streamed: Vec<_> = Sandbox::list(list_opts(&url, &tag, Some(33)))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), all.len());

    // Newest first by default, oldest first with asc.
    let desc = collect_ids(list_opts(&url, &tag, Some(50))).await;
    let asc = collect_ids(ListOpts {
        order: Some(ListOrder::Asc),
        ..list_opts(&url, &tag, Some(50))
    })
    .await;
    assert_eq!(desc.iter().rev().cloned().collect::<Vec<_>>(), asc);

    // Kill some and create some while paging: every survivor that existed at the start is seen once.
    let mut pages = Sandbox::list(list_opts(&url, &tag, Some(10)));
    let mut seen = Vec::new();
    let mut killed = HashSet::new();
    let mut round = 0;
    while pages.has_next() {
        seen.extend(
            pages
                .next_items()
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.sandbox_id),
        );
        round += 1;
        if round % 3 == 0 {
            let victim = created[round * 7 % created.len()].sandbox_id().to_string();
            if !seen.contains(&victim)
                && Sandbox::kill_by_id(&victim, &conn(&url, TEAM_A_KEY))
                    .await
                    .unwrap()
            {
                killed.insert(victim);
            }
            create(&url, &[("tag", &tag), ("late", "yes")]).await;
        }
    }
    let seen_set: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen_set.len(), seen.len(), "a sandbox was listed twice");
    for id in all.difference(&killed) {
        assert!(seen_set.contains(id), "{id} was skipped");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn teams_and_keys_are_enforced() {
    let server = start_server().await;
    let url = server.url();
    let tag = unique_tag("teams");
    let mine = create(&url, &[("tag", &tag)]).await;

    let other = conn(&url, TEAM_B_KEY);
    let err = Sandbox::get_info_by_id(mine.sandbox_id(), &other)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SandboxNotFound);
    assert!(
        !Sandbox::kill_by_id(mine.sandbox_id(), &other)
            .await
            .unwrap()
    );
    let theirs = collect_ids(ListOpts {
        metadata: Some(meta(&[("tag", &tag)])),
        connection: other,
        ..Default::default()
    })
    .await;
    assert!(theirs.is_empty());

    let err = Sandbox::get_info_by_id(mine.sandbox_id(), &conn(&url, "sk_wrong"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.status_code()),
        (ErrorKind::Authentication, Some(401))
    );
    assert!(
        !err.message().contains("sk_wrong"),
        "the key leaked into {err}"
    );
    let no_key = sandkit::ConnectionOpts {
        api_url: Some(url.clone()),
        ..Default::default()
    };
    // Only a missing E2B_API_KEY in this process makes this check meaningful.
    if std::env::var("E2B_API_KEY").is_err() {
        let err = Sandbox::get_info_by_id(mine.sandbox_id(), &no_key)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication);
    }
    assert!(mine.kill().await.unwrap());
    server.shutdown().await;
}

#[tokio::test]
async fn an_expired_sandbox_is_gone() {
    let server = start_server().await;
    let url = server.url();
    let tag = unique_tag("expiry");
    let sbx = Sandbox::create(
        SandboxOpts::new()
            .metadata([("tag", tag.as_str())])
            .timeout(Duration::from_secs(1))
            .connection(conn(&url, TEAM_A_KEY)),
    )
    .await
    .unwrap();
    assert!(sbx.get_info().await.is_ok());
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if matches!(sbx.get_info().await, Err(e) if e.kind() == ErrorKind::SandboxNotFound) {
            gone = true;
            break;
        }
    }
    assert!(gone, "the sandbox outlived its timeout by seconds");
    assert!(collect_ids(list_opts(&url, &tag, None)).await.is_empty());
    assert!(!sbx.kill().await.unwrap());
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_typed_errors() {
    let server = start_server().await;
    let url = server.url();
    let a = conn(&url, TEAM_A_KEY);
    for limit in [0, 101] {
        let err = Sandbox::list(ListOpts {
            limit: Some(limit),
            connection: a.clone(),
            ..Default::default()
        })
        .next_items()
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "limit {limit}");
    }
    let err = Sandbox::list(ListOpts {
        next_token: Some("forged!".into()),
        connection: a.clone(),
        ..Default::default()
    })
    .next_items()
    .await
    .unwrap_err();
    assert_eq!(
        (err.kind(), err.status_code()),
        (ErrorKind::Sandbox, Some(400)),
        "{err}"
    );
    let err = Sandbox::get_info_by_id("", &a).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = Sandbox::get_info_by_id("../../v2/sandboxes", &a)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SandboxNotFound);
    let err = Sandbox::create(SandboxOpts::new().template("  ").connection(a.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = Sandbox::create(
        SandboxOpts::new()
            .timeout(Duration::from_secs(10_000_000))
            .connection(a.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.kind(), err.status_code()),
        (ErrorKind::Sandbox, Some(400)),
        "{err}"
    );
    let err = Sandbox::get_info_by_id(
        "x",
        &sandkit::ConnectionOpts {
            api_url: Some("ftp://nope".into()),
            ..a.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // A paginator past its end says so.
    let mut empty = Sandbox::list(list_opts(&url, &unique_tag("none"), None));
    assert!(empty.next_items().await.unwrap().is_empty());
    assert!(!empty.has_next());
    assert_eq!(
        empty.next_items().await.unwrap_err().message(),
        "No more items to fetch"
    );
    // After all that, the server still works.
    let sbx = create(&url, &[("tag", "after-bad-input")]).await;
    assert!(sbx.kill().await.unwrap());
    server.shutdown().await;
}
