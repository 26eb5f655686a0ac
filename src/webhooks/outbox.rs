//! The outbox: an event is written in the transaction of the change it
//! reports — one `webhook_events` row (the exact, signed body) and one
//! `webhook_deliveries` row per enabled endpoint of the workspace that asked
//! for its type — so that it exists if and only if the change committed.
//! After committing, the writer calls [`wake`] so that this instance's worker
//! starts at once; other instances find it when they next poll.
//!
//! Payloads never carry a secret: a key is named by its id, name, prefix,
//! last four and environment, never its token or digest.

use super::EventType;
use crate::auth::access::Member;
use crate::clock::to_micros;
use crate::db::{Db, Tx};
use crate::workspaces::Role;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::Row;

/// Who caused an event, as its payload's `data.actor` says.
#[derive(Clone, Copy, Debug)]
pub struct EventActor<'a> {
    /// `user`, `api_key` or `system`.
    kind: &'static str,
    id: Option<&'a str>,
}

impl<'a> EventActor<'a> {
    /// No person chose it (an auto-revocation, a leak report).
    pub const SYSTEM: EventActor<'static> = EventActor {
        kind: "system",
        id: None,
    };

    /// A member acting in the dashboard.
    pub fn member(member: &'a Member) -> Self {
        Self {
            kind: "user",
            id: Some(&member.user_id),
        }
    }

    /// A workspace API key acting through `/api/v1`.
    pub fn api_key(key_id: &'a str) -> Self {
        Self {
            kind: "api_key",
            id: Some(key_id),
        }
    }

    fn json(self) -> Value {
        json!({ "kind": self.kind, "id": self.id })
    }
}

/// Tells this instance's worker that deliveries were committed.
pub fn wake(db: &Db) {
    db.outbox_signal().notify_one();
}

/// The enabled endpoints of the workspace that asked for `event`.
async fn subscribers(
    tx: &mut Tx,
    workspace_id: &str,
    event: EventType,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, events FROM webhook_endpoints WHERE workspace_id = $1 AND disabled_at IS NULL",
    )
    .bind(workspace_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut endpoints = Vec::new();
    for row in rows {
        let events: String = row.try_get("events")?;
        let wanted: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
        if wanted.iter().any(|wanted| wanted == event.as_str()) {
            endpoints.push(row.try_get("id")?);
        }
    }
    Ok(endpoints)
}

/// Writes the event and a pending delivery to each of `endpoints`; returns the event's id.
async fn write(
    tx: &mut Tx,
    workspace_id: &str,
    event: EventType,
    endpoints: &[String],
    data: Value,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let payload = json!({
        "id": id,
        "type": event.as_str(),
        "created_at": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "workspace_id": workspace_id,
        "data": data,
    });
    sqlx::query(
        "INSERT INTO webhook_events (id, workspace_id, type, payload, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(workspace_id)
    .bind(event.as_str())
    .bind(payload.to_string())
    .bind(to_micros(now))
    .execute(&mut **tx)
    .await?;
    for endpoint in endpoints {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts,
                 next_attempt_at, created_at)
             VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&id)
        .bind(endpoint)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// A key event (`key.created`, `key.rotated`, `key.revoked`, `key.leaked`)
/// about `key_id`, read in the caller's transaction; `extra` adds to `data`
/// (a reason, the replacement's id). Writes nothing when no endpoint wants it.
pub async fn key_event(
    tx: &mut Tx,
    workspace_id: &str,
    event: EventType,
    key_id: &str,
    actor: EventActor<'_>,
    extra: Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let endpoints = subscribers(tx, workspace_id, event).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let row = sqlx::query(
        "SELECT name, prefix, body_start, last4, environment FROM api_keys WHERE id = $1",
    )
    .bind(key_id)
    .fetch_one(&mut **tx)
    .await?;
    let prefix: String = row.try_get("prefix")?;
    let start: String = row.try_get("body_start")?;
    let last4: String = row.try_get("last4")?;
    let mut data = json!({
        "key": {
            "id": key_id,
            "name": row.try_get::<String, _>("name")?,
            "prefix": format!("{prefix}_{start}"),
            "last4": last4,
            "masked": crate::keys::format::masked(&prefix, &start, &last4),
            "environment": row.try_get::<String, _>("environment")?,
        },
        "actor": actor.json(),
    });
    merge(&mut data, extra);
    write(tx, workspace_id, event, &endpoints, data, now).await?;
    Ok(())
}

/// `member.removed`: who left, with which role, and how many of their keys were revoked with them.
pub async fn member_removed(
    tx: &mut Tx,
    workspace_id: &str,
    user_id: &str,
    role: Role,
    keys_revoked: usize,
    actor: EventActor<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let endpoints = subscribers(tx, workspace_id, EventType::MemberRemoved).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let data = json!({
        "member": { "user_id": user_id, "role": role.as_str() },
        "keys_revoked": keys_revoked,
        "actor": actor.json(),
    });
    write(
        tx,
        workspace_id,
        EventType::MemberRemoved,
        &endpoints,
        data,
        now,
    )
    .await?;
    Ok(())
}

/// At most one `usage.rate_limited` per key and hour.
const RATE_LIMITED_EVERY: chrono::Duration = chrono::Duration::hours(1);

/// `usage.rate_limited` for every key the flushed `usage` counts refusals
/// for, unless that key had one in the last hour (`api_keys.rate_limited_told_at`,
/// claimed by a conditional UPDATE, so several instances send one). Called by
/// the verifier's usage flush, never on the verification path.
pub async fn rate_limited(
    db: &Db,
    usage: &crate::usage::recorder::PendingUsage,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut queued = false;
    for (key_id, pending) in &usage.keys {
        let refused: u64 = pending
            .minutes
            .iter()
            .map(|minute| minute.counts.get(crate::usage::Outcome::RateLimited))
            .sum();
        if refused == 0 {
            continue;
        }
        let mut tx = db.begin().await?;
        let claimed = sqlx::query(
            "UPDATE api_keys SET rate_limited_told_at = $1
             WHERE id = $2 AND (rate_limited_told_at IS NULL OR rate_limited_told_at <= $3)",
        )
        .bind(to_micros(now))
        .bind(key_id)
        .bind(to_micros(now - RATE_LIMITED_EVERY))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 1 {
            let limit: Option<i64> =
                sqlx::query_scalar("SELECT rate_limit_per_minute FROM api_keys WHERE id = $1")
                    .bind(key_id)
                    .fetch_one(&mut *tx)
                    .await?;
            key_event(
                &mut tx,
                &pending.workspace_id,
                EventType::UsageRateLimited,
                key_id,
                EventActor::SYSTEM,
                json!({ "refused": refused, "limit_per_minute": limit }),
                now,
            )
            .await?;
            queued = true;
        }
        tx.commit().await?;
    }
    if queued {
        wake(db);
    }
    Ok(())
}

/// `audit.checkpoint`: the workspace chain's head, for receivers to keep
/// (`keyward audit verify --checkpoint SEQ:HASH` later). Read in the caller's
/// transaction; returns how many endpoints it was queued for.
pub async fn audit_checkpoint(
    tx: &mut Tx,
    workspace_id: &str,
    head: &crate::audit::chain::ChainHead,
    actor: EventActor<'_>,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let endpoints = subscribers(tx, workspace_id, EventType::AuditCheckpoint).await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let data = json!({
        "seq": head.seq,
        "hash": head.hash,
        "at": head.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "checkpoint": format!("{}:{}", head.seq, head.hash),
        "actor": actor.json(),
    });
    write(
        tx,
        workspace_id,
        EventType::AuditCheckpoint,
        &endpoints,
        data,
        now,
    )
    .await?;
    Ok(endpoints.len())
}

/// A `test` event to one endpoint ("Send test event"), whatever it subscribed to.
pub async fn test_event(
    tx: &mut Tx,
    workspace_id: &str,
    endpoint_id: &str,
    actor: EventActor<'_>,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let data = json!({
        "message": "A test event from Keyward's Settings → Webhooks.",
        "actor": actor.json(),
    });
    write(
        tx,
        workspace_id,
        EventType::Test,
        &[endpoint_id.to_owned()],
        data,
        now,
    )
    .await
}

fn merge(data: &mut Value, extra: Value) {
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
}
