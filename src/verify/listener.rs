//! Cross-instance cache invalidation on PostgreSQL: a dedicated connection
//! `LISTEN`s on the changes channel and makes this instance's cache forget what
//! another instance revoked or rotated.
//!
//! If that connection drops, notifications may be lost, so the cache is emptied
//! and distrusted (every lookup goes to the store) until a new connection is
//! listening again.
//!
//! A connection can also die silently: a half-open TCP path (a NAT or firewall
//! dropping state, a frozen proxy) delivers nothing and closes nothing, so the
//! listener would wait, trusting its cache, for as long as the kernel's
//! keepalive takes (hours by default). Every instance therefore sends a
//! heartbeat NOTIFY through the dashboard's pool every [`HEARTBEAT_EVERY`] on a channel
//! every listener also listens on; a listener that hears nothing at all for
//! [`SILENCE_LIMIT`] distrusts the cache and reconnects. A revocation on another
//! instance is thus honoured here within [`SILENCE_LIMIT`] of the path dying.

use super::cache::VerifyCache;
use crate::changes::{CHANNEL, Change};
use crate::db::Db;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The channel of the heartbeats (no payload: hearing one is the point).
pub const HEARTBEAT_CHANNEL: &str = "keyward_heartbeat";
/// How often each instance sends a heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// Silence after which the listening connection is taken for dead: three
/// heartbeats missed, so one slow round trip is not an outage.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(6);
/// Connecting and subscribing must finish within this, or it is tried again
/// (a connection made over a dead path would otherwise hang in `LISTEN`).
const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(10);

/// Runs until the process ends: the listener, and this instance's heartbeat.
pub fn spawn(db: Db, database_url: String, cache: Arc<VerifyCache>) {
    tokio::spawn(send_heartbeats(db));
    tokio::spawn(async move {
        let mut retry = RETRY_FIRST;
        loop {
            match tokio::time::timeout(SUBSCRIBE_LIMIT, subscribe(&database_url)).await {
                Ok(Ok(mut listener)) => {
                    cache.set_trusted(true);
                    retry = RETRY_FIRST;
                    receive(&mut listener, &cache).await;
                    tracing::warn!("lost the change notifications; answering from the store");
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot listen for change notifications; retrying");
                }
                Err(_) => tracing::warn!(
                    "listening for change notifications took over {} s; retrying",
                    SUBSCRIBE_LIMIT.as_secs()
                ),
            }
            cache.set_trusted(false);
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    });
}

async fn subscribe(database_url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen_all([CHANNEL, HEARTBEAT_CHANNEL]).await?;
    Ok(listener)
}

/// Applies notifications until the connection is lost, or falls silent.
async fn receive(listener: &mut PgListener, cache: &VerifyCache) {
    loop {
        // A timeout cancels the wait mid-read; the listener is dropped after it, never reused.
        match tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) if notification.channel() == CHANNEL => {
                cache.forget(&Change::decode(notification.payload()));
            }
            Ok(Ok(Some(_heartbeat))) => {}
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                tracing::warn!(%error, "change notification connection failed");
                return;
            }
            Err(_) => {
                tracing::warn!(
                    "no heartbeat on the change notification connection for {} s; reconnecting",
                    SILENCE_LIMIT.as_secs()
                );
                return;
            }
        }
    }
}

/// One NOTIFY every [`HEARTBEAT_EVERY`], through the dashboard's pool: not
/// the verifier's, which a flood of first-seen keys can keep busy (a heartbeat
/// stuck behind it would make listeners distrust their caches just when load
/// is highest), and not a connection of its own (one more per instance of the
/// server's 100). A failure is not logged here: the listeners' silence reports it.
async fn send_heartbeats(db: Db) {
    // From one period after start: at start the listener subscribes anyway.
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + HEARTBEAT_EVERY,
        HEARTBEAT_EVERY,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Selecting a constant: the Any driver cannot decode pg_notify's `void`.
        let sent = sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, '')) AS sent")
            .bind(HEARTBEAT_CHANNEL)
            .execute(db.pool());
        let _ = tokio::time::timeout(HEARTBEAT_EVERY, sent).await;
    }
}
