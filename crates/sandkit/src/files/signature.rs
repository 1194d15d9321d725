//! The v1 URL signature of the daemon's `/files`: anyone holding a signed URL may read (or
//! write) that one path as that user, without the access token.

/// `v1_` + unpadded base64 of sha256(`<path>:<operation>:<user>:<token>[:<expiration>]`);
/// `operation` is `read` or `write`, `user` empty for the default user.
pub fn sign(
    path: &str,
    operation: &str,
    user: &str,
    token: &str,
    expiration: Option<i64>,
) -> String {
    let mut text = format!("{path}:{operation}:{user}:{token}");
    if let Some(exp) = expiration {
        text.push(':');
        if exp < 0 {
            text.push('-');
        }
        text.push_str(&crate::json::decimal(exp.unsigned_abs()));
    }
    let digest = sha256(text.as_bytes());
    let encoded = crate::wire::base64::encode(&digest);
    format!("v1_{}", encoded.trim_end_matches('='))
}

/// A signature and its expiry (unix seconds), as the official SDK's `getSignature` makes them
/// for a signed `/files` URL: valid `expiration_secs` from `now_ms` (negative: already
/// expired), forever when `None`.
pub fn signature_for(
    path: &str,
    operation: &str,
    user: Option<&str>,
    token: Option<&str>,
    expiration_secs: Option<i64>,
    now_ms: f64,
) -> crate::Result<(String, Option<i64>)> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(crate::Error::invalid_argument(
            "Access token is not set and signature cannot be generated!",
        ));
    };
    if operation != "read" && operation != "write" {
        return Err(crate::Error::invalid_argument(format!(
            "operation must be 'read' or 'write', got {}",
            crate::json::quote(operation)
        )));
    }
    let expiration = expiration_secs.map(|s| ((now_ms / 1000.0).floor() as i64).saturating_add(s));
    let signature = sign(path, operation, user.unwrap_or(""), token, expiration);
    Ok((signature, expiration))
}

/// SHA-256 (FIPS 180-4), written as the plain loop of the standard: a few hundred bytes of
/// wasm where an unrolled implementation takes several KB, and a signature hashes one short
/// string.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    // The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    // The first 32 bits of the fractional parts of the square roots of the first 8 primes.
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    // The message, a 1 bit, zeros, and its length in bits as 64 bits big-endian, in whole
    // 64-byte blocks.
    let mut padded = data.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    let mut w = [0u32; 64];
    for block in padded.chunks_exact(64) {
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{sha256, sign};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        for (input, digest) in [
            (
                &b""[..],
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ] {
            assert_eq!(hex(&sha256(input)), digest);
        }
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha256(&million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        // Every length around the block and padding boundaries.
        use sha2::Digest;
        for len in 0..200 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            assert_eq!(sha256(&data)[..], sha2::Sha256::digest(&data)[..], "{len}");
        }
    }

    #[test]
    fn matches_the_published_vector() {
        assert_eq!(
            sign("/home/user/hello.txt", "read", "root", "tok", None),
            "v1_TRlHfiNgpf44c8IeZCoou7xiz+m60QkIJ1Pm8NXrjXk"
        );
    }

    #[test]
    fn the_expiration_changes_the_signature() {
        let a = sign("/x", "write", "", "tok", None);
        let b = sign("/x", "write", "", "tok", Some(1_700_000_000));
        assert_ne!(a, b);
        assert!(b.starts_with("v1_") && !b.ends_with('='));
    }
}
