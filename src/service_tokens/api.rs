//! Server functions for Settings → Service tokens: admins only, checked here
//! and again in the store.

use super::{CreatedServiceToken, ServiceTokenView};
use crate::error::AppError;
use leptos::prelude::*;

#[server(prefix = "/rpc", endpoint = "load_service_tokens")]
pub async fn load_service_tokens() -> Result<Vec<ServiceTokenView>, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::list(&state.db, &member).await
}

/// Creates a token and returns it: the only response that ever carries it.
#[server(prefix = "/rpc", endpoint = "create_service_token")]
pub async fn create_service_token(name: String) -> Result<CreatedServiceToken, AppError> {
    use super::store::Creator;
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    crate::http::rpc::forbid_caching();
    super::store::create(
        &state.db,
        &member.workspace_id,
        Creator::Admin(&member),
        &name,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

#[server(prefix = "/rpc", endpoint = "revoke_service_token")]
pub async fn revoke_service_token(token_id: String) -> Result<(), AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::revoke(
        &state.db,
        &member,
        &token_id,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}
