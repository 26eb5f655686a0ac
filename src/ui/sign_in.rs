//! The sign-in page. The form is an island that signs in without a page load
//! (and keeps the email after a refusal); without JavaScript it is a plain form
//! post, and a refusal comes back in the URL.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use super::submission::Submission;
use crate::auth::api::{SignIn, sign_in};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use server_fn::ServerFn;

#[component]
pub fn SignInPage() -> impl IntoView {
    let reset = leptos_router::hooks::use_query_map()
        .with_untracked(|query| query.get("password_reset").is_some());
    view! {
        <Title text="Sign in" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <div class="card narrow">
                <h1 class="card-title">"Sign in"</h1>
                <SignInForm left_by_post=error_in_url() />
            </div>
            {reset.then(|| view! {
                <p class="muted small" role="status">"Your password was changed. Sign in with the new one."</p>
            })}
            <p class="muted small">"New here? Ask an admin of your workspace for an invite link."</p>
            <p class="muted small"><a href="/forgot">"Forgot your password?"</a></p>
        </main>
    }
}

#[island]
fn SignInForm(left_by_post: Option<AppError>) -> impl IntoView {
    let action = Submission::<()>::new();
    let error = action_error(action.answer(), left_by_post);
    let submit = action.on_submit(|fields| sign_in(fields.text("email"), fields.text("password")));
    view! {
        <form method="post" action=SignIn::url() class="stack" novalidate on:submit=submit>
            <FormError error />
            <TextField name="email" label="Email" kind="email" autocomplete="username" autofocus=true required=true error />
            <TextField name="password" label="Password" kind="password" autocomplete="current-password" required=true error />
            <SubmitButton pending=action.pending() label="Sign in" pending_label="Signing in…" />
        </form>
    }
}
