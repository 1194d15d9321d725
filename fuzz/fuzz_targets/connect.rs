//! The Connect protocol's framing, both ends: the SDK's envelope reader over any chunking of
//! any bytes (no panic; the frames it hands out are the ones a one-piece read finds), its
//! end-stream and error-body decoders, its reader of binary process events, its UTF-8 decoder
//! of command output over the same chunkings (the text a whole-buffer decode gives), and
//! sandkitd's envelope and protobuf decoders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandkit::envd::connect::{self, EnvelopeReader, Frame};
use sandkit::envd::proto;
use sandkit::utf8_pieces::Utf8Pieces;
use sandkit_server::envd::{connect as server_connect, protobuf};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let whole = frames(body, &[body.len().max(1)]);
    // The same bytes in pieces of 1 to 8 bytes, as the first byte picks.
    let sizes: Vec<usize> = (0..8).map(|i| 1 + ((cut as usize >> i) & 7)).collect();
    let pieces = frames(body, &sizes);
    assert_eq!(whole, pieces);
    assert_eq!(text(body, &sizes), String::from_utf8_lossy(body));
    for frame in whole.0 {
        match frame {
            Frame::End(json) => {
                let _ = connect::end_stream_error(&json);
            }
            Frame::Message(m) => {
                let _ = connect::ConnectError::from_body(&m);
                process_event(&m);
            }
        }
    }
    let _ = connect::ConnectError::from_body(body);
    process_event(&bytes::Bytes::copy_from_slice(body));
    // sandkitd: a unary request's envelope, and every message of every method it serves in
    // the binary codec; what decodes encodes, and that decodes to the same value.
    let _ = server_connect::unwrap_envelope(body);
    for (service, method) in METHODS {
        let (request, response) = protobuf::schema(service, method).expect("a served method");
        for message in [request, response] {
            if let Ok(value) = protobuf::decode(message, body) {
                let bytes = protobuf::encode(message, &value).expect("a decoded value encodes");
                assert_eq!(protobuf::decode(message, &bytes).as_ref(), Ok(&value));
            }
        }
    }
});

/// A binary process event: read without panicking; output it finds lies within the message.
fn process_event(m: &bytes::Bytes) {
    if let Ok(proto::Event::Data(out)) = proto::process_event(m) {
        let (sandkit::commands::Output::Stdout(b)
        | sandkit::commands::Output::Stderr(b)
        | sandkit::commands::Output::Pty(b)) = out;
        assert!(b.is_empty() || m.as_ptr_range().contains(&b.as_ptr()));
    }
}

/// Every frame the reader finds in `body` fed in pieces of `sizes` (cycled), then whether
/// it stopped at an error, and whether bytes were left over.
fn frames(body: &[u8], sizes: &[usize]) -> (Vec<Frame>, bool, bool) {
    let mut reader = EnvelopeReader::default();
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        i += 1;
        reader.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(_) => return (out, true, true),
            }
        }
    }
    (out, false, reader.has_partial())
}

/// `body` as command output text, decoded in pieces of `sizes` (cycled).
fn text(body: &[u8], sizes: &[usize]) -> String {
    let mut decoder = Utf8Pieces::default();
    let mut out = String::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at((*size).min(rest.len()));
        out.push_str(&decoder.push(bytes::Bytes::copy_from_slice(piece)));
        rest = tail;
    }
    out + &decoder.finish()
}

const METHODS: [(&str, &str); 16] = [
    ("process.Process", "Start"),
    ("process.Process", "Connect"),
    ("process.Process", "List"),
    ("process.Process", "SendInput"),
    ("process.Process", "SendSignal"),
    ("process.Process", "Update"),
    ("filesystem.Filesystem", "Stat"),
    ("filesystem.Filesystem", "ListDir"),
    ("filesystem.Filesystem", "MakeDir"),
    ("filesystem.Filesystem", "Move"),
    ("filesystem.Filesystem", "Remove"),
    ("filesystem.Filesystem", "WatchDir"),
    ("process.Process", "CloseStdin"),
    ("filesystem.Filesystem", "CreateWatcher"),
    ("filesystem.Filesystem", "GetWatcherEvents"),
    ("filesystem.Filesystem", "RemoveWatcher"),
];
