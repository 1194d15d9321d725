//! The binary protobuf codec of the daemon's Connect RPCs, against a real sandbox: unary
//! (`application/proto`) and streaming (`application/connect+proto`) calls, encoded and
//! decoded here by hand from the field numbers of `process.proto` and `filesystem.proto`.

mod common;

use common::envd::{Envd, Frames, start_isolated};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A field value off the wire.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Int(u64),
    Len(Vec<u8>),
}

fn varint(buf: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for i in 0.. {
        let b = buf[0];
        *buf = &buf[1..];
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Every field of a message, in order.
fn fields(mut buf: &[u8]) -> Vec<(u64, V)> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        let value = match key & 7 {
            0 => V::Int(varint(&mut buf)),
            2 => {
                let n = varint(&mut buf) as usize;
                let v = buf[..n].to_vec();
                buf = &buf[n..];
                V::Len(v)
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn get(msg: &[(u64, V)], n: u64) -> Option<V> {
    msg.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
}

fn sub(msg: &[(u64, V)], n: u64) -> Vec<(u64, V)> {
    match get(msg, n) {
        Some(V::Len(b)) => fields(&b),
        other => panic!("field {n} is not a message: {other:?} in {msg:?}"),
    }
}

fn text(msg: &[(u64, V)], n: u64) -> String {
    match get(msg, n) {
        Some(V::Len(b)) => String::from_utf8(b).unwrap(),
        other => panic!("field {n} is not a string: {other:?}"),
    }
}

fn int(msg: &[(u64, V)], n: u64) -> u64 {
    match get(msg, n) {
        Some(V::Int(v)) => v,
        other => panic!("field {n} is not a number: {other:?}"),
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, n: u64, b: &[u8]) {
    put_varint(out, n << 3 | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_int(out: &mut Vec<u8>, n: u64, v: u64) {
    put_varint(out, n << 3);
    put_varint(out, v);
}

async fn unary(envd: &Envd, rpc: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let res = envd
        .request(reqwest::Method::POST, &format!("/{rpc}"))
        .header("Content-Type", "application/proto")
        .header("Connect-Protocol-Version", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

async fn stream(envd: &Envd, rpc: &str, body: Vec<u8>) -> Frames {
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    let res = envd
        .request(reqwest::Method::POST, &format!("/{rpc}"))
        .header("Content-Type", "application/connect+proto")
        .header("Connect-Protocol-Version", "1")
        .header("Authorization", "Basic cm9vdDo=")
        .body(framed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/connect+proto");
    common::envd::frames(res)
}

fn start_request(script: &str, cwd: Option<&str>) -> Vec<u8> {
    let mut config = Vec::new();
    put_str(&mut config, 1, b"/bin/sh");
    put_str(&mut config, 2, b"-c");
    put_str(&mut config, 2, script.as_bytes());
    if let Some(cwd) = cwd {
        put_str(&mut config, 4, cwd.as_bytes());
    }
    let mut req = Vec::new();
    put_str(&mut req, 1, &config);
    put_int(&mut req, 4, 0); // stdin: false
    req
}

#[tokio::test]
async fn the_proto_codec_serves_unary_and_streaming_calls() {
    let Some(server) = start_isolated("sandboxes are not isolated here").await else {
        return;
    };
    let envd = Envd::create(&server).await;

    // Start (server stream): start{pid}, data{stdout}, end{exited, status}, then a JSON end.
    let mut frames = stream(
        &envd,
        "process.Process/Start",
        start_request("echo hi > /home/user/f.txt; echo hi", None),
    )
    .await;
    let first = frames.next_within(WAIT).await;
    assert_eq!(first.flags, 0);
    let event = sub(&fields(&first.payload), 1);
    let pid = int(&sub(&event, 1), 1);
    assert!(pid > 0);
    let mut stdout = Vec::new();
    let end = loop {
        let frame = frames.next_within(WAIT).await;
        assert!(
            !frame.is_end(),
            "{:?}",
            String::from_utf8_lossy(&frame.payload)
        );
        let event = sub(&fields(&frame.payload), 1);
        if let Some(V::Len(data)) = get(&event, 2)
            && let Some(V::Len(b)) = get(&fields(&data), 1)
        {
            stdout.extend(b);
        }
        if get(&event, 3).is_some() {
            break sub(&event, 3);
        }
    };
    assert_eq!(stdout, b"hi\n");
    assert_eq!(get(&end, 1), None, "a clean exit has no exit code: {end:?}");
    assert_eq!(int(&end, 2), 1);
    assert_eq!(text(&end, 3), "exit status 0");
    let last = frames.next_within(WAIT).await;
    assert!(last.is_end());
    assert_eq!(last.json(), serde_json::json!({}));

    // A non-zero exit: exitCode is a sint32 (zigzag): 3 → 6.
    let mut frames = stream(
        &envd,
        "process.Process/Start",
        start_request("exit 3", None),
    )
    .await;
    let end = loop {
        let frame = frames.next_within(WAIT).await;
        assert!(!frame.is_end());
        let event = sub(&fields(&frame.payload), 1);
        if get(&event, 3).is_some() {
            break sub(&event, 3);
        }
    };
    assert_eq!(int(&end, 1), 6);
    assert_eq!(text(&end, 4), "exit status 3");

    // A stream error is a JSON end-stream frame, with the proto content type.
    let mut frames = stream(
        &envd,
        "process.Process/Start",
        start_request("true", Some("/nope")),
    )
    .await;
    let end = frames.next_within(WAIT).await;
    assert!(end.is_end());
    assert_eq!(end.json()["error"]["code"], "invalid_argument");

    // Stat (unary): {entry: EntryInfo}.
    let mut req = Vec::new();
    put_str(&mut req, 1, b"/home/user/f.txt");
    let (status, ct, body) = unary(&envd, "filesystem.Filesystem/Stat", req).await;
    assert_eq!((status, ct.as_str()), (200, "application/proto"));
    let entry = sub(&fields(&body), 1);
    assert_eq!(text(&entry, 1), "f.txt");
    assert_eq!(int(&entry, 2), 1, "FILE_TYPE_FILE");
    assert_eq!(text(&entry, 3), "/home/user/f.txt");
    assert_eq!(int(&entry, 4), 3, "size");
    assert_eq!(int(&entry, 5), 0o644, "mode");
    assert_eq!(text(&entry, 6), "-rw-r--r--");
    assert_eq!(text(&entry, 7), "root");
    let modified = sub(&entry, 9);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(int(&modified, 1).abs_diff(now) < 120, "{modified:?}");

    // ListDir (unary): repeated entries.
    let mut req = Vec::new();
    put_str(&mut req, 1, b"/home/user");
    put_int(&mut req, 2, 1);
    let (status, _, body) = unary(&envd, "filesystem.Filesystem/ListDir", req).await;
    assert_eq!(status, 200);
    let names: Vec<String> = fields(&body)
        .iter()
        .filter(|(n, _)| *n == 1)
        .map(|(_, v)| match v {
            V::Len(b) => text(&fields(b), 1),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(names.contains(&"f.txt".to_string()), "{names:?}");

    // Remove answers an empty message; errors are Connect JSON whatever the codec.
    let mut req = Vec::new();
    put_str(&mut req, 1, b"/home/user/f.txt");
    let (status, ct, body) = unary(&envd, "filesystem.Filesystem/Remove", req.clone()).await;
    assert_eq!(
        (status, ct.as_str(), body.len()),
        (200, "application/proto", 0)
    );
    let (status, ct, body) = unary(&envd, "filesystem.Filesystem/Stat", req).await;
    assert_eq!((status, ct.as_str()), (404, "application/json"));
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], "not_found");
    // Bytes that are not a message: invalid_argument.
    let (status, _, body) =
        unary(&envd, "filesystem.Filesystem/Stat", vec![0x0a, 0x09, 0x01]).await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], "invalid_argument");

    // SendSignal with the enum as a number; List shows the process until then.
    let mut frames = stream(
        &envd,
        "process.Process/Start",
        start_request("sleep 30", None),
    )
    .await;
    let first = frames.next_within(WAIT).await;
    let pid = int(&sub(&sub(&fields(&first.payload), 1), 1), 1);
    let (status, _, body) = unary(&envd, "process.Process/List", Vec::new()).await;
    assert_eq!(status, 200);
    let pids: Vec<u64> = fields(&body)
        .iter()
        .map(|(_, v)| match v {
            V::Len(info) => int(&fields(info), 2),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(pids.contains(&pid), "{pids:?}");
    let mut selector = Vec::new();
    put_int(&mut selector, 1, pid);
    let mut req = Vec::new();
    put_str(&mut req, 1, &selector);
    put_int(&mut req, 2, 9);
    let (status, _, body) = unary(&envd, "process.Process/SendSignal", req).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let end = loop {
        let frame = frames.next_within(WAIT).await;
        assert!(!frame.is_end());
        let event = sub(&fields(&frame.payload), 1);
        if get(&event, 3).is_some() {
            break sub(&event, 3);
        }
    };
    assert_eq!(text(&end, 3), "signal: killed");
    assert_eq!(int(&end, 1), 1, "-1 in zigzag");

    // WatchDir: start{} then filesystem{name, type}.
    let mut req = Vec::new();
    put_str(&mut req, 1, b"/home/user");
    let mut frames = stream(&envd, "filesystem.Filesystem/WatchDir", req).await;
    assert_eq!(frames.next_within(WAIT).await.payload, [0x0a, 0x00]);
    envd.ok("touch /home/user/watched").await;
    let event = sub(&fields(&frames.next_within(WAIT).await.payload), 2);
    assert_eq!(text(&event, 1), "watched");
    assert_eq!(int(&event, 2), 1, "EVENT_TYPE_CREATE");

    server.shutdown().await;
}

#[tokio::test]
async fn stream_input_takes_binary_messages_of_each_kind() {
    let Some(server) = start_isolated("sandboxes are not isolated here").await else {
        return;
    };
    let envd = Envd::create(&server).await;
    let mut start = start_request("cat", None);
    start.truncate(start.len() - 2);
    put_int(&mut start, 4, 1); // stdin: true
    let mut events = stream(&envd, "process.Process/Start", start).await;
    let first = events.next_within(WAIT).await;
    let pid = int(&sub(&sub(&fields(&first.payload), 1), 1), 1);

    // start{process{pid}}, data{input{stdin}} twice, keepalive{}: one body of envelopes.
    let envelope = |msg: Vec<u8>| {
        let mut out = vec![0u8];
        out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        out.extend(msg);
        out
    };
    let data = |text: &[u8]| {
        let mut input = Vec::new();
        put_str(&mut input, 1, text);
        let mut event = Vec::new();
        put_str(&mut event, 2, &input);
        let mut msg = Vec::new();
        put_str(&mut msg, 2, &event);
        msg
    };
    let mut selector = Vec::new();
    put_int(&mut selector, 1, pid);
    let mut started = Vec::new();
    put_str(&mut started, 1, &selector);
    let mut msg = Vec::new();
    put_str(&mut msg, 1, &started);
    let mut body = envelope(msg);
    body.extend(envelope(data(b"a")));
    let mut keepalive = Vec::new();
    put_str(&mut keepalive, 3, b"");
    body.extend(envelope(keepalive));
    body.extend(envelope(data(b"b")));
    let res = envd
        .request(reqwest::Method::POST, "/process.Process/StreamInput")
        .header("Content-Type", "application/connect+proto")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/connect+proto");
    let mut answer = common::envd::frames(res);
    let reply = answer.next_within(WAIT).await;
    assert_eq!(
        (reply.flags, reply.payload.len()),
        (0, 0),
        "an empty response"
    );
    assert_eq!(answer.next_within(WAIT).await.json(), serde_json::json!({}));

    let (status, _, _) = unary(&envd, "process.Process/CloseStdin", started).await;
    assert_eq!(status, 200);
    let mut stdout = Vec::new();
    loop {
        let frame = events.next_within(WAIT).await;
        let event = sub(&fields(&frame.payload), 1);
        if let Some(V::Len(data)) = get(&event, 2)
            && let Some(V::Len(b)) = get(&fields(&data), 1)
        {
            stdout.extend(b);
        }
        if get(&event, 3).is_some() {
            break;
        }
    }
    assert_eq!(stdout, b"ab");
}
