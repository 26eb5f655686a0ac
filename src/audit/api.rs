//! Server functions for the audit log page.

use super::AuditPage;
use crate::error::AppError;
use leptos::prelude::*;

/// Entries per page.
pub const PAGE_SIZE: i64 = 50;

/// A page of the current workspace's log, newest first; `before`/`after` are keyset cursors.
#[server(prefix = "/rpc", endpoint = "load_audit_page")]
pub async fn load_audit_page(
    before: Option<i64>,
    after: Option<i64>,
) -> Result<AuditPage, AppError> {
    use super::store::{Cursor, page};
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let cursor = match (before, after) {
        (Some(seq), _) => Cursor::Before(seq),
        (None, Some(seq)) => Cursor::After(seq),
        (None, None) => Cursor::Newest,
    };
    Ok(page(&state.db, &member.workspace_id, cursor, PAGE_SIZE).await?)
}
