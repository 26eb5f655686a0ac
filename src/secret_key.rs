//! `KEYWARD_SECRET_KEY`: the key that seals secrets Keyward must read back
//! later (today: two-factor sign-in secrets), so that a copy of the database
//! alone does not give them away.
//!
//! Sealing is XChaCha20-Poly1305 with a random 24-byte nonce (safe to draw at
//! random for any number of messages) and the owner's id as associated data:
//! a sealed value copied to another user's row does not open. The stored form
//! is `v1.` followed by base64 of nonce and ciphertext, so that a later scheme
//! can sit beside it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const VERSION: &str = "v1.";
const NONCE_LEN: usize = 24;

/// The 32-byte key. `Debug` never prints it.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

/// A sealed value that does not open: another key, another owner, or damage.
#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened (wrong KEYWARD_SECRET_KEY, or the row was altered)")]
pub struct Unsealable;

impl SecretKey {
    /// Reads 32 bytes given as 64 hex digits or as base64 (`openssl rand -base64 32`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            BASE64.decode(text).ok()
        };
        let bytes = bytes.ok_or(
            "expected 32 random bytes as 64 hex digits or base64 (openssl rand -base64 32)",
        )?;
        let key: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "expected 32 bytes, got {}: make one with openssl rand -base64 32",
                bytes.len()
            )
        })?;
        Ok(Self(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Seals `plain` for `owner` (the id of the row's user).
    pub fn seal(&self, plain: &[u8], owner: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain,
            aad: owner.as_bytes(),
        };
        // Encryption fails only for messages of gigabytes; these are a few dozen bytes.
        #[allow(clippy::expect_used)]
        let sealed = self
            .cipher()
            .encrypt(&nonce, payload)
            .expect("a short secret always seals");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        format!("{VERSION}{}", BASE64.encode(stored))
    }

    /// Opens what [`seal`](Self::seal) made for the same `owner`.
    pub fn open(&self, stored: &str, owner: &str) -> Result<Vec<u8>, Unsealable> {
        let encoded = stored.strip_prefix(VERSION).ok_or(Unsealable)?;
        let bytes = BASE64.decode(encoded).map_err(|_| Unsealable)?;
        if bytes.len() <= NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: owner.as_bytes(),
        };
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| Unsealable)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn reads_hex_and_base64_of_32_bytes_only() {
        let from_hex = SecretKey::parse(HEX).unwrap();
        let from_base64 = SecretKey::parse(&BASE64.encode(from_hex.0)).unwrap();
        assert_eq!(from_hex.0, from_base64.0);
        let short = SecretKey::parse(&BASE64.encode([7u8; 16])).unwrap_err();
        assert!(short.contains("got 16"), "{short}");
        assert!(SecretKey::parse("not a key at all!").is_err());
        assert!(SecretKey::parse("").is_err());
    }

    #[test]
    fn opens_only_for_the_same_key_and_owner() {
        let key = SecretKey::parse(HEX).unwrap();
        let sealed = key.seal(b"JBSWY3DPEHPK3PXP", "user-1");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(key.open(&sealed, "user-1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(
            key.open(&sealed, "user-2").is_err(),
            "moved to another user"
        );
        let other = SecretKey::parse(&HEX.replace("1f", "ff")).unwrap();
        assert!(other.open(&sealed, "user-1").is_err(), "another key");
        let mut damaged = sealed.clone().into_bytes();
        let last = damaged.len() - 2;
        damaged[last] = if damaged[last] == b'A' { b'B' } else { b'A' };
        assert!(
            key.open(&String::from_utf8(damaged).unwrap(), "user-1")
                .is_err()
        );
        assert!(key.open("v1.", "user-1").is_err());
        assert!(key.open("plain", "user-1").is_err());
    }

    #[test]
    fn seals_differently_every_time() {
        let key = SecretKey::parse(HEX).unwrap();
        assert_ne!(key.seal(b"same", "u"), key.seal(b"same", "u"));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = SecretKey::parse(HEX).unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey(****)");
    }
}
