//! sandkitd's `/files`: the `Range`, `Accept-Encoding` and `X-Metadata-*` headers, and an
//! upload's multipart body, plain or gzipped, read as the handler reads them: an answer or a
//! refusal, never a panic or a hang; and a well-formed body, made here from the input, comes
//! out as the parts that went in.
#![no_main]

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use sandkit_server::envd::files::fuzzing;
use std::io::Write;
use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\0');
    let range = fields.next().unwrap_or("");
    let accept = fields.next().unwrap_or("");
    let len = u64::from(mode) * 7919;
    let metadata: Vec<(String, String)> = fields
        .clone()
        .take(8)
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    fuzzing::headers(range, len, accept, &metadata);
    fuzzing::headers(range, u64::MAX - u64::from(mode), accept, &[]);

    let gzip = mode & 1 == 1;
    let path = (mode & 2 == 2).then_some("/tmp/x");
    // Raw: the input as a multipart body under a fixed boundary.
    let body = if gzip { gzipped(rest) } else { rest.to_vec() };
    let _ = RUNTIME.block_on(fuzzing::multipart(
        "multipart/form-data; boundary=B",
        body,
        gzip,
        path,
    ));
    // Well-formed: parts named after the input's fields, their contents after its bytes.
    let parts: Vec<(String, Vec<u8>)> = fields
        .take(4)
        .enumerate()
        .map(|(i, f)| {
            let name: String = f
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(20)
                .collect();
            (
                format!("/d/{i}{name}"),
                f.as_bytes().repeat(usize::from(mode % 5)),
            )
        })
        .collect();
    if parts
        .iter()
        .any(|(_, c)| c.windows(5).any(|w| w == b"--XyZ"))
    {
        return; // the boundary inside a part would end it: not well-formed
    }
    let mut body = Vec::new();
    for (name, contents) in &parts {
        write!(
            body,
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(contents);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    let sent = if gzip { gzipped(&body) } else { body };
    let got = RUNTIME
        .block_on(fuzzing::multipart(
            "multipart/form-data; boundary=XyZ",
            sent,
            gzip,
            None,
        ))
        .expect("a well-formed upload is read");
    let want: Vec<(String, usize)> = parts.iter().map(|(n, c)| (n.clone(), c.len())).collect();
    assert_eq!(got, want);
});

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
