//! A key's row, read once and turned into what the pages show (`KeyView`),
//! with who may manage it.

use super::format::masked;
use super::{Environment, KeyStatus, KeyView};
use crate::auth::access::Member;
use crate::clock::from_micros;
use crate::error::AppError;
use crate::workspaces::Role;
use chrono::{DateTime, Utc};
use sqlx::Row;

pub(super) const KEY_COLUMNS: &str =
    "k.id, k.name, k.note, k.environment, k.prefix, k.body_start, k.last4,
    k.scopes, k.expiry_days, k.expires_at, k.rate_limit_per_minute, k.created_by, k.created_at,
    k.last_used_at, k.last_used_ip, k.grace_ends_at, k.revoked_at, k.revoke_reason,
    k.minted_by_key, u.name AS creator_name";

/// A key as read for a change: the view plus what rotation needs.
pub(super) struct LoadedKey {
    pub(super) view: KeyView,
    pub(super) status: KeyStatus,
    pub(super) expiry_days: Option<u32>,
    pub(super) expires_at: Option<DateTime<Utc>>,
}

pub(super) async fn load(
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

pub(super) fn key_row(
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
pub(super) fn may_manage(member: &Member, created_by: &str) -> bool {
    match member.role {
        Role::Admin => true,
        Role::Developer => member.user_id == created_by,
        Role::Viewer => false,
    }
}

pub(super) fn ensure_may_manage(member: &Member, key: &LoadedKey) -> Result<(), AppError> {
    if may_manage(member, &key.view.created_by_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
