//! The code interpreter's answer (newline-delimited JSON read as it arrives): the lines are
//! the same however the stream is chunked, and every line parses to an event, nothing, or an
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandkit::interpreter::stream::{LineSplitter, parse_line};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let whole = lines(body, body.len().max(1));
    assert_eq!(whole, lines(body, 1 + cut as usize % 7));
    let expected: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    // A trailing newline ends the last line rather than starting an empty one.
    let expected = match expected.split_last() {
        Some((last, rest)) if last.is_empty() => rest.to_vec(),
        _ => expected,
    };
    assert_eq!(whole, expected);
    for line in &whole {
        let _ = parse_line(line);
    }
});

fn lines(body: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut splitter = LineSplitter::default();
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend(splitter.push(chunk));
    }
    out.extend(splitter.finish());
    out
}
