//! Two-factor sign-in in the dashboard: the Account page's section (set up,
//! confirm, turn off), the sign-in code step, and the Workspace page's
//! "require it" policy. Every form is a plain post (no island): nothing here
//! adds to the wasm bundle, and the secret is only ever rendered on the server.

use super::form::{FieldError, FormError, SubmitButton, TextField, action_error, error_in_url};
use super::time::{exact, relative};
use crate::auth::api::SignInCode;
use crate::auth::two_factor_api::{
    BeginTwoFactor, CancelTwoFactor, ConfirmTwoFactor, DisableTwoFactor, SetTwoFactorPolicy,
    TwoFactorPolicyView, TwoFactorView, load_two_factor_policy,
};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn in_query(name: &'static str) -> bool {
    use_query_map().with_untracked(|query| query.get(name).is_some())
}

/// The Account page's section.
#[component]
pub fn TwoFactorSection(
    view: TwoFactorView,
    /// The current workspace requires it and it is not on yet.
    required: bool,
    now: DateTime<Utc>,
) -> impl IntoView {
    let left_by_post = error_in_url();
    let body = match view {
        TwoFactorView::Unavailable => view! {
            <p class="muted">
                "Two-factor sign-in is not available on this server yet: its operator needs to set "
                <code>"KEYWARD_SECRET_KEY"</code>" first."
            </p>
        }
        .into_any(),
        TwoFactorView::Off => view! { <TwoFactorOff left_by_post /> }.into_any(),
        TwoFactorView::Pending {
            secret_text,
            otpauth_url,
            qr_svg,
            recovery_codes,
        } => view! {
            <Enrolment secret_text otpauth_url qr_svg recovery_codes left_by_post />
        }
        .into_any(),
        TwoFactorView::On {
            since,
            recovery_codes_left,
        } => view! { <TwoFactorOn since recovery_codes_left now left_by_post /> }.into_any(),
    };
    view! {
        <section class="card narrow section" id="two-factor" aria-labelledby="two-factor-heading" data-testid="two-factor">
            <h2 id="two-factor-heading" class="card-title">"Two-factor sign-in"</h2>
            {required.then(|| view! {
                <div class="alert alert-warning" role="alert" data-testid="two-factor-required">
                    "This workspace requires two-factor sign-in. Set it up to use the dashboard again."
                </div>
            })}
            {body}
        </section>
    }
}

#[component]
fn TwoFactorOff(left_by_post: Option<AppError>) -> impl IntoView {
    let begin = ServerAction::<BeginTwoFactor>::new();
    let error = action_error(begin.value(), left_by_post);
    let turned_off = in_query("two_factor_off");
    view! {
        <p class="muted">
            "Sign in with a code from an authenticator app on your phone as well as your password, "
            "so that a leaked password alone does not open your account."
        </p>
        {turned_off.then(|| view! { <p class="muted small" role="status">"Two-factor sign-in is off."</p> })}
        <ActionForm action=begin attr:class="stack">
            <FormError error />
            <SubmitButton pending=begin.pending().into() label="Set up two-factor sign-in" pending_label="Starting…" />
        </ActionForm>
    }
}

/// Set-up in three steps: add the account to an app, keep the recovery
/// codes, prove it works with one code.
#[component]
fn Enrolment(
    secret_text: String,
    otpauth_url: String,
    qr_svg: String,
    recovery_codes: Vec<String>,
    left_by_post: Option<AppError>,
) -> impl IntoView {
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let cancel = ServerAction::<CancelTwoFactor>::new();
    let error = action_error(confirm.value(), left_by_post);
    let download = format!(
        "data:text/plain;charset=utf-8,{}",
        form_urlencoded::byte_serialize(
            format!(
                "Keyward recovery codes. Each one signs you in once, instead of an app code.\n\n{}\n",
                recovery_codes.join("\n")
            )
            .as_bytes()
        )
        .collect::<String>()
        .replace('+', "%20")
    );
    view! {
        <ol class="steps">
            <li>
                <h3 class="strong">"Add Keyward to your authenticator app"</h3>
                <p class="muted small">"Scan the code with 1Password, Google Authenticator, Authy or any app for time-based codes."</p>
                <div class="qr-code" role="img" aria-label="QR code to scan with your authenticator app" inner_html=qr_svg></div>
                <p class="muted small">"Cannot scan it? Enter this key in the app instead:"</p>
                <code class="secret" data-testid="two-factor-secret">{secret_text}</code>
                <p class="muted small"><a href=otpauth_url>"Open in an authenticator app on this device"</a></p>
            </li>
            <li>
                <h3 class="strong">"Keep your recovery codes"</h3>
                <p class="muted small">
                    "If you lose your phone, each code signs you in once. Store them in a password manager or print them. "
                    "They are shown until you turn two-factor sign-in on, and never again."
                </p>
                <ul class="recovery-codes" data-testid="recovery-codes">
                    {recovery_codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
                </ul>
                <a class="button small" href=download download="keyward-recovery-codes.txt">"Download the codes"</a>
            </li>
            <li>
                <h3 class="strong">"Enter the code your app shows"</h3>
                <ActionForm action=confirm attr:class="stack" attr:novalidate=true>
                    <FormError error />
                    <TextField
                        name="code"
                        label="6-digit code"
                        autocomplete="one-time-code"
                        inputmode="numeric"
                        required=true
                        error
                    />
                    <TextField
                        name="password"
                        label="Your password"
                        kind="password"
                        autocomplete="current-password"
                        hint="Your other sessions are signed out: they signed in without a code."
                        required=true
                        error
                    />
                    <SubmitButton pending=confirm.pending().into() label="Turn on two-factor sign-in" pending_label="Checking…" />
                </ActionForm>
            </li>
        </ol>
        <ActionForm action=cancel attr:class="inline-form">
            <button type="submit" class="button small">"Cancel set-up"</button>
        </ActionForm>
    }
}

#[component]
fn TwoFactorOn(
    since: DateTime<Utc>,
    recovery_codes_left: i64,
    now: DateTime<Utc>,
    left_by_post: Option<AppError>,
) -> impl IntoView {
    let disable = ServerAction::<DisableTwoFactor>::new();
    let error = action_error(disable.value(), left_by_post);
    let turned_on = in_query("two_factor_on");
    let few_left = recovery_codes_left <= 3;
    view! {
        {turned_on.then(|| view! {
            <p class="alert alert-success" role="status">"Two-factor sign-in is on. Keep your recovery codes somewhere safe."</p>
        })}
        <dl class="details">
            <dt>"Status"</dt>
            <dd><span class="badge active" data-testid="two-factor-status">"On"</span>" "<span class="muted small" title=exact(since)>{format!("since {}", relative(since, now))}</span></dd>
            <dt>"Recovery codes"</dt>
            <dd data-testid="recovery-codes-left">{format!("{recovery_codes_left} of 10 left")}</dd>
        </dl>
        {few_left.then(|| view! {
            <p class="alert alert-warning" role="status">
                "Few recovery codes are left. Turn two-factor sign-in off and on again to get ten new ones."
            </p>
        })}
        <details class="turn-off">
            <summary>"Turn off two-factor sign-in"</summary>
            <ActionForm action=disable attr:class="stack" attr:novalidate=true>
                <FormError error />
                <TextField
                    name="password"
                    label="Your password"
                    kind="password"
                    autocomplete="current-password"
                    hint="Your account is then protected by your password alone."
                    required=true
                    error
                />
                <SubmitButton pending=disable.pending().into() label="Turn off" pending_label="Turning off…" class="button danger" />
            </ActionForm>
        </details>
    }
}

/// `/signin/code`: the second step of a sign-in.
#[component]
pub fn SignInCodePage() -> impl IntoView {
    let submit = ServerAction::<SignInCode>::new();
    let error = action_error(submit.value(), error_in_url());
    view! {
        <Title text="Two-factor sign-in" />
        <main class="centered-page">
            <p class="brand-large">"Keyward"</p>
            <div class="card narrow">
                <h1 class="card-title">"Two-factor sign-in"</h1>
                <p class="muted">"Enter the 6-digit code your authenticator app shows for Keyward."</p>
                <ActionForm action=submit attr:class="stack" attr:novalidate=true>
                    <FormError error />
                    <TextField
                        name="code"
                        label="Code"
                        autocomplete="one-time-code"
                        inputmode="numeric"
                        autofocus=true
                        required=true
                        hint="Lost your phone? Enter one of your recovery codes instead."
                        error
                    />
                    <SubmitButton pending=submit.pending().into() label="Sign in" pending_label="Checking…" />
                </ActionForm>
            </div>
            <p class="muted small"><a href="/signin">"Sign in as someone else"</a></p>
        </main>
    }
}

/// The Workspace page's policy section.
#[component]
pub fn TwoFactorPolicySection() -> impl IntoView {
    let policy = Resource::new(|| (), |()| load_two_factor_policy());
    view! {
        <section class="card narrow section" id="two-factor-policy" aria-labelledby="two-factor-policy-heading" data-testid="two-factor-policy">
            <h2 id="two-factor-policy-heading" class="card-title">"Two-factor sign-in"</h2>
            <p class="muted">
                "Require every member to sign in with a code from an authenticator app. Members without it are "
                "sent to set it up before they can do anything else."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match policy.await {
                        Ok(view) if view.can_change => view! { <TwoFactorPolicyForm view left_by_post=error_in_url() /> }.into_any(),
                        Ok(view) => view! {
                            <dl class="details">
                                <dt>"Required"</dt><dd>{if view.required { "Yes" } else { "No" }}</dd>
                            </dl>
                            <p class="muted small">"Admins change this."</p>
                        }.into_any(),
                        Err(error) => view! { <FormError error=Signal::derive(move || Some(error.clone())) /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn TwoFactorPolicyForm(view: TwoFactorPolicyView, left_by_post: Option<AppError>) -> impl IntoView {
    let set = ServerAction::<SetTwoFactorPolicy>::new();
    let error = action_error(set.value(), left_by_post);
    let saved = in_query("two_factor_saved");
    let without = match view.members_without {
        0 => "Every member has turned it on.".to_owned(),
        1 => "1 member has not turned it on yet.".to_owned(),
        n => format!("{n} members have not turned it on yet."),
    };
    view! {
        <ActionForm action=set attr:class="stack">
            <FormError error />
            {(!view.available).then(|| view! {
                <p class="alert alert-warning">"Not available until the server's operator sets KEYWARD_SECRET_KEY."</p>
            })}
            <label class="choice">
                <input type="checkbox" name="required" value="true" checked=view.required
                    disabled=!view.available && !view.required aria-describedby="two_factor_required-hint two_factor_required-error" />
                "Require two-factor sign-in for every member"
            </label>
            <p class="hint" id="two_factor_required-hint">{without}</p>
            <FieldError field="two_factor_required" error />
            <SubmitButton pending=set.pending().into() label="Save" pending_label="Saving…" />
            {saved.then(|| view! { <p class="muted small" role="status">"Saved. The change is in the audit log."</p> })}
        </ActionForm>
    }
}
