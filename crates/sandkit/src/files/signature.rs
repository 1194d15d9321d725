//! The v1 URL signature of the daemon's `/files`: anyone holding a signed URL may read (or
//! write) that one path as that user, without the access token.

use sha2::{Digest, Sha256};

/// `v1_` + unpadded base64 of sha256(`<path>:<operation>:<user>:<token>[:<expiration>]`);
/// `operation` is `read` or `write`, `user` empty for the default user.
pub fn sign(
    path: &str,
    operation: &str,
    user: &str,
    token: &str,
    expiration: Option<u64>,
) -> String {
    let mut text = format!("{path}:{operation}:{user}:{token}");
    if let Some(exp) = expiration {
        text.push_str(&format!(":{exp}"));
    }
    let digest = Sha256::digest(text.as_bytes());
    let encoded = crate::wire::base64::encode(&digest);
    format!("v1_{}", encoded.trim_end_matches('='))
}

#[cfg(test)]
mod tests {
    use super::sign;

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
