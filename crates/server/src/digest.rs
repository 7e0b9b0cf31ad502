//! The server's one home for content digests: SHA-256 as the lower-case hex that
//! names blobs, session tokens and idempotent requests. A leaf.

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `s` is a SHA-256 in the form [`sha256_hex`] writes (so it can name a file safely):
/// the core's rule, which the signed form's handwriting digest also follows.
pub use jsjb_core::form::is_sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_nothing_is_the_published_one_and_reads_back_as_a_digest() {
        let empty = sha256_hex(b"");
        assert_eq!(
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_sha256_hex(&empty));
        assert!(!is_sha256_hex(&empty.to_uppercase()));
        assert!(!is_sha256_hex("../../etc/passwd"));
    }
}
