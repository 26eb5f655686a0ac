//! A button for a change that asks first (remove a member, revoke an invite,
//! a service token or a webhook endpoint, sign a session out, make a reset
//! link), then reloads the page to show the result, or shows the secret the
//! change made once, in a dialog, and reloads when that closes.

use super::browser::reload_page;
use super::dialog::ConfirmDialog;
use super::form::{InlineError, action_error};
use super::shown_once::{ShownOnceDialog, ShownOnceIds};
use super::submission::Submission;
use crate::auth::account_api::{end_other_sessions, end_session};
use crate::auth::password_reset_api::create_member_reset_link;
use crate::auth::two_factor_api::reset_member_two_factor;
use crate::error::AppError;
use crate::service_tokens::api::revoke_service_token;
use crate::webhooks::api::delete_webhook;
use crate::workspaces::api::{remove_member, revoke_invite};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the button does once confirmed. An island's props cross from server
/// to browser as data, so the change is named rather than passed as a closure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Destructive {
    RemoveMember {
        user_id: String,
    },
    RevokeInvite {
        invite_id: String,
    },
    RevokeServiceToken {
        token_id: String,
    },
    DeleteWebhook {
        endpoint_id: String,
    },
    EndSession {
        session_id: String,
    },
    EndOtherSessions,
    ResetMemberTwoFactor {
        user_id: String,
    },
    /// Makes a password reset link for a member: the one change here that
    /// has a secret to show.
    CreateResetLink {
        user_id: String,
    },
}

impl Destructive {
    /// Makes the change; `Some` when it made a link to show once.
    async fn run(self) -> Result<Option<String>, AppError> {
        match self {
            Self::RemoveMember { user_id } => remove_member(user_id).await?,
            Self::RevokeInvite { invite_id } => revoke_invite(invite_id).await?,
            Self::RevokeServiceToken { token_id } => revoke_service_token(token_id).await?,
            Self::DeleteWebhook { endpoint_id } => delete_webhook(endpoint_id).await?,
            Self::EndSession { session_id } => end_session(session_id).await?,
            Self::EndOtherSessions => end_other_sessions().await?,
            Self::ResetMemberTwoFactor { user_id } => reset_member_two_factor(user_id).await?,
            Self::CreateResetLink { user_id } => {
                return create_member_reset_link(user_id).await.map(Some);
            }
        }
        Ok(None)
    }
}

/// The words of the button and of its confirmation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub button: String,
    /// The button's accessible name when its text alone is ambiguous in a table.
    pub button_aria: Option<String>,
    pub title: String,
    pub message: String,
    pub confirm: String,
}

#[island]
pub fn ConfirmButton(change: Destructive, words: Confirmation) -> impl IntoView {
    let open = RwSignal::new(false);
    let action = Submission::<Option<String>>::new();
    Effect::new(move || {
        if action
            .answer()
            .with(|answer| matches!(answer, Some(Ok(None))))
        {
            reload_page();
        }
    });
    let made = move || action.answer().get().and_then(Result::ok).flatten();
    let on_confirm = Callback::new(move |()| action.run(change.clone().run()));
    let Confirmation {
        button,
        button_aria,
        title,
        message,
        confirm,
    } = words;
    view! {
        <button type="button" class="button small danger-outline" aria-label=button_aria on:click=move |_| open.set(true)>
            {button}
        </button>
        <InlineError error=action_error(action.answer(), None) />
        <ConfirmDialog open title=Signal::stored(title) message=message confirm_label=confirm on_confirm />
        {move || made().map(|link| view! {
            <ShownOnceDialog
                heading="Password reset link".to_owned()
                title="Pass it on over a channel you trust".to_owned()
                hint="It works once, for an hour. It won't be shown again.".to_owned()
                secret=link
                copy_label="Copy link"
                ids=ShownOnceIds { panel: "reset-link-panel", secret: "reset-link" }
            />
        })}
    }
}
