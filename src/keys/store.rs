//! Keys in the store: create, list, read, rotate, revoke, auto-revoke.
//!
//! Every change runs in one transaction with its audit entry, after taking the
//! workspace's lock so that name checks and rotations cannot race. Role checks
//! happen here too (a developer manages only the keys they created), so no
//! caller can forget them.

use super::format::{DisplayParts, SecretKey, masked};
use super::list_query::{Bind, ListQuery, parse_cursor};
use super::{
    CreatedKey, Environment, GraceWindow, KeyDetail, KeyFilter, KeyListPage, KeyStatus, KeyView,
    PAGE_SIZE,
};
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, append};
use crate::auth::access::Member;
use crate::changes::{Change, notify_in_tx};
use crate::clock::{from_micros, to_micros};
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::workspaces::Role;
use crate::workspaces::store::lock;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::Row;

/// A validated "Create key" form (see `api::NewKeyForm::validate`).
#[derive(Clone, Debug)]
pub struct NewKey {
    pub name: String,
    pub note: Option<String>,
    pub environment: Environment,
    pub scopes: Vec<String>,
    pub expiry: Expiry,
    pub rate_limit_per_minute: Option<u32>,
    /// The API key that minted this one through `/api/v1`, if it was minted so.
    pub minted_by_key: Option<String>,
}

/// When a key stops working by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// N days after creation; a rotated key gets N days from its rotation.
    Days(u32),
    /// A fixed moment; a rotated key keeps it.
    At(DateTime<Utc>),
}

impl Expiry {
    fn days(self) -> Option<i64> {
        match self {
            Self::Days(days) => Some(i64::from(days)),
            _ => None,
        }
    }

    /// When a key created at `now` with this expiry stops working.
    pub fn expires_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Never => None,
            Self::Days(days) => Some(now + Duration::days(i64::from(days))),
            Self::At(at) => Some(at),
        }
    }
}

const KEY_COLUMNS: &str = "k.id, k.name, k.note, k.environment, k.prefix, k.body_start, k.last4,
    k.scopes, k.expiry_days, k.expires_at, k.rate_limit_per_minute, k.created_by, k.created_at,
    k.last_used_at, k.last_used_ip, k.grace_ends_at, k.revoked_at, k.revoke_reason,
    k.minted_by_key, u.name AS creator_name";

/// `minted(id)`: every key minted through `/api/v1` by the key `$2` of workspace
/// `$1` or by a key it replaced, and transitively by what those minted. A minted
/// key's replacement inherits `minted_by_key`, so rotations on either side are
/// followed. UNION, not UNION ALL: a cycle would end, not loop.
const MINTED_BY_LINEAGE: &str = "WITH RECURSIVE lineage(id) AS (
        SELECT id FROM api_keys WHERE workspace_id = $1 AND id = $2
        UNION
        SELECT k.id FROM api_keys k JOIN lineage ON k.replaced_by = lineage.id
        WHERE k.workspace_id = $1
    ), minted(id) AS (
        SELECT k.id FROM api_keys k
        WHERE k.workspace_id = $1 AND k.minted_by_key IN (SELECT id FROM lineage)
        UNION
        SELECT k.id FROM api_keys k JOIN minted ON k.minted_by_key = minted.id
        WHERE k.workspace_id = $1
    )";

/// Creates a key and returns its secret, the only time it exists outside the caller's hands.
pub async fn create(
    db: &Db,
    member: &Member,
    new: NewKey,
    key_prefix: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedKey, AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    // Under the lock: a removal or a cascade revoke that committed while this
    // request waited must win, or a key would outlive what it was checked against.
    ensure_still_member(&mut tx, member, Role::Developer).await?;
    if let Some(minting) = &new.minted_by_key {
        ensure_key_still_verifies(&mut tx, minting, now).await?;
    }
    ensure_name_free(&mut tx, &member.workspace_id, &new.name, now).await?;
    let secret = SecretKey::generate(key_prefix, new.environment);
    let id = insert(
        &mut tx,
        &member.workspace_id,
        &member.user_id,
        &new,
        &secret,
        now,
    )
    .await?;
    let label = parts_label(&new.name, &secret.display_parts());
    record(
        &mut tx,
        member,
        AuditAction::KeyCreated,
        KeyLabel {
            id: &id,
            label: &label,
        },
        json!({ "before": null, "after": settings_json(&new, now) }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedKey {
        id,
        name: new.name,
        secret: secret.expose().to_owned(),
    })
}

/// Replaces a key with a new one with the same settings; the old one keeps
/// working for `grace` and then expires.
pub async fn rotate(
    db: &Db,
    member: &Member,
    key_id: &str,
    grace: GraceWindow,
    key_prefix: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedKey, AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    ensure_still_member(&mut tx, member, Role::Developer).await?;
    let old = load(&mut tx, member, key_id, now).await?;
    ensure_may_manage(member, &old)?;
    match old.status {
        KeyStatus::Active => {}
        KeyStatus::Expiring => {
            return Err(AppError::conflict(
                "This key has already been rotated and is expiring. Rotate its replacement instead.",
            ));
        }
        KeyStatus::Expired | KeyStatus::Revoked => {
            return Err(AppError::conflict(format!(
                "This key is {} and cannot be rotated.",
                old.status.as_str()
            )));
        }
    }
    let expiry = match (old.expiry_days, old.expires_at) {
        // A minted key was bound by its minting key's expiry: rotating it must
        // not start a fresh period past that bound, so it keeps its end.
        (Some(_), Some(at)) if old.view.minted_by_key.is_some() => Expiry::At(at),
        (Some(days), _) => Expiry::Days(days),
        (None, Some(at)) => Expiry::At(at),
        (None, None) => Expiry::Never,
    };
    let new = NewKey {
        name: old.view.name.clone(),
        note: old.view.note.clone(),
        environment: old.view.environment,
        scopes: old.view.scopes.clone(),
        expiry,
        rate_limit_per_minute: old.view.rate_limit_per_minute,
        minted_by_key: old.view.minted_by_key.clone(),
    };
    // The replacement belongs to the key's owner, whoever pressed Rotate: the
    // owner's removal must still revoke it (the audit entry names the rotator).
    let owner_id = &old.view.created_by_id;
    let secret = SecretKey::generate(key_prefix, new.environment);
    let new_id = insert(&mut tx, &member.workspace_id, owner_id, &new, &secret, now).await?;
    let grace_ends_at = now + grace.duration();
    let old_digest: String = sqlx::query_scalar(
        "UPDATE api_keys SET replaced_by = $1, grace_ends_at = $2 WHERE id = $3 RETURNING digest",
    )
    .bind(&new_id)
    .bind(to_micros(grace_ends_at))
    .bind(key_id)
    .fetch_one(&mut *tx)
    .await?;
    // The cached entry still says "active, no grace end": every instance must forget it.
    let change = Change::Keys(vec![old_digest]);
    notify_in_tx(&mut tx, &change).await?;
    let old_status_after = KeyStatus::at(now, None, Some(grace_ends_at), old.expires_at);
    record(
        &mut tx,
        member,
        AuditAction::KeyRotated,
        KeyLabel {
            id: key_id,
            label: &target_label(&old.view.name, &old.view.masked),
        },
        json!({
            "before": { "status": old.status },
            "after": {
                "status": old_status_after,
                "grace_ends_at": grace_ends_at,
                "replaced_by": new_id,
            },
        }),
        now,
        client,
    )
    .await?;
    let label = parts_label(&new.name, &secret.display_parts());
    let mut settings = settings_json(&new, now);
    settings["rotated_from"] = json!(key_id);
    settings["owner_id"] = json!(owner_id);
    record(
        &mut tx,
        member,
        AuditAction::KeyCreated,
        KeyLabel {
            id: &new_id,
            label: &label,
        },
        json!({ "before": null, "after": settings }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    db.changes().publish(&change);
    Ok(CreatedKey {
        id: new_id,
        name: new.name,
        secret: secret.expose().to_owned(),
    })
}

/// Whether revoking a key also revokes the keys it minted through `/api/v1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cascade {
    /// Only the key itself.
    KeyOnly,
    /// The key and, transitively, every key minted by it or by what it minted.
    MintedKeysToo,
}

/// Revokes a key at once (and with [`Cascade::MintedKeysToo`] what it minted).
/// Irreversible; revoking an already revoked key is refused. Returns how many
/// minted keys the cascade revoked.
pub async fn revoke(
    db: &Db,
    member: &Member,
    key_id: &str,
    reason: Option<String>,
    cascade: Cascade,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<usize, AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let key = load(&mut tx, member, key_id, now).await?;
    ensure_may_manage(member, &key)?;
    // An already revoked key may still be revoked "with what it minted": a
    // key-only revoke earlier must not leave its minted keys out of reach.
    let digest = match (key.status, cascade) {
        (KeyStatus::Revoked, Cascade::KeyOnly) => {
            return Err(AppError::conflict("This key is already revoked."));
        }
        (KeyStatus::Revoked, Cascade::MintedKeysToo) => None,
        _ => {
            let digest =
                mark_revoked(&mut tx, key_id, &member.user_id, reason.as_deref(), now).await?;
            record(
                &mut tx,
                member,
                AuditAction::KeyRevoked,
                KeyLabel {
                    id: key_id,
                    label: &target_label(&key.view.name, &key.view.masked),
                },
                json!({
                    "before": { "status": key.status },
                    "after": { "status": KeyStatus::Revoked, "reason": reason },
                }),
                now,
                client,
            )
            .await?;
            digest
        }
    };
    let (cascaded, count) = match cascade {
        Cascade::KeyOnly => (None, 0),
        Cascade::MintedKeysToo => {
            let cause = AutoRevokeCause::MintingKeyRevoked { key_id };
            auto_revoke(&mut tx, &member.workspace_id, cause, member, now, client).await?
        }
    };
    tx.commit().await?;
    for change in digest
        .map(|digest| Change::Keys(vec![digest]))
        .into_iter()
        .chain(cascaded)
    {
        db.changes().publish(&change);
    }
    Ok(count)
}

/// Why keys are revoked without anyone choosing each one.
#[derive(Clone, Copy, Debug)]
pub enum AutoRevokeCause<'a> {
    /// The member who created them was removed from the workspace.
    MemberRemoved { user_id: &'a str },
    /// An admin offboarded the whole workspace.
    Offboarded,
    /// The API key that minted them (directly or through keys it minted) was revoked.
    MintingKeyRevoked { key_id: &'a str },
}

/// Revokes, inside the caller's transaction, every still-usable key the cause
/// covers, with one `key.auto_revoked` entry each. Returns what the caller
/// publishes to the caches after committing, and how many keys it revoked.
pub async fn auto_revoke(
    tx: &mut Tx,
    workspace_id: &str,
    cause: AutoRevokeCause<'_>,
    actor: &Member,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(Option<Change>, usize), sqlx::Error> {
    let (sql, reason, related) = match cause {
        AutoRevokeCause::MemberRemoved { user_id } => (
            "SELECT id, name, prefix, body_start, last4 FROM api_keys
             WHERE workspace_id = $1 AND revoked_at IS NULL AND created_by = $2",
            "The member who owned it was removed from the workspace.",
            Some(user_id),
        ),
        AutoRevokeCause::Offboarded => (
            "SELECT id, name, prefix, body_start, last4 FROM api_keys
             WHERE workspace_id = $1 AND revoked_at IS NULL",
            "The workspace was offboarded.",
            None,
        ),
        AutoRevokeCause::MintingKeyRevoked { key_id } => (
            MINTED_UNREVOKED_KEYS.as_str(),
            "The API key that created it was revoked.",
            Some(key_id),
        ),
    };
    let mut query = sqlx::query(sql).bind(workspace_id);
    if let Some(related) = related {
        query = query.bind(related);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut digests = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let name: String = row.try_get("name")?;
        let shown = masked(
            &row.try_get::<String, _>("prefix")?,
            &row.try_get::<String, _>("body_start")?,
            &row.try_get::<String, _>("last4")?,
        );
        digests.extend(mark_revoked(tx, &id, &actor.user_id, Some(reason), now).await?);
        append(
            tx,
            now,
            NewEntry {
                workspace_id: Some(workspace_id),
                actor: Actor::SYSTEM,
                action: AuditAction::KeyAutoRevoked,
                target: Some(Target {
                    kind: "key",
                    id: &id,
                    label: &target_label(&name, &shown),
                }),
                client,
                changes: Some(json!({
                    "after": { "status": KeyStatus::Revoked, "reason": reason },
                    "requested_by": actor.user_id,
                })),
            },
        )
        .await?;
    }
    Ok((Change::keys(digests), rows.len()))
}

/// The unrevoked keys of [`MINTED_BY_LINEAGE`].
static MINTED_UNREVOKED_KEYS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{MINTED_BY_LINEAGE}
         SELECT id, name, prefix, body_start, last4 FROM api_keys
         WHERE workspace_id = $1 AND revoked_at IS NULL AND id IN (SELECT id FROM minted)"
    )
});

/// How many keys a revoke of `key_id` with its minted keys would still stop.
async fn minted_unrevoked(db: &Db, workspace_id: &str, key_id: &str) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "{MINTED_BY_LINEAGE}
         SELECT COUNT(*) FROM api_keys
         WHERE workspace_id = $1 AND revoked_at IS NULL AND id IN (SELECT id FROM minted)"
    );
    sqlx::query_scalar(&sql)
        .bind(workspace_id)
        .bind(key_id)
        .fetch_one(db.pool())
        .await
}

/// Refuses unless `member` still has at least `role` in their workspace, as
/// read inside the caller's transaction (after its workspace lock).
async fn ensure_still_member(tx: &mut Tx, member: &Member, role: Role) -> Result<(), AppError> {
    let current: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(&member.workspace_id)
            .bind(&member.user_id)
            .fetch_optional(&mut **tx)
            .await?;
    match current.as_deref().and_then(Role::parse) {
        Some(current) if current.includes(role) => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Refuses unless the key `key_id` still verifies at `now` (not revoked, not past its end).
async fn ensure_key_still_verifies(
    tx: &mut Tx,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let usable = sqlx::query(
        "SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > $2)
           AND (grace_ends_at IS NULL OR grace_ends_at > $2)",
    )
    .bind(key_id)
    .bind(to_micros(now))
    .fetch_optional(&mut **tx)
    .await?;
    match usable {
        Some(_) => Ok(()),
        None => Err(AppError::Forbidden),
    }
}

/// Revokes every key of the workspace, after the admin typed its name.
pub async fn offboard(
    db: &Db,
    member: &Member,
    confirmation: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<usize, AppError> {
    member.require(Role::Admin)?;
    if confirmation.trim() != member.workspace_name {
        return Err(AppError::invalid(
            "confirmation",
            format!(
                "Type the workspace name, {}, to confirm.",
                member.workspace_name
            ),
        ));
    }
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let (change, count) = auto_revoke(
        &mut tx,
        &member.workspace_id,
        AutoRevokeCause::Offboarded,
        member,
        now,
        client,
    )
    .await?;
    let token_changes = crate::service_tokens::store::revoke_all(
        &mut tx,
        &member.workspace_id,
        member,
        now,
        client,
    )
    .await?;
    append(
        &mut tx,
        now,
        NewEntry {
            workspace_id: Some(&member.workspace_id),
            actor: Actor::member(member),
            action: AuditAction::WorkspaceOffboarded,
            target: Some(Target {
                kind: "workspace",
                id: &member.workspace_id,
                label: &member.workspace_name,
            }),
            client,
            changes: Some(json!({ "after": {
                "keys_revoked": count,
                "service_tokens_revoked": token_changes.len(),
            } })),
        },
    )
    .await?;
    tx.commit().await?;
    for change in change.into_iter().chain(token_changes) {
        db.changes().publish(&change);
    }
    Ok(count)
}

/// A page of the workspace's keys, newest first.
pub async fn list(
    db: &Db,
    member: &Member,
    filter: &KeyFilter,
    before: Option<&str>,
    now: DateTime<Utc>,
) -> Result<KeyListPage, AppError> {
    let mut query = ListQuery::new(&member.workspace_id);
    if let Some(environment) = filter.environment {
        query.push("k.environment = ?", Bind::Text(environment.as_str().into()));
    }
    if let Some(status) = filter.status {
        query.push_status(status, now);
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        query.push_search(search);
    }
    if let Some((at, id)) = before
        .filter(|text| !text.is_empty())
        .map(parse_cursor)
        .transpose()?
    {
        let at_param = query.bind(Bind::Int(at));
        let id_param = query.bind(Bind::Text(id));
        query.clauses.push(format!(
            "(k.created_at < {at_param} OR (k.created_at = {at_param} AND k.id < {id_param}))"
        ));
    }
    let limit_param = query.bind(Bind::Int(PAGE_SIZE as i64 + 1));
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.created_by
         WHERE {} ORDER BY k.created_at DESC, k.id DESC LIMIT {limit_param}",
        query.sql()
    );
    let mut rows = query.query(&sql).fetch_all(db.pool()).await?;
    let has_more = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let keys = rows
        .iter()
        .map(|row| key_row(row, member, now).map(|key| key.view))
        .collect::<Result<Vec<_>, _>>()?;
    let older = if has_more {
        rows.last()
            .map(|row| -> Result<String, sqlx::Error> {
                Ok(format!(
                    "{}:{}",
                    row.try_get::<i64, _>("created_at")?,
                    row.try_get::<String, _>("id")?
                ))
            })
            .transpose()?
    } else {
        None
    };
    let workspace_has_keys = !keys.is_empty()
        || sqlx::query("SELECT 1 FROM api_keys WHERE workspace_id = $1 LIMIT 1")
            .bind(&member.workspace_id)
            .fetch_optional(db.pool())
            .await?
            .is_some();
    Ok(KeyListPage {
        keys,
        older,
        now,
        can_create: member.role.includes(Role::Developer),
        workspace_has_keys,
        product_scopes: Vec::new(),
    })
}

/// The distinct scope lists of keys that still verify, each with how many keys hold it.
pub async fn scope_sets_in_use(
    db: &Db,
    now: DateTime<Utc>,
) -> Result<Vec<(Vec<String>, i64)>, sqlx::Error> {
    let now = to_micros(now);
    let rows = sqlx::query(
        "SELECT scopes, COUNT(*) AS keys FROM api_keys
         WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
           AND (grace_ends_at IS NULL OR grace_ends_at > $1)
         GROUP BY scopes",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let scopes: String = row.try_get("scopes")?;
            let scopes = serde_json::from_str(&scopes).map_err(|error| {
                sqlx::Error::Decode(format!("api_keys.scopes is not a JSON list: {error}").into())
            })?;
            Ok((scopes, row.try_get::<i64, _>("keys")?))
        })
        .collect()
}

/// The environment of one of the member's workspace's keys.
pub async fn environment_of(
    db: &Db,
    member: &Member,
    key_id: &str,
) -> Result<Environment, AppError> {
    let environment: Option<String> =
        sqlx::query_scalar("SELECT environment FROM api_keys WHERE workspace_id = $1 AND id = $2")
            .bind(&member.workspace_id)
            .bind(key_id)
            .fetch_optional(db.pool())
            .await?;
    let environment = environment
        .ok_or_else(|| AppError::not_found("There is no such key in this workspace."))?;
    Environment::parse(&environment).ok_or_else(|| {
        tracing::error!(key_id, "api_keys.environment holds an unknown value");
        AppError::Internal
    })
}

/// One key with its history.
pub async fn detail(
    db: &Db,
    member: &Member,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<KeyDetail, AppError> {
    // Released before the history query, so one request never holds two connections.
    let key = {
        let mut conn = db.pool().acquire().await?;
        load(&mut conn, member, key_id, now).await?
    };
    // DESIGN §1's audit rules: admins, and developers for their own keys.
    let history = match member.role {
        Role::Admin => true,
        Role::Developer => key.view.created_by_id == member.user_id,
        Role::Viewer => false,
    };
    let history = if history {
        Some(crate::audit::store::about_target(db, &member.workspace_id, "key", key_id).await?)
    } else {
        None
    };
    let minted_unrevoked = minted_unrevoked(db, &member.workspace_id, key_id).await?;
    Ok(KeyDetail {
        minted_unrevoked: u32::try_from(minted_unrevoked).unwrap_or(u32::MAX),
        key: key.view,
        history,
        now,
    })
}

/// A key as read for a change: the view plus what rotation needs.
struct LoadedKey {
    view: KeyView,
    status: KeyStatus,
    expiry_days: Option<u32>,
    expires_at: Option<DateTime<Utc>>,
}

async fn load(
    conn: &mut sqlx::AnyConnection,
    member: &Member,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<LoadedKey, AppError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.created_by
         WHERE k.workspace_id = $1 AND k.id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(&member.workspace_id)
        .bind(key_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| AppError::not_found("There is no such key in this workspace."))?;
    Ok(key_row(&row, member, now)?)
}

fn key_row(
    row: &sqlx::any::AnyRow,
    member: &Member,
    now: DateTime<Utc>,
) -> Result<LoadedKey, sqlx::Error> {
    let micros = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_micros))
    };
    let environment: String = row.try_get("environment")?;
    let scopes: String = row.try_get("scopes")?;
    let created_by_id: String = row.try_get("created_by")?;
    let revoked_at = micros("revoked_at")?;
    let grace_ends_at = micros("grace_ends_at")?;
    let expires_at = micros("expires_at")?;
    let status = KeyStatus::at(now, revoked_at, grace_ends_at, expires_at);
    let can_manage = may_manage(member, &created_by_id);
    let view = KeyView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        note: row.try_get("note")?,
        environment: Environment::parse(&environment).unwrap_or(Environment::Test),
        masked: masked(
            &row.try_get::<String, _>("prefix")?,
            &row.try_get::<String, _>("body_start")?,
            &row.try_get::<String, _>("last4")?,
        ),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        status,
        created_at: from_micros(row.try_get("created_at")?),
        created_by_id,
        created_by: row.try_get("creator_name")?,
        last_used_at: micros("last_used_at")?,
        last_used_ip: row.try_get("last_used_ip")?,
        expires_at,
        grace_ends_at,
        rate_limit_per_minute: row
            .try_get::<Option<i64>, _>("rate_limit_per_minute")?
            .and_then(|limit| u32::try_from(limit).ok()),
        revoked_at,
        revoke_reason: row.try_get("revoke_reason")?,
        minted_by_key: row.try_get("minted_by_key")?,
        can_manage,
    };
    Ok(LoadedKey {
        view,
        status,
        expiry_days: row
            .try_get::<Option<i64>, _>("expiry_days")?
            .and_then(|days| u32::try_from(days).ok()),
        expires_at,
    })
}

/// Admins manage every key; developers the ones they created; viewers none.
fn may_manage(member: &Member, created_by: &str) -> bool {
    match member.role {
        Role::Admin => true,
        Role::Developer => member.user_id == created_by,
        Role::Viewer => false,
    }
}

fn ensure_may_manage(member: &Member, key: &LoadedKey) -> Result<(), AppError> {
    if may_manage(member, &key.view.created_by_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Names are unique among the workspace's keys that still verify, so that two
/// live keys never look alike in the list; a rotation's old key keeps its name.
async fn ensure_name_free(
    tx: &mut Tx,
    workspace_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let now = to_micros(now);
    let taken = sqlx::query(
        "SELECT 1 FROM api_keys
         WHERE workspace_id = $1 AND lower(name) = lower($2) AND revoked_at IS NULL
           AND grace_ends_at IS NULL AND (expires_at IS NULL OR expires_at > $3)
         LIMIT 1",
    )
    .bind(workspace_id)
    .bind(name)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    if taken.is_some() {
        return Err(AppError::invalid(
            "name",
            "An active key already has this name. Choose another name, or revoke that key first.",
        ));
    }
    Ok(())
}

/// Inserts a key owned by `owner_id`.
async fn insert(
    tx: &mut Tx,
    workspace_id: &str,
    owner_id: &str,
    new: &NewKey,
    secret: &SecretKey,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    let parts = secret.display_parts();
    let scopes = serde_json::to_string(&new.scopes).map_err(|_| AppError::Internal)?;
    sqlx::query(
        "INSERT INTO api_keys (id, workspace_id, name, note, environment, digest, prefix,
             body_start, last4, scopes, expiry_days, expires_at, rate_limit_per_minute,
             created_by, created_at, minted_by_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&id)
    .bind(workspace_id)
    .bind(&new.name)
    .bind(new.note.as_deref())
    .bind(new.environment.as_str())
    .bind(secret.digest().as_str())
    .bind(&parts.prefix)
    .bind(&parts.start)
    .bind(&parts.last4)
    .bind(scopes)
    .bind(new.expiry.days())
    .bind(new.expiry.expires_at(now).map(to_micros))
    .bind(new.rate_limit_per_minute.map(i64::from))
    .bind(owner_id)
    .bind(to_micros(now))
    .bind(new.minted_by_key.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Marks a key revoked and queues the cross-instance notification; returns its
/// digest for the local cache, or `None` if it was already revoked.
async fn mark_revoked(
    tx: &mut Tx,
    key_id: &str,
    by: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    let digest: Option<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1, revoked_by = $2, revoke_reason = $3
         WHERE id = $4 AND revoked_at IS NULL RETURNING digest",
    )
    .bind(to_micros(now))
    .bind(by)
    .bind(reason)
    .bind(key_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(digest) = &digest {
        notify_in_tx(tx, &Change::Keys(vec![digest.clone()])).await?;
    }
    Ok(digest)
}

/// A key as an audit entry names it.
struct KeyLabel<'a> {
    id: &'a str,
    label: &'a str,
}

/// Appends `member`'s `action` on one key, in the caller's transaction.
async fn record(
    tx: &mut Tx,
    member: &Member,
    action: AuditAction,
    key: KeyLabel<'_>,
    changes: serde_json::Value,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let entry = NewEntry {
        workspace_id: Some(&member.workspace_id),
        actor: Actor::member(member),
        action,
        target: Some(Target {
            kind: "key",
            id: key.id,
            label: key.label,
        }),
        client,
        changes: Some(changes),
    };
    append(tx, now, entry).await
}

/// "Billing backend (kw_live_3fJ9…a1b2)", as audit sentences name a key.
fn target_label(name: &str, masked: &str) -> String {
    format!("{name} ({masked})")
}

fn parts_label(name: &str, parts: &DisplayParts) -> String {
    target_label(name, &masked(&parts.prefix, &parts.start, &parts.last4))
}

/// The settings an audit entry records for a new key. Never the secret.
fn settings_json(new: &NewKey, now: DateTime<Utc>) -> serde_json::Value {
    json!({
        "status": KeyStatus::Active,
        "name": new.name,
        "note": new.note,
        "environment": new.environment,
        "scopes": new.scopes,
        "expires_at": new.expiry.expires_at(now),
        "rate_limit_per_minute": new.rate_limit_per_minute,
        "minted_by_key": new.minted_by_key,
    })
}
