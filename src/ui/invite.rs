//! The invite page: whoever holds the link joins the workspace, with a new
//! account or the password of their existing one.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use crate::error::AppError;
use crate::workspaces::api::{AcceptInvite, load_invite};
use crate::workspaces::{InviteDetails, InviteStatus};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let status = Resource::new(token, load_invite);
    view! {
        <Title text="Join a workspace" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <Suspense fallback=|| view! { <p class="muted">"Checking your invite…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(InviteStatus::Open(details)) => view! { <JoinForm token=token() details left_by_post=error_in_url() /> }.into_any(),
                        Ok(other) => view! { <InviteRefused status=other /> }.into_any(),
                        Err(error) => view! { <super::layout::Refusal error /> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn InviteRefused(status: InviteStatus) -> impl IntoView {
    let (title, message) = match status {
        InviteStatus::Used => (
            "This invite was already used",
            "Sign in with the account that accepted it.",
        ),
        InviteStatus::Expired => (
            "This invite has expired",
            "Invites work for 7 days. Ask an admin of the workspace for a new one.",
        ),
        InviteStatus::Revoked => (
            "This invite was revoked",
            "Ask an admin of the workspace for a new one.",
        ),
        _ => (
            "This invite link is not valid",
            "Check that you copied the whole link, or ask for a new one.",
        ),
    };
    view! {
        <div class="card narrow" role="alert">
            <h1 class="card-title">{title}</h1>
            <p class="muted">{message}</p>
            <a class="button" href="/signin">"Go to sign in"</a>
        </div>
    }
}

/// A plain form post: server-rendered, no island (see `sign_in`).
#[component]
fn JoinForm(
    token: String,
    details: InviteDetails,
    left_by_post: Option<AppError>,
) -> impl IntoView {
    let action = ServerAction::<AcceptInvite>::new();
    let error = action_error(action.value(), left_by_post);
    let intro = format!(
        "{} invited {} to join as {}.",
        details.invited_by,
        details.email,
        details.role.label().to_lowercase()
    );
    view! {
        <div class="card narrow">
            <h1 class="card-title">{format!("Join {}", details.workspace_name)}</h1>
            <p class="muted">{intro}</p>
            <ActionForm action attr:class="stack" attr:novalidate=true>
                <FormError error />
                <input type="hidden" name="token" value=token />
                {if details.account_exists {
                    view! {
                        <p class="hint">"You already have a Keyward account. Confirm it's you with its password."</p>
                        <TextField name="password" label="Password" kind="password" autocomplete="current-password" autofocus=true required=true error />
                    }
                        .into_any()
                } else {
                    view! {
                        <TextField name="name" label="Your name" autocomplete="name" autofocus=true required=true error />
                        <TextField
                            name="password"
                            label="Choose a password"
                            kind="password"
                            autocomplete="new-password"
                            hint="At least 12 characters."
                            required=true
                            error
                        />
                    }
                        .into_any()
                }}
                <SubmitButton pending=action.pending().into() label="Join workspace" pending_label="Joining…" />
            </ActionForm>
        </div>
    }
}
