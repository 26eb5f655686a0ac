//! Server functions for Settings → Webhooks: admins only, checked here and
//! again in the store (which also refuses another workspace's endpoints).
//! "Send test event", "Resend", "Disable" and "Enable" are plain form posts
//! that load the page again; creating and rotating show a secret once.

use super::{CreatedWebhookSecret, WebhooksPage};
use crate::error::AppError;
use leptos::prelude::*;
use server_fn::codec::Json;

/// Where the plain form posts below send the browser back to.
pub const PAGE: &str = "/settings/webhooks";

#[server(prefix = "/rpc", endpoint = "load_webhooks")]
pub async fn load_webhooks() -> Result<WebhooksPage, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::list(&state.db, &member, state.clock.now()).await
}

/// Registers an endpoint and returns its signing secret: the only response that ever carries it.
#[server(prefix = "/rpc", endpoint = "create_webhook", input = Json)]
pub async fn create_webhook(
    url: String,
    description: String,
    events: Vec<String>,
) -> Result<CreatedWebhookSecret, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    crate::http::rpc::forbid_caching();
    super::store::create(
        &state.db,
        &member,
        super::store::NewEndpoint {
            url: &url,
            description: &description,
            events: &events,
        },
        state.config.webhooks.allow_private,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

/// A new signing secret, shown once; the old one signs beside it for 24 hours.
#[server(prefix = "/rpc", endpoint = "rotate_webhook_secret")]
pub async fn rotate_webhook_secret(endpoint_id: String) -> Result<CreatedWebhookSecret, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    crate::http::rpc::forbid_caching();
    super::store::rotate_secret(
        &state.db,
        &member,
        &endpoint_id,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

#[server(prefix = "/rpc", endpoint = "delete_webhook")]
pub async fn delete_webhook(endpoint_id: String) -> Result<(), AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::delete(
        &state.db,
        &member,
        &endpoint_id,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

/// `enabled` is `true` or `false`.
#[server(prefix = "/rpc", endpoint = "set_webhook_enabled")]
pub async fn set_webhook_enabled(endpoint_id: String, enabled: bool) -> Result<(), AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::set_enabled(
        &state.db,
        &member,
        &endpoint_id,
        enabled,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await?;
    leptos_axum::redirect(PAGE);
    Ok(())
}

/// Queues a `test` event to the endpoint; answers its `webhook-id`.
#[server(prefix = "/rpc", endpoint = "send_test_webhook")]
pub async fn send_test_webhook(endpoint_id: String) -> Result<String, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let id = super::store::send_test(&state.db, &member, &endpoint_id, state.clock.now()).await?;
    leptos_axum::redirect(&format!("{PAGE}?sent={id}"));
    Ok(id)
}

#[server(prefix = "/rpc", endpoint = "resend_webhook_delivery")]
pub async fn resend_webhook_delivery(delivery_id: String) -> Result<(), AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::resend(&state.db, &member, &delivery_id, state.clock.now()).await?;
    leptos_axum::redirect(PAGE);
    Ok(())
}
