//! Server functions for the audit log page. Admins read the workspace's log;
//! developers only entries about keys they created; viewers nothing.

use super::AuditPage;
use super::filter::AuditFilterParams;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Entries per page.
pub const PAGE_SIZE: i64 = 50;

/// A person the actor filter offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActorChoice {
    pub user_id: String,
    pub label: String,
}

/// A page of the current workspace's log, newest first; `before`/`after` are keyset cursors.
#[server(prefix = "/rpc", endpoint = "load_audit_page")]
pub async fn load_audit_page(
    #[server(default)] filter: AuditFilterParams,
    before: Option<i64>,
    after: Option<i64>,
) -> Result<AuditPage, AppError> {
    use super::query::{AuditScope, Cursor, page};
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    let scope = AuditScope::of(&member)?;
    let filter = filter.parse()?;
    let cursor = Cursor::from_numbers(before, after)?;
    Ok(page(&state.db, &scope, &filter, cursor, PAGE_SIZE).await?)
}

/// Who the actor filter can name: the workspace's members (admins only; a
/// developer's view holds their own keys' entries).
#[server(prefix = "/rpc", endpoint = "load_audit_actors")]
pub async fn load_audit_actors() -> Result<Vec<ActorChoice>, AppError> {
    use crate::workspaces::Role;
    use sqlx::Row;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    if !member.role.includes(Role::Admin) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT u.id, u.name, u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.workspace_id = $1 ORDER BY lower(u.name), u.id",
    )
    .bind(&member.workspace_id)
    .fetch_all(state.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ActorChoice {
                user_id: row.try_get("id")?,
                label: format!(
                    "{} ({})",
                    row.try_get::<String, _>("name")?,
                    row.try_get::<String, _>("email")?
                ),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// The chain head the audit page shows admins, to copy as a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointView {
    pub seq: i64,
    pub hash: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl CheckpointView {
    /// What `keyward audit verify --checkpoint` takes.
    pub fn argument(&self) -> String {
        format!("{}:{}", self.seq, self.hash)
    }
}

/// The workspace chain's head (admins: it covers every entry); `None` before the first entry.
#[server(prefix = "/rpc", endpoint = "load_audit_head")]
pub async fn load_audit_head() -> Result<Option<CheckpointView>, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let head = super::chain::head(&state.db, &member.workspace_id).await?;
    Ok(head.map(|head| CheckpointView {
        seq: head.seq,
        hash: head.hash,
        at: head.at,
    }))
}

/// "Publish checkpoint now": an `audit.checkpoint` event to every endpoint
/// that asked for one; back to the page, which says to how many.
#[server(prefix = "/rpc", endpoint = "publish_audit_checkpoint")]
pub async fn publish_audit_checkpoint() -> Result<usize, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let (_, endpoints) =
        super::checkpoint::publish_now(&state.db, &member, state.clock.now()).await?;
    leptos_axum::redirect(&format!("/settings/audit-log?published={endpoints}"));
    Ok(endpoints)
}
