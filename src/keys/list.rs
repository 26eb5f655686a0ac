//! Reading keys: a page of the list with its keyset cursor, one key with its
//! history, and the facts other modules ask for.

use super::list_query::{Bind, ListQuery, parse_cursor};
use super::minted::minted_unrevoked;
use super::rows::{LISTED_KEY_COLUMNS, ListedKeyRow, load};
use super::{Environment, KeyDetail, KeyFilter, KeyListPage, PAGE_SIZE};
use crate::audit::store::TargetKind;
use crate::auth::access::Member;
use crate::clock::to_micros;
use crate::db::Db;
use crate::error::AppError;
use crate::workspaces::Role;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};

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
    if filter.expiring_soon {
        query.push_expiring_soon(now);
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
        "SELECT {LISTED_KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.created_by
         WHERE {} ORDER BY k.created_at DESC, k.id DESC LIMIT {limit_param}",
        query.sql()
    );
    let mut rows: Vec<ListedKeyRow> = query
        .query(&sql)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(ListedKeyRow::from_row)
        .collect::<Result<_, _>>()?;
    let has_more = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let older = rows
        .last()
        .filter(|_| has_more)
        .map(|row| format!("{}:{}", row.key.created_at, row.key.id));
    let policy = {
        let mut conn = db.pool().acquire().await?;
        super::policy::load(&mut conn, &member.workspace_id).await?
    };
    let keys = rows
        .into_iter()
        .map(|row| {
            row.into_loaded(member, now).map(|key| {
                let mut view = key.view;
                view.outside_policy = policy.breaches_of(&view);
                view
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    let no_such_key = || AppError::not_found("There is no such key in this workspace.");
    if crate::text::has_control(key_id) {
        return Err(no_such_key());
    }
    let environment: Option<String> =
        sqlx::query_scalar("SELECT environment FROM api_keys WHERE workspace_id = $1 AND id = $2")
            .bind(&member.workspace_id)
            .bind(key_id)
            .fetch_optional(db.pool())
            .await?;
    let environment = environment.ok_or_else(no_such_key)?;
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
    let (key, policy) = {
        let mut conn = db.pool().acquire().await?;
        let key = load(&mut conn, member, key_id, now).await?;
        let policy = super::policy::load(&mut conn, &member.workspace_id).await?;
        (key, policy)
    };
    let mut key = key;
    key.view.outside_policy = policy.breaches_of(&key.view);
    // docs/design.md §1's audit rules: admins, and developers for their own keys.
    let history = match member.role {
        Role::Admin => true,
        Role::Developer => key.view.created_by_id == member.user_id,
        Role::Viewer => false,
    };
    let history = if history {
        Some(
            crate::audit::store::about_target(db, &member.workspace_id, TargetKind::Key, key_id)
                .await?,
        )
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
