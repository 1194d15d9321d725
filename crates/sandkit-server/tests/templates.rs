//! `GET /templates` over real HTTP: the server's own templates in E2B's `Template` form.

mod common;

use common::{Api, KEY_A, KEY_B, millis, now_ms, start_with};
use sandkit_server::ServerConfig;
use serde_json::{Value, json};

/// `8-4-4-4-12` lowercase hex digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// A records-only server with a template of its own besides the defaults, and sandboxes of a
/// size other than the default, so the listing's figures are seen to follow the config.
async fn server() -> sandkit_server::RunningServer {
    let mut config = ServerConfig::default();
    config.sandboxes.enabled = false;
    config.sandboxes.templates = vec![("tiny".into(), std::env::temp_dir())];
    config.sandboxes.cpu_count = 3;
    config.sandboxes.memory_mb = 768;
    config.sandboxes.disk_size_mb = 2048;
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    start_with(config).await
}

#[tokio::test]
async fn every_template_is_listed_with_every_required_field() {
    let before = now_ms();
    let server = server().await;
    let after = now_ms();
    let api = Api::new(&server.url(), KEY_A);
    let listed = api.get("/templates").await.expect_json(200);
    let templates = listed.as_array().expect("an array");
    let names: Vec<&str> = templates
        .iter()
        .map(|t| t["templateID"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base", "code-interpreter-v1", "tiny"], "{listed}");
    for t in templates {
        let fields = t.as_object().unwrap();
        let name = t["templateID"].as_str().unwrap();
        for (field, is_right) in [
            ("templateID", Value::is_string as fn(&Value) -> bool),
            ("buildID", Value::is_string),
            ("cpuCount", Value::is_u64),
            ("memoryMB", Value::is_u64),
            ("diskSizeMB", Value::is_u64),
            ("public", Value::is_boolean),
            ("createdAt", Value::is_string),
            ("updatedAt", Value::is_string),
            ("createdBy", Value::is_null),
            ("lastSpawnedAt", Value::is_null),
            ("spawnCount", Value::is_u64),
            ("buildCount", Value::is_u64),
            ("envdVersion", Value::is_string),
            ("aliases", Value::is_array),
            ("names", Value::is_array),
            ("buildStatus", Value::is_string),
        ] {
            let value = fields
                .get(field)
                .unwrap_or_else(|| panic!("{name}: no {field}"));
            assert!(is_right(value), "{name}: {field} is {value}");
        }
        assert_eq!(fields.len(), 16, "no field beyond the API's: {t}");
        assert!(is_uuid(t["buildID"].as_str().unwrap()), "{t}");
        assert_eq!(t["public"], true);
        assert_eq!(t["aliases"], json!([name]));
        assert_eq!(t["names"], json!([name]));
        assert_eq!(t["buildStatus"], "ready");
        assert_eq!(t["spawnCount"], 0);
        assert_eq!(t["buildCount"], 1);
        // Made when the server started.
        let created = millis(&t["createdAt"]);
        assert!((before..=after).contains(&created), "{t}");
        assert_eq!(t["updatedAt"], t["createdAt"]);
        // Sized as the sandboxes made from it report themselves.
        let id = api.create(json!({"templateID": name})).await;
        let sandbox = api.get(&format!("/sandboxes/{id}")).await.expect_json(200);
        for field in ["cpuCount", "memoryMB", "diskSizeMB", "envdVersion"] {
            assert_eq!(t[field], sandbox[field], "{name}: {field}");
        }
        assert_eq!(t["cpuCount"], 3);
    }
    // Build ids are one per template, the same from call to call and for every team.
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["buildID"].as_str().unwrap().to_string())
            .collect()
    };
    let first = ids(&listed);
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{first:?}");
    let other = Api::new(&server.url(), KEY_B);
    assert_eq!(ids(&other.get("/templates").await.expect_json(200)), first);
    assert_eq!(ids(&api.get("/templates").await.expect_json(200)), first);
    server.shutdown().await;
}

#[tokio::test]
async fn the_key_is_checked_and_team_id_must_be_the_keys_team() {
    let server = server().await;
    let api = Api::new(&server.url(), KEY_A);
    for client in [
        api.with_key(None),
        api.with_key(Some("sk_wrong_key_1234")),
        api.with_key(Some("")),
    ] {
        let message = client.get("/templates").await.expect_error(401);
        assert!(!message.contains("sk_wrong"), "{message}");
    }
    // The official CLI sends `teamID` only when told a team.
    let all = api.get("/templates").await.expect_json(200);
    assert_eq!(
        api.get("/templates?teamID=team-a").await.expect_json(200),
        all
    );
    let message = api.get("/templates?teamID=team-b").await.expect_error(400);
    assert!(message.contains("team-b"), "{message}");
    server.shutdown().await;
}

/// `Template.exists` in the SDKs: `GET /templates/aliases/{alias}`.
#[tokio::test]
async fn aliases_answer_for_the_servers_templates_only() {
    let server = server().await;
    let api = Api::new(&server.url(), KEY_A);
    for name in ["base", "code-interpreter-v1", "tiny"] {
        assert_eq!(
            api.get(&format!("/templates/aliases/{name}"))
                .await
                .expect_json(200),
            json!({"templateID": name, "public": true})
        );
    }
    let missing = api.get("/templates/aliases/nope").await.expect_json(404);
    assert_eq!(missing["message"], "template alias 'nope' not found");
    assert_eq!(
        Api::new(&server.url(), "sk_wrong")
            .get("/templates/aliases/base")
            .await
            .status,
        401
    );
}
