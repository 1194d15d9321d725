//! The `metadata` query parameter of `GET /v2/sandboxes`.
//!
//! The official SDK percent-encodes every key and value, joins the pairs as a form string, and
//! its query layer then percent-encodes that string once more. Observed on the wire:
//! `{"a b": "c&d"}` → `metadata=a%252520b%3Dc%252526d`. [`encode_query_value`] gives the value
//! after `metadata=`; [`decode`] undoes what is left once the HTTP layer has decoded the query.

use super::StringMap;

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is percent-encoded.
pub fn encode_uri_component(s: &str) -> String {
    encode_with(s, |b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
    })
}

/// `application/x-www-form-urlencoded` serialization of one name or value, as `URLSearchParams`
/// does it: space becomes `+`, everything but `A-Z a-z 0-9 * - . _` is percent-encoded.
pub fn form_encode(s: &str) -> String {
    let spaced = encode_with(s, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_' | b' ')
    });
    spaced.replace(' ', "+")
}

fn encode_with(s: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// The value to put after `metadata=` in the query string, already fully encoded.
pub fn encode_query_value(metadata: &StringMap) -> String {
    let mut form = String::new();
    for (k, v) in metadata {
        if !form.is_empty() {
            form.push('&');
        }
        form.push_str(&form_encode(&encode_uri_component(k)));
        form.push('=');
        form.push_str(&form_encode(&encode_uri_component(v)));
    }
    encode_uri_component(&form)
}

/// Why a metadata filter could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataDecodeError(pub String);

impl std::fmt::Display for MetadataDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Percent-decodes `s`; with `plus_is_space` a `+` is a space (form decoding).
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, MetadataDecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Two hex digits, nothing else: from_str_radix alone would take `%+1` as 0x01.
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        MetadataDecodeError(format!("invalid percent escape at byte {i}"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| MetadataDecodeError("metadata is not valid UTF-8 once decoded".into()))
}

/// Decodes a `metadata` value that the HTTP layer has already percent-decoded once: a form
/// string whose names and values are percent-encoded once more. Several pairs mean AND.
pub fn decode(form: &str) -> Result<StringMap, MetadataDecodeError> {
    let mut out = StringMap::new();
    for pair in form.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(&percent_decode(k, true)?, false)?;
        let value = percent_decode(&percent_decode(v, true)?, false)?;
        if key.is_empty() {
            return Err(MetadataDecodeError("metadata key must not be empty".into()));
        }
        out.insert(key, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encodes_like_the_official_sdk() {
        // Vector observed on the wire with e2b 2.51.0.
        assert_eq!(
            encode_query_value(&map(&[("a b", "c&d")])),
            "a%252520b%3Dc%252526d"
        );
        assert_eq!(
            encode_query_value(&map(&[("userId", "123")])),
            "userId%3D123"
        );
        assert_eq!(
            encode_query_value(&map(&[("env", "dev"), ("app", "x")])),
            "app%3Dx%26env%3Ddev"
        );
    }

    #[test]
    fn decodes_after_the_http_layer() {
        // The HTTP layer turns `a%252520b%3Dc%252526d` into `a%2520b=c%2526d`.
        let once = percent_decode("a%252520b%3Dc%252526d", false).unwrap();
        assert_eq!(once, "a%2520b=c%2526d");
        assert_eq!(decode(&once).unwrap(), map(&[("a b", "c&d")]));
    }

    #[test]
    fn round_trips_awkward_strings() {
        let m = map(&[
            ("ключ/ü", "v=1&w=2 + 3%"),
            ("Case", "UPPER"),
            ("case", "lower"),
            ("e", ""),
        ]);
        let once = percent_decode(&encode_query_value(&m), false).unwrap();
        assert_eq!(decode(&once).unwrap(), m);
    }

    #[test]
    fn rejects_broken_escapes() {
        assert!(decode("a%2=b").is_err());
        assert!(decode("%FF%FE=x").is_err());
        assert!(decode("=x").is_err());
        // Two hex digits or nothing: `%+1` is not 0x01.
        assert!(percent_decode("%+1", false).is_err());
        assert!(percent_decode("a%-1", false).is_err());
        assert_eq!(percent_decode("%2b%2B", false).unwrap(), "++");
    }
}
