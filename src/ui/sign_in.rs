//! The sign-in page.

use super::form::{FormError, SubmitButton, TextField, action_error};
use crate::auth::api::SignIn;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = action_error(action.value());
    view! {
        <Title text="Sign in" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <div class="card narrow">
                <h1 class="card-title">"Sign in"</h1>
                <ActionForm action attr:class="stack" attr:novalidate=true>
                    <FormError error />
                    <TextField name="email" label="Email" kind="email" autocomplete="username" autofocus=true required=true error />
                    <TextField name="password" label="Password" kind="password" autocomplete="current-password" required=true error />
                    <SubmitButton pending=action.pending().into() label="Sign in" pending_label="Signing in…" />
                </ActionForm>
            </div>
            <p class="muted small">"New here? Ask an admin of your workspace for an invite link."</p>
        </main>
    }
}
