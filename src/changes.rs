//! Changes that in-memory caches must hear about at once: a key revoked or
//! rotated, a service token revoked.
//!
//! A change travels two ways. Inside the writing transaction, on PostgreSQL,
//! [`notify_in_tx`] queues a `NOTIFY` that the database delivers to every
//! instance only if the transaction commits. After the commit, the writer calls
//! [`ChangeFeed::publish`] so its own instance forgets the entry before the
//! response leaves, without waiting for the notification's round trip.

use crate::db::Tx;
use parking_lot::RwLock;
use std::sync::Arc;

/// The PostgreSQL channel the instances listen on.
pub const CHANNEL: &str = "keyward_changes";

/// Above this many keys in one change, instances drop their whole cache instead
/// (a `NOTIFY` payload holds at most 8000 bytes).
const MAX_DIGESTS_PER_CHANGE: usize = 64;

/// What changed, by the SHA-256 digest the caches are keyed by (never a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Keys(Vec<String>),
    ServiceToken(String),
    /// Forget everything (a bulk change, or an unreadable notification).
    Everything,
}

impl Change {
    /// A change to these keys; many keys at once become [`Change::Everything`].
    pub fn keys(digests: Vec<String>) -> Option<Self> {
        match digests.len() {
            0 => None,
            n if n > MAX_DIGESTS_PER_CHANGE => Some(Self::Everything),
            _ => Some(Self::Keys(digests)),
        }
    }

    /// The `NOTIFY` payload: `k:<digest>,<digest>`, `s:<digest>` or `*`.
    pub fn encode(&self) -> String {
        match self {
            Self::Keys(digests) => format!("k:{}", digests.join(",")),
            Self::ServiceToken(digest) => format!("s:{digest}"),
            Self::Everything => "*".to_owned(),
        }
    }

    /// Reads a payload; anything unexpected means "forget everything", the safe reading.
    pub fn decode(payload: &str) -> Self {
        let is_digest = |d: &str| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit());
        match payload.split_once(':') {
            Some(("k", list)) => {
                let digests: Vec<String> = list.split(',').map(str::to_owned).collect();
                if digests.iter().all(|d| is_digest(d)) {
                    Self::Keys(digests)
                } else {
                    Self::Everything
                }
            }
            Some(("s", digest)) if is_digest(digest) => Self::ServiceToken(digest.to_owned()),
            _ => Self::Everything,
        }
    }
}

type Subscriber = Arc<dyn Fn(&Change) + Send + Sync>;

/// This instance's subscribers (the verifier's caches).
#[derive(Clone, Default)]
pub struct ChangeFeed {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
}

impl ChangeFeed {
    pub fn subscribe(&self, subscriber: impl Fn(&Change) + Send + Sync + 'static) {
        self.subscribers.write().push(Arc::new(subscriber));
    }

    /// Tells every subscriber, synchronously. Call after the commit.
    pub fn publish(&self, change: &Change) {
        let subscribers = self.subscribers.read().clone();
        for subscriber in subscribers {
            subscriber(change);
        }
    }
}

/// On PostgreSQL, queues a notification that is delivered to every listening
/// instance when (and only if) the transaction commits. Nothing to do on SQLite,
/// which serves one instance.
pub async fn notify_in_tx(tx: &mut Tx, change: &Change) -> Result<(), sqlx::Error> {
    if crate::db::Backend::of(tx) != crate::db::Backend::Postgres {
        return Ok(());
    }
    // The Any driver cannot decode `void`, so the call sits in a sub-select.
    sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS notified")
        .bind(CHANNEL)
        .bind(change.encode())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn payloads_round_trip() {
        for change in [
            Change::Keys(vec![DIGEST.into(), DIGEST.into()]),
            Change::ServiceToken(DIGEST.into()),
            Change::Everything,
        ] {
            assert_eq!(Change::decode(&change.encode()), change);
        }
    }

    #[test]
    fn unreadable_payloads_mean_forget_everything() {
        for payload in ["", "k:", "k:xyz", "s:", "q:abc", "hello"] {
            assert_eq!(Change::decode(payload), Change::Everything, "{payload}");
        }
    }

    #[test]
    fn many_keys_become_everything() {
        assert_eq!(Change::keys(vec![]), None);
        assert_eq!(
            Change::keys(vec![DIGEST.into(); MAX_DIGESTS_PER_CHANGE + 1]),
            Some(Change::Everything)
        );
    }
}
