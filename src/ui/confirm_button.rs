//! A button for a destructive change that asks first (remove a member, revoke
//! an invite, a service token or a webhook endpoint, sign a session out), then reloads the page to show the result.

use super::dialog::ConfirmDialog;
use super::form::{InlineError, action_error};
use super::submission::Submission;
use crate::auth::account_api::{end_other_sessions, end_session};
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
    RemoveMember { user_id: String },
    RevokeInvite { invite_id: String },
    RevokeServiceToken { token_id: String },
    DeleteWebhook { endpoint_id: String },
    EndSession { session_id: String },
    EndOtherSessions,
    ResetMemberTwoFactor { user_id: String },
}

impl Destructive {
    async fn run(self) -> Result<(), AppError> {
        match self {
            Self::RemoveMember { user_id } => remove_member(user_id).await,
            Self::RevokeInvite { invite_id } => revoke_invite(invite_id).await,
            Self::RevokeServiceToken { token_id } => revoke_service_token(token_id).await,
            Self::DeleteWebhook { endpoint_id } => delete_webhook(endpoint_id).await,
            Self::EndSession { session_id } => end_session(session_id).await,
            Self::EndOtherSessions => end_other_sessions().await,
            Self::ResetMemberTwoFactor { user_id } => reset_member_two_factor(user_id).await,
        }
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
    let action = Submission::<()>::new().reload_when_done();
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
    }
}
