//! Standard base64 (RFC 4648, with padding), the encoding of protobuf `bytes` in JSON and of
//! HTTP Basic credentials. A few lines here instead of a general crate: the wasm build is
//! measured in kilobytes.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Each byte's 6-bit value, or `INVALID`: one lookup per character instead of a match.
const INVALID: u8 = 0xff;
const VALUES: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn invalid_character(group: &[u8]) -> String {
    let c = group
        .iter()
        .copied()
        .find(|&c| VALUES[c as usize] == INVALID)
        .unwrap_or(b'=');
    let shown = crate::json::quote(char::from(c).encode_utf8(&mut [0; 4]));
    format!("invalid base64 character {shown}")
}

/// Decodes standard base64; padding is optional, anything else invalid is an error.
/// Whole groups of four are decoded into place, three bytes at a time, with no per-byte
/// call: command output (the bulk of what arrives as base64) decodes at memory speed.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, String> {
    let body = match text {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        all => all,
    };
    if body.len() % 4 == 1 {
        return Err("invalid base64 length".into());
    }
    let (whole, tail) = body.split_at(body.len() / 4 * 4);
    let mut out = vec![0u8; whole.len() / 4 * 3 + tail.len().saturating_sub(1)];
    let (out_whole, out_tail) = out.split_at_mut(whole.len() / 4 * 3);
    // Plain indexing, no iterator adaptors: the wasm build is optimised for size, where
    // those stay calls per group.
    for g in 0..whole.len() / 4 {
        let (i, o) = (g * 4, g * 3);
        let a = VALUES[whole[i] as usize];
        let b = VALUES[whole[i + 1] as usize];
        let c = VALUES[whole[i + 2] as usize];
        let d = VALUES[whole[i + 3] as usize];
        // An invalid character is 0xff, so any of them sets a bit above the six.
        if (a | b | c | d) & 0xc0 != 0 {
            return Err(invalid_character(&whole[i..i + 4]));
        }
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        out_whole[o] = (n >> 16) as u8;
        out_whole[o + 1] = (n >> 8) as u8;
        out_whole[o + 2] = n as u8;
    }
    if !tail.is_empty() {
        let mut n = 0u32;
        for (i, &c) in tail.iter().enumerate() {
            let v = VALUES[c as usize];
            if v == INVALID {
                return Err(invalid_character(tail));
            }
            n |= u32::from(v) << (18 - 6 * i as u32);
        }
        out_tail.copy_from_slice(&n.to_be_bytes()[1..tail.len()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("user:", "dXNlcjo="),
        ] {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded.as_bytes()).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(encode(&all).as_bytes()).unwrap(), all);
        assert_eq!(decode(b"Zm8").unwrap(), b"fo");
        assert!(decode(b"Zm9v!").is_err());
        assert!(decode(b"Z").is_err());
    }

    #[test]
    fn every_length_round_trips_and_every_bad_character_is_named() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            let text = encode(&data[..len]);
            assert_eq!(
                decode(text.as_bytes()).unwrap(),
                &data[..len],
                "length {len}"
            );
            assert_eq!(
                decode(text.trim_end_matches('=').as_bytes()).unwrap(),
                &data[..len]
            );
            for at in 0..text.trim_end_matches('=').len() {
                for bad in [b'!', b'=', b'-', 0xc3] {
                    // '=' in either of the last two places is padding, which may be valid.
                    if bad == b'=' && at + 2 >= text.len() {
                        continue;
                    }
                    let mut broken = text.clone().into_bytes();
                    broken[at] = bad;
                    let err = decode(&broken).unwrap_err();
                    assert!(err.starts_with("invalid base64"), "{err}");
                }
            }
        }
        assert_eq!(
            decode(b"Zm9v!m9v").unwrap_err(),
            "invalid base64 character \"!\""
        );
        assert_eq!(
            decode(b"Zm9vYm-=").unwrap_err(),
            "invalid base64 character \"-\""
        );
    }
}
