//! What the verifier needs to know about a key, read from the store by digest.
//!
//! Cache misses are looked up in batches: each miss joins a queue, and a few
//! lookup workers each take everything queued (up to [`MOST_PER_LOOKUP`]) into
//! one statement. Under first-seen load, 64 concurrent misses become a handful
//! of statements instead of 64, which is most of what a miss cost the store
//! and the server (docs/benchmarks.md). A lone miss waits for no one: a worker
//! is idle and takes it at once.

use crate::db::{Db, TypedPool, retry_on_closed_connection};
use crate::keys::credits::CreditTerms;
use crate::keys::ip_allowlist::IpAllowlist;
use crate::keys::rows::{DigestKeyRow, KEYS_BY_DIGESTS_POSTGRES, KEYS_BY_DIGESTS_SQLITE};
use crate::keys::{Environment, KeyStatus};
use chrono::{DateTime, Utc};
use metrics::Counter;
use std::collections::HashMap;
use std::sync::{Arc, Once};
use tokio::sync::{mpsc, oneshot};

/// A key as the verifier caches it. Its status is worked out per request from
/// these times and "now", so expiry needs no cache invalidation; revocation and
/// rotation change the row and do.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub workspace_id: String,
    pub environment: Environment,
    pub scopes: Vec<String>,
    /// The member who created the key.
    pub owner_id: String,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub grace_ends_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
    /// At most this many at once; `None`: bursts of the whole limit.
    pub rate_limit_burst: Option<u32>,
    /// Checked against the reported client IP on every request (not at cache fill).
    pub ip_allowlist: Option<IpAllowlist>,
    /// Whether the key spends credits, and how they refill (the balance is the store's).
    pub credits: Option<CreditTerms>,
    /// `kw_live_3fJ9…a1b2`, the most that may be logged.
    pub masked: String,
}

impl KeyRecord {
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::at(now, self.revoked_at, self.grace_ends_at, self.expires_at)
    }

    /// When the key stops working: the earlier of its expiry and its rotation's grace end.
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        match (self.expires_at, self.grace_ends_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The most digests one statement looks up.
pub const MOST_PER_LOOKUP: usize = 64;

/// Statements in flight at once. More would only queue for the same two
/// cores (and, on PostgreSQL, hold more of the verifier pool's connections);
/// fewer would leave misses waiting while a statement is on the wire.
const WORKERS: usize = 4;

/// Why a lookup has no answer: the store could not be read (logged where it happened).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the store could not be read")]
pub struct StoreUnreadable;

type Answer = Result<Option<Arc<KeyRecord>>, StoreUnreadable>;

/// One cache miss waiting for its answer.
struct Miss {
    digest: String,
    reply: oneshot::Sender<Answer>,
}

/// The queue of misses and the workers that answer them.
pub struct KeyLookups {
    db: Db,
    statements: Counter,
    queue: mpsc::UnboundedSender<Miss>,
    /// Taken by the workers when the first miss starts them: they need a
    /// runtime, which the verifier's constructor may not run in.
    receiver: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<Miss>>>,
    started: Once,
}

impl KeyLookups {
    /// `statements` counts the lookups' statements (`/metrics`).
    pub fn new(db: Db, statements: Counter) -> Self {
        // Unbounded, yet bounded by the requests in flight: each miss's
        // request waits for its answer.
        let (queue, receiver) = mpsc::unbounded_channel();
        Self {
            db,
            statements,
            queue,
            receiver: parking_lot::Mutex::new(Some(receiver)),
            started: Once::new(),
        }
    }

    /// The key with this digest, if the store has one.
    pub async fn key_by_digest(&self, digest: &str) -> Answer {
        self.started.call_once(|| self.start_workers());
        let (reply, answer) = oneshot::channel();
        let miss = Miss {
            digest: digest.to_owned(),
            reply,
        };
        // Both fail only if every worker is gone (the runtime is shutting down).
        self.queue.send(miss).map_err(|_| StoreUnreadable)?;
        answer.await.unwrap_or(Err(StoreUnreadable))
    }

    fn start_workers(&self) {
        let Some(receiver) = self.receiver.lock().take() else {
            return;
        };
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..WORKERS {
            tokio::spawn(work(
                self.db.clone(),
                self.statements.clone(),
                receiver.clone(),
            ));
        }
    }
}

/// Takes whatever misses are queued, looks them up in one statement, answers
/// each; until the verifier (the queue's only sender) is dropped.
async fn work(
    db: Db,
    statements: Counter,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Miss>>>,
) {
    let mut batch = Vec::with_capacity(MOST_PER_LOOKUP);
    loop {
        // The lock is held only while waiting for the queue, not during the
        // lookup, so the next worker takes what arrives meanwhile.
        let received = receiver
            .lock()
            .await
            .recv_many(&mut batch, MOST_PER_LOOKUP)
            .await;
        if received == 0 {
            return;
        }
        statements.increment(1);
        answer(&db, std::mem::take(&mut batch)).await;
    }
}

async fn answer(db: &Db, batch: Vec<Miss>) {
    let digests: Vec<&str> = batch.iter().map(|miss| miss.digest.as_str()).collect();
    let found = match keys_by_digests(db, &digests).await {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, misses = batch.len(), "verification could not read the store");
            for miss in batch {
                // The request may have gone (its client hung up): nothing to answer.
                let _ = miss.reply.send(Err(StoreUnreadable));
            }
            return;
        }
    };
    for miss in batch {
        let answer = match found.get(&miss.digest) {
            None => Ok(None),
            Some(Ok(record)) => Ok(Some(record.clone())),
            Some(Err(())) => Err(StoreUnreadable),
        };
        let _ = miss.reply.send(answer);
    }
}

/// The keys with these digests, by digest. A row that does not decode is an
/// error for its own digest only (and logged), not for the others.
pub async fn keys_by_digests(
    db: &Db,
    digests: &[&str],
) -> Result<HashMap<String, Result<Arc<KeyRecord>, ()>>, sqlx::Error> {
    let rows: Vec<DigestKeyRow> = match db.typed_pool() {
        TypedPool::Sqlite(pool) => {
            let digests = serde_json::to_string(digests)
                .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
            sqlx::query_as(KEYS_BY_DIGESTS_SQLITE)
                .bind(digests)
                .fetch_all(pool)
                .await?
        }
        TypedPool::Postgres(pool) => {
            retry_on_closed_connection(|| {
                sqlx::query_as(KEYS_BY_DIGESTS_POSTGRES)
                    .bind(digests)
                    .fetch_all(pool)
            })
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let record = row.key.into_record().map(Arc::new).map_err(|error| {
                tracing::error!(%error, "a key's row does not decode");
            });
            (row.digest, record)
        })
        .collect())
}
