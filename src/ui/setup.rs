//! First-run setup: the one-time link printed by the server creates the first admin.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use super::submission::Submission;
use crate::auth::api::{CompleteSetup, SetupStatus, check_setup_link, complete_setup};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use server_fn::ServerFn;

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
                        Ok(SetupStatus::Ready) => view! { <SetupForm token=token() left_by_post=error_in_url() /> }.into_any(),
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

#[island]
fn SetupForm(token: String, left_by_post: Option<AppError>) -> impl IntoView {
    let action = Submission::<()>::new();
    let error = action_error(action.answer(), left_by_post);
    let submit = action.on_submit(|fields| {
        complete_setup(
            fields.text("token"),
            fields.text("name"),
            fields.text("email"),
            fields.text("workspace"),
            fields.text("password"),
        )
    });
    view! {
        <div class="card narrow">
            <h1 class="card-title">"Create the first admin"</h1>
            <p class="muted">"You'll be the admin of your first workspace. You can invite your team next."</p>
            <form method="post" action=CompleteSetup::url() class="stack" novalidate on:submit=submit>
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
                <SubmitButton pending=action.pending() label="Create account" pending_label="Creating account…" />
            </form>
        </div>
    }
}
