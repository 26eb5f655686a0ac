//! Settings → Service tokens: the credentials the company's API servers present
//! when they call the verification API. Admins only; the server functions enforce it.

use super::dialog::ConfirmDialog;
use super::form::{FormError, SubmitButton, TextField, action_error};
use super::layout::Refusal;
use super::shown_once::{ShownOnce, ShownOnceIds};
use super::time::{exact, relative};
use crate::service_tokens::api::{CreateServiceToken, RevokeServiceToken, load_service_tokens};
use crate::service_tokens::{CreatedServiceToken, ServiceTokenView};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;

/// The token the confirmation dialog is about to revoke: `(id, name)`.
type PendingRevoke = Option<(String, String)>;

#[component]
pub fn ServiceTokensPage() -> impl IntoView {
    let create = ServerAction::<CreateServiceToken>::new();
    let revoke = ServerAction::<RevokeServiceToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| load_service_tokens(),
    );
    let revoke_error = action_error(revoke.value());
    let pending = RwSignal::new(PendingRevoke::None);
    let dialog_open = RwSignal::new(false);
    let dialog_title = Signal::derive(move || {
        pending
            .get()
            .map(|(_, name)| format!("Revoke the service token “{name}”?"))
            .unwrap_or_default()
    });
    let confirm = Callback::new(move |()| {
        if let Some((token_id, _)) = pending.get_untracked() {
            revoke.dispatch(RevokeServiceToken { token_id });
        }
    });
    let ask = move |token: (String, String)| {
        pending.set(Some(token));
        dialog_open.set(true);
    };
    view! {
        <Title text="Service tokens" />
        <div class="page-header">
            <div>
                <h1>"Service tokens"</h1>
                <p class="muted">
                    "Your API servers send one in the " <code>"X-Keyward-Service-Token"</code>
                    " header when they ask Keyward whether an API key is good. A token checks this workspace's keys only."
                </p>
            </div>
        </div>
        <CreatePanel create />
        <Suspense fallback=|| view! { <p class="muted">"Loading service tokens…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(tokens) => view! {
                        <FormError error=revoke_error />
                        <TokensTable tokens ask />
                    }
                        .into_any(),
                }
            })}
        </Suspense>
        <ConfirmDialog
            open=dialog_open
            title=dialog_title
            message="Servers using it are refused at once, on every instance. This cannot be undone."
            confirm_label="Yes, revoke it"
            on_confirm=confirm
        />
    }
}

#[component]
fn CreatePanel(create: ServerAction<CreateServiceToken>) -> impl IntoView {
    let error = action_error(create.value());
    let created = move || create.value().get().and_then(Result::ok);
    view! {
        <section class="card section" aria-labelledby="create-token-heading">
            <h2 id="create-token-heading">"Create a service token"</h2>
            <p class="muted">"One per server or deployment, so that each can be revoked on its own."</p>
            <ActionForm action=create attr:class="inline-form" attr:novalidate=true>
                <div class="grow">
                    <TextField name="name" label="Name" hint="For example “billing-api production”." required=true error />
                </div>
                <SubmitButton pending=create.pending().into() label="Create token" pending_label="Creating…" />
            </ActionForm>
            <FormError error />
            {move || created().map(|created| view! { <NewToken created on_done=move || create.value().set(None) /> })}
        </section>
    }
}

/// The new token, shown once, with how to use it.
#[component]
fn NewToken(
    created: CreatedServiceToken,
    on_done: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let example = format!(
        "curl -X POST {origin}/v1/keys/verify \\\n  -H 'X-Keyward-Service-Token: {token}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"key\": \"kw_live_…\"}}'",
        origin = page_origin(),
        token = created.secret,
    );
    view! {
        <ShownOnce
            title=format!("Your new service token “{}”", created.name)
            hint="Copy it now into your server's configuration: it will not be shown again.".to_owned()
            secret=created.secret
            copy_label="Copy the service token"
            ids=ShownOnceIds { panel: "service-token-panel", secret: "new-service-token" }
            on_done=Callback::new(move |()| on_done())
        >
            <details class="usage">
                <summary class="small">"How your server calls Keyward"</summary>
                <pre class="code-block">{example}</pre>
            </details>
        </ShownOnce>
    }
}

/// Where the browser reached Keyward (the panel is only ever rendered in the browser).
fn page_origin() -> String {
    #[cfg(feature = "hydrate")]
    if let Some(origin) = web_sys::window().and_then(|window| window.location().origin().ok()) {
        return origin;
    }
    "https://keyward.example.com".to_owned()
}

#[component]
fn TokensTable(
    tokens: Vec<ServiceTokenView>,
    ask: impl Fn((String, String)) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if tokens.is_empty() {
        return view! {
            <div class="empty-state" data-testid="no-service-tokens">
                <h2>"No service tokens yet"</h2>
                <p class="muted">"Create one above before your API servers call the verification API."</p>
            </div>
        }
        .into_any();
    }
    let now = Utc::now();
    view! {
        <section class="card flush section" aria-label="Service tokens">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Token"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {tokens
                        .into_iter()
                        .map(|token| {
                            let pending = (token.id.clone(), token.name.clone());
                            let creator = token.created_by.clone().unwrap_or_else(|| "the command line".to_owned());
                            view! {
                                <tr data-testid="service-token-row">
                                    <td class="strong">{token.name.clone()}</td>
                                    <td><code>{token.masked.clone()}</code></td>
                                    <td title=exact(token.created_at)>
                                        {relative(token.created_at, now)}
                                        <span class="muted small">{format!(" by {creator}")}</span>
                                    </td>
                                    <td>
                                        {match token.revoked_at {
                                            Some(at) => view! {
                                                <span class="badge revoked" title=exact(at)>{format!("Revoked {}", relative(at, now))}</span>
                                            }
                                                .into_any(),
                                            None => view! { <span class="badge active">"Active"</span> }.into_any(),
                                        }}
                                    </td>
                                    <td class="actions">
                                        {token.revoked_at.is_none().then(|| view! {
                                            <button
                                                type="button"
                                                class="button small danger-outline"
                                                aria-label=format!("Revoke {}", token.name)
                                                on:click=move |_| ask(pending.clone())
                                            >
                                                "Revoke"
                                            </button>
                                        })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}
