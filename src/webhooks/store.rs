//! Webhook endpoints in the store, as admins manage them in Settings →
//! Webhooks: register, list with recent deliveries, enable/disable, rotate the
//! signing secret, delete, send a test event, resend a delivery. Each change
//! is audited in its own transaction; no secret is ever in an entry.

use super::address::CheckedUrl;
use super::outbox::{self, EventActor};
use super::signing::SigningSecret;
use super::{
    CreatedWebhookSecret, DeliveryStatus, DeliveryView, EndpointView, EventType, WebhooksPage,
};
use crate::audit::AuditAction;
use crate::audit::store::{ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::clock::{from_micros, to_micros};
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::workspaces::Role;
use crate::workspaces::store::lock;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::Row;

/// Endpoints per workspace: enough for every receiver a company runs.
pub const MAX_ENDPOINTS: i64 = 20;
/// Longest description kept.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// How long the secret before a rotation keeps signing beside the new one.
pub const PREVIOUS_SECRET_SIGNS_FOR: Duration = Duration::hours(24);
/// Deliveries listed per endpoint on the settings page.
const RECENT_DELIVERIES: i64 = 20;
/// The window of the success rate the page shows.
const SUCCESS_RATE_WINDOW: Duration = Duration::days(7);

/// What an admin registers.
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a [String],
}

/// Registers an endpoint and returns its signing secret, the only time it is shown.
pub async fn create(
    db: &Db,
    member: &Member,
    new: NewEndpoint<'_>,
    allow_private: bool,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedWebhookSecret, AppError> {
    member.require(Role::Admin)?;
    let url = check_url(new.url, allow_private).await?;
    let events = parse_events(new.events)?;
    let description = parse_description(new.description)?;
    let secret = SigningSecret::generate();
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE workspace_id = $1")
            .bind(&member.workspace_id)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_ENDPOINTS {
        return Err(AppError::conflict(format!(
            "A workspace can have at most {MAX_ENDPOINTS} webhook endpoints. Delete one first."
        )));
    }
    let events_json = serde_json::to_string(&events).map_err(|_| AppError::Internal)?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, workspace_id, url, description, events, secret,
             created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&member.workspace_id)
    .bind(url.as_str())
    .bind(&description)
    .bind(&events_json)
    .bind(secret.expose())
    .bind(&member.user_id)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        member,
        AuditAction::WebhookCreated,
        (&id, url.as_str()),
        json!({ "before": null, "after": {
            "url": super::address::audited_url(url.as_str()), "description": description, "events": events,
        } }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedWebhookSecret {
        endpoint_id: id,
        url: url.as_str().to_owned(),
        secret: secret.expose().to_owned(),
    })
}

/// The workspace's endpoints, oldest first, each with its recent deliveries.
pub async fn list(db: &Db, member: &Member, now: DateTime<Utc>) -> Result<WebhooksPage, AppError> {
    member.require(Role::Admin)?;
    let rows = sqlx::query(
        "SELECT id, url, description, events, created_at, disabled_at, disabled_reason,
                previous_secret_until
         FROM webhook_endpoints WHERE workspace_id = $1 ORDER BY created_at, id",
    )
    .bind(&member.workspace_id)
    .fetch_all(db.pool())
    .await?;
    let mut endpoints = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let events: String = row.try_get("events")?;
        let previous_until = row
            .try_get::<Option<i64>, _>("previous_secret_until")?
            .map(from_micros)
            .filter(|until| *until > now);
        endpoints.push(EndpointView {
            recent: recent_deliveries(db, &id).await?,
            success_rate: success_rate(db, &id, now).await?,
            url: row.try_get("url")?,
            description: row.try_get("description")?,
            events: serde_json::from_str(&events).unwrap_or_default(),
            created_at: from_micros(row.try_get("created_at")?),
            disabled_at: row
                .try_get::<Option<i64>, _>("disabled_at")?
                .map(from_micros),
            disabled_reason: row.try_get("disabled_reason")?,
            previous_secret_until: previous_until,
            id,
        });
    }
    Ok(WebhooksPage { endpoints, now })
}

async fn recent_deliveries(db: &Db, endpoint_id: &str) -> Result<Vec<DeliveryView>, AppError> {
    let rows = sqlx::query(
        "SELECT d.id, d.event_id, e.type, d.status, d.attempts, d.last_status_code,
                d.created_at, d.last_attempt_at,
                (SELECT a.error FROM webhook_attempts a WHERE a.delivery_id = d.id
                 ORDER BY a.started_at DESC LIMIT 1) AS last_error
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
         WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
    )
    .bind(endpoint_id)
    .bind(RECENT_DELIVERIES)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            Ok(DeliveryView {
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("type")?,
                status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
                attempts: row.try_get("attempts")?,
                last_status_code: row.try_get("last_status_code")?,
                last_error: row.try_get("last_error")?,
                created_at: from_micros(row.try_get("created_at")?),
                last_attempt_at: row
                    .try_get::<Option<i64>, _>("last_attempt_at")?
                    .map(from_micros),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Delivered out of finished deliveries (delivered or failed) of the last 7 days, in percent.
async fn success_rate(
    db: &Db,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<u8>, AppError> {
    let (delivered, finished): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END), 0) AS BIGINT),
                COUNT(*)
         FROM webhook_deliveries
         WHERE endpoint_id = $1 AND created_at >= $2 AND status IN ('delivered', 'failed')",
    )
    .bind(endpoint_id)
    .bind(to_micros(now - SUCCESS_RATE_WINDOW))
    .fetch_one(db.pool())
    .await?;
    Ok((finished > 0).then(|| ((delivered * 100) / finished) as u8))
}

/// Disables (`enabled = false`) or enables an endpoint. Disabled endpoints get
/// no new deliveries and their pending ones wait; enabling starts them again.
pub async fn set_enabled(
    db: &Db,
    member: &Member,
    endpoint_id: &str,
    enabled: bool,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    let endpoint = load(&mut tx, member, endpoint_id).await?;
    if endpoint.enabled == enabled {
        return Ok(());
    }
    let reason = format!("Disabled by {}.", member.name);
    sqlx::query(
        "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2, failing_since = NULL
         WHERE id = $3",
    )
    .bind((!enabled).then(|| to_micros(now)))
    .bind((!enabled).then_some(reason))
    .bind(endpoint_id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        member,
        AuditAction::WebhookUpdated,
        (endpoint_id, &endpoint.url),
        json!({ "before": { "enabled": endpoint.enabled }, "after": { "enabled": enabled } }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    if enabled {
        outbox::wake(db);
    }
    Ok(())
}

/// A new signing secret, shown once; the old one signs beside it for 24 hours
/// so that receivers can switch without dropping a message.
pub async fn rotate_secret(
    db: &Db,
    member: &Member,
    endpoint_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedWebhookSecret, AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    let endpoint = load(&mut tx, member, endpoint_id).await?;
    let secret = SigningSecret::generate();
    let until = now + PREVIOUS_SECRET_SIGNS_FOR;
    sqlx::query(
        "UPDATE webhook_endpoints
         SET previous_secret = secret, previous_secret_until = $1, secret = $2 WHERE id = $3",
    )
    .bind(to_micros(until))
    .bind(secret.expose())
    .bind(endpoint_id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        member,
        AuditAction::WebhookSecretRotated,
        (endpoint_id, &endpoint.url),
        json!({ "after": { "previous_secret_signs_until": until } }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedWebhookSecret {
        endpoint_id: endpoint_id.to_owned(),
        url: endpoint.url,
        secret: secret.expose().to_owned(),
    })
}

/// Deletes an endpoint with its deliveries and their attempts. Irreversible.
pub async fn delete(
    db: &Db,
    member: &Member,
    endpoint_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    let endpoint = load(&mut tx, member, endpoint_id).await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(endpoint_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        member,
        AuditAction::WebhookDeleted,
        (endpoint_id, &endpoint.url),
        json!({ "before": {
            "url": super::address::audited_url(&endpoint.url), "events": endpoint.events,
        }, "after": null }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues a `test` event to one enabled endpoint; returns its `webhook-id`.
pub async fn send_test(
    db: &Db,
    member: &Member,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    let endpoint = load(&mut tx, member, endpoint_id).await?;
    if !endpoint.enabled {
        return Err(AppError::conflict(
            "This endpoint is disabled. Enable it to send a test event.",
        ));
    }
    let id = outbox::test_event(
        &mut tx,
        &member.workspace_id,
        endpoint_id,
        EventActor::member(member),
        now,
    )
    .await?;
    tx.commit().await?;
    outbox::wake(db);
    Ok(id)
}

/// Schedules one delivery again, at once, with a fresh retry schedule and the
/// same `webhook-id` (receivers that saw it already can tell).
pub async fn resend(
    db: &Db,
    member: &Member,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "SELECT d.locked_until FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.id = $1 AND e.workspace_id = $2",
    )
    .bind(delivery_id)
    .bind(&member.workspace_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("There is no such delivery in this workspace."))?;
    let leased = row
        .try_get::<Option<i64>, _>("locked_until")?
        .is_some_and(|until| until > to_micros(now));
    if leased {
        // Scheduling it now would send it twice at the same time.
        return Err(AppError::conflict(
            "This delivery is being attempted right now. Try again in a moment.",
        ));
    }
    // Conditional: on PostgreSQL a worker may have claimed it since the read above.
    let rescheduled = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
             locked_until = NULL, lease_id = NULL
         WHERE id = $2 AND (locked_until IS NULL OR locked_until <= $1)",
    )
    .bind(to_micros(now))
    .bind(delivery_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if rescheduled == 0 {
        return Err(AppError::conflict(
            "This delivery is being attempted right now. Try again in a moment.",
        ));
    }
    tx.commit().await?;
    outbox::wake(db);
    Ok(())
}

/// An endpoint of the member's workspace, as the changes above need it.
struct LoadedEndpoint {
    url: String,
    events: serde_json::Value,
    enabled: bool,
}

async fn load(tx: &mut Tx, member: &Member, endpoint_id: &str) -> Result<LoadedEndpoint, AppError> {
    let row = sqlx::query(
        "SELECT url, events, disabled_at FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2",
    )
    .bind(endpoint_id)
    .bind(&member.workspace_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| AppError::not_found("There is no such webhook endpoint in this workspace."))?;
    let events: String = row.try_get("events")?;
    Ok(LoadedEndpoint {
        url: row.try_get("url")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_none(),
    })
}

async fn audit(
    tx: &mut Tx,
    member: &Member,
    action: AuditAction,
    (id, url): (&str, &str),
    changes: serde_json::Value,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    append(
        tx,
        now,
        NewEntry::by_member(
            member,
            action,
            Target::new(TargetKind::Webhook, id, &super::address::audited_url(url)),
            client,
        )
        .with_changes(changes),
    )
    .await
}

/// Checks the URL's form and, unless private destinations are allowed, what
/// its host resolves to now. A name that does not resolve yet is accepted
/// (its DNS may come later); every attempt checks the address again anyway.
async fn check_url(text: &str, allow_private: bool) -> Result<CheckedUrl, AppError> {
    use super::address::UrlRefusal;
    let refused = |refusal: UrlRefusal| AppError::invalid("url", refusal.to_string());
    let url = CheckedUrl::parse(text, allow_private).map_err(refused)?;
    match url.resolve(allow_private).await {
        Ok(_) | Err(UrlRefusal::Unresolvable { .. }) => Ok(url),
        Err(refusal) => Err(refused(refusal)),
    }
}

fn parse_events(events: &[String]) -> Result<Vec<&'static str>, AppError> {
    let mut parsed = Vec::new();
    for text in events {
        let event = EventType::parse(text.trim())
            .filter(|event| EventType::SUBSCRIBABLE.contains(event))
            .ok_or_else(|| {
                AppError::invalid("events", format!("{text:?} is not an event Keyward sends."))
            })?;
        if !parsed.contains(&event.as_str()) {
            parsed.push(event.as_str());
        }
    }
    if parsed.is_empty() {
        return Err(AppError::invalid("events", "Choose at least one event."));
    }
    Ok(parsed)
}

fn parse_description(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(AppError::invalid(
            "description",
            format!("Keep the description under {MAX_DESCRIPTION_CHARS} characters."),
        ));
    }
    Ok(text.to_owned())
}
