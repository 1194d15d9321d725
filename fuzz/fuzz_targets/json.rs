//! The core's JSON reader and writer against serde_json on the same bytes (a differential
//! fuzz): the same inputs are accepted, they read as the same tree, the writer's output reads
//! back as that tree, and numbers convert as serde_json converts them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandkit::json;
use serde_json::Value as Serde;

fuzz_target!(|data: &[u8]| {
    // serde_json with arbitrary_precision reads an object with this one key as a number.
    if data.windows(20).any(|w| w == b"$serde_json::private") {
        return;
    }
    let ours = json::parse(data);
    let theirs = serde_json::from_slice::<Serde>(data);
    match (&ours, &theirs) {
        (Ok(v), Ok(s)) => same_tree(v, s),
        (Err(_), Err(_)) => {}
        // serde_json stops at 128 levels of nesting, as the core does; any other
        // disagreement is a bug in one of them.
        (Ok(_), Err(e)) => panic!("the core accepted what serde_json refuses: {e}"),
        (Err(e), Ok(_)) => panic!("the core refused what serde_json accepts: {e}"),
    }
    if let Ok(v) = ours {
        // The writer: what it writes is JSON, and reads back as the same tree.
        let mut out = String::new();
        v.write_to(&mut out);
        let again = serde_json::from_str::<Serde>(&out).expect("the writer wrote JSON");
        assert_eq!(&again, theirs.as_ref().unwrap());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // Any string, quoted by the writer, reads back as itself.
        let quoted = json::quote(text);
        assert_eq!(serde_json::from_str::<String>(&quoted).unwrap(), text);
    }
});

fn same_tree(v: &json::Value<'_>, s: &Serde) {
    match s {
        Serde::Null => assert!(v.is_null()),
        Serde::Bool(b) => assert_eq!(v.bool().unwrap(), *b),
        Serde::String(t) => assert_eq!(v.as_str().unwrap(), t),
        Serde::Array(items) => {
            let ours = v.array().unwrap();
            assert_eq!(ours.len(), items.len());
            for (a, b) in ours.iter().zip(items) {
                same_tree(a, b);
            }
        }
        Serde::Object(map) => {
            // serde_json keeps the last of duplicate keys; so does a lookup here.
            let members: Vec<(&str, &json::Value<'_>)> = v.members().unwrap().collect();
            for (key, value) in map {
                let last = members.iter().rev().find(|(k, _)| k == key).unwrap();
                same_tree(last.1, value);
            }
            for (key, _) in &members {
                assert!(map.contains_key(*key));
            }
        }
        Serde::Number(n) => same_number(v, n),
    }
}

fn same_number(v: &json::Value<'_>, n: &serde_json::Number) {
    // With arbitrary_precision serde_json keeps the number's digits (its spelling of the
    // exponent may differ): the core's text is the same number, and converts to the integers
    // serde_json's own readers take from it (`-0` and `1e2` are floats to them).
    let mut text = String::new();
    v.write_to(&mut text);
    let value = |t: &str| t.parse::<f64>().ok().map(f64::to_bits);
    assert_eq!(value(&text), value(&n.to_string()), "{text} vs {n}");
    let digits = |t: &str| t.split(['e', 'E']).next().unwrap_or("").to_string();
    assert_eq!(digits(&text), digits(&n.to_string()), "{text} vs {n}");
    assert_eq!(
        v.u64().ok(),
        serde_json::from_str::<u64>(&text).ok(),
        "u64 of {text}"
    );
    assert_eq!(
        v.i64().ok(),
        serde_json::from_str::<i64>(&text).ok(),
        "i64 of {text}"
    );
    assert_eq!(
        v.u32().ok(),
        serde_json::from_str::<u32>(&text).ok(),
        "u32 of {text}"
    );
    assert_eq!(
        v.i32().ok(),
        serde_json::from_str::<i32>(&text).ok(),
        "i32 of {text}"
    );
    assert_eq!(
        v.u16().ok(),
        serde_json::from_str::<u16>(&text).ok(),
        "u16 of {text}"
    );
    // Floats: the core's own reader, exact for the numbers APIs send, close beyond.
    let exact: f64 = text.parse().unwrap();
    match (v.f64(), exact.is_finite()) {
        (Ok(ours), true) if simple(&text) => {
            assert_eq!(ours.to_bits(), exact.to_bits(), "f64 of {text}")
        }
        (Ok(ours), true) => {
            let ulps = (ours.to_bits() as i64 - exact.to_bits() as i64).unsigned_abs();
            let tiny = exact.abs() < f64::MIN_POSITIVE;
            assert!(ulps <= 8 || tiny, "f64 of {text}: {ours} vs {exact}");
        }
        // Either side of the largest double, the two may round differently.
        (Ok(ours), false) => assert!(ours.abs() > 1e307, "f64 of {text}: {ours}"),
        (Err(_), true) => assert!(exact.abs() > 1e307, "f64 of {text} refused"),
        (Err(_), false) => {}
    }
}

/// At most 15 significant digits and a decimal exponent within ±22: what the core's reader
/// promises to convert exactly.
fn simple(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().unwrap_or(i32::MAX)),
        None => (text, 0),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let leading = digits.trim_start_matches('0');
    let significant = leading.trim_end_matches('0');
    // Trailing zeros scale the significant digits as an exponent does.
    let zeros = (leading.len() - significant.len()) as i32;
    let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i32);
    let scale = exponent.saturating_sub(fraction).saturating_add(zeros);
    significant.len() <= 15 && (-22..=22).contains(&scale)
}
