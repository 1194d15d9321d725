//! Ids, tokens and generated API keys, all from the operating system's random source.

/// Fills `buf` from the OS. There is no sensible fallback if the OS has no randomness.
fn fill(buf: &mut [u8]) {
    getrandom::getrandom(buf).expect("the operating system's random source is available");
}

/// A sandbox id shaped like E2B's: 20 characters of `[a-z0-9]`.
pub fn sandbox_id() -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    const LEN: usize = 20;
    let mut out = String::with_capacity(LEN);
    let mut buf = [0u8; 32];
    while out.len() < LEN {
        fill(&mut buf);
        // Bytes of 252 and above are dropped so that every character is equally likely.
        for &b in buf.iter().filter(|&&b| b < 252) {
            if out.len() == LEN {
                break;
            }
            out.push(ALPHABET[usize::from(b % 36)] as char);
        }
    }
    out
}

/// `bytes` random bytes as lowercase hex.
pub fn hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID (version 4): a boot id, a context id.
pub fn uuid_v4() -> String {
    let mut h = hex(16).into_bytes();
    h[12] = b'4';
    h[16] = b"89ab"[usize::from(h[16] % 4)];
    hyphenated(&String::from_utf8(h).unwrap_or_default())
}

/// 32 hex digits in a UUID's `8-4-4-4-12` groups.
pub fn hyphenated(h: &str) -> String {
    let group = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        group(0..8),
        group(8..12),
        group(12..16),
        group(16..20),
        group(20..32)
    )
}

/// An API key for the server to hand out when none was configured: `sk_sandkit_<32 hex>`.
pub fn api_key() -> String {
    format!("sk_sandkit_{}", hex(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = sandbox_id();
        assert_eq!(id.len(), 20);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_ne!(sandbox_id(), id);
        let token = hex(32);
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        let key = api_key();
        assert!(key.starts_with("sk_sandkit_") && key.len() == 11 + 32);
        for _ in 0..64 {
            let uuid = uuid_v4();
            let groups: Vec<&str> = uuid.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(groups.concat().bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(groups[2].starts_with('4'), "{uuid}");
            assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{uuid}");
        }
    }
}
