//! `GET /v2/sandboxes` and `GET /sandboxes` over real HTTP: filters, order, pagination (also
//! while sandboxes come and go), and bad parameters.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Api, KEY_A, KEY_B, metadata_query, millis, start_server};
use serde_json::json;
use std::collections::HashSet;

fn set(ids: &[&String]) -> HashSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn as_set(ids: Vec<String>) -> HashSet<String> {
    let n = ids.len();
    let set: HashSet<String> = ids.into_iter().collect();
    assert_eq!(set.len(), n, "a sandbox was listed twice");
    set
}

#[tokio::test]
async fn filters_by_state_and_metadata() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let odd = api.create_with_metadata(&[("a b", "c&d")]).await;
    let upper = api.create_with_metadata(&[("Team", "A")]).await;
    let lower = api.create_with_metadata(&[("team", "a")]).await;
    let both = api
        .create_with_metadata(&[("Team", "A"), ("env", "dev")])
        .await;
    let other = api
        .create(json!({"templateID": "code-interpreter-v1", "metadata": {"Team": "A"}}))
        .await;

    let list = |q: String| {
        let api = api.clone();
        async move { as_set(api.list_all(&q).await) }
    };
    // The exact query the official SDK sends for {"a b": "c&d"}.
    assert_eq!(
        list("metadata=a%252520b%3Dc%252526d".into()).await,
        set(&[&odd])
    );
    assert_eq!(list(metadata_query(&[("a b", "c&d")])).await, set(&[&odd]));
    assert_eq!(
        list(metadata_query(&[("Team", "A")])).await,
        set(&[&upper, &both, &other])
    );
    assert_eq!(list(metadata_query(&[("team", "a")])).await, set(&[&lower]));
    assert_eq!(list(metadata_query(&[("Team", "a")])).await, set(&[]));
    assert_eq!(list(metadata_query(&[("TEAM", "A")])).await, set(&[]));
    // Several pairs are an AND, in one parameter or in several.
    assert_eq!(
        list(metadata_query(&[("Team", "A"), ("env", "dev")])).await,
        set(&[&both])
    );
    assert_eq!(
        list(format!(
            "{}&{}",
            metadata_query(&[("Team", "A")]),
            metadata_query(&[("env", "dev")])
        ))
        .await,
        set(&[&both])
    );
    // State, alone and with metadata.
    let everyone = set(&[&odd, &upper, &lower, &both, &other]);
    assert_eq!(list("state=running".into()).await, everyone);
    assert_eq!(list("state=running,paused".into()).await, everyone);
    assert_eq!(list("state=running%2Cpaused".into()).await, everyone);
    assert_eq!(list("".into()).await, everyone);
    assert_eq!(list("state=paused".into()).await, set(&[]));
    assert_eq!(
        list(format!(
            "state=running&{}",
            metadata_query(&[("Team", "A")])
        ))
        .await,
        set(&[&upper, &both, &other])
    );
    assert_eq!(
        list(format!("state=paused&{}", metadata_query(&[("Team", "A")]))).await,
        set(&[])
    );
    // Template.
    assert_eq!(
        list("template=code-interpreter-v1".into()).await,
        set(&[&other])
    );

    // X-Total-Running counts across pages, and only when running was asked for.
    let reply = api.get("/v2/sandboxes?state=running&limit=1").await;
    assert_eq!(reply.header("x-total-running"), Some("5"));
    let reply = api.get("/v2/sandboxes?limit=2").await;
    assert_eq!(reply.header("x-total-running"), Some("5"));
    let reply = api.get("/v2/sandboxes?state=paused").await;
    assert_eq!(reply.header("x-total-running"), None);
    assert_eq!(reply.header("x-next-token"), None);

    // The entries carry the listed fields.
    let body = api
        .get(&format!(
            "/v2/sandboxes?{}",
            metadata_query(&[("env", "dev")])
        ))
        .await
        .expect_json(200);
    let entry = &body[0];
    assert_eq!(entry["sandboxID"], json!(both));
    assert_eq!(entry["metadata"], json!({"Team": "A", "env": "dev"}));
    for field in [
        "templateID",
        "clientID",
        "startedAt",
        "endAt",
        "cpuCount",
        "memoryMB",
        "diskSizeMB",
        "state",
        "envdVersion",
    ] {
        assert!(!entry[field].is_null(), "{field} missing from {entry}");
    }
    assert!(
        entry.get("envdAccessToken").is_none(),
        "listing leaks tokens"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn started_after_is_inclusive() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let first = api.create_with_metadata(&[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = api.create_with_metadata(&[]).await;
    let started = api
        .get(&format!("/sandboxes/{second}"))
        .await
        .expect_json(200)["startedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let q = format!("startedAfter={}", started.replace(':', "%3A"));
    assert_eq!(as_set(api.list_all(&q).await), set(&[&second]));
    assert_eq!(
        as_set(api.list_all("startedAfter=2000-01-01T00:00:00Z").await),
        set(&[&first, &second])
    );
    api.get("/v2/sandboxes?startedAfter=yesterday")
        .await
        .expect_error(400);
    server.shutdown().await;
}

#[tokio::test]
async fn orders_by_start_time_newest_first_by_default() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let mut created = Vec::new();
    for _ in 0..12 {
        created.push(api.create_with_metadata(&[]).await);
    }
    let desc = api.list_all("limit=5").await;
    let explicit = api.list_all("order=desc&limit=5").await;
    let asc = api.list_all("order=asc&limit=5").await;
    assert_eq!(asc, created);
    assert_eq!(desc, explicit);
    assert_eq!(desc.iter().rev().cloned().collect::<Vec<_>>(), created);
    let body = api.get("/v2/sandboxes?order=asc").await.expect_json(200);
    let starts: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| millis(&s["startedAt"]))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    server.shutdown().await;
}

#[tokio::test]
async fn pages_through_250_sandboxes_exactly_once() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let mut all = HashSet::new();
    for i in 0..250 {
        all.insert(api.create_with_metadata(&[("i", &i.to_string())]).await);
    }
    for (limit, pages) in [(100, 3), (7, 36), (50, 5), (1, 250)] {
        for order in ["asc", "desc"] {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            let mut count = 0;
            loop {
                let q = match &token {
                    Some(t) => format!("limit={limit}&order={order}&nextToken={t}"),
                    None => format!("limit={limit}&order={order}"),
                };
                let (ids, next) = api.page(&q).await;
                count += 1;
                assert!(ids.len() <= limit);
                if next.is_some() {
                    assert_eq!(ids.len(), limit, "only the last page may be short");
                }
                seen.extend(ids);
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            assert_eq!(count, pages, "limit {limit} {order}");
            assert_eq!(as_set(seen), all, "limit {limit} {order}");
        }
    }
    // Without a limit, pages hold 100.
    let (first, next) = api.page("").await;
    assert_eq!(first.len(), 100);
    assert!(next.is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn pages_are_stable_while_sandboxes_come_and_go() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    for (order, limit) in [("desc", 7), ("asc", 7), ("desc", 100), ("asc", 100)] {
        let tag = format!("churn-{order}-{limit}");
        let mut original = Vec::new();
        for _ in 0..250 {
            original.push(api.create_with_metadata(&[("tag", &tag)]).await);
        }
        let query = format!(
            "{}&order={order}&limit={limit}",
            metadata_query(&[("tag", &tag)])
        );
        let (mut seen, mut killed, mut added) = (Vec::new(), HashSet::new(), HashSet::new());
        let mut killed_unseen = HashSet::new();
        let mut token: Option<String> = None;
        let mut round = 0;
        loop {
            let q = match &token {
                Some(t) => format!("{query}&nextToken={t}"),
                None => query.clone(),
            };
            let (ids, next) = api.page(&q).await;
            seen.extend(ids);
            round += 1;
            // Between pages: kill one not seen yet, kill one already seen, create one.
            let unseen = original
                .iter()
                .cycle()
                .skip(round * 37 % original.len())
                .take(original.len())
                .find(|id| !seen.contains(*id) && !killed.contains(*id))
                .cloned();
            let old = seen.iter().find(|id| !killed.contains(*id)).cloned();
            killed_unseen.extend(unseen.clone());
            for victim in unseen.into_iter().chain(old) {
                let reply = api.delete(&format!("/sandboxes/{victim}")).await;
                assert_eq!(reply.status, 204, "{}", reply.text);
                killed.insert(victim);
            }
            added.insert(api.create_with_metadata(&[("tag", &tag)]).await);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert!(round > 2, "{order}/{limit}: too few pages to mean anything");
        let seen_set = as_set(seen.clone());
        for id in &original {
            if !killed.contains(id) {
                assert!(seen_set.contains(id), "{order}/{limit}: {id} was skipped");
            }
        }
        for id in &seen {
            assert!(
                original.contains(id) || added.contains(id),
                "{order}/{limit}: {id}?"
            );
        }
        // Newest first never reaches sandboxes created after the listing began.
        if order == "desc" {
            assert!(seen.iter().all(|id| !added.contains(id)), "{order}/{limit}");
        }
        // Sandboxes killed before their page came never show up.
        assert!(!killed_unseen.is_empty());
        assert!(killed_unseen.iter().all(|id| !seen_set.contains(id)));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_get_json_400s() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    for _ in 0..3 {
        api.create_with_metadata(&[]).await;
    }
    for q in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=",
        "limit=1.5",
        "order=sideways",
        "order=",
        "state=stopped",
        "state=running,bogus",
        "metadata=%ZZ",
        "nextToken=forged!",
        "nextToken=AAAA",
    ] {
        let msg = api
            .get(&format!("/v2/sandboxes?{q}"))
            .await
            .expect_error(400);
        assert!(!msg.contains(KEY_A), "{msg}");
    }
    // A well-formed token this server never issued, with the wrong shape.
    let forged = URL_SAFE_NO_PAD.encode("notanumber__abc");
    api.get(&format!("/v2/sandboxes?nextToken={forged}"))
        .await
        .expect_error(400);
    // A real token only continues the order it came from.
    let (_, asc_token) = api.page("order=asc&limit=1").await;
    let asc_token = asc_token.expect("more pages");
    let msg = api
        .get(&format!(
            "/v2/sandboxes?order=desc&limit=1&nextToken={asc_token}"
        ))
        .await
        .expect_error(400);
    assert!(msg.contains("order"), "{msg}");
    let (_, desc_token) = api.page("limit=1").await;
    api.get(&format!(
        "/v2/sandboxes?order=asc&nextToken={}",
        desc_token.unwrap()
    ))
    .await
    .expect_error(400);
    // The same token in its own order works.
    api.get(&format!(
        "/v2/sandboxes?order=asc&limit=1&nextToken={asc_token}"
    ))
    .await
    .expect_json(200);
    server.shutdown().await;
}

#[tokio::test]
async fn the_v1_list_has_running_sandboxes_in_one_array() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let a = api.create_with_metadata(&[("app", "x")]).await;
    let b = api.create_with_metadata(&[("app", "y")]).await;
    for _ in 0..120 {
        api.create_with_metadata(&[]).await;
    }
    let reply = api.get("/sandboxes").await;
    let body = reply.expect_json(200);
    assert_eq!(body.as_array().unwrap().len(), 122, "no pagination");
    assert_eq!(reply.header("x-next-token"), None);
    let body = api
        .get("/sandboxes?metadata=app%3Dy")
        .await
        .expect_json(200);
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sandboxID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.as_str()]);
    // Other teams see nothing of it.
    let other = api.with_key(Some(KEY_B));
    assert_eq!(other.get("/sandboxes").await.expect_json(200), json!([]));
    assert!(!a.is_empty());
    server.shutdown().await;
}
