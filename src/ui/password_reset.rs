//! The reset page (`/reset/{token}`): a new password through a one-time link
//! an operator made. A plain form post; the link's own check comes first.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use crate::auth::password_reset_api::{ResetPassword, check_reset_link};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn PasswordResetPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let email = Resource::new(token, check_reset_link);
    view! {
        <Title text="Choose a new password" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <Suspense fallback=|| view! { <p class="muted">"Checking your link…"</p> }>
                {move || Suspend::new(async move {
                    match email.await {
                        Ok(Some(email)) => view! { <ResetForm token=token() email /> }.into_any(),
                        Ok(None) => view! {
                            <div class="card narrow" role="alert">
                                <h1 class="card-title">"This reset link does not work"</h1>
                                <p class="muted">
                                    "It was already used, it is more than an hour old, or a newer link was made. "
                                    "Ask for a new one on the sign-in page (“Forgot your password?”), from an admin of your workspace, or from your Keyward operator."
                                </p>
                                <a class="button" href="/signin">"Go to sign in"</a>
                            </div>
                        }.into_any(),
                        Err(error) => view! { <super::layout::Refusal error /> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn ResetForm(token: String, email: String) -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let error = action_error(reset.value(), error_in_url());
    view! {
        <div class="card narrow">
            <h1 class="card-title">"Choose a new password"</h1>
            <p class="muted">"For " <span class="strong" data-testid="reset-email">{email}</span> ". Every browser signed in to this account is signed out."</p>
            <ActionForm action=reset attr:class="stack" attr:novalidate=true>
                <FormError error />
                <input type="hidden" name="token" value=token />
                <TextField
                    name="new_password"
                    label="New password"
                    kind="password"
                    autocomplete="new-password"
                    hint="At least 12 characters."
                    autofocus=true
                    required=true
                    error
                />
                <SubmitButton pending=reset.pending().into() label="Set new password" pending_label="Saving…" />
            </ActionForm>
        </div>
    }
}
