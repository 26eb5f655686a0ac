//! Standard Webhooks signatures (https://www.standardwebhooks.com/): the
//! secret is `whsec_` and the base64 of 32 random bytes; a message is signed
//! as `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed
//! with the decoded secret, so that receivers can use any library of the spec.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Every signing secret starts with this (the spec's prefix).
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret. Not `Debug`: it is what receivers trust.
pub struct SigningSecret(String);

impl SigningSecret {
    /// 32 bytes from the OS, as the spec suggests (24 to 64 allowed).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// A secret as stored.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> Option<String> {
        let key = STANDARD
            .decode(self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0))
            .ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        Some(format!(
            "v1,{}",
            STANDARD.encode(mac.finalize().into_bytes())
        ))
    }
}

/// The `webhook-signature` header: the current secret's signature, then the
/// previous secret's while it still signs after a rotation, space-separated.
pub fn signature_header(
    secrets: &[&SigningSecret],
    id: &str,
    timestamp: i64,
    body: &str,
) -> Option<String> {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Option<_>>()?;
    Some(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_like_the_specifications_reference_example() {
        let secret = SigningSecret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let signature = secret
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn new_secrets_are_32_random_bytes_after_the_prefix() {
        let a = SigningSecret::generate();
        let b = SigningSecret::generate();
        assert_ne!(a.expose(), b.expose());
        let body = a.expose().strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(STANDARD.decode(body).unwrap().len(), 32);
    }

    #[test]
    fn both_secrets_sign_during_a_rotation() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        let header = signature_header(&[&new, &old], "msg_1", 1, "{}").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], new.sign("msg_1", 1, "{}").unwrap());
        assert_eq!(parts[1], old.sign("msg_1", 1, "{}").unwrap());
    }
}
