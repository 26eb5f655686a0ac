//! Cross-instance cache invalidation on PostgreSQL: a dedicated connection
//! `LISTEN`s on the changes channel and makes this instance's cache forget what
//! another instance revoked or rotated.
//!
//! If that connection drops, notifications may be lost, so the cache is emptied
//! and distrusted (every lookup goes to the store) until a new connection is
//! listening again.

use super::cache::VerifyCache;
use crate::changes::{CHANNEL, Change};
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Runs until the process ends.
pub fn spawn(database_url: String, cache: Arc<VerifyCache>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut retry = RETRY_FIRST;
        loop {
            match subscribe(&database_url).await {
                Ok(mut listener) => {
                    cache.set_trusted(true);
                    retry = RETRY_FIRST;
                    receive(&mut listener, &cache).await;
                    tracing::warn!("lost the change notifications; answering from the store");
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for change notifications; retrying");
                }
            }
            cache.set_trusted(false);
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    })
}

async fn subscribe(database_url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Applies notifications until the connection is lost.
async fn receive(listener: &mut PgListener, cache: &VerifyCache) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => cache.forget(&Change::decode(notification.payload())),
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "change notification connection failed");
                return;
            }
        }
    }
}
