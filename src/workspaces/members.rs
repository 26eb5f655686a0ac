//! Members of a workspace: listing, role changes and removal, each audited in
//! the same transaction, and never leaving a workspace without an admin.

use super::{MemberView, Role, store};
use crate::audit::AuditAction;
use crate::audit::store::{ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::clock::from_micros;
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::keys::store::{AutoRevokeCause, auto_revoke};
use chrono::{DateTime, Utc};
use serde_json::json;

pub async fn list(
    db: &Db,
    workspace_id: &str,
    viewer_id: &str,
) -> Result<Vec<MemberView>, AppError> {
    #[derive(sqlx::FromRow)]
    struct MemberRow {
        id: String,
        name: String,
        email: String,
        #[sqlx(try_from = "String")]
        role: Role,
        created_at: i64,
        two_factor: i64,
    }
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT u.id, u.name, u.email, m.role, m.created_at,
             CASE WHEN EXISTS (SELECT 1 FROM user_two_factor t
                               WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL)
                  THEN 1 ELSE 0 END AS two_factor
         FROM memberships m
         JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.name, u.email",
    )
    .bind(workspace_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| MemberView {
            is_you: row.id == viewer_id,
            user_id: row.id,
            name: row.name,
            email: row.email,
            role: row.role,
            joined_at: from_micros(row.created_at),
            two_factor: row.two_factor == 1,
        })
        .collect())
}

/// Changes a member's role. Refuses to demote the last admin.
pub async fn change_role(
    db: &Db,
    actor: &Member,
    user_id: &str,
    new_role: Role,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    store::lock(&mut tx, &actor.workspace_id).await?;
    let target = load_target(&mut tx, &actor.workspace_id, user_id).await?;
    if target.role == new_role {
        return Ok(());
    }
    if target.role == Role::Admin && admin_count(&mut tx, &actor.workspace_id).await? <= 1 {
        return Err(AppError::conflict(
            "This is the workspace's last admin. Make someone else an admin first.",
        ));
    }
    sqlx::query("UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3")
        .bind(new_role.as_str())
        .bind(&actor.workspace_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            actor,
            AuditAction::MemberRoleChanged,
            Target::new(TargetKind::User, user_id, &target.label),
            client,
        )
        .with_changes(json!({ "before": { "role": target.role }, "after": { "role": new_role } })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member. Their next request finds no membership, so their access to
/// this workspace ends at once. Refuses to remove the last admin.
pub async fn remove(
    db: &Db,
    actor: &Member,
    user_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    store::lock(&mut tx, &actor.workspace_id).await?;
    let target = load_target(&mut tx, &actor.workspace_id, user_id).await?;
    if target.role == Role::Admin && admin_count(&mut tx, &actor.workspace_id).await? <= 1 {
        return Err(AppError::conflict(
            "This is the workspace's last admin and cannot be removed. Make someone else an admin first.",
        ));
    }
    sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(&actor.workspace_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    // Their keys go with them, in the same transaction: a removed member's
    // backend must not keep access through a key nobody else is watching.
    let (key_change, keys_revoked) = auto_revoke(
        &mut tx,
        &actor.workspace_id,
        AutoRevokeCause::MemberRemoved { user_id },
        actor,
        now,
        client,
    )
    .await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            actor,
            AuditAction::MemberRemoved,
            Target::new(TargetKind::User, user_id, &target.label),
            client,
        )
        .with_changes(json!({
            "before": { "role": target.role },
            "after": null,
            "keys_revoked": keys_revoked,
        })),
    )
    .await?;
    crate::webhooks::outbox::member_removed(
        &mut tx,
        &actor.workspace_id,
        user_id,
        target.role,
        keys_revoked,
        crate::webhooks::outbox::EventActor::member(actor),
        now,
    )
    .await?;
    tx.commit().await?;
    crate::webhooks::outbox::wake(db);
    if let Some(change) = key_change {
        db.changes().publish(&change);
    }
    Ok(())
}

struct TargetMember {
    role: Role,
    label: String,
}

async fn load_target(
    tx: &mut Tx,
    workspace_id: &str,
    user_id: &str,
) -> Result<TargetMember, AppError> {
    #[derive(sqlx::FromRow)]
    struct TargetRow {
        #[sqlx(try_from = "String")]
        role: Role,
        name: String,
        email: String,
    }
    let row: TargetRow = sqlx::query_as(
        "SELECT m.role, u.name, u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.workspace_id = $1 AND m.user_id = $2",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| AppError::not_found("That person is not a member of this workspace."))?;
    Ok(TargetMember {
        role: row.role,
        label: format!("{} ({})", row.name, row.email),
    })
}

async fn admin_count(tx: &mut Tx, workspace_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'admin'",
    )
    .bind(workspace_id)
    .fetch_one(&mut **tx)
    .await
}
