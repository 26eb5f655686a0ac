//! The delivery worker: claims due deliveries with a lease, sends each as a
//! signed POST to the address its URL was just checked to resolve to, and
//! records every attempt. A 2xx answer delivers it; anything else (an error
//! status, a timeout, a refused address) schedules the next attempt with
//! backoff, until the attempts run out. Delivery is at least once: a worker
//! killed mid-attempt leaves its lease to expire, and the delivery is claimed
//! again — receivers dedupe on `webhook-id`.
//!
//! Claiming is one statement: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
//! that instances never take the same delivery while its lease runs; on
//! SQLite a conditional UPDATE is enough, writes being serialised.

use super::address::CheckedUrl;
use super::schedule::WebhookSettings;
use super::signing::{SigningSecret, signature_header};
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, TargetKind, append};
use crate::clock::{Clock, from_micros, to_micros};
use crate::db::{Backend, Db};
use chrono::{DateTime, Duration as Span, Utc};
use rand::Rng;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Attempts in flight per instance. A claim skips endpoints that already have
/// an attempt in flight, so one slow or dead endpoint holds at most one
/// claim's worth of slots and cannot starve the other workspaces' deliveries.
const CONCURRENCY: usize = 16;
/// The first bytes of an answer that are kept.
pub const KEPT_ANSWER_BYTES: usize = 1024;
/// An endpoint whose every attempt failed for this long is disabled.
pub const DISABLE_AFTER_FAILING_FOR: Span = Span::days(3);

/// How long delivery history (events, deliveries, attempts) is kept.
pub const HISTORY_KEPT: Span = Span::days(30);

/// Starts the worker of this instance, and the pruning of old history.
pub fn spawn(db: Db, clock: Clock, settings: WebhookSettings) {
    tokio::spawn(prune_every_hour(db.clone(), clock.clone()));
    tokio::spawn(run(db, clock, Arc::new(settings)));
}

async fn prune_every_hour(db: Db, clock: Clock) {
    // First an hour after start, not at start with every other background task.
    let every = Duration::from_secs(3600);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = prune_history(&db, clock.now()).await {
            tracing::warn!(%error, "could not prune webhook history; will retry");
        }
    }
}

/// Deletes events older than [`HISTORY_KEPT`] that no delivery still waits
/// for; their deliveries and attempts go with them (ON DELETE CASCADE).
/// Returns how many events went.
pub async fn prune_history(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let pruned = sqlx::query(
        "DELETE FROM webhook_events WHERE created_at < $1 AND NOT EXISTS (
             SELECT 1 FROM webhook_deliveries d
             WHERE d.event_id = webhook_events.id AND d.status = 'pending')",
    )
    .bind(to_micros(now - HISTORY_KEPT))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(pruned)
}

async fn run(db: Db, clock: Clock, settings: Arc<WebhookSettings>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let free = slots.available_permits();
        if free == 0 {
            // Every slot is busy: wait for one to free up.
            drop(slots.acquire().await);
            continue;
        }
        let claimed = match claim(&db, clock.now(), &settings, free).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not claim webhook deliveries; will retry");
                Vec::new()
            }
        };
        let full = claimed.len() == free;
        for delivery in claimed {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let (db, clock, settings) = (db.clone(), clock.clone(), settings.clone());
            tokio::spawn(async move {
                deliver(&db, &clock, &settings, delivery).await;
                drop(permit);
            });
        }
        if !full {
            tokio::select! {
                () = db.outbox_signal().notified() => {}
                () = tokio::time::sleep(settings.poll) => {}
            }
        }
    }
}

/// A claimed delivery and what sending it needs.
struct Claimed {
    id: String,
    lease_id: String,
    attempts: i64,
    event_id: String,
    event_type: String,
    payload: String,
    endpoint_id: String,
    workspace_id: String,
    url: String,
    secret: SigningSecret,
    previous_secret: Option<SigningSecret>,
}

const CLAIM_SQLITE: &str = "UPDATE webhook_deliveries SET locked_until = $1, lease_id = $2
     WHERE id IN (SELECT d.id FROM webhook_deliveries d
                  JOIN webhook_endpoints e ON e.id = d.endpoint_id
                  WHERE d.status = 'pending' AND d.next_attempt_at <= $3
                    AND (d.locked_until IS NULL OR d.locked_until <= $3)
                    AND e.disabled_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x
                                    WHERE x.endpoint_id = d.endpoint_id AND x.locked_until > $3
                                      AND x.status = 'pending')
                  ORDER BY d.next_attempt_at LIMIT $4)";

const CLAIM_POSTGRES: &str = "UPDATE webhook_deliveries SET locked_until = $1, lease_id = $2
     WHERE id IN (SELECT d.id FROM webhook_deliveries d
                  JOIN webhook_endpoints e ON e.id = d.endpoint_id
                  WHERE d.status = 'pending' AND d.next_attempt_at <= $3
                    AND (d.locked_until IS NULL OR d.locked_until <= $3)
                    AND e.disabled_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x
                                    WHERE x.endpoint_id = d.endpoint_id AND x.locked_until > $3
                                      AND x.status = 'pending')
                  ORDER BY d.next_attempt_at LIMIT $4
                  FOR UPDATE OF d SKIP LOCKED)";

/// Takes up to `limit` due deliveries for this worker, for one lease.
async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    settings: &WebhookSettings,
    limit: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    // A read first: an idle instance polls without taking SQLite's write lock.
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1
           AND (d.locked_until IS NULL OR d.locked_until <= $1) AND e.disabled_at IS NULL
         LIMIT 1",
    )
    .bind(to_micros(now))
    .fetch_optional(db.pool())
    .await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let lease_id = uuid::Uuid::new_v4().to_string();
    let lease = Span::from_std(settings.lease()).unwrap_or(Span::minutes(1));
    let sql = match db.backend() {
        Backend::Sqlite => CLAIM_SQLITE,
        Backend::Postgres => CLAIM_POSTGRES,
    };
    let mut tx = db.begin().await?;
    let claimed = sqlx::query(sql)
        .bind(to_micros(now + lease))
        .bind(&lease_id)
        .bind(to_micros(now))
        .bind(limit as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if claimed == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT d.id, d.attempts, ev.id AS event_id, ev.type, ev.payload, e.id AS endpoint_id,
                e.workspace_id, e.url, e.secret, e.previous_secret, e.previous_secret_until
         FROM webhook_deliveries d
         JOIN webhook_events ev ON ev.id = d.event_id
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.lease_id = $1",
    )
    .bind(&lease_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let previous_until: Option<i64> = row.try_get("previous_secret_until")?;
            let previous: Option<String> = row.try_get("previous_secret")?;
            let previous_signs = previous_until.is_some_and(|until| from_micros(until) > now);
            Ok(Claimed {
                id: row.try_get("id")?,
                lease_id: lease_id.clone(),
                attempts: row.try_get("attempts")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("type")?,
                payload: row.try_get("payload")?,
                endpoint_id: row.try_get("endpoint_id")?,
                workspace_id: row.try_get("workspace_id")?,
                url: row.try_get("url")?,
                secret: SigningSecret::from_stored(row.try_get("secret")?),
                previous_secret: previous
                    .filter(|_| previous_signs)
                    .map(SigningSecret::from_stored),
            })
        })
        .collect()
}

/// What one attempt got back.
struct Answer {
    status: u16,
    body: String,
}

async fn deliver(db: &Db, clock: &Clock, settings: &WebhookSettings, delivery: Claimed) {
    let started_at = clock.now();
    let started = Instant::now();
    let outcome = attempt(settings, &delivery, started_at).await;
    let elapsed = started.elapsed();
    if let Err(error) = &outcome {
        tracing::info!(
            delivery_id = %delivery.id,
            endpoint_id = %delivery.endpoint_id,
            event_type = %delivery.event_type,
            %error,
            "a webhook attempt failed"
        );
    }
    if let Err(error) = record(db, clock, settings, &delivery, started_at, elapsed, outcome).await {
        // The lease runs out and the delivery is tried again: at least once.
        tracing::warn!(%error, delivery_id = %delivery.id, "could not record a webhook attempt");
    }
}

/// One signed POST. `Err` is the reason no answer came, as the page shows it.
async fn attempt(
    settings: &WebhookSettings,
    delivery: &Claimed,
    now: DateTime<Utc>,
) -> Result<Answer, String> {
    let url = CheckedUrl::parse(&delivery.url, settings.allow_private)
        .map_err(|refusal| format!("Refused: {refusal}"))?;
    let destination = url
        .resolve(settings.allow_private)
        .await
        .map_err(|refusal| format!("Refused: {refusal}"))?;
    let client = destination
        .client(settings.timeout)
        .map_err(|_| "Could not prepare the request.".to_owned())?;
    let timestamp = now.timestamp();
    let secrets: Vec<&SigningSecret> = std::iter::once(&delivery.secret)
        .chain(delivery.previous_secret.as_ref())
        .collect();
    let signature = signature_header(&secrets, &delivery.event_id, timestamp, &delivery.payload)
        .ok_or_else(|| "The signing secret is unreadable; rotate it.".to_owned())?;
    let describe = |error: reqwest::Error| describe_error(error, settings.timeout);
    let mut response = client
        .post(destination.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await
        .map_err(describe)?;
    let status = response.status().as_u16();
    let mut kept = Vec::new();
    while kept.len() < KEPT_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) => break,
            // The status is the answer; a body cut short is kept as far as it came.
            Err(_) => break,
        }
    }
    kept.truncate(KEPT_ANSWER_BYTES);
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&kept).into_owned(),
    })
}

/// An error in words, without the URL (it may carry the receiver's own token).
fn describe_error(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("Timed out after {} ms.", timeout.as_millis())
    } else if error.is_connect() {
        "Could not connect.".to_owned()
    } else {
        format!("The request failed: {}", error.without_url())
    }
}

/// Writes the attempt and the delivery's new state, under the lease: a worker
/// whose lease ran out (and whose delivery another worker took) changes nothing
/// but its own attempt row.
async fn record(
    db: &Db,
    clock: &Clock,
    settings: &WebhookSettings,
    delivery: &Claimed,
    started_at: DateTime<Utc>,
    elapsed: Duration,
    outcome: Result<Answer, String>,
) -> Result<(), sqlx::Error> {
    let now = clock.now();
    let (status_code, body, error) = match &outcome {
        Ok(answer) => (
            Some(i64::from(answer.status)),
            Some(answer.body.as_str()),
            None,
        ),
        Err(error) => (None, None, Some(error.as_str())),
    };
    let delivered = outcome
        .as_ref()
        .is_ok_and(|answer| (200..300).contains(&answer.status));
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, started_at, duration_ms,
             status_code, response_body, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&delivery.id)
    .bind(&delivery.endpoint_id)
    .bind(to_micros(started_at))
    .bind(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
    .bind(status_code)
    .bind(body)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    let failed = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    let (status, next_attempt_at) = if delivered {
        ("delivered", now)
    } else if settings.retries_left(failed) {
        let unit: f64 = rand::thread_rng().r#gen();
        let delay = Span::from_std(settings.delay(failed, unit)).unwrap_or(Span::hours(8));
        ("pending", now + delay)
    } else {
        ("failed", now)
    };
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,
             last_status_code = $3, last_attempt_at = $4, locked_until = NULL, lease_id = NULL
         WHERE id = $5 AND lease_id = $6",
    )
    .bind(status)
    .bind(to_micros(next_attempt_at))
    .bind(status_code)
    .bind(to_micros(started_at))
    .bind(&delivery.id)
    .bind(&delivery.lease_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        if delivered {
            sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
                .bind(&delivery.endpoint_id)
                .execute(&mut *tx)
                .await?;
        } else {
            note_failure(&mut tx, delivery, started_at, now).await?;
        }
    }
    tx.commit().await
}

/// Remembers when the endpoint started failing, and disables it once every
/// attempt for [`DISABLE_AFTER_FAILING_FOR`] has failed, with an audit entry
/// and a reason its admins see on the page.
async fn note_failure(
    tx: &mut crate::db::Tx,
    delivery: &Claimed,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2",
    )
    .bind(to_micros(started_at))
    .bind(&delivery.endpoint_id)
    .execute(&mut **tx)
    .await?;
    let failing_since: Option<i64> =
        sqlx::query_scalar("SELECT failing_since FROM webhook_endpoints WHERE id = $1")
            .bind(&delivery.endpoint_id)
            .fetch_optional(&mut **tx)
            .await?
            .flatten();
    let Some(since) = failing_since.map(from_micros) else {
        return Ok(());
    };
    if since > now - DISABLE_AFTER_FAILING_FOR {
        return Ok(());
    }
    let reason = format!(
        "Disabled automatically on {}: every delivery attempt since {} failed. Fix the receiver, then enable the endpoint again.",
        now.format("%Y-%m-%d %H:%M UTC"),
        since.format("%Y-%m-%d %H:%M UTC"),
    );
    let disabled = sqlx::query(
        "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2
         WHERE id = $3 AND disabled_at IS NULL",
    )
    .bind(to_micros(now))
    .bind(&reason)
    .bind(&delivery.endpoint_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if disabled == 1 {
        tracing::warn!(endpoint_id = %delivery.endpoint_id, "disabled a webhook endpoint that failed for 3 days");
        append(
            tx,
            now,
            NewEntry {
                workspace_id: Some(&delivery.workspace_id),
                actor: Actor::SYSTEM,
                action: AuditAction::WebhookUpdated,
                target: Some(Target::new(
                    TargetKind::Webhook,
                    &delivery.endpoint_id,
                    &super::address::audited_url(&delivery.url),
                )),
                client: &ClientInfo::default(),
                changes: Some(json!({
                    "before": { "enabled": true },
                    "after": { "enabled": false, "reason": reason },
                })),
            },
        )
        .await?;
    }
    Ok(())
}
