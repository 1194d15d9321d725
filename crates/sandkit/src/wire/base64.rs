//! Standard base64 (RFC 4648, with padding), the encoding of protobuf `bytes` in JSON (the
//! stdin and terminal input the client sends) and of HTTP Basic credentials. Only encoding:
//! what the client receives as bytes comes in the binary codec. A few lines here instead of a
//! general crate: the wasm build is measured in kilobytes.

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

#[cfg(test)]
mod tests {
    use super::*;
    use ::base64::Engine;

    #[test]
    fn encodes_the_rfc4648_vectors() {
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
        }
    }

    #[test]
    fn every_length_and_byte_encodes_as_the_base64_crate_does() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            let want = ::base64::engine::general_purpose::STANDARD.encode(&data[..len]);
            assert_eq!(encode(&data[..len]), want, "length {len}");
        }
    }
}
