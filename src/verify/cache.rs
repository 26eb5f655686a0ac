//! The verifier's memory: keys by digest, digests known not to be keys, and
//! service tokens by digest, all bounded (moka).
//!
//! Two rules keep it from ever answering with a revoked key:
//! - [`VerifyCache::forget`] runs after the revoking transaction commits (in this
//!   instance directly, in the others through `LISTEN/NOTIFY`), and bumps a
//!   generation number. A lookup that read the store before that commit may only
//!   fill the cache if the generation is still the one it saw when it started.
//! - While the cross-instance notifications are not being received (PostgreSQL
//!   connection lost), the cache is not trusted: every lookup goes to the store.
//!
//! While distrusted, the cache still keeps each key's last known answer (what
//! it held when the notifications stopped, replaced by every store read
//! since). Those are answered only when the store cannot be read either, and
//! only for a bounded time after the loss ([`VerifyCache::last_known_key`]):
//! a PostgreSQL restart then costs cached keys nothing, and a revocation
//! another instance commits while this one is cut off from PostgreSQL is
//! honoured here at most that long late (docs/reliability.md).

use super::lookup::KeyRecord;
use crate::changes::Change;
use crate::service_tokens::store::ServiceCaller;
use moka::sync::Cache;
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a found key may be served from memory without a change notice:
/// a safety net under the notifications, not the mechanism.
const FOUND_TTL: Duration = Duration::from_secs(300);
/// How long "no such key" is remembered, so a flood of random keys cannot
/// hammer the store, while a digest never goes unanswered for long.
const UNKNOWN_TTL: Duration = Duration::from_secs(10);
const UNKNOWN_CAPACITY: u64 = 100_000;
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(60);
const SERVICE_TOKEN_CAPACITY: u64 = 10_000;

/// A SHA-256 digest as the cache holds it: its 32 bytes, not its 64 hex
/// characters. The key is the one thing every entry stores twice over in
/// moka's bookkeeping; as bytes it is one small allocation instead of two
/// (docs/benchmarks.md, memory at a million keys).
type DigestBytes = [u8; 32];

/// The bytes of a hex digest; `None` for anything else (then nothing is cached for it).
fn digest_bytes(hex: &str) -> Option<DigestBytes> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(hex, &mut bytes).ok()?;
    Some(bytes)
}

/// What the cache knows about a digest.
pub enum Cached<T> {
    Found(T),
    Unknown,
}

/// A point in the cache's history, taken before reading the store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

pub struct VerifyCache {
    keys: Cache<DigestBytes, Arc<KeyRecord>>,
    unknown_keys: Cache<DigestBytes, ()>,
    /// `None`: no valid token has this digest.
    service_tokens: Cache<DigestBytes, Option<ServiceCaller>>,
    generation: RwLock<u64>,
    trusted: AtomicBool,
    /// When the cache was last trusted, while it is not.
    distrusted_since: parking_lot::Mutex<Option<Instant>>,
}

impl VerifyCache {
    /// `trusted` is false on PostgreSQL until the change listener is subscribed.
    pub fn new(key_capacity: u64, trusted: bool) -> Self {
        Self {
            keys: Cache::builder()
                .max_capacity(key_capacity)
                .time_to_live(FOUND_TTL)
                .build(),
            unknown_keys: Cache::builder()
                .max_capacity(UNKNOWN_CAPACITY)
                .time_to_live(UNKNOWN_TTL)
                .build(),
            service_tokens: Cache::builder()
                .max_capacity(SERVICE_TOKEN_CAPACITY)
                .time_to_live(SERVICE_TOKEN_TTL)
                .build(),
            generation: RwLock::new(0),
            trusted: AtomicBool::new(trusted),
            distrusted_since: parking_lot::Mutex::new(None),
        }
    }

    /// How many keys are cached, after the cache's pending evictions have run.
    pub fn key_count(&self) -> u64 {
        self.keys.run_pending_tasks();
        self.keys.entry_count()
    }

    pub fn key(&self, digest: &str) -> Option<Cached<Arc<KeyRecord>>> {
        if !self.is_trusted() {
            return None;
        }
        let digest = digest_bytes(digest)?;
        if let Some(record) = self.keys.get(&digest) {
            return Some(Cached::Found(record));
        }
        self.unknown_keys.get(&digest).map(|()| Cached::Unknown)
    }

    pub fn service_token(&self, digest: &str) -> Option<Option<ServiceCaller>> {
        if !self.is_trusted() {
            return None;
        }
        self.service_tokens.get(&digest_bytes(digest)?)
    }

    /// Taken before a store read whose answer will be cached.
    pub fn generation(&self) -> Generation {
        Generation(*self.generation.read())
    }

    pub fn remember_key(&self, seen: Generation, digest: &str, record: Option<Arc<KeyRecord>>) {
        let Some(digest) = digest_bytes(digest) else {
            return;
        };
        // Each answer replaces the other kind: a distrusted cache keeps both
        // across reads, and its last known answer must be the latest.
        self.insert_if_current(seen, || match record {
            Some(record) => {
                self.unknown_keys.invalidate(&digest);
                self.keys.insert(digest, record);
            }
            None => {
                self.keys.invalidate(&digest);
                self.unknown_keys.insert(digest, ());
            }
        });
    }

    pub fn remember_service_token(
        &self,
        seen: Generation,
        digest: &str,
        caller: Option<ServiceCaller>,
    ) {
        let Some(digest) = digest_bytes(digest) else {
            return;
        };
        self.insert_if_current(seen, || self.service_tokens.insert(digest, caller));
    }

    /// Drops what a change made stale. Runs after the change committed.
    pub fn forget(&self, change: &Change) {
        let mut generation = self.generation.write();
        *generation += 1;
        match change {
            Change::Keys(digests) => {
                for digest in digests.iter().filter_map(|hex| digest_bytes(hex)) {
                    self.keys.invalidate(&digest);
                    self.unknown_keys.invalidate(&digest);
                }
            }
            Change::ServiceToken(digest) => {
                if let Some(digest) = digest_bytes(digest) {
                    self.service_tokens.invalidate(&digest);
                }
            }
            Change::Everything => {
                self.keys.invalidate_all();
                self.unknown_keys.invalidate_all();
                self.service_tokens.invalidate_all();
            }
        }
    }

    /// Stops (or resumes) answering from memory. Resuming starts from empty:
    /// what was kept meanwhile may have missed notifications. Stopping keeps
    /// the entries as last known answers, from the first loss on.
    pub fn set_trusted(&self, trusted: bool) {
        let mut since = self.distrusted_since.lock();
        if trusted {
            self.forget(&Change::Everything);
            *since = None;
        } else if self.is_trusted() {
            *since = Some(Instant::now());
        }
        self.trusted.store(trusted, Ordering::SeqCst);
    }

    /// A key's last known record, for when the store cannot be read: only
    /// while the cache is distrusted, and for at most `outage` after it
    /// stopped being trusted (a trusted cache has nothing more to offer than
    /// [`VerifyCache::key`] did).
    pub fn last_known_key(&self, digest: &str, outage: Duration) -> Option<Arc<KeyRecord>> {
        self.within_outage(outage)?;
        self.keys.get(&digest_bytes(digest)?)
    }

    /// A service token's last known caller, under the rule of [`VerifyCache::last_known_key`].
    pub fn last_known_service_token(
        &self,
        digest: &str,
        outage: Duration,
    ) -> Option<ServiceCaller> {
        self.within_outage(outage)?;
        self.service_tokens.get(&digest_bytes(digest)?).flatten()
    }

    fn within_outage(&self, outage: Duration) -> Option<()> {
        if self.is_trusted() {
            return None;
        }
        let since = (*self.distrusted_since.lock())?;
        (since.elapsed() <= outage).then_some(())
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    /// Holding the generation's read lock while inserting means no `forget` can
    /// run between the check and the insert. A distrusted cache inserts too:
    /// not to answer from (`key` does not), but so that its last known
    /// answers are the store's latest reads.
    fn insert_if_current(&self, seen: Generation, insert: impl FnOnce()) {
        let current = self.generation.read();
        if *current == seen.0 {
            insert();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Environment;

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn record() -> Arc<KeyRecord> {
        Arc::new(KeyRecord {
            id: "k1".into(),
            workspace_id: "w1".into(),
            environment: Environment::Live,
            scopes: vec!["read-only".into()],
            owner_id: "u1".into(),
            name: "Billing".into(),
            expires_at: None,
            grace_ends_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            ip_allowlist: None,
            credits: None,
            masked: "kw_live_abcd…wxyz".into(),
        })
    }

    #[test]
    fn a_read_that_started_before_a_change_is_not_cached() {
        let cache = VerifyCache::new(100, true);
        let seen = cache.generation();
        cache.forget(&Change::Keys(vec![DIGEST.into()]));
        cache.remember_key(seen, DIGEST, Some(record()));
        assert!(cache.key(DIGEST).is_none());

        let seen = cache.generation();
        cache.remember_key(seen, DIGEST, Some(record()));
        assert!(matches!(cache.key(DIGEST), Some(Cached::Found(_))));
        cache.forget(&Change::Keys(vec![DIGEST.into()]));
        assert!(cache.key(DIGEST).is_none());
    }

    #[test]
    fn last_known_answers_only_while_distrusted_and_within_the_outage() {
        let cache = VerifyCache::new(100, true);
        let outage = Duration::from_secs(60);
        cache.remember_key(cache.generation(), DIGEST, Some(record()));
        assert!(cache.last_known_key(DIGEST, outage).is_none(), "trusted");
        cache.set_trusted(false);
        assert!(cache.key(DIGEST).is_none());
        assert_eq!(cache.last_known_key(DIGEST, outage), Some(record()));
        assert!(cache.last_known_key(DIGEST, Duration::ZERO).is_none());
        // A read while distrusted replaces the last known answer.
        let mut revoked = (*record()).clone();
        revoked.revoked_at = Some(chrono::Utc::now());
        cache.remember_key(cache.generation(), DIGEST, Some(Arc::new(revoked.clone())));
        assert_eq!(
            cache.last_known_key(DIGEST, outage).as_deref(),
            Some(&revoked)
        );
        // Trusted again: nothing of the outage is kept.
        cache.set_trusted(true);
        assert!(cache.key(DIGEST).is_none());
        cache.set_trusted(false);
        assert!(cache.last_known_key(DIGEST, outage).is_none());
    }

    #[test]
    fn the_cache_holds_digests_as_bytes_and_nothing_that_is_not_one() {
        let cache = VerifyCache::new(100, true);
        cache.remember_key(cache.generation(), DIGEST, Some(record()));
        // The same digest in capitals is the same 32 bytes.
        let upper = DIGEST.to_uppercase();
        assert!(matches!(cache.key(&upper), Some(Cached::Found(_))));
        cache.forget(&Change::Keys(vec![upper]));
        assert!(cache.key(DIGEST).is_none());

        let not_hex = "z".repeat(64);
        cache.remember_key(cache.generation(), &not_hex, None);
        assert!(cache.key(&not_hex).is_none());
        assert_eq!(cache.key_count(), 0);
    }

    #[test]
    fn an_untrusted_cache_answers_nothing_and_keeps_nothing() {
        let cache = VerifyCache::new(100, true);
        cache.remember_key(cache.generation(), DIGEST, None);
        assert!(matches!(cache.key(DIGEST), Some(Cached::Unknown)));
        cache.set_trusted(false);
        assert!(cache.key(DIGEST).is_none());
        cache.remember_key(cache.generation(), DIGEST, None);
        cache.set_trusted(true);
        assert!(cache.key(DIGEST).is_none());
    }
}
