//! Snapshots and forks against real sandboxes: a snapshot is the sandbox's files at one
//! moment (every writable layer, owners and deletions included), which new sandboxes start
//! from, by id or name, for as long as it exists; a fork is a sandbox started on such a copy
//! at once. Processes are not carried over (memory is not kept).

mod common;

use common::envd::{Envd, start_isolated};
use common::{Api, KEY_B};
use serde_json::{Value, json};

/// The files the tests look for afterwards: a new account's file in its home (the `/` layer),
/// one in `/opt` (another layer) and a template file deleted (a whiteout). Returns whether
/// the template had that file to delete.
async fn writes_files(envd: &Envd) -> bool {
    envd.ok(
        "useradd -m ada && echo kept > /home/ada/f && chown ada:ada /home/ada/f \
         && mkdir -p /opt/x && echo o > /opt/x/y",
    )
    .await;
    let (out, _) = envd
        .run("test -e /etc/debian_version && rm /etc/debian_version && echo removed")
        .await;
    // A process that runs on: a snapshot does not carry it over.
    envd.ok("nohup sleep 600 > /dev/null 2>&1 &").await;
    out == "removed\n"
}

async fn has_the_files(envd: &Envd, removed: bool) {
    let out = envd
        .ok("stat -c '%U:%G %a' /home/ada/f; cat /home/ada/f /opt/x/y; id -un ada")
        .await;
    assert_eq!(out, "ada:ada 644\nkept\no\nada\n");
    if removed {
        envd.ok("test ! -e /etc/debian_version").await;
    }
    let (out, _) = envd.run("pgrep -x sleep || echo none").await;
    assert_eq!(out, "none\n", "a snapshot carries no process over");
    let id = envd
        .ok("cat /run/e2b/.E2B_SANDBOX_ID; echo; hostname")
        .await;
    assert_eq!(id, format!("{0}\n{0}\n", envd.id));
}

/// The inode of the one snapshot's spare copy under `dir`, once the server has written it
/// (within 20 s).
async fn spare_inode(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..200 {
        let spare = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .find_map(|e| std::fs::metadata(e.path().join("spare.img")).ok());
        if let Some(meta) = spare {
            return meta.ino();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no spare copy appeared in {}", dir.display())
}

fn ids(page: &Value) -> Vec<String> {
    page.as_array()
        .unwrap()
        .iter()
        .map(|s| s["snapshotID"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_snapshot_starts_new_sandboxes_on_its_files() {
    let Some(server) = start_isolated("snapshots copy an isolated sandbox's disk").await else {
        return;
    };
    let src = Envd::create(&server).await;
    let api = src.api.clone();
    let removed = writes_files(&src).await;

    let made = api
        .post(
            &format!("/sandboxes/{}/snapshots", src.id),
            json!({"name": "ada-box"}),
        )
        .await
        .expect_json(201);
    assert_eq!(
        made,
        json!({"snapshotID": "ada-box:default", "names": ["ada-box:default"]})
    );
    // `Template.exists`: the team's own snapshot, by name; not another team's.
    assert_eq!(
        api.get("/templates/aliases/ada-box").await.expect_json(200),
        json!({"templateID": "ada-box:default", "public": false})
    );
    let other = Api::new(&server.url(), KEY_B);
    assert_eq!(other.get("/templates/aliases/ada-box").await.status, 404);
    // The source goes on running, its process too; what it writes now is not in the snapshot.
    assert_eq!(
        api.get(&format!("/sandboxes/{}", src.id)).await.json()["state"],
        "running"
    );
    src.ok("pgrep -x sleep && echo later > /home/ada/g").await;

    // The next sandbox made from it takes the copy made ahead of time, and another is made.
    let snapshots_dir = common::state_dir(&server).join("snapshots");
    let spare = spare_inode(&snapshots_dir).await;
    let copy = Envd::create_with(&api, json!({"templateID": "ada-box:default"})).await;
    let disk = common::state_dir(&server).join(&copy.id).join("disk");
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&disk).unwrap()),
        spare,
        "the sandbox's disk is the spare copy"
    );
    assert_ne!(spare_inode(&snapshots_dir).await, spare);
    has_the_files(&copy, removed).await;
    copy.ok("test ! -e /home/ada/g").await;
    let info = api.get(&format!("/sandboxes/{}", copy.id)).await.json();
    assert_eq!(info["templateID"], "ada-box:default");
    // Its own writes are its own.
    copy.ok("echo mine > /home/ada/f").await;
    assert_eq!(src.ok("cat /home/ada/f").await, "kept\n");

    // The snapshot outlives its sandbox; a bare name works too, and a paused sandbox (without
    // its memory: only its files) can be snapshotted.
    assert_eq!(
        api.delete(&format!("/sandboxes/{}", src.id)).await.status,
        204
    );
    let again = Envd::create_with(&api, json!({"templateID": "ada-box"})).await;
    has_the_files(&again, removed).await;
    assert_eq!(
        api.post(
            &format!("/sandboxes/{}/pause", again.id),
            json!({"memory": false})
        )
        .await
        .status,
        204
    );
    let unnamed = api
        .post(&format!("/sandboxes/{}/snapshots", again.id), json!({}))
        .await
        .expect_json(201);
    let raw = unnamed["snapshotID"].as_str().unwrap().to_string();
    assert!(raw.ends_with(":default") && raw.len() == 28, "{unnamed}");
    assert_eq!(unnamed["names"], json!([]));
    let from_paused = Envd::create_with(&api, json!({"templateID": raw})).await;
    has_the_files(&from_paused, removed).await;

    // Listed newest first, filtered, in pages.
    assert_eq!(
        ids(&api.get("/snapshots").await.expect_json(200)),
        [raw.clone(), "ada-box:default".into()]
    );
    let page = api.get("/snapshots?limit=1").await;
    assert_eq!(ids(&page.expect_json(200)), std::slice::from_ref(&raw));
    let token = page
        .header("x-next-token")
        .expect("a next page")
        .to_string();
    let last = api
        .get(&format!("/snapshots?limit=1&nextToken={token}"))
        .await;
    assert_eq!(ids(&last.expect_json(200)), ["ada-box:default"]);
    assert_eq!(last.header("x-next-token"), None);
    let of_src = api.get(&format!("/snapshots?sandboxID={}", src.id)).await;
    assert_eq!(ids(&of_src.expect_json(200)), ["ada-box:default"]);
    assert_eq!(
        ids(&api.get("/snapshots?name=ada-box").await.expect_json(200)),
        ["ada-box:default"]
    );
    assert_eq!(
        ids(&api.get("/snapshots?sandboxID=nope").await.expect_json(200)),
        Vec::<String>::new()
    );
    api.get("/snapshots?nextToken=bad").await.expect_error(400);
    api.get("/snapshots?limit=0").await.expect_error(400);

    // Another team sees none of them.
    let other = Api::new(&server.url(), KEY_B);
    assert_eq!(
        ids(&other.get("/snapshots").await.expect_json(200)),
        Vec::<String>::new()
    );
    other
        .post("/v2/sandboxes", json!({"templateID": "ada-box"}))
        .await
        .expect_error(404);
    other.delete("/templates/ada-box").await.expect_error(404);
    other
        .post(&format!("/sandboxes/{}/snapshots", copy.id), json!({}))
        .await
        .expect_error(404);

    // Refused: bad names, a template's name, an unknown sandbox.
    for name in ["", "a b", "x/y", &"n".repeat(129), "base"] {
        api.post(
            &format!("/sandboxes/{}/snapshots", copy.id),
            json!({"name": name}),
        )
        .await
        .expect_error(400);
    }
    api.post("/sandboxes/nope/snapshots", json!({}))
        .await
        .expect_error(404);

    // Deleted: gone from the list and for creates; sandboxes made from it keep their files.
    assert_eq!(api.delete("/templates/ada-box:default").await.status, 204);
    api.delete("/templates/ada-box:default")
        .await
        .expect_error(404);
    api.post("/v2/sandboxes", json!({"templateID": "ada-box"}))
        .await
        .expect_error(404);
    assert_eq!(
        ids(&api.get("/snapshots").await.expect_json(200)),
        std::slice::from_ref(&raw)
    );
    assert_eq!(copy.ok("cat /home/ada/f").await, "mine\n");
    api.delete("/templates/base").await.expect_error(501);
    assert_eq!(api.delete(&format!("/templates/{raw}")).await.status, 204);
    assert_eq!(
        std::fs::read_dir(&snapshots_dir).unwrap().count(),
        0,
        "files left in {}",
        snapshots_dir.display()
    );
}

#[tokio::test]
async fn a_fork_is_a_running_sandbox_on_a_copy_of_the_files() {
    let Some(server) = start_isolated("forks copy an isolated sandbox's disk").await else {
        return;
    };
    let api = Api::new(&server.url(), common::KEY_A);
    let src = Envd::create_with(
        &api,
        json!({"templateID": "base", "metadata": {"k": "v"}, "envVars": {"E": "e"}}),
    )
    .await;
    let removed = writes_files(&src).await;

    let forks = api
        .post(
            &format!("/sandboxes/{}/fork", src.id),
            json!({"count": 2, "timeout": 60}),
        )
        .await
        .expect_json(201);
    let forks = forks.as_array().unwrap();
    assert_eq!(forks.len(), 2, "{forks:?}");
    for fork in forks {
        assert!(fork.get("error").is_none(), "{fork}");
        let sandbox = &fork["sandbox"];
        let envd = Envd {
            api: api.clone(),
            id: sandbox["sandboxID"].as_str().unwrap().into(),
            token: sandbox["envdAccessToken"].as_str().unwrap().into(),
        };
        assert_ne!(envd.id, src.id);
        has_the_files(&envd, removed).await;
        assert_eq!(envd.ok("echo $E").await, "e\n");
        let info = api.get(&format!("/sandboxes/{}", envd.id)).await.json();
        assert_eq!(info["metadata"], json!({"k": "v"}));
        assert_eq!(info["templateID"], "base");
        let life = common::millis(&info["endAt"]) - common::millis(&info["startedAt"]);
        assert!((59_000..=61_000).contains(&life), "{info}");
        envd.ok("echo fork > /opt/x/y").await;
    }
    // The source runs on (thawed after the copy), unchanged by its forks.
    assert_eq!(
        src.ok("pgrep -x sleep > /dev/null && cat /opt/x/y").await,
        "o\n"
    );

    // 15 seconds by default, as E2B's API; one fork by default.
    let one = api
        .post(&format!("/sandboxes/{}/fork", src.id), json!({}))
        .await
        .expect_json(201);
    let info = api
        .get(&format!(
            "/sandboxes/{}",
            one[0]["sandbox"]["sandboxID"].as_str().unwrap()
        ))
        .await
        .json();
    let life = common::millis(&info["endAt"]) - common::millis(&info["startedAt"]);
    assert!((14_000..=16_000).contains(&life), "{info}");

    // Refused: counts out of range, an unknown sandbox, a paused one.
    for count in [0, -1, 21] {
        api.post(
            &format!("/sandboxes/{}/fork", src.id),
            json!({"count": count}),
        )
        .await
        .expect_error(400);
    }
    api.post("/sandboxes/nope/fork", json!({}))
        .await
        .expect_error(404);
    assert_eq!(
        api.post(&format!("/sandboxes/{}/pause", src.id), json!({}))
            .await
            .status,
        204
    );
    api.post(&format!("/sandboxes/{}/fork", src.id), json!({}))
        .await
        .expect_error(409);
    // A fork's copy is not a snapshot: none is listed, no file stays.
    assert_eq!(
        ids(&api.get("/snapshots").await.expect_json(200)),
        Vec::<String>::new()
    );
    let dir = common::state_dir(&server).join("snapshots");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[tokio::test]
async fn each_fork_succeeds_or_fails_on_its_own() {
    // At most 3 running sandboxes per team: the source and two forks start, the third is
    // refused by the quota, in its own entry.
    let mut config = sandkit_server::ServerConfig::default();
    config.limits = sandkit_server::config::LimitsConfig {
        max_sandboxes: 3,
        ..sandkit_server::config::LimitsConfig::lifted()
    };
    config.sandboxes.agent_exe = Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    let server = common::start_with(config).await;
    if !common::envd::isolated(&server) {
        eprintln!("skipped: forks copy an isolated sandbox's disk");
        return;
    }
    let api = Api::new(&server.url(), common::KEY_A);
    let src = Envd::create_with(&api, json!({"templateID": "base"})).await;
    let forks = api
        .post(&format!("/sandboxes/{}/fork", src.id), json!({"count": 3}))
        .await
        .expect_json(201);
    let forks = forks.as_array().unwrap();
    assert_eq!(forks.len(), 3);
    let started = forks.iter().filter(|f| f.get("sandbox").is_some()).count();
    assert_eq!(started, 2, "{forks:?}");
    let refused: Vec<&Value> = forks.iter().filter_map(|f| f.get("error")).collect();
    assert_eq!(refused.len(), 1, "{forks:?}");
    assert_eq!(refused[0]["code"], 429, "{forks:?}");
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("--max-sandboxes"),
        "{forks:?}"
    );
}
