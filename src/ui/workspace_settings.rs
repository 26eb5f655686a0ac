//! Settings → Workspace: the workspace's name, its key policy (issue 17) and
//! what a leaked key's report does (admins only; the server functions enforce
//! it). A change is recorded as `settings.changed`.

use super::form::{FieldError, FormError, SubmitButton, TextField, action_error, error_in_url};
use super::layout::CurrentUser;
use super::two_factor::TwoFactorPolicySection;
use crate::error::AppError;
use crate::keys::api::{SetKeyPolicy, load_key_policy};
use crate::keys::policy::{KeyPolicy, KeyPolicyView, LIFETIME_CHOICES, LiveKeyCreators};
use crate::leaks::api::{SetLeakPolicy, load_leak_policy};
use crate::leaks::{LeakAction, LeakPolicyView};
use crate::workspaces::api::RenameWorkspace;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn WorkspaceSettingsPage() -> impl IntoView {
    let me = use_context::<CurrentUser>().map(|CurrentUser(me)| me);
    view! {
        <Title text="Workspace settings" />
        <div class="page-header">
            <div>
                <h1>"Workspace"</h1>
                <p class="muted">"How this workspace is named in the dashboard and the audit log."</p>
            </div>
        </div>
        <section class="card narrow section">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let current = match me {
                        Some(me) => me.await.map(|me| me.workspace.name).unwrap_or_default(),
                        None => String::new(),
                    };
                    view! { <RenameForm current left_by_post=error_in_url() /> }
                })}
            </Suspense>
        </section>
        <TwoFactorPolicySection />
        <KeyPolicySection />
        <LeakPolicySection />
    }
}

/// The rules every new, rotated or edited key of the workspace must follow.
#[component]
fn KeyPolicySection() -> impl IntoView {
    let policy = Resource::new(|| (), |()| load_key_policy());
    view! {
        <section class="card narrow section" aria-labelledby="key-policy-heading" data-testid="key-policy">
            <h2 id="key-policy-heading" class="card-title">"Key policy"</h2>
            <p class="muted">
                "Rules for keys created, rotated or edited from now on, in the dashboard and through the API. "
                "Keys made before a rule keep working and are marked “Outside policy”."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match policy.await {
                        Ok(view) if view.can_change => view! { <KeyPolicyForm view left_by_post=error_in_url() /> }.into_any(),
                        Ok(view) => view! { <KeyPolicyDetails policy=view.policy /> }.into_any(),
                        Err(error) => view! { <FormError error=Signal::derive(move || Some(error.clone())) /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn lifetime_label(days: Option<u32>) -> String {
    days.map_or("No maximum".to_owned(), |days| format!("{days} days"))
}

fn yes_no(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}

/// The policy as non-admins see it.
#[component]
fn KeyPolicyDetails(policy: KeyPolicy) -> impl IntoView {
    view! {
        <dl class="details">
            <dt>"Maximum key lifetime"</dt><dd>{lifetime_label(policy.max_lifetime_days)}</dd>
            <dt>"Every key must expire"</dt><dd>{yes_no(policy.requires_expiry())}</dd>
            <dt>"Who may create live keys"</dt><dd>{policy.live_key_creators.label()}</dd>
            <dt>"A note is required"</dt><dd>{yes_no(policy.note_required)}</dd>
        </dl>
        <p class="muted small">"Admins change this."</p>
    }
}

/// A plain form post, like the other forms of this page: no island.
#[component]
fn KeyPolicyForm(view: KeyPolicyView, left_by_post: Option<AppError>) -> impl IntoView {
    let set = ServerAction::<SetKeyPolicy>::new();
    let error = action_error(set.value(), left_by_post);
    let saved = use_query_map().with_untracked(|query| query.get("key_policy_saved").is_some());
    let policy = view.policy;
    view! {
        <ActionForm action=set attr:class="stack">
            <FormError error />
            <div class="field">
                <label for="max_lifetime">"Maximum key lifetime"</label>
                <select id="max_lifetime" name="max_lifetime" aria-describedby="max_lifetime-error">
                    <option value="none" selected=policy.max_lifetime_days.is_none()>"No maximum"</option>
                    {LIFETIME_CHOICES.into_iter().map(|days| view! {
                        <option value=days.to_string() selected=policy.max_lifetime_days == Some(days)>{format!("{days} days")}</option>
                    }).collect_view()}
                </select>
                <FieldError field="max_lifetime" error />
            </div>
            <label class="choice">
                <input type="checkbox" name="expiry_required" value="true" checked=policy.expiry_required />
                "Every key must expire"
            </label>
            <div class="field">
                <label for="live_key_creators">"Who may create live keys"</label>
                <select id="live_key_creators" name="live_key_creators">
                    {LiveKeyCreators::ALL.into_iter().map(|who| view! {
                        <option value=who.as_str() selected=who == policy.live_key_creators>{who.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <label class="choice">
                <input type="checkbox" name="note_required" value="true" checked=policy.note_required />
                "A note is required on every key (what it is for)"
            </label>
            <SubmitButton pending=set.pending().into() label="Save key policy" pending_label="Saving…" />
            {saved.then(|| view! { <p class="muted small" role="status">"Saved. The change is in the audit log."</p> })}
        </ActionForm>
    }
}

/// What a leak report (GitHub's secret scanning, or the company's own
/// scanner) does to a key that it names, per environment.
#[component]
fn LeakPolicySection() -> impl IntoView {
    let policy = Resource::new(|| (), |()| load_leak_policy());
    view! {
        <section class="card narrow section" aria-labelledby="leak-policy-heading" data-testid="leak-policy">
            <h2 id="leak-policy-heading" class="card-title">"Leaked keys"</h2>
            <p class="muted">
                "When a secret scanner reports one of this workspace's keys in public, the key is marked "
                "“Leaked” and the report is in the audit log. Choose whether it is also revoked at once."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match policy.await {
                        Ok(view) if view.can_change => view! { <LeakPolicyForm view left_by_post=error_in_url() /> }.into_any(),
                        Ok(view) => view! {
                            <dl class="details">
                                <dt>"Live keys"</dt><dd>{view.policy.live.label()}</dd>
                                <dt>"Test keys"</dt><dd>{view.policy.test.label()}</dd>
                                <dt>"Your own scanners"</dt><dd>{scanners_label(view.policy.scanners)}</dd>
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

/// What a report from the workspace's own scanner does, as the form says it.
fn scanners_label(action: LeakAction) -> &'static str {
    match action {
        LeakAction::Flag => "Flag only",
        LeakAction::Revoke => "Follow the choices above",
    }
}

/// A plain form post, like the rename form: no island.
#[component]
fn LeakPolicyForm(view: LeakPolicyView, left_by_post: Option<AppError>) -> impl IntoView {
    let set = ServerAction::<SetLeakPolicy>::new();
    let error = action_error(set.value(), left_by_post);
    let saved = use_query_map().with_untracked(|query| query.get("policy_saved").is_some());
    let choice = |name: &'static str, label: &'static str, current: LeakAction| {
        view! {
            <div class="field">
                <label for=name>{label}</label>
                <select id=name name=name>
                    {LeakAction::ALL.into_iter().map(|action| view! {
                        <option value=action.as_str() selected=action == current>{action.label()}</option>
                    }).collect_view()}
                </select>
            </div>
        }
    };
    view! {
        <ActionForm action=set attr:class="stack">
            <FormError error />
            {choice("live", "Live keys", view.policy.live)}
            {choice("test", "Test keys", view.policy.test)}
            <div class="field">
                <label for="scanners">"Reports from your own scanners"</label>
                <select id="scanners" name="scanners" aria-describedby="scanners-hint">
                    {LeakAction::ALL.into_iter().map(|action| view! {
                        <option value=action.as_str() selected=action == view.policy.scanners>{scanners_label(action)}</option>
                    }).collect_view()}
                </select>
                <p id="scanners-hint" class="muted small">
                    "Scanners report through a service token (POST /v1/leaks), which every API server holds. "
                    "Reports signed by GitHub always follow the choices above."
                </p>
            </div>
            <SubmitButton pending=set.pending().into() label="Save leak policy" pending_label="Saving…" />
            {saved.then(|| view! { <p class="muted small" role="status">"Saved. The change is in the audit log."</p> })}
        </ActionForm>
    }
}

/// A plain form post: server-rendered, no island (see `sign_in`).
#[component]
fn RenameForm(current: String, left_by_post: Option<AppError>) -> impl IntoView {
    let rename = ServerAction::<RenameWorkspace>::new();
    let error = action_error(rename.value(), left_by_post);
    let saved = use_query_map().with_untracked(|query| query.get("saved").is_some());
    view! {
        <ActionForm action=rename attr:class="stack" attr:novalidate=true>
            <FormError error />
            <TextField name="name" label="Workspace name" value=current required=true error />
            <SubmitButton pending=rename.pending().into() label="Save" pending_label="Saving…" />
            {saved.then(|| view! { <p class="muted small" role="status">"Saved. The change is in the audit log."</p> })}
        </ActionForm>
    }
}
