//! Checkpoints published as webhooks: every hour, and on demand from the
//! audit page, an `audit.checkpoint` event carries the workspace chain's head
//! to the endpoints that asked for it, so that a copy lives outside Keyward
//! (docs/audit.md, "Checkpoints"). Each workspace's hourly one is claimed by a
//! conditional UPDATE, so several instances queue one between them.

use super::chain::ChainHead;
use crate::auth::access::Member;
use crate::clock::to_micros;
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::webhooks::outbox::{self, EventActor};
use chrono::{DateTime, Duration, Utc};

/// How often each workspace's checkpoint goes out.
pub const EVERY: Duration = Duration::hours(1);

/// Queues the hourly checkpoint of every workspace with an endpoint that asked
/// for it and none in the last hour; returns how many workspaces got one.
pub async fn publish_due(db: &Db, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let workspaces: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT workspace_id FROM webhook_endpoints
         WHERE disabled_at IS NULL AND events LIKE '%\"audit.checkpoint\"%'",
    )
    .fetch_all(db.pool())
    .await?;
    let mut published = 0;
    for workspace_id in workspaces {
        let mut tx = db.begin().await?;
        let claimed = sqlx::query(
            "UPDATE workspaces SET audit_checkpoint_at = $1
             WHERE id = $2 AND (audit_checkpoint_at IS NULL OR audit_checkpoint_at <= $3)",
        )
        .bind(to_micros(now))
        .bind(&workspace_id)
        .bind(to_micros(now - EVERY))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 1
            && queue(&mut tx, &workspace_id, EventActor::SYSTEM, now)
                .await?
                .1
                > 0
        {
            published += 1;
        }
        tx.commit().await?;
    }
    if published > 0 {
        outbox::wake(db);
    }
    Ok(published)
}

/// "Publish a checkpoint" on the audit page (admins): now, whatever the hour.
/// Returns the head and how many endpoints it was queued for.
pub async fn publish_now(
    db: &Db,
    member: &Member,
    now: DateTime<Utc>,
) -> Result<(Option<ChainHead>, usize), AppError> {
    member.require(crate::workspaces::Role::Admin)?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE workspaces SET audit_checkpoint_at = $1 WHERE id = $2")
        .bind(to_micros(now))
        .bind(&member.workspace_id)
        .execute(&mut *tx)
        .await?;
    let published = queue(
        &mut tx,
        &member.workspace_id,
        EventActor::member(member),
        now,
    )
    .await?;
    tx.commit().await?;
    if published.1 > 0 {
        outbox::wake(db);
    }
    Ok(published)
}

/// The head as of this transaction, queued to the subscribed endpoints.
async fn queue(
    tx: &mut Tx,
    workspace_id: &str,
    actor: EventActor<'_>,
    now: DateTime<Utc>,
) -> Result<(Option<ChainHead>, usize), sqlx::Error> {
    let Some(head) = super::chain::head_in(tx, workspace_id).await? else {
        return Ok((None, 0));
    };
    let endpoints = outbox::audit_checkpoint(tx, workspace_id, &head, actor, now).await?;
    Ok((Some(head), endpoints))
}

/// Runs [`publish_due`] every few minutes until the process ends.
pub fn spawn_publisher(db: Db, clock: crate::clock::Clock) {
    tokio::spawn(async move {
        // Not at start: every background task's first run at once would open a
        // connection each; a checkpoint a minute later loses nothing.
        let every = std::time::Duration::from_secs(60);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = publish_due(&db, clock.now()).await {
                tracing::warn!(%error, "could not queue audit checkpoints; will retry");
            }
        }
    });
}
