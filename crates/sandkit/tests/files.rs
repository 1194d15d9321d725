//! `sandbox.files` against an in-process sandkitd whose sandboxes have real files.

mod common;

use bytes::Bytes;
use common::{TEAM_A_KEY, conn, start_server_with_sandboxes};
use futures_util::StreamExt;
use sandkit::commands::RunOpts;
use sandkit::files::{FileData, FileType, FsOpts, UrlOpts, WriteEntry, WriteOpts};
use sandkit::{ErrorKind, Sandbox, SandboxOpts};

fn opts(url: &str) -> SandboxOpts {
    let mut o = SandboxOpts::new();
    o.connection = conn(url, TEAM_A_KEY);
    o.connection.sandbox_url = Some(url.to_string());
    o
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn files_round_trip_and_report_errors() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let files = sandbox.files();
    let none = FsOpts::default();

    // Write then read; a relative path resolves against the home directory.
    let info = files
        .write("dir/a.txt", FileData::from("hello"), &WriteOpts::default())
        .await
        .unwrap();
    assert_eq!(info.path, "/home/user/dir/a.txt");
    assert_eq!(info.name, "a.txt");
    assert_eq!(
        &files.read("/home/user/dir/a.txt", &none).await.unwrap()[..],
        b"hello"
    );

    // A streamed upload of 8 MiB in uneven chunks, read back as a stream.
    let data = pattern(8 * 1024 * 1024 + 7);
    let chunks: Vec<_> = data
        .chunks(100_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    files
        .write(
            "big.bin",
            FileData::Stream(Box::pin(futures_util::stream::iter(chunks))),
            &WriteOpts::default(),
        )
        .await
        .unwrap();
    let mut stream = files.read_stream("big.bin", &none).await.unwrap();
    let mut back = Vec::new();
    while let Some(batch) = stream.next_batch(1 << 20).await.unwrap() {
        assert!(!batch.is_empty());
        back.extend_from_slice(&batch);
    }
    assert!(back == data, "streamed contents differ");
    let stat = files.get_info("big.bin", &none).await.unwrap();
    assert_eq!(stat.size, data.len() as u64);
    assert_eq!(stat.file_type, Some(FileType::File));
    assert_eq!(stat.owner, "user");
    assert!(stat.modified_time.is_some());

    // Several files in one request; list with depth.
    let written = files
        .write_files(
            vec![
                WriteEntry {
                    path: "tree/x.txt".into(),
                    data: FileData::from("x"),
                },
                WriteEntry {
                    path: "tree/sub/y.txt".into(),
                    data: FileData::from(vec![0u8, 0xff]),
                },
            ],
            &WriteOpts::default(),
        )
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    let mut one: Vec<_> = files
        .list("tree", 1, &none)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    one.sort();
    assert_eq!(one, ["sub", "x.txt"]);
    assert_eq!(files.list("tree", 2, &none).await.unwrap().len(), 3);
    assert_eq!(
        files.list("tree", 0, &none).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        &files.read("tree/sub/y.txt", &none).await.unwrap()[..],
        &[0u8, 0xff]
    );

    // exists, makeDir, rename, remove.
    assert!(files.exists("tree/x.txt", &none).await.unwrap());
    assert!(!files.exists("tree/nope", &none).await.unwrap());
    assert!(files.make_dir("made/deep", &none).await.unwrap());
    assert!(!files.make_dir("made/deep", &none).await.unwrap());
    let moved = files
        .rename("tree/x.txt", "made/deep/x.txt", &none)
        .await
        .unwrap();
    assert_eq!(moved.path, "/home/user/made/deep/x.txt");
    files.remove("made", &none).await.unwrap();
    assert!(!files.exists("made", &none).await.unwrap());

    // Typed errors.
    let missing = files.read("no/such.txt", &none).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::FileNotFound);
    assert_eq!(missing.status_code(), Some(404));
    assert_eq!(
        files.get_info("no/such", &none).await.unwrap_err().kind(),
        ErrorKind::FileNotFound
    );
    assert_eq!(
        files.read("/home/user", &none).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        files.list("dir/a.txt", 1, &none).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        files
            .read(
                "a.txt",
                &FsOpts {
                    user: Some("nobody-here".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Authentication
    );
    let bad_meta = WriteOpts {
        metadata: [("bad key".to_string(), "v".to_string())].into(),
        ..Default::default()
    };
    assert_eq!(
        files
            .write("m.txt", FileData::from("x"), &bad_meta)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        files.read("a\0b", &none).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    // The files are the sandbox's: a command sees them.
    let r = sandbox
        .commands()
        .run("cat dir/a.txt", RunOpts::default())
        .await
        .unwrap();
    assert_eq!(r.stdout, "hello");
    sandbox.kill().await.unwrap();
}

/// A browser-style form upload of one file, with no headers but the content type.
async fn multipart_post(http: &reqwest::Client, url: &str, name: &str, body: &str) -> u16 {
    let form = format!(
        "--b0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n{body}\r\n--b0--\r\n"
    );
    http.post(url)
        .header("content-type", "multipart/form-data; boundary=b0")
        .body(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn signed_urls_work_without_headers_and_forgeries_do_not() {
    let server = start_server_with_sandboxes().await;
    let mut o = opts(&server.url());
    o.secure = Some(true);
    let sandbox = Sandbox::create(o).await.unwrap();
    let files = sandbox.files();
    files
        .write("s.txt", FileData::from("signed"), &WriteOpts::default())
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let down = files.download_url("s.txt", &UrlOpts::default()).unwrap();
    assert!(down.contains("signature=v1_"), "{down}");
    let res = http.get(&down).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "signed");

    let expiring = files
        .download_url(
            "s.txt",
            &UrlOpts {
                signature_expiration: Some(60),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(expiring.contains("signature_expiration="), "{expiring}");
    assert_eq!(http.get(&expiring).send().await.unwrap().status(), 200);

    let up = files
        .upload_url(Some("up.txt"), &UrlOpts::default())
        .unwrap();
    assert_eq!(multipart_post(&http, &up, "up.txt", "uploaded").await, 200);
    assert_eq!(
        &files.read("up.txt", &FsOpts::default()).await.unwrap()[..],
        b"uploaded"
    );

    // A signature for reading does not allow writing, and a forged one allows nothing: with
    // no sandbox named, no sandbox is found by them (401, as envd answers a wrong signature);
    // naming the sandbox, they are refused by it.
    assert_eq!(multipart_post(&http, &down, "s.txt", "x").await, 401);
    let forged = down.replace("signature=v1_", "signature=v1_x");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 401);
    let named = http
        .get(&forged)
        .header("e2b-sandbox-id", sandbox.sandbox_id())
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 401);
    assert_eq!(
        &files.read("s.txt", &FsOpts::default()).await.unwrap()[..],
        b"signed"
    );
    sandbox.kill().await.unwrap();
}

#[tokio::test]
async fn a_failing_upload_stream_loses_nothing() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let files = sandbox.files();
    files
        .write(
            "keep.txt",
            FileData::from("original"),
            &WriteOpts::default(),
        )
        .await
        .unwrap();
    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(sandkit::transport::TransportError::new(
            sandkit::transport::TransportErrorKind::Other,
            "the source failed",
        )),
    ])
    .boxed();
    assert!(
        files
            .write("keep.txt", FileData::Stream(broken), &WriteOpts::default())
            .await
            .is_err()
    );
    // The old contents survive a write that did not finish.
    assert_eq!(
        &files.read("keep.txt", &FsOpts::default()).await.unwrap()[..],
        b"original"
    );
    sandbox.kill().await.unwrap();
}

/// A call's own `request_timeout_ms` bounds that call, over the sandbox's (60 s here), and
/// 0 lifts it.
#[tokio::test]
async fn a_calls_own_request_timeout_bounds_it() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let files = sandbox.files();
    // 8 MiB take some milliseconds to cross and be written.
    let data = Bytes::from(pattern(8 * 1024 * 1024));
    let write = |ms| WriteOpts {
        request_timeout_ms: Some(ms),
        ..Default::default()
    };
    let err = files
        .write("t.bin", FileData::Bytes(data.clone()), &write(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    files
        .write("t.bin", FileData::Bytes(data.clone()), &write(0))
        .await
        .unwrap();
    let read = FsOpts {
        request_timeout_ms: Some(30_000),
        ..Default::default()
    };
    assert_eq!(files.read("t.bin", &read).await.unwrap(), data);
    sandbox.kill().await.unwrap();
}
