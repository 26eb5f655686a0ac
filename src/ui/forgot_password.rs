//! "Forgot your password?" (`/forgot`). With email on, a plain form post that
//! mails a reset link and comes back to `/forgot?sent`, which says the same
//! whether or not an account has the address. Without email, who to ask.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use crate::auth::password_reset_api::{RequestPasswordReset, password_reset_by_email};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let sent =
        leptos_router::hooks::use_query_map().with_untracked(|query| query.get("sent").is_some());
    let by_email = Resource::new(|| (), |_| password_reset_by_email());
    view! {
        <Title text="Reset your password" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match by_email.await {
                        Ok(_) if sent => view! { <Sent /> }.into_any(),
                        Ok(true) => view! { <RequestForm /> }.into_any(),
                        Ok(false) => view! { <AskForALink /> }.into_any(),
                        Err(error) => view! { <super::layout::Refusal error /> }.into_any(),
                    }
                })}
            </Suspense>
            <p class="muted small"><a href="/signin">"Back to sign in"</a></p>
        </main>
    }
}

#[component]
fn RequestForm() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    let error = action_error(request.value(), error_in_url());
    view! {
        <div class="card narrow">
            <h1 class="card-title">"Reset your password"</h1>
            <p class="muted">"Enter the email you sign in with. We'll send a link that works once, for an hour."</p>
            <ActionForm action=request attr:class="stack" attr:novalidate=true>
                <FormError error />
                <TextField name="email" label="Email" kind="email" autocomplete="username" autofocus=true required=true error />
                <SubmitButton pending=request.pending().into() label="Email me a reset link" pending_label="Sending…" />
            </ActionForm>
        </div>
    }
}

#[component]
fn Sent() -> impl IntoView {
    view! {
        <div class="card narrow" role="status">
            <h1 class="card-title">"Check your email"</h1>
            <p class="muted">
                "If an account uses that address, a reset link is on its way. It works once, for an hour. "
                "Nothing arrived? Check the spam folder, or ask an admin of your workspace."
            </p>
        </div>
    }
}

#[component]
fn AskForALink() -> impl IntoView {
    view! {
        <div class="card narrow">
            <h1 class="card-title">"Reset your password"</h1>
            <p class="muted">
                "This server does not send email. Ask an admin of your workspace for a reset link (they make one on the Members page), or your Keyward operator, who makes one with "
                <code>"keyward user reset-password --email you@example.com"</code>"."
            </p>
        </div>
    }
}
