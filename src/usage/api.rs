//! Server functions for the usage views. Each checks the session and the role
//! itself: a key's usage is shown to admins and to the key's owner (the rule of
//! its history, docs/design.md §1); the Usage page to admins and developers,
//! developers seeing their own keys only.

use super::{KeyUsage, WorkspaceUsage};
use crate::error::AppError;
use leptos::prelude::*;

/// One key's chart and client IPs; `None` when the member may see the key but
/// not its usage (viewers, and developers on someone else's key).
#[server(prefix = "/rpc", endpoint = "load_key_usage")]
pub async fn load_key_usage(
    key_id: String,
    range: Option<String>,
) -> Result<Option<KeyUsage>, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Viewer).await?;
    let range = super::UsageRange::parse(range.as_deref())?;
    super::query::key_usage(&state.db, &member, &key_id, range, state.clock.now()).await
}

/// The workspace's Usage page: admins see every key, developers their own.
#[server(prefix = "/rpc", endpoint = "load_workspace_usage")]
pub async fn load_workspace_usage(range: Option<String>) -> Result<WorkspaceUsage, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    let range = super::UsageRange::parse(range.as_deref())?;
    super::query::workspace_usage(&state.db, &member, range, state.clock.now()).await
}
