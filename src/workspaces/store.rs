//! The `workspaces` table and a user's list of memberships.

use super::Role;
use crate::auth::WorkspaceMembership;
use crate::clock::to_micros;
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::ids::{UserId, WorkspaceId};
use chrono::{DateTime, Utc};

/// Creates a workspace with a URL-friendly slug that is unique (`acme`, `acme-2`, …).
pub async fn create(tx: &mut Tx, name: &str, now: DateTime<Utc>) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    let base = slug_of(name);
    let mut slug = base.clone();
    let mut suffix = 1;
    while sqlx::query("SELECT 1 FROM workspaces WHERE slug = $1")
        .bind(&slug)
        .fetch_optional(&mut **tx)
        .await?
        .is_some()
    {
        suffix += 1;
        slug = format!("{base}-{suffix}");
    }
    sqlx::query("INSERT INTO workspaces (id, name, slug, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(&slug)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

pub async fn add_member(
    tx: &mut Tx,
    workspace_id: WorkspaceId<'_>,
    user_id: UserId<'_>,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(workspace_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(to_micros(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Serialises membership changes of one workspace: a no-op write takes the
/// row lock on PostgreSQL (SQLite's `BEGIN IMMEDIATE` already serialises), so
/// two admins demoting each other cannot both pass the last-admin check.
pub async fn lock(tx: &mut Tx, workspace_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE workspaces SET name = name WHERE id = $1")
        .bind(workspace_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Every workspace the user belongs to, by name.
pub async fn memberships_of(db: &Db, user_id: &str) -> Result<Vec<WorkspaceMembership>, AppError> {
    #[derive(sqlx::FromRow)]
    struct MembershipRow {
        id: String,
        name: String,
        #[sqlx(try_from = "String")]
        role: Role,
    }
    let rows: Vec<MembershipRow> = sqlx::query_as(
        "SELECT w.id, w.name, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 ORDER BY w.name, w.id",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| WorkspaceMembership {
            id: row.id,
            name: row.name,
            role: row.role,
        })
        .collect())
}

/// Lower-case letters, digits and single dashes; `workspace` when nothing is left.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    if slug.is_empty() {
        "workspace".into()
    } else {
        slug.trim_end_matches('-').to_owned()
    }
}

/// Creates a workspace and makes `user` its admin, in the caller's
/// transaction (first-run setup and "New workspace" both). Returns its id.
pub async fn create_administered_by(
    tx: &mut Tx,
    user: &crate::auth::users::User,
    name: &str,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let workspace_id = create(tx, name, now).await?;
    add_member(
        tx,
        WorkspaceId(&workspace_id),
        UserId(&user.id),
        Role::Admin,
        now,
    )
    .await?;
    Ok(workspace_id)
}

/// Creates a workspace named `name` (checked here) with `user` as its admin,
/// and its `workspace.created` entry, in one transaction. Returns its id.
pub async fn create_with_admin(
    db: &Db,
    user: &crate::auth::users::User,
    name: &str,
    now: DateTime<Utc>,
    client: &crate::audit::store::ClientInfo,
) -> Result<String, AppError> {
    use crate::audit::AuditAction;
    use crate::audit::store::{Actor, NewEntry, Target, TargetKind, append};
    let name = crate::text::parse_display_name("name", "Workspace name", name)?;
    let mut tx = db.begin().await?;
    let workspace_id = create_administered_by(&mut tx, user, &name, now).await?;
    let entry = NewEntry {
        workspace_id: Some(&workspace_id),
        actor: Actor::user(user),
        action: AuditAction::WorkspaceCreated,
        target: Some(Target::new(TargetKind::Workspace, &workspace_id, &name)),
        client,
        changes: None,
    };
    append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(workspace_id)
}

/// Renames the workspace (admins only), recording `settings.changed` with the
/// names before and after. The slug stays, so links keep working.
pub async fn rename(
    db: &Db,
    member: &crate::auth::access::Member,
    new_name: &str,
    now: DateTime<Utc>,
    client: &crate::audit::store::ClientInfo,
) -> Result<(), AppError> {
    use crate::audit::AuditAction;
    use crate::audit::store::{NewEntry, Target, TargetKind, append};
    member.require(Role::Admin)?;
    let name = crate::text::parse_display_name("name", "Workspace name", new_name)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let before: String = sqlx::query_scalar("SELECT name FROM workspaces WHERE id = $1")
        .bind(&member.workspace_id)
        .fetch_one(&mut *tx)
        .await?;
    if before == name {
        return Ok(());
    }
    sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
        .bind(&name)
        .bind(&member.workspace_id)
        .execute(&mut *tx)
        .await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            member,
            AuditAction::SettingsChanged,
            Target::new(TargetKind::Workspace, &member.workspace_id, &name),
            client,
        )
        .with_changes(serde_json::json!({
            "before": { "name": before },
            "after": { "name": name },
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::slug_of;

    #[test]
    fn slugs_are_url_friendly() {
        assert_eq!(slug_of("Acme, Inc."), "acme-inc");
        assert_eq!(slug_of("  Billing  Team "), "billing-team");
        assert_eq!(slug_of("日本"), "workspace");
    }
}
