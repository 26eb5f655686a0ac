//! Server functions for the Members page and invite links. Admin-only ones
//! check the role themselves; the invite page is open to whoever holds the link.

use super::{CreatedInvite, InviteStatus, MembersPage};
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn parse_role(raw: &str) -> Result<super::Role, AppError> {
    super::Role::parse(raw.trim())
        .ok_or_else(|| AppError::invalid("role", "Choose admin, developer or viewer."))
}

#[server(prefix = "/rpc", endpoint = "load_members")]
pub async fn load_members() -> Result<MembersPage, AppError> {
    use super::{Role, invites, members};
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    Ok(MembersPage {
        members: members::list(&state.db, &member.workspace_id, &member.user_id).await?,
        invites: invites::list_open(&state.db, &member.workspace_id, state.clock.now()).await?,
    })
}

/// Creates a one-time invite link for `email` with `role`, valid for 7 days.
#[server(prefix = "/rpc", endpoint = "invite_member")]
pub async fn invite_member(email: String, role: String) -> Result<CreatedInvite, AppError> {
    use super::{Role, invites};
    use crate::auth::email::Email;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let email = Email::parse(&email)?;
    let role = parse_role(&role)?;
    let client = crate::http::rpc::client();
    let mut created = invites::create(
        &state.db,
        &member,
        &email,
        role,
        &state.config.public_url,
        state.clock.now(),
        &client,
    )
    .await?;
    if let Some(mailer) = &state.mailer {
        let now = state.clock.now();
        created.emailed = Some(invites::email(&state.db, mailer, &member, &created, now).await?);
    }
    Ok(created)
}

#[server(prefix = "/rpc", endpoint = "revoke_invite")]
pub async fn revoke_invite(invite_id: String) -> Result<(), AppError> {
    use super::{Role, invites};
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    invites::revoke(
        &state.db,
        &member,
        &invite_id,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

#[server(prefix = "/rpc", endpoint = "change_member_role")]
pub async fn change_member_role(user_id: String, role: String) -> Result<(), AppError> {
    use super::{Role, members};
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let role = parse_role(&role)?;
    members::change_role(
        &state.db,
        &member,
        &user_id,
        role,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

#[server(prefix = "/rpc", endpoint = "remove_member")]
pub async fn remove_member(user_id: String) -> Result<(), AppError> {
    use super::{Role, members};
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    members::remove(
        &state.db,
        &member,
        &user_id,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await
}

/// What the invite page shows for a link (no session needed: the link is the credential).
#[server(prefix = "/rpc", endpoint = "load_invite")]
pub async fn load_invite(token: String) -> Result<InviteStatus, AppError> {
    let state = crate::http::rpc::state()?;
    super::invites::status(&state.db, &token, state.clock.now()).await
}

/// Joins the workspace through an invite link and signs in.
#[server(prefix = "/rpc", endpoint = "accept_invite")]
pub async fn accept_invite(
    token: String,
    name: Option<String>,
    password: String,
) -> Result<(), AppError> {
    let state = crate::http::rpc::state()?;
    let client = crate::http::rpc::client();
    let accepted = super::invites::accept(
        &state.db,
        &token,
        name,
        password,
        state.clock.now(),
        &client,
    )
    .await?;
    use super::invites::Accepted;
    use crate::ids::{UserId, WorkspaceId};
    let session = crate::http::rpc::session().await?;
    let joined = match accepted {
        Accepted::Joined(joined) => joined,
        Accepted::CodeNeeded {
            user_id,
            workspace_id,
            invite,
        } => {
            let (user, workspace) = (UserId(&user_id), WorkspaceId(&workspace_id));
            crate::auth::session::owe_code(&state, &session, user, workspace, Some(&invite))
                .await?;
            leptos_axum::redirect(crate::auth::api::CODE_STEP_PATH);
            return Ok(());
        }
    };
    let (user, workspace) = (UserId(&joined.user_id), WorkspaceId(&joined.workspace_id));
    crate::auth::session::start(&state, &session, user, workspace, &client).await?;
    leptos_axum::redirect(crate::auth::api::HOME);
    Ok(())
}

/// Creates a new workspace with the signed-in user as its admin, and switches to it.
#[server(prefix = "/rpc", endpoint = "create_workspace")]
pub async fn create_workspace(name: String) -> Result<(), AppError> {
    use crate::auth::{access, session};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let user = access::signed_in_user(&state.db, &session, state.clock.now()).await?;
    // Not a way around a workspace's two-factor requirement.
    access::require_two_factor_if_asked(&state.db, &session, state.clock.now()).await?;
    let client = crate::http::rpc::client();
    let workspace_id =
        super::store::create_with_admin(&state.db, &user, &name, state.clock.now(), &client)
            .await?;
    session::set_workspace(&session, &workspace_id).await?;
    leptos_axum::redirect(crate::auth::api::HOME);
    Ok(())
}

/// Renames the current workspace (admins only).
#[server(prefix = "/rpc", endpoint = "rename_workspace")]
pub async fn rename_workspace(name: String) -> Result<(), AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    super::store::rename(
        &state.db,
        &member,
        &name,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await?;
    leptos_axum::redirect("/settings/workspace?saved");
    Ok(())
}
