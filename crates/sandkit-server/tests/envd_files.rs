//! `/files` extras against a real sandbox: gzipped uploads (raw and multipart), gzipped
//! downloads, and single byte ranges; the filesystem RPCs that change names (MakeDir, Move,
//! Remove) and uploads acting with root's rights, as envd's, and giving the user what they
//! make; accounts and groups made in the sandbox itself, for commands, uploads, the
//! filesystem RPCs and file entries.

mod common;

use common::envd::{Envd, basic_auth, start_isolated};
use serde_json::json;
use std::io::{Read, Write};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Bytes that compress, but not to nothing.
fn content(len: usize) -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..len)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if i % 3 == 0 {
                (x >> 24) as u8
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect()
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn get(envd: &Envd, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut rb = envd.request(reqwest::Method::GET, &format!("/files?path={path}"));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let res = rb.send().await.unwrap();
    Got {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

async fn post(envd: &Envd, path: &str, content_type: &str, encoding: &str, body: Vec<u8>) -> Got {
    let mut rb = envd
        .request(reqwest::Method::POST, &format!("/files?path={path}"))
        .header("Content-Type", content_type)
        .body(body);
    if !encoding.is_empty() {
        rb = rb.header("Content-Encoding", encoding);
    }
    let res = rb.send().await.unwrap();
    Got {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

fn json(got: &Got) -> serde_json::Value {
    serde_json::from_slice(&got.body)
        .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&got.body)))
}

#[tokio::test]
async fn gzip_both_ways_and_byte_ranges() {
    let Some(server) = start_isolated("sandboxes are not isolated here").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    let data = content(700_000);

    // A gzipped octet-stream upload is stored inflated.
    let up = post(
        &envd,
        "/home/user/big.txt",
        "application/octet-stream",
        "gzip",
        gzip(&data),
    )
    .await;
    assert_eq!(up.status, 200, "{:?}", json(&up));
    assert_eq!(json(&up)[0]["path"], "/home/user/big.txt");
    let down = get(&envd, "/home/user/big.txt", &[]).await;
    assert_eq!(down.status, 200);
    assert_eq!(down.header("content-encoding"), None);
    assert_eq!(down.header("accept-ranges"), Some("bytes"));
    assert_eq!(down.body.len(), data.len());
    assert!(down.body == data);

    // So is a gzipped multipart upload (two gzip members back to back, too).
    let mut form = Vec::new();
    form.extend_from_slice(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"/home/user/m.bin\"\r\n\
          Content-Type: application/octet-stream\r\n\r\n",
    );
    form.extend_from_slice(&data[..100_000]);
    form.extend_from_slice(b"\r\n--XyZ--\r\n");
    let (head, tail) = form.split_at(5000);
    let mut body = gzip(head);
    body.extend(gzip(tail));
    let up = post(&envd, "", "multipart/form-data; boundary=XyZ", "gzip", body).await;
    assert_eq!(up.status, 200, "{:?}", json(&up));
    assert_eq!(json(&up)[0]["path"], "/home/user/m.bin");
    let down = get(&envd, "/home/user/m.bin", &[]).await;
    assert!(down.body == data[..100_000]);

    // Bodies that are not gzip, and encodings that are not supported: 400, file untouched.
    let bad = post(
        &envd,
        "/home/user/big.txt",
        "application/octet-stream",
        "gzip",
        b"certainly not gzip".to_vec(),
    )
    .await;
    assert_eq!(bad.status, 400, "{:?}", json(&bad));
    assert_eq!(json(&bad)["code"], 400);
    let mut truncated = gzip(&data);
    truncated.truncate(truncated.len() / 2);
    let bad = post(
        &envd,
        "/home/user/big.txt",
        "application/octet-stream",
        "gzip",
        truncated,
    )
    .await;
    assert_eq!(bad.status, 400, "{:?}", json(&bad));
    let bad = post(
        &envd,
        "/home/user/big.txt",
        "application/octet-stream",
        "br",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(json(&bad)["message"].as_str().unwrap().contains("br"));
    assert!(get(&envd, "/home/user/big.txt", &[]).await.body == data);

    // Downloads are gzipped when asked for, with the type from the extension.
    let down = get(
        &envd,
        "/home/user/big.txt",
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(down.status, 200);
    assert_eq!(down.header("content-encoding"), Some("gzip"));
    assert_eq!(
        down.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(down.body.len() < data.len());
    assert!(gunzip(&down.body) == data);
    // Not when gzip is refused, and 406 when nothing is acceptable.
    let down = get(
        &envd,
        "/home/user/big.txt",
        &[("Accept-Encoding", "gzip;q=0")],
    )
    .await;
    assert_eq!(down.header("content-encoding"), None);
    assert!(down.body == data);
    let down = get(
        &envd,
        "/home/user/big.txt",
        &[("Accept-Encoding", "identity;q=0")],
    )
    .await;
    assert_eq!(down.status, 406);

    // Ranges: first-last, from, suffix; each 206 with its Content-Range, never gzipped.
    let len = data.len();
    for (range, start, end) in [
        ("bytes=0-4", 0, 4),
        ("bytes=100-199", 100, 199),
        ("bytes=699990-", 699_990, len - 1),
        ("bytes=-7", len - 7, len - 1),
        ("bytes=5-99999999", 5, len - 1),
    ] {
        let got = get(
            &envd,
            "/home/user/big.txt",
            &[("Range", range), ("Accept-Encoding", "gzip")],
        )
        .await;
        assert_eq!(got.status, 206, "{range}");
        assert_eq!(
            got.header("content-range"),
            Some(format!("bytes {start}-{end}/{len}").as_str()),
            "{range}"
        );
        assert_eq!(got.header("content-encoding"), None, "{range}");
        assert_eq!(
            got.header("content-length"),
            Some((end - start + 1).to_string().as_str())
        );
        assert!(got.body == data[start..=end], "{range}");
    }
    // Unsatisfiable: 416 with the length.
    for range in ["bytes=700000-", "bytes=-0"] {
        let got = get(&envd, "/home/user/big.txt", &[("Range", range)]).await;
        assert_eq!(got.status, 416, "{range}");
        assert_eq!(
            got.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );
        assert_eq!(json(&got)["code"], 416);
    }
    // Several ranges, or one not understood: the whole file.
    for range in ["bytes=0-1,5-6", "bytes=9-3", "lines=1-2"] {
        let got = get(&envd, "/home/user/big.txt", &[("Range", range)]).await;
        assert_eq!(got.status, 200, "{range}");
        assert_eq!(got.body.len(), len);
    }
    // An empty file has no satisfiable range, and is sent as it is even when gzip is asked.
    let up = post(
        &envd,
        "/home/user/empty",
        "application/octet-stream",
        "",
        Vec::new(),
    )
    .await;
    assert_eq!(up.status, 200);
    let got = get(&envd, "/home/user/empty", &[("Range", "bytes=0-")]).await;
    assert_eq!(got.status, 416);
    let got = get(&envd, "/home/user/empty", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(
        (got.status, got.header("content-length"), got.body.len()),
        (200, Some("0"), 0)
    );
    // Missing files and directories keep their answers.
    assert_eq!(
        get(&envd, "/home/user/nope", &[("Range", "bytes=0-1")])
            .await
            .status,
        404
    );
    assert_eq!(
        get(&envd, "/home/user", &[("Accept-Encoding", "gzip")])
            .await
            .status,
        400
    );

    server.shutdown().await;
}

/// As envd's, the file calls act with root's rights whoever the caller names: the user only
/// decides where relative paths resolve and who owns what is made or written.
#[tokio::test]
async fn file_calls_act_as_root_and_give_the_user_what_they_make() {
    let Some(server) = start_isolated("without isolation both accounts are sandkitd's own").await
    else {
        return;
    };
    let envd = Envd::create(&server).await;
    envd.ok(
        "mkdir -p /srv/r && echo x > /srv/r/f && echo old > /etc/ro.conf && chmod 444 /etc/ro.conf",
    )
    .await;
    // No Authorization header: the calls name `user`, who could do none of this itself.
    for (rpc, body) in [
        (
            "filesystem.Filesystem/MakeDir",
            json!({"path": "/root/made/deeper"}),
        ),
        (
            "filesystem.Filesystem/Remove",
            json!({"path": "/etc/hostname"}),
        ),
        (
            "filesystem.Filesystem/Move",
            json!({"source": "/srv/r/f", "destination": "/srv/new/f"}),
        ),
    ] {
        let (status, answer) = envd.unary(rpc, body).await;
        assert_eq!(status, 200, "{rpc}: {answer}");
    }
    let res = envd
        .request(reqwest::Method::POST, "/files?path=/etc/ro.conf")
        .header("Content-Type", "application/octet-stream")
        .body("new")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    // Made: the user's, parents included; moved: kept as it was (root's); written: the file
    // becomes the user's, its mode kept, as envd's chown leaves it.
    let owners = envd
        .ok("test ! -e /etc/hostname && test ! -e /srv/r/f && \
             stat -c '%n %U:%G %a' /root/made /root/made/deeper /srv/new /srv/new/f /etc/ro.conf && cat /etc/ro.conf")
        .await;
    assert_eq!(
        owners,
        "/root/made user:user 755\n/root/made/deeper user:user 755\n/srv/new user:user 755\n\
         /srv/new/f root:root 644\n/etc/ro.conf user:user 444\nnew"
    );
    // Still refused: what is not a file or directory where one is needed.
    let (status, answer) = envd
        .unary(
            "filesystem.Filesystem/MakeDir",
            json!({"path": "/etc/ro.conf/sub"}),
        )
        .await;
    assert_ne!(status, 200, "{answer}");
}

#[tokio::test]
async fn accounts_and_groups_made_in_the_sandbox_count_at_once() {
    let Some(server) = start_isolated("without isolation every account is sandkitd's own").await
    else {
        return;
    };
    let envd = Envd::create(&server).await;
    let make_dir = |user: &'static str, path: &'static str| {
        let envd = &envd;
        async move {
            envd.request(reqwest::Method::POST, "/filesystem.Filesystem/MakeDir")
                .header("Content-Type", "application/json")
                .header("Authorization", basic_auth(user))
                .body(json!({ "path": path }).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let id = |user: &'static str| {
        let envd = &envd;
        async move {
            let (out, end) = envd
                .run_as(
                    user,
                    "id",
                    &[],
                    json!({}),
                    std::time::Duration::from_secs(30),
                )
                .await;
            assert_eq!(end["exitCode"], serde_json::Value::Null, "{out}");
            out.trim().to_string()
        }
    };
    // An account that does not exist yet is refused, as envd refuses it.
    assert_eq!(make_dir("alice", "/tmp/early").await, 401);
    envd.ok("groupadd -g 2000 devs && useradd -m -u 1500 -G devs alice \
         && mkdir /srv/team && chgrp devs /srv/team && chmod 2770 /srv/team")
        .await;
    assert_eq!(
        id("alice").await,
        "uid=1500(alice) gid=1500(alice) groups=1500(alice),2000(devs)"
    );
    // `user` is not in the group yet: its commands are refused; the file calls act as root
    // (as envd's) and give what they make to whoever they name.
    let (out, end) = envd
        .run_as(
            "user",
            "/bin/sh",
            &["-c", "touch /srv/team/u"],
            json!({}),
            std::time::Duration::from_secs(30),
        )
        .await;
    assert_ne!(end["exitCode"], serde_json::Value::Null, "{out}");
    let upload = |user: &'static str, path: &'static str| {
        let envd = &envd;
        async move {
            let res = envd
                .request(
                    reqwest::Method::POST,
                    &format!("/files?path={path}&username={user}"),
                )
                .header("Content-Type", "application/octet-stream")
                .body("hello")
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        }
    };
    assert_eq!(upload("user", "/srv/team/by-user").await.0, 200);
    assert_eq!(make_dir("user", "/srv/team/user-dir").await, 200);
    assert_eq!(upload("alice", "/srv/team/by-alice").await.0, 200);
    assert_eq!(make_dir("alice", "/srv/team/alice-dir").await, 200);
    // Joining the group counts for commands from the next call on.
    envd.ok("usermod -aG devs user").await;
    assert_eq!(
        id("user").await,
        "uid=1000(user) gid=1000(user) groups=1000(user),2000(devs)"
    );
    // Entries name the sandbox's own accounts and groups. What envd makes it gives to the
    // user and the user's own group (a chown after the fact, which the directory's setgid
    // bit does not outlive); a process of the user's keeps the bit's `devs`.
    envd.run_as(
        "user",
        "/bin/sh",
        &["-c", "touch /srv/team/touched"],
        json!({}),
        std::time::Duration::from_secs(30),
    )
    .await;
    let (status, listed) = envd
        .unary(
            "filesystem.Filesystem/ListDir",
            json!({"path": "/srv/team", "depth": 1}),
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let mut owners: Vec<String> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}:{}",
                e["name"].as_str().unwrap(),
                e["owner"],
                e["group"]
            )
        })
        .collect();
    owners.sort();
    assert_eq!(
        owners,
        [
            r#"alice-dir "alice":"alice""#,
            r#"by-alice "alice":"alice""#,
            r#"by-user "user":"user""#,
            r#"touched "user":"devs""#,
            r#"user-dir "user":"user""#,
        ]
    );
    envd.ok("test \"$(stat -c %U:%G /srv/team/touched)\" = user:devs")
        .await;
    // The account's home is its own: a relative path lands there.
    assert_eq!(upload("alice", "notes.txt").await.0, 200);
    envd.ok("test \"$(cat /home/alice/notes.txt)\" = hello && stat -c %U /home/alice/notes.txt | grep -qx alice")
        .await;
    // An account removed is refused again.
    envd.ok("userdel alice").await;
    assert_eq!(upload("alice", "/tmp/x").await.0, 401);
}

#[tokio::test]
async fn files_of_virtual_filesystems_download_whole_and_each_sandbox_has_its_own_boot_id() {
    let Some(server) = start_isolated("sandboxes without isolation see the host's /proc").await
    else {
        return;
    };
    let (a, b) = (Envd::create(&server).await, Envd::create(&server).await);
    // `/proc` files tell a size of 0, `/sys` files one of 4096, whatever they hold.
    for path in [
        "/proc/sys/kernel/random/boot_id",
        "/proc/meminfo",
        "/sys/class/net/lo/mtu",
    ] {
        let shown = a.ok(&format!("cat {path}")).await;
        assert!(!shown.is_empty(), "{path}");
        let plain = get(&a, path, &[("Accept-Encoding", "identity")]).await;
        assert_eq!(plain.status, 200, "{path}");
        let length = plain.header("content-length").map(str::to_string);
        let body = String::from_utf8(plain.body).unwrap();
        // meminfo changes from one read to the next: its first line does not.
        assert_eq!(body.lines().next(), shown.lines().next(), "{path}");
        assert_eq!(length, Some(body.len().to_string()), "{path}");
        let zipped = get(&a, path, &[("Accept-Encoding", "gzip")]).await;
        let unzipped = String::from_utf8(gunzip(&zipped.body)).unwrap();
        assert_eq!(unzipped.lines().next(), shown.lines().next(), "{path}");
    }
    let part = get(&a, "/sys/class/net/lo/mtu", &[("Range", "bytes=0-1")]).await;
    assert_eq!((part.status, part.body), (206, b"65".to_vec()));

    let boot = |envd: Envd| async move { envd.ok("cat /proc/sys/kernel/random/boot_id").await };
    let (id_a, id_b) = (boot(a.clone()).await, boot(b).await);
    let host = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(id_a.len(), 37, "{id_a:?}");
    assert!(
        id_a != id_b && id_a != host && id_b != host,
        "{id_a} {id_b} {host}"
    );
    // It is the sandbox's, not to be changed from inside.
    let (_, end) = a.run("echo x > /proc/sys/kernel/random/boot_id").await;
    assert_ne!(end["exitCode"], serde_json::Value::Null, "{end}");
    assert_eq!(boot(a).await, id_a);
}
