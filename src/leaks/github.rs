//! GitHub's signature on a secret-scanning report: ECDSA P-256 / SHA-256 over
//! the raw body, base64 DER in `Github-Public-Key-Signature`, the key's id in
//! `Github-Public-Key-Identifier`. The public keys come from
//! `KEYWARD_GITHUB_KEYS_URL` (GitHub's `meta/public_keys/secret_scanning`),
//! cached for an hour and fetched again when an unknown identifier arrives —
//! but never more than once a minute, so that reports with made-up identifiers
//! cannot make Keyward hammer that URL.

use crate::clock::Clock;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// GitHub's document of secret-scanning public keys, the default of `KEYWARD_GITHUB_KEYS_URL`.
pub const DEFAULT_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";
/// How long fetched keys are used before they are fetched again.
const FRESH_FOR: Duration = Duration::hours(1);
/// The least time between two fetches, whatever arrives: anyone can send a
/// made-up key id, and GitHub allows 60 unauthenticated requests an hour per
/// IP address, which several instances behind one address share.
const MIN_FETCH_INTERVAL: Duration = Duration::minutes(10);
/// How long one fetch may take.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Largest keys document read (GitHub's is a few KiB).
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why a report's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Github-Public-Key-Identifier or Github-Public-Key-Signature header is missing")]
    Missing,
    #[error("the signature is not valid base64 DER, or does not match the body")]
    Invalid,
    #[error("GitHub does not list a public key with this identifier")]
    UnknownKey,
    #[error("GitHub's secret-scanning public keys could not be fetched")]
    KeysUnavailable,
}

/// The public keys, shared by every request of this instance.
#[derive(Clone)]
pub struct GithubKeys {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    client: Option<reqwest::Client>,
    clock: Clock,
    cache: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, VerifyingKey>,
    /// When the keys above were fetched.
    fetched_at: Option<DateTime<Utc>>,
    /// When a fetch was last tried, whether it worked or not.
    tried_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct KeysDocument {
    public_keys: Vec<PublicKeyEntry>,
}

#[derive(Deserialize)]
struct PublicKeyEntry {
    key_identifier: String,
    key: String,
}

impl GithubKeys {
    pub fn new(url: String, clock: Clock) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // The configured URL is the one trusted: a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            // GitHub's API refuses requests without a User-Agent.
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
            .build()
            .inspect_err(|error| tracing::error!(%error, "could not build the HTTP client for GitHub's keys"))
            .ok();
        Self {
            inner: Arc::new(Inner {
                url,
                client,
                clock,
                cache: Default::default(),
            }),
        }
    }

    /// Checks GitHub's signature of `body`.
    pub async fn verify(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let (Some(key_id), Some(signature)) = (
            key_id.map(str::trim).filter(|id| !id.is_empty()),
            signature.map(str::trim).filter(|sig| !sig.is_empty()),
        ) else {
            return Err(SignatureError::Missing);
        };
        // Decoded before any fetch: garbage costs no request to GitHub.
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| SignatureError::Invalid)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::Invalid)?;
        let key = self.key(key_id).await?;
        key.verify(body, &signature)
            .map_err(|_| SignatureError::Invalid)
    }

    /// The public key named `key_id`, fetching the document when the cache is
    /// stale or does not know the name (at most once a minute).
    async fn key(&self, key_id: &str) -> Result<VerifyingKey, SignatureError> {
        let mut cache = self.inner.cache.lock().await;
        let now = self.inner.clock.now();
        let stale = cache.fetched_at.is_none_or(|at| now - at >= FRESH_FOR);
        if stale && cache.may_fetch(now) {
            self.refresh(&mut cache, now).await;
        }
        if let Some(key) = cache.keys.get(key_id) {
            return Ok(*key);
        }
        // An identifier we do not know: GitHub may have rotated its keys.
        if cache.may_fetch(now) {
            self.refresh(&mut cache, now).await;
            if let Some(key) = cache.keys.get(key_id) {
                return Ok(*key);
            }
        }
        if cache.keys.is_empty() {
            Err(SignatureError::KeysUnavailable)
        } else {
            Err(SignatureError::UnknownKey)
        }
    }

    /// Fetches the document; on failure the keys fetched before stay in use.
    async fn refresh(&self, cache: &mut Cache, now: DateTime<Utc>) {
        cache.tried_at = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.len(),
                    "fetched GitHub's secret-scanning public keys"
                );
                cache.keys = keys;
                cache.fetched_at = Some(now);
            }
            Err(reason) => tracing::warn!(
                url = %self.inner.url,
                %reason,
                "could not fetch GitHub's secret-scanning public keys"
            ),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, VerifyingKey>, String> {
        let client = self.inner.client.as_ref().ok_or("no HTTP client")?;
        let mut response = client
            .get(&self.inner.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("the document is over {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_document(&body)
    }
}

impl Cache {
    fn may_fetch(&self, now: DateTime<Utc>) -> bool {
        self.tried_at
            .is_none_or(|at| now - at >= MIN_FETCH_INTERVAL)
    }
}

/// The keys of a `{"public_keys": [{"key_identifier", "key", "is_current"}]}`
/// document. Keys that are not current are kept: GitHub may still sign with them.
fn parse_document(body: &[u8]) -> Result<HashMap<String, VerifyingKey>, String> {
    let document: KeysDocument =
        serde_json::from_slice(body).map_err(|error| format!("not a keys document: {error}"))?;
    let mut keys = HashMap::with_capacity(document.public_keys.len());
    for entry in document.public_keys {
        match VerifyingKey::from_public_key_pem(&entry.key) {
            Ok(key) => {
                keys.insert(entry.key_identifier, key);
            }
            Err(error) => tracing::warn!(
                key_identifier = %entry.key_identifier,
                %error,
                "skipped a GitHub public key that is not a P-256 PEM key"
            ),
        }
    }
    if keys.is_empty() {
        return Err("the document lists no usable key".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;

    fn document(id: &str, key: &SigningKey) -> Vec<u8> {
        let pem = key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        serde_json::json!({ "public_keys": [
            { "key_identifier": id, "key": pem, "is_current": true },
            { "key_identifier": "broken", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "is_current": false },
        ]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_document_yields_its_usable_keys_and_they_verify_der_signatures() {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let keys = parse_document(&document("k1", &signing)).unwrap();
        assert_eq!(keys.len(), 1);
        let body = b"[{\"token\":\"x\"}]";
        let signature: Signature = signing.sign(body);
        let der = signature.to_der();
        let parsed = Signature::from_der(der.as_bytes()).unwrap();
        assert!(keys["k1"].verify(body, &parsed).is_ok());
        assert!(keys["k1"].verify(b"[]", &parsed).is_err());
    }

    #[test]
    fn a_document_without_keys_is_a_failed_fetch() {
        assert!(parse_document(br#"{"public_keys": []}"#).is_err());
        assert!(parse_document(b"<html>").is_err());
    }
}
