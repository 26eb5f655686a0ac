//! Settings → Account: the signed-in user's own name, password, two-factor
//! sign-in and sessions.
//! Every signed-in user has it, whatever their role; the server functions
//! act only on the caller's own account. The forms are plain posts (no
//! island); signing a session out asks first.

use super::confirm_button::{ConfirmButton, Confirmation, Destructive};
use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use super::layout::Refusal;
use super::table::TableHead;
use super::time::{exact, relative};
use super::two_factor::TwoFactorSection;
use crate::auth::account_api::{
    AccountView, ChangePassword, RenameAccount, SessionView, load_account,
};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AccountPage() -> impl IntoView {
    let account = Resource::new(|| (), |()| load_account());
    view! {
        <Title text="Your account" />
        <div class="page-header">
            <div>
                <h1>"Your account"</h1>
                <p class="muted">"Your name, your password and where you are signed in. Only you see this page."</p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match account.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(account) => view! { <AccountSections account /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AccountSections(account: AccountView) -> impl IntoView {
    let left_by_post = error_in_url();
    let AccountView {
        name,
        email,
        sessions,
        two_factor,
        two_factor_required,
        now,
    } = account;
    view! {
        <section class="card narrow section" aria-labelledby="profile-heading">
            <h2 id="profile-heading" class="card-title">"Profile"</h2>
            <dl class="details">
                <dt>"Email"</dt><dd data-testid="account-email">{email}</dd>
            </dl>
            <NameForm current=name left_by_post=left_by_post.clone() />
        </section>
        <section class="card narrow section" aria-labelledby="password-heading">
            <h2 id="password-heading" class="card-title">"Password"</h2>
            <PasswordForm left_by_post />
        </section>
        <TwoFactorSection view=two_factor required=two_factor_required now />
        <SessionsSection sessions now />
    }
}

#[component]
fn NameForm(current: String, left_by_post: Option<AppError>) -> impl IntoView {
    let rename = ServerAction::<RenameAccount>::new();
    let error = action_error(rename.value(), left_by_post);
    let saved = use_query_map().with_untracked(|query| query.get("name_saved").is_some());
    view! {
        <ActionForm action=rename attr:class="stack" attr:novalidate=true>
            <TextField name="name" label="Your name" autocomplete="name" value=current required=true error />
            <SubmitButton pending=rename.pending().into() label="Save name" pending_label="Saving…" />
            {saved.then(|| view! { <p class="muted small" role="status">"Saved. Your workspaces show the new name."</p> })}
        </ActionForm>
    }
}

#[component]
fn PasswordForm(left_by_post: Option<AppError>) -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let error = action_error(change.value(), left_by_post);
    let changed = use_query_map().with_untracked(|query| query.get("password_changed").is_some());
    view! {
        <ActionForm action=change attr:class="stack" attr:novalidate=true>
            <FormError error />
            <TextField
                name="current_password"
                label="Current password"
                kind="password"
                autocomplete="current-password"
                required=true
                error
            />
            <TextField
                name="new_password"
                label="New password"
                kind="password"
                autocomplete="new-password"
                hint=NEW_PASSWORD_HINT
                required=true
                error
            />
            <SubmitButton pending=change.pending().into() label="Change password" pending_label="Changing…" />
            {changed.then(|| view! {
                <p class="muted small" role="status">"Password changed. Your other sessions were signed out."</p>
            })}
        </ActionForm>
    }
}

/// `auth::password::MIN_CHARS` (a server-only module) says 12.
const NEW_PASSWORD_HINT: &str =
    "At least 12 characters. Changing it signs you out everywhere else.";

#[component]
fn SessionsSection(sessions: Vec<SessionView>, now: DateTime<Utc>) -> impl IntoView {
    let older = sessions
        .iter()
        .filter(|session| session.can_sign_out)
        .count();
    let sign_out_others = (older > 0).then(|| {
        let words = Confirmation {
            button: "Sign out everywhere else".to_owned(),
            button_aria: None,
            title: "Sign out everywhere else?".to_owned(),
            message: format!(
                "{older} other session{} will have to sign in again. This browser stays signed in.",
                if older == 1 { "" } else { "s" }
            ),
            confirm: "Yes, sign them out".to_owned(),
        };
        view! { <ConfirmButton change=Destructive::EndOtherSessions words /> }
    });
    view! {
        <section class="card flush section" aria-labelledby="sessions-heading">
            <div class="card-header">
                <div>
                    <h2 id="sessions-heading" class="card-title">"Sessions"</h2>
                    <p class="muted small">
                        "Browsers signed in to your account. Sign out any you do not recognise, then change your password. "
                        "A browser that signed in after this one is signed out by a password change, or from a newer sign-in."
                    </p>
                </div>
                {sign_out_others}
            </div>
            <div class="table-scroll">
                <table class="table">
                    <TableHead columns=&["Device", "IP address", "Signed in", "Last active"] actions=true />
                    <tbody>
                        {sessions.into_iter().map(|session| view! { <SessionRow session now /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn SessionRow(session: SessionView, now: DateTime<Utc>) -> impl IntoView {
    let action = if session.current {
        view! { <span class="badge active">"This browser"</span> }.into_any()
    } else if !session.can_sign_out {
        view! { <span class="muted small" title="Signed in after this browser: a password change, or a newer sign-in here, signs it out">"Newer sign-in"</span> }.into_any()
    } else {
        let words = Confirmation {
            button: "Sign out".to_owned(),
            button_aria: Some(format!("Sign out {}", session.device)),
            title: format!("Sign out {}?", session.device),
            message: "That browser will have to sign in again.".to_owned(),
            confirm: "Yes, sign it out".to_owned(),
        };
        let change = Destructive::EndSession {
            session_id: session.id.clone(),
        };
        view! { <ConfirmButton change words /> }.into_any()
    };
    view! {
        <tr data-testid="session-row">
            <td class="strong" title=session.user_agent.clone().unwrap_or_default()>{session.device.clone()}</td>
            <td><code>{session.ip.clone().unwrap_or_else(|| "Unknown".to_owned())}</code></td>
            <td title=exact(session.signed_in_at)>{relative(session.signed_in_at, now)}</td>
            <td title=exact(session.last_active_at)>{relative(session.last_active_at, now)}</td>
            <td class="actions">{action}</td>
        </tr>
    }
}
