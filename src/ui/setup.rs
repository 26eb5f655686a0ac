//! First-run setup: the one-time link printed by the server creates the first admin.

use super::form::{FormError, SubmitButton, TextField, action_error};
use crate::auth::api::{CompleteSetup, SetupStatus, check_setup_link};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token").unwrap_or_default());
    let status = Resource::new(token, check_setup_link);
    view! {
        <Title text="Set up Keyward" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <Suspense fallback=|| view! { <p class="muted">"Checking your setup link…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(SetupStatus::Ready) => view! { <SetupForm token=token() /> }.into_any(),
                        Ok(SetupStatus::AlreadyDone) => view! {
                            <div class="card narrow">
                                <h1 class="card-title">"Keyward is already set up"</h1>
                                <p class="muted">"An account exists. Sign in, or ask an admin for an invite."</p>
                                <a class="button primary" href="/signin">"Go to sign in"</a>
                            </div>
                        }.into_any(),
                        _ => view! {
                            <div class="card narrow" role="alert">
                                <h1 class="card-title">"This setup link is not valid"</h1>
                                <p class="muted">
                                    "Use the exact link the server printed when it started. Restarting the server prints a new one while no account exists."
                                </p>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn SetupForm(token: String) -> impl IntoView {
    let action = ServerAction::<CompleteSetup>::new();
    let error = action_error(action.value());
    view! {
        <div class="card narrow">
            <h1 class="card-title">"Create the first admin"</h1>
            <p class="muted">"You'll be the admin of your first workspace. You can invite your team next."</p>
            <ActionForm action attr:class="stack" attr:novalidate=true>
                <FormError error />
                <input type="hidden" name="token" value=token />
                <TextField name="name" label="Your name" autocomplete="name" autofocus=true required=true error />
                <TextField name="email" label="Email" kind="email" autocomplete="username" required=true error />
                <TextField name="workspace" label="Workspace name" hint="Usually your company or team." required=true error />
                <TextField
                    name="password"
                    label="Password"
                    kind="password"
                    autocomplete="new-password"
                    hint="At least 12 characters. A passphrase works well."
                    required=true
                    error
                />
                <SubmitButton pending=action.pending().into() label="Create account" pending_label="Creating account…" />
            </ActionForm>
        </div>
    }
}
