//! The dialogs of the API keys pages: create, rotate, revoke, offboard; and the
//! one that shows a new secret once. The islands in `key_actions` open them.

use super::dialog::{DialogFooter, Modal};
use super::form::{FieldError, FormError, InlineError, action_error};
use super::shown_once::{ShownOnceDialog, ShownOnceIds};
use super::submission::{Fields, Submission};
use crate::error::AppError;
use crate::keys::api::{NewKeyForm, create_key, offboard_workspace, revoke_key, rotate_key};
use crate::keys::scopes;
use crate::keys::{CreatedKey, Environment, GraceWindow};
use crate::text::MAX_NAME_CHARS;
use leptos::prelude::*;

/// The key a rotate or revoke dialog is about.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyRef {
    pub id: String,
    pub name: String,
    pub masked: String,
    /// Whether it holds `keys:write`, so may have minted keys through the API.
    pub may_mint: bool,
}

impl KeyRef {
    pub fn of(key: &crate::keys::KeyView) -> Self {
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            masked: key.masked.clone(),
            may_mint: key.may_mint(),
        }
    }
}

/// The new secret, shown once. "Done" forgets it: it lives in this dialog's
/// state only (no resource, URL or hydration data), and the page reloads to
/// list the new key, so nothing can bring the secret back.
#[component]
pub fn NewSecretDialog(created: CreatedKey) -> impl IntoView {
    view! {
        <ShownOnceDialog
            heading="Copy your new key".to_owned()
            title=format!("Your new key “{}”", created.name)
            hint="Copy it now and keep it somewhere safe: for security it will not be shown again.".to_owned()
            secret=created.secret
            copy_label="Copy the new key"
            ids=ShownOnceIds { panel: "secret-panel", secret: "new-secret" }
        />
    }
}

/// The "Create key" form.
#[component]
pub fn CreateKeyDialog(
    action: Submission<CreatedKey>,
    /// The catalogue's scopes, as `scopes::encode_for_island` wrote them.
    product_scopes: String,
    on_close: Callback<()>,
) -> impl IntoView {
    let error = action_error(action.answer(), None);
    let name = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let environment = RwSignal::new("live".to_owned());
    let preset = RwSignal::new(scopes::READ_ONLY.to_owned());
    let expiry = RwSignal::new("never".to_owned());
    let expiry_date = RwSignal::new(String::new());
    let rate_limit = RwSignal::new(String::new());
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        // The checkboxes are plain HTML: their values are read from the form here,
        // which keeps per-checkbox reactive code out of the wasm bundle.
        let fields = Fields::of(&event);
        let mut scopes = match preset.get_untracked().as_str() {
            "custom" => fields.all("scopes"),
            preset => vec![preset.to_owned()],
        };
        // Management scopes are chosen one by one, beside a preset or product scopes.
        scopes.extend(fields.all("management_scopes"));
        let optional = |text: String| (!text.trim().is_empty()).then_some(text);
        action.run(create_key(NewKeyForm {
            name: name.get_untracked(),
            note: optional(note.get_untracked()),
            environment: environment.get_untracked(),
            scopes,
            expiry: expiry.get_untracked(),
            expiry_date: optional(expiry_date.get_untracked()),
            rate_limit_per_minute: optional(rate_limit.get_untracked()),
            rate_limit_burst: optional(fields.text("rate_limit_burst")),
            ip_allowlist: vec![fields.text("ip_allowlist")],
            credits: optional(fields.text("credits")),
            credits_refill_amount: optional(fields.text("credits_refill_amount")),
            credits_refill_period: optional(fields.text("credits_refill_period")),
            credits_refill_day: optional(fields.text("credits_refill_day")),
        }));
    };
    view! {
        <Modal on_close title="Create an API key".into() wide=true>
            <form class="stack" on:submit=submit novalidate>
                <FormError error />
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" autofocus required maxlength=MAX_NAME_CHARS
                        placeholder="e.g. Billing backend" bind:value=name aria-describedby="name-error" />
                    <FieldError field="name" error />
                </div>
                <div class="field">
                    <label for="key-note">"Note " <span class="muted">"(optional)"</span></label>
                    <textarea id="key-note" name="note" rows="2" bind:value=note aria-describedby="note-error"></textarea>
                    <FieldError field="note" error />
                </div>
                <fieldset class="field">
                    <legend>"Environment"</legend>
                    <div class="choices">
                        {Environment::ALL.into_iter().map(|env| view! {
                            <label class="choice">
                                <input type="radio" name="environment" value=env.as_str()
                                    checked=move || environment.get() == env.as_str()
                                    on:change=move |_| environment.set(env.as_str().to_owned()) />
                                {env.label()}
                            </label>
                        }).collect_view()}
                    </div>
                    <FieldError field="environment" error />
                </fieldset>
                <fieldset class="field">
                    <legend>"Permissions"</legend>
                    <div class="choices">
                        {[(scopes::READ_ONLY, "Read only"), (scopes::READ_WRITE, "Read and write"), ("custom", "Choose scopes")]
                            .into_iter()
                            .map(|(value, label)| view! {
                                <label class="choice">
                                    <input type="radio" name="preset" value=value
                                        checked=move || preset.get() == value
                                        on:change=move |_| preset.set(value.to_owned()) />
                                    {label}
                                </label>
                            })
                            .collect_view()}
                    </div>
                    <div class="scope-grid" hidden=move || preset.get() != "custom">
                        {scopes::decode_from_island(&product_scopes).map(|(name, description)| view! {
                            {scope_choice(name, description, "scopes")}
                        }).collect_view()}
                    </div>
                    <FieldError field="scopes" error />
                </fieldset>
                <details class="field management-access">
                    <summary>"Management access " <span class="muted">"(optional)"</span></summary>
                    <p class="alert alert-warning small" role="note">
                        "These let the key manage keys or read the audit log (emails, IPs). Only for automations, never for a key sent with every request."
                    </p>
                    <div class="scope-grid">
                        {scopes::MANAGEMENT.iter().map(|(name, description)| view! {
                            {scope_choice(name, description, "management_scopes")}
                        }).collect_view()}
                    </div>
                </details>
                <div class="field-row">
                    <div class="field">
                        <label for="key-expiry">"Expires"</label>
                        <select id="key-expiry" name="expiry" on:change=move |ev| expiry.set(event_target_value(&ev))>
                            <option value="never">"Never"</option>
                            <option value="30d">"In 30 days"</option>
                            <option value="60d">"In 60 days"</option>
                            <option value="90d">"In 90 days"</option>
                            <option value="date">"On a date…"</option>
                        </select>
                        <FieldError field="expiry" error />
                    </div>
                    <div class="field" hidden=move || expiry.get() != "date">
                        <label for="key-expiry-date">"Expiry date (UTC)"</label>
                        <input id="key-expiry-date" type="date" name="expiry_date" bind:value=expiry_date />
                        <FieldError field="expiry_date" error />
                    </div>
                    <div class="field">
                        <label for="key-rate-limit">"Rate limit " <span class="muted">"(per minute)"</span></label>
                        <input id="key-rate-limit" name="rate_limit_per_minute" inputmode="numeric"
                            placeholder="No limit" bind:value=rate_limit />
                        <FieldError field="rate_limit_per_minute" error />
                    </div>
                </div>
                <RestrictionFields error />
                <DialogFooter on_cancel=on_close submit_label="Create key" disabled=action.pending() />
            </form>
        </Modal>
    }
}

/// Burst, IP allowlist and usage credits: plain fields (read from the form on
/// submit), folded away because most keys need none of them.
#[component]
fn RestrictionFields(error: Signal<Option<AppError>>) -> impl IntoView {
    // Opened again when the server refuses one of these fields.
    let open = move || {
        error.with(|error| {
            error
                .as_ref()
                .and_then(AppError::field)
                .is_some_and(|field| {
                    field == "rate_limit_burst"
                        || field == "ip_allowlist"
                        || field.starts_with("credits")
                })
        })
    };
    view! {
        <details class="field restrictions" open=open>
            <summary>"Restrictions " <span class="muted">"(optional: burst, IP allowlist, usage credits)"</span></summary>
            <div class="stack">
                <div class="field">
                    <label for="key-burst">"Burst " <span class="muted">"(most requests at once)"</span></label>
                    <input id="key-burst" name="rate_limit_burst" inputmode="numeric" placeholder="The whole limit"
                        aria-describedby="key-burst-hint rate_limit_burst-error" />
                    <p class="hint" id="key-burst-hint">"With a rate limit of 600 and a burst of 50: at most 50 at once, then one every 100 ms."</p>
                    <FieldError field="rate_limit_burst" error />
                </div>
                <div class="field">
                    <label for="key-ip-allowlist">"IP allowlist"</label>
                    <textarea id="key-ip-allowlist" name="ip_allowlist" rows="3" class="mono"
                        placeholder="203.0.113.0/24
    2001:db8::/32" aria-describedby="key-ip-allowlist-hint ip_allowlist-error"></textarea>
                    <p class="hint" id="key-ip-allowlist-hint">
                        "One address or CIDR range a line, up to 100. The key is then refused from any other address, and when your API server reports none. Empty: anywhere."
                    </p>
                    <FieldError field="ip_allowlist" error />
                </div>
                <CreditFields error remaining=None refill=None />
            </div>
        </details>
    }
}

/// A key's usage credits and their refill, for the create dialog and the key page.
#[component]
pub fn CreditFields(
    error: Signal<Option<AppError>>,
    /// The key's credits now, on the key page: shown, and kept when the field is left empty.
    remaining: Option<u64>,
    refill: Option<(u64, String, Option<u32>)>,
) -> impl IntoView {
    let (amount, period, day) = refill
        .map(|(amount, period, day)| {
            (
                amount.to_string(),
                period,
                day.map(|d| d.to_string()).unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let credits_hint = match remaining {
        Some(left) => format!("{left} left now. Enter a number to set a new balance; empty keeps it."),
        None => "Each valid verification spends one (or the request's cost); at zero the key is refused until its refill. Empty: unlimited.".to_owned(),
    };
    let selected = move |value: &str| period == value;
    view! {
        <fieldset class="field credit-fields">
            <legend>"Usage credits"</legend>
            <div class="field-row">
                <div class="field">
                    <label for="key-credits">{if remaining.is_some() { "New balance" } else { "Credits" }}</label>
                    <input id="key-credits" name="credits" inputmode="numeric"
                        placeholder=if remaining.is_some() { "Unchanged" } else { "Unlimited" }
                        aria-describedby="key-credits-hint credits-error" />
                    <FieldError field="credits" error />
                </div>
                <div class="field">
                    <label for="key-refill-period">"Refill"</label>
                    <select id="key-refill-period" name="credits_refill_period">
                        <option value="" selected=selected("")>"Never"</option>
                        <option value="day" selected=selected("day")>"Every day (midnight UTC)"</option>
                        <option value="month" selected=selected("month")>"Every month"</option>
                    </select>
                    <FieldError field="credits_refill_period" error />
                </div>
                <div class="field">
                    <label for="key-refill-amount">"Refill to"</label>
                    <input id="key-refill-amount" name="credits_refill_amount" inputmode="numeric" value=amount
                        placeholder="e.g. 1000" aria-describedby="credits_refill_amount-error" />
                    <FieldError field="credits_refill_amount" error />
                </div>
                <div class="field">
                    <label for="key-refill-day">"On day " <span class="muted">"(monthly)"</span></label>
                    <input id="key-refill-day" name="credits_refill_day" inputmode="numeric" value=day
                        placeholder="1" aria-describedby="credits_refill_day-error" />
                    <FieldError field="credits_refill_day" error />
                </div>
            </div>
            <p class="hint" id="key-credits-hint">{credits_hint}</p>
            {remaining.is_some().then(|| view! {
                <label class="choice">
                    <input type="checkbox" name="credits_unlimited" value="on" />
                    "Remove the credits: unlimited use"
                </label>
            })}
        </fieldset>
    }
}

/// One scope's checkbox, submitted as `field`.
fn scope_choice(name: &str, description: &str, field: &'static str) -> impl IntoView + use<> {
    view! {
        <label class="choice" title=description.to_owned()>
            <input type="checkbox" name=field value=name.to_owned() />
            <code>{name.to_owned()}</code>
        </label>
    }
}

/// Rotate: pick how long the old key keeps working.
#[component]
pub fn RotateKeyDialog(
    key: KeyRef,
    action: Submission<CreatedKey>,
    on_close: Callback<()>,
) -> impl IntoView {
    let error = action_error(action.answer(), None);
    let grace = RwSignal::new(GraceWindow::OneDay.as_str().to_owned());
    let key_id = key.id.clone();
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        action.run(rotate_key(key_id.clone(), grace.get_untracked()));
    };
    view! {
        <Modal on_close title=format!("Rotate {}?", key.name)>
            <form class="stack" on:submit=submit>
                <p class="muted">
                    "A new key with the same name, environment, scopes, expiry and limit replaces "
                    <code>{key.masked}</code> ". Its secret is shown once."
                </p>
                <div class="field">
                    <label for="grace">"The old key stops working"</label>
                    <select id="grace" name="grace" autofocus on:change=move |ev| grace.set(event_target_value(&ev))>
                        {GraceWindow::ALL.into_iter().map(|window| view! {
                            <option value=window.as_str() selected=window == GraceWindow::OneDay>{window.label()}</option>
                        }).collect_view()}
                    </select>
                    <p class="hint">"Both keys work until then, so you can deploy the new one first."</p>
                </div>
                // Any refusal, with or without a field: a policy breach names the
                // key's expiry, note or environment, none of which is in this form.
                <InlineError error />
                <DialogFooter on_cancel=on_close submit_label="Rotate key" disabled=action.pending() />
            </form>
        </Modal>
    }
}

/// Revoke: names the key, takes an optional reason, cannot be undone.
#[component]
pub fn RevokeKeyDialog(
    key: KeyRef,
    action: Submission<usize>,
    on_close: Callback<()>,
) -> impl IntoView {
    let error = action_error(action.answer(), None);
    let reason = RwSignal::new(String::new());
    let key_id = key.id.clone();
    let may_mint = key.may_mint;
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let reason = reason.get_untracked();
        // A plain checkbox, read from the form: `cascade=true` when ticked.
        let cascade = Fields::of(&event).text("cascade");
        action.run(revoke_key(
            key_id.clone(),
            (!reason.trim().is_empty()).then_some(reason),
            (!cascade.is_empty()).then_some(cascade),
        ));
    };
    view! {
        <Modal on_close title=format!("Revoke {}?", key.name)>
            <form class="stack" on:submit=submit>
                <p>
                    <code>{key.masked}</code>
                    " stops working at once, everywhere. This cannot be undone."
                </p>
                <div class="field">
                    <label for="revoke-reason">"Reason " <span class="muted">"(optional, kept in the audit log)"</span></label>
                    <textarea id="revoke-reason" name="reason" rows="2" bind:value=reason></textarea>
                    <FieldError field="reason" error />
                </div>
                {may_mint.then(|| view! {
                    <label class="choice">
                        <input type="checkbox" name="cascade" value="true" checked />
                        "Also revoke the keys it created through the API"
                    </label>
                })}
                <FormError error />
                <DialogFooter on_cancel=on_close submit_label="Revoke key" submit_class="button danger" focus_cancel=true disabled=action.pending() />
            </form>
        </Modal>
    }
}

/// Offboarding: revokes every key after the admin types the workspace name.
#[component]
pub fn OffboardDialog(
    workspace: String,
    action: Submission<usize>,
    on_close: Callback<()>,
) -> impl IntoView {
    let error = action_error(action.answer(), None);
    let typed = RwSignal::new(String::new());
    let expected = workspace.clone();
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        action.run(offboard_workspace(typed.get_untracked()));
    };
    view! {
        <Modal on_close title="Revoke every key of this workspace?".into()>
            <form class="stack" on:submit=submit>
                <p>"Every active and expiring key stops working at once. This cannot be undone."</p>
                <div class="field">
                    <label for="offboard-confirmation">{format!("Type {workspace} to confirm")}</label>
                    <input id="offboard-confirmation" name="confirmation" autofocus autocomplete="off" bind:value=typed />
                    <FieldError field="confirmation" error />
                </div>
                <FormError error />
                <DialogFooter on_cancel=on_close submit_label="Revoke all keys" submit_class="button danger" disabled=Signal::derive(move || action.pending().get() || typed.with(|t| t.trim() != expected)) />
            </form>
        </Modal>
    }
}
