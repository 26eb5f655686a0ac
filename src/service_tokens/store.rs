//! Service tokens in the store: create, list, revoke, and the lookup the
//! verification API makes for every request that misses its cache.

use super::{CreatedServiceToken, ServiceTokenView};
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::changes::{Change, notify_in_tx};
use crate::clock::{from_micros, to_micros};
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::token::TokenDigest;
use crate::workspaces::Role;
use crate::workspaces::store::lock;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

/// Every service token starts with this, so scanners and people can tell it from an API key.
pub const TOKEN_PREFIX: &str = "kwsvc_";

/// A new token's secret: `kwsvc_` and 256 random bits in hex. Not `Debug`.
pub struct ServiceTokenSecret(String);

impl ServiceTokenSecret {
    fn generate() -> Self {
        Self(format!("{TOKEN_PREFIX}{}", crate::token::random_hex_256()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

/// Who is creating a token: an admin in the dashboard, or the operator at the command line.
pub enum Creator<'a> {
    Admin(&'a Member),
    CommandLine,
}

/// What a presented service token grants: verification of one workspace's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCaller {
    pub token_id: String,
    pub workspace_id: String,
}

/// Creates a token in `workspace_id` and returns its secret, shown once.
pub async fn create(
    db: &Db,
    workspace_id: &str,
    creator: Creator<'_>,
    name: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedServiceToken, AppError> {
    if let Creator::Admin(member) = &creator {
        member.require(Role::Admin)?;
    }
    let name = crate::text::parse_display_name("name", "Name", name)?;
    let secret = ServiceTokenSecret::generate();
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin().await?;
    lock(&mut tx, workspace_id).await?;
    ensure_name_free(&mut tx, workspace_id, &name).await?;
    sqlx::query(
        "INSERT INTO service_tokens (id, workspace_id, name, digest, last4, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(workspace_id)
    .bind(&name)
    .bind(TokenDigest::of(secret.expose()).as_str())
    .bind(secret.last4())
    .bind(match &creator {
        Creator::Admin(member) => Some(member.user_id.as_str()),
        Creator::CommandLine => None,
    })
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    let label = token_label(&name, secret.last4());
    let actor = match &creator {
        Creator::Admin(member) => Actor::member(member),
        Creator::CommandLine => Actor::SYSTEM,
    };
    append(
        &mut tx,
        now,
        NewEntry {
            workspace_id: Some(workspace_id),
            actor,
            action: AuditAction::ServiceTokenCreated,
            target: Some(Target::new(TargetKind::ServiceToken, &id, &label)),
            client,
            changes: Some(json!({ "before": null, "after": { "name": name } })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedServiceToken {
        id,
        name,
        secret: secret.0,
    })
}

/// The workspace's tokens, newest first (a workspace has a handful, so no paging),
/// each with its creator and whether they are still a member.
pub async fn list(db: &Db, member: &Member) -> Result<Vec<ServiceTokenView>, AppError> {
    member.require(Role::Admin)?;
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.last4, t.created_at, t.revoked_at, u.name AS creator_name,
                CAST(CASE WHEN t.created_by IS NOT NULL AND m.user_id IS NULL THEN 1 ELSE 0 END
                     AS BIGINT) AS creator_left
         FROM service_tokens t
         LEFT JOIN users u ON u.id = t.created_by
         LEFT JOIN memberships m ON m.user_id = t.created_by AND m.workspace_id = t.workspace_id
         WHERE t.workspace_id = $1 ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(&member.workspace_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ServiceTokenView {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                masked: masked(&row.try_get::<String, _>("last4")?),
                created_by: row.try_get("creator_name")?,
                creator_left: row.try_get::<i64, _>("creator_left")? == 1,
                created_at: from_micros(row.try_get("created_at")?),
                revoked_at: row
                    .try_get::<Option<i64>, _>("revoked_at")?
                    .map(from_micros),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Revokes a token at once, in every instance. Irreversible.
pub async fn revoke(
    db: &Db,
    member: &Member,
    token_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let row = sqlx::query(
        "SELECT name, last4, revoked_at FROM service_tokens WHERE id = $1 AND workspace_id = $2",
    )
    .bind(token_id)
    .bind(&member.workspace_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("There is no such service token in this workspace."))?;
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Err(AppError::conflict("This service token is already revoked."));
    }
    let name: String = row.try_get("name")?;
    let last4: String = row.try_get("last4")?;
    let digest: String = sqlx::query_scalar(
        "UPDATE service_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 RETURNING digest",
    )
    .bind(to_micros(now))
    .bind(&member.user_id)
    .bind(token_id)
    .fetch_one(&mut *tx)
    .await?;
    let change = Change::ServiceToken(digest);
    notify_in_tx(&mut tx, &change).await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            member,
            AuditAction::ServiceTokenRevoked,
            Target {
                kind: TargetKind::ServiceToken,
                id: token_id,
                label: &token_label(&name, &last4),
            },
            client,
        )
        .with_changes(json!({ "before": { "revoked": false }, "after": { "revoked": true } })),
    )
    .await?;
    tx.commit().await?;
    db.changes().publish(&change);
    Ok(())
}

/// Revokes, inside the caller's transaction, every token of a workspace being
/// offboarded, with one `service_token.revoked` entry each. Returns the
/// changes to publish after the commit.
pub async fn revoke_all(
    tx: &mut Tx,
    workspace_id: &str,
    actor: &Member,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<Vec<Change>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE service_tokens SET revoked_at = $1, revoked_by = $2
         WHERE workspace_id = $3 AND revoked_at IS NULL RETURNING id, name, last4, digest",
    )
    .bind(to_micros(now))
    .bind(&actor.user_id)
    .bind(workspace_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let name: String = row.try_get("name")?;
        let last4: String = row.try_get("last4")?;
        let change = Change::ServiceToken(row.try_get("digest")?);
        notify_in_tx(tx, &change).await?;
        append(
            tx,
            now,
            NewEntry {
                workspace_id: Some(workspace_id),
                actor: Actor::SYSTEM,
                action: AuditAction::ServiceTokenRevoked,
                target: Some(Target {
                    kind: TargetKind::ServiceToken,
                    id: &id,
                    label: &token_label(&name, &last4),
                }),
                client,
                changes: Some(json!({
                    "before": { "revoked": false },
                    "after": { "revoked": true, "reason": "The workspace was offboarded." },
                    "requested_by": actor.user_id,
                })),
            },
        )
        .await?;
        changes.push(change);
    }
    Ok(changes)
}

/// The caller a still-valid token with this digest stands for, if any.
pub async fn caller_by_digest(
    db: &Db,
    digest: &TokenDigest,
) -> Result<Option<ServiceCaller>, sqlx::Error> {
    // On the verify path: a connection closed by a PostgreSQL restart is tried again.
    let row = crate::db::retry_on_closed_connection(|| {
        sqlx::query(
            "SELECT id, workspace_id FROM service_tokens WHERE digest = $1 AND revoked_at IS NULL",
        )
        .bind(digest.as_str())
        .fetch_optional(db.pool())
    })
    .await?;
    row.map(|row| {
        Ok(ServiceCaller {
            token_id: row.try_get("id")?,
            workspace_id: row.try_get("workspace_id")?,
        })
    })
    .transpose()
}

/// The id of the workspace with this slug (for the command line).
pub async fn workspace_by_slug(db: &Db, slug: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db.pool())
        .await
}

async fn ensure_name_free(tx: &mut Tx, workspace_id: &str, name: &str) -> Result<(), AppError> {
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT id FROM service_tokens
         WHERE workspace_id = $1 AND lower(name) = lower($2) AND revoked_at IS NULL",
    )
    .bind(workspace_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    match taken {
        Some(_) => Err(AppError::invalid(
            "name",
            "A service token with this name already exists. Choose another name.",
        )),
        None => Ok(()),
    }
}

fn masked(last4: &str) -> String {
    format!("{TOKEN_PREFIX}…{last4}")
}

/// "Deploy gateway (kwsvc_…a1b2)", as audit sentences name a token.
fn token_label(name: &str, last4: &str) -> String {
    crate::audit::store::secret_label(name, &masked(last4))
}
