//! Settings → Webhooks: the endpoints Keyward tells about key and member
//! changes, with their recent deliveries. Admins only; the server functions
//! enforce it. Rendered on the server: "Send test event", "Resend", "Disable"
//! and "Enable" are plain form posts; deleting uses the shared confirmation
//! button; the one island (`WebhookSecretForm`) registers an endpoint or
//! rotates its secret and shows the secret once.

use super::browser::reload_page;
use super::confirm_button::{ConfirmButton, Confirmation, Destructive};
use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use super::layout::Refusal;
use super::shown_once::{ShownOnce, ShownOnceIds};
use super::submission::Submission;
use super::table::TableHead;
use super::time::{exact, relative};
use crate::webhooks::api::{
    ResendWebhookDelivery, SendTestWebhook, SetWebhookEnabled, create_webhook, load_webhooks,
    rotate_webhook_secret,
};
use crate::webhooks::{
    CreatedWebhookSecret, DeliveryStatus, DeliveryView, EndpointView, EventType, WebhooksPage,
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use server_fn::ServerFn;

#[component]
pub fn WebhooksSettingsPage() -> impl IntoView {
    let page = Resource::new(|| (), |_| load_webhooks());
    let left_by_post = error_in_url();
    view! {
        <Title text="Webhooks" />
        <div class="page-header">
            <div>
                <h1>"Webhooks"</h1>
                <p class="muted">
                    "Keyward POSTs a signed JSON message to your endpoints when a key is created, rotated, revoked or reported leaked, "
                    "and when a member is removed. Messages follow the Standard Webhooks specification: verify the "
                    <code>"webhook-signature"</code> " header and deduplicate on " <code>"webhook-id"</code> "."
                </p>
            </div>
        </div>
        {left_by_post.map(|error| view! { <div class="alert alert-error" role="alert">{error.to_string()}</div> })}
        <Suspense fallback=|| view! { <p class="muted">"Loading webhooks…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) => view! { <Endpoints page /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Endpoints(page: WebhooksPage) -> impl IntoView {
    let WebhooksPage { endpoints, now } = page;
    view! {
        <section class="card section" aria-labelledby="add-endpoint-heading">
            <h2 id="add-endpoint-heading">"Add an endpoint"</h2>
            <p class="muted">"An HTTPS URL of your own that answers 2xx. Its signing secret is shown once."</p>
            <WebhookSecretForm rotate=None />
        </section>
        {if endpoints.is_empty() {
            view! {
                <div class="empty-state" data-testid="no-webhooks">
                    <h2>"No endpoints yet"</h2>
                    <p class="muted">"Add one above to hear about key changes as they happen."</p>
                </div>
            }
            .into_any()
        } else {
            endpoints
                .into_iter()
                .map(|endpoint| view! { <Endpoint endpoint now /> })
                .collect_view()
                .into_any()
        }}
    }
}

#[component]
fn Endpoint(endpoint: EndpointView, now: DateTime<Utc>) -> impl IntoView {
    let enabled = endpoint.disabled_at.is_none();
    let deletion = Destructive::DeleteWebhook {
        endpoint_id: endpoint.id.clone(),
    };
    let words = Confirmation {
        button: "Delete".to_owned(),
        button_aria: Some(format!("Delete the endpoint {}", endpoint.url)),
        title: "Delete this webhook endpoint?".to_owned(),
        message: format!(
            "{} gets no more events, and its delivery history is deleted with it. This cannot be undone.",
            endpoint.url
        ),
        confirm: "Yes, delete it".to_owned(),
    };
    let rate = endpoint.success_rate.map_or_else(
        || "No finished deliveries in the last 7 days".to_owned(),
        |rate| format!("{rate}% delivered in the last 7 days"),
    );
    let id = endpoint.id.clone();
    view! {
        <section class="card section" data-testid="webhook-endpoint" aria-label=format!("Endpoint {}", endpoint.url)>
            <div class="toolbar">
                <code class="strong grow" data-testid="webhook-url">{endpoint.url.clone()}</code>
                {if enabled {
                    view! { <span class="badge active">"Enabled"</span> }.into_any()
                } else {
                    view! { <span class="badge revoked">"Disabled"</span> }.into_any()
                }}
            </div>
            {(!endpoint.description.is_empty()).then(|| view! { <p class="muted">{endpoint.description.clone()}</p> })}
            {endpoint.disabled_reason.clone().map(|reason| view! {
                <div class="alert alert-warning" role="status" data-testid="webhook-disabled-reason">{reason}</div>
            })}
            <p class="small">"Events: " {endpoint.events.iter().map(|event| view! { <code>{event.clone()}</code>" " }).collect_view()}</p>
            <p class="small muted" data-testid="webhook-success-rate">{rate}</p>
            {endpoint.previous_secret_until.map(|until| view! {
                <p class="small muted">{format!("The previous signing secret also signs until {}.", exact(until))}</p>
            })}
            <div class="toolbar">
                <PostButton action=SendTestWebhook::url() id_name="endpoint_id" id=id.clone() label="Send test event" extra=None disabled=!enabled />
                {if enabled {
                    view! { <PostButton action=SetWebhookEnabled::url() id_name="endpoint_id" id=id.clone() label="Disable" extra=Some(("enabled", "false")) disabled=false /> }.into_any()
                } else {
                    view! { <PostButton action=SetWebhookEnabled::url() id_name="endpoint_id" id=id.clone() label="Enable" extra=Some(("enabled", "true")) disabled=false /> }.into_any()
                }}
                <WebhookSecretForm rotate=Some(id.clone()) />
                <ConfirmButton change=deletion words />
            </div>
            <Deliveries deliveries=endpoint.recent now />
        </section>
    }
}

/// A button that posts one id to a server function, which sends the browser
/// back to this page: no island.
#[component]
fn PostButton(
    action: &'static str,
    id_name: &'static str,
    id: String,
    label: &'static str,
    extra: Option<(&'static str, &'static str)>,
    disabled: bool,
) -> impl IntoView {
    view! {
        <form method="post" action=action>
            <input type="hidden" name=id_name value=id />
            {extra.map(|(name, value)| view! { <input type="hidden" name=name value=value /> })}
            <button type="submit" class="button small" disabled=disabled>{label}</button>
        </form>
    }
}

#[component]
fn Deliveries(deliveries: Vec<DeliveryView>, now: DateTime<Utc>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="muted small" data-testid="no-webhook-deliveries">"No deliveries yet."</p> }
            .into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="table" aria-label="Recent deliveries">
                <TableHead columns=&["Event", "Status", "Attempts", "Last answer", "Created"] actions=true />
                <tbody>
                    {deliveries
                        .into_iter()
                        .map(|delivery| {
                            let (class, label) = match delivery.status {
                                DeliveryStatus::Delivered => ("badge active", "Delivered"),
                                DeliveryStatus::Pending => ("badge pending", "Retrying"),
                                DeliveryStatus::Failed => ("badge revoked", "Failed"),
                            };
                            let label = if delivery.status == DeliveryStatus::Pending && delivery.attempts == 0 {
                                "Queued"
                            } else {
                                label
                            };
                            let answer = match (delivery.last_status_code, &delivery.last_error) {
                                (Some(code), _) => code.to_string(),
                                (None, Some(error)) => error.clone(),
                                (None, None) => "—".to_owned(),
                            };
                            view! {
                                <tr data-testid="webhook-delivery" data-status=delivery.status.as_str()>
                                    <td><code data-testid="webhook-delivery-type">{delivery.event_type.clone()}</code></td>
                                    <td><span class=class>{label}</span></td>
                                    <td>{delivery.attempts}</td>
                                    <td class="small">{answer}</td>
                                    <td title=exact(delivery.created_at)>{relative(delivery.created_at, now)}</td>
                                    <td class="actions">
                                        <PostButton action=ResendWebhookDelivery::url() id_name="delivery_id" id=delivery.id.clone() label="Resend" extra=None disabled=false />
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Registers an endpoint (`rotate: None`: the form) or rotates an endpoint's
/// secret (`rotate: Some(id)`: one button), then shows the secret once. One
/// island for both keeps the bundle small. "Done" reloads the page.
#[island]
fn WebhookSecretForm(rotate: Option<String>) -> impl IntoView {
    let action = Submission::<CreatedWebhookSecret>::new();
    let error = action_error(action.answer(), None);
    let created = move || action.answer().get().and_then(Result::ok);
    let control = match rotate {
        Some(endpoint_id) => view! {
            <button type="button" class="button small" disabled=move || action.pending().get()
                on:click=move |_| action.run(rotate_webhook_secret(endpoint_id.clone()))>
                "Rotate secret"
            </button>
        }
        .into_any(),
        None => {
            let submit = action.on_submit(|fields| {
                create_webhook(
                    fields.text("url"),
                    fields.text("description"),
                    fields.all("events"),
                )
            });
            view! {
                <form class="stack" novalidate on:submit=submit>
                    <TextField name="url" label="Endpoint URL" kind="url" hint="For example https://example.com/webhooks/keyward." required=true error />
                    <TextField name="description" label="Description" hint="Optional: what receives it." error />
                    <fieldset class="field">
                        <legend>"Events"</legend>
                        <div class="choices">
                            {EventType::SUBSCRIBABLE.into_iter().map(|event| view! {
                                <label class="choice" title=event.description()>
                                    <input type="checkbox" name="events" value=event.as_str() checked=true />
                                    <code>{event.as_str()}</code>
                                </label>
                            }).collect_view()}
                        </div>
                        <super::form::FieldError field="events" error />
                    </fieldset>
                    <div>
                        <SubmitButton pending=action.pending() label="Add endpoint" pending_label="Adding…" />
                    </div>
                </form>
            }
            .into_any()
        }
    };
    view! {
        {control}
        <FormError error />
        {move || created().map(|created| view! {
            <ShownOnce
                title=format!("Signing secret for {}", created.url)
                hint="Copy it now into your receiver's configuration: it will not be shown again.".to_owned()
                secret=created.secret
                copy_label="Copy the signing secret"
                ids=ShownOnceIds { panel: "webhook-secret-panel", secret: "new-webhook-secret" }
                on_done=Callback::new(|()| reload_page())
            />
        })}
    }
}
