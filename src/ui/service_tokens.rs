//! Settings → Service tokens: the credentials the company's API servers present
//! when they call the verification API. Admins only; the server functions enforce
//! it. The table is rendered on the server; creating and revoking are islands.

use super::browser::reload_page;
use super::confirm_button::{ConfirmButton, Confirmation, Destructive};
use super::form::{FormError, SubmitButton, TextField, action_error};
use super::layout::Refusal;
use super::shown_once::{ShownOnce, ShownOnceIds};
use super::submission::Submission;
use super::table::TableHead;
use super::time::{exact, relative};
use crate::service_tokens::api::{CreateServiceToken, create_service_token, load_service_tokens};
use crate::service_tokens::{CreatedServiceToken, ServiceTokenView};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use server_fn::ServerFn;

#[component]
pub fn ServiceTokensPage() -> impl IntoView {
    let tokens = Resource::new(|| (), |_| load_service_tokens());
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
        <section class="card section" aria-labelledby="create-token-heading">
            <h2 id="create-token-heading">"Create a service token"</h2>
            <p class="muted">"One per server or deployment, so that each can be revoked on its own."</p>
            <CreateTokenForm />
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading service tokens…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(tokens) => view! { <TokensTable tokens /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A name in; the new token out, shown once. "Done" reloads the page, which
/// then lists the token.
#[island]
fn CreateTokenForm() -> impl IntoView {
    let create = Submission::<CreatedServiceToken>::new();
    let error = action_error(create.answer(), None);
    let created = move || create.answer().get().and_then(Result::ok);
    let submit = create.on_submit(|fields| create_service_token(fields.text("name")));
    view! {
        <form method="post" action=CreateServiceToken::url() class="inline-form" novalidate on:submit=submit>
            <div class="grow">
                <TextField name="name" label="Name" hint="For example “billing-api production”." required=true error />
            </div>
            <SubmitButton pending=create.pending() label="Create token" pending_label="Creating…" />
        </form>
        <FormError error />
        {move || created().map(|created| view! { <NewToken created /> })}
    }
}

/// The new token, shown once, with how to use it.
#[component]
fn NewToken(created: CreatedServiceToken) -> impl IntoView {
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
            on_done=Callback::new(|()| reload_page())
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
fn TokensTable(tokens: Vec<ServiceTokenView>) -> impl IntoView {
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
                <TableHead columns=&["Name", "Token", "Created", "Created by", "Status"] actions=true />
                <tbody>
                    {tokens
                        .into_iter()
                        .map(|token| {
                            let revocation = Destructive::RevokeServiceToken { token_id: token.id.clone() };
                            let words = Confirmation {
                                button: "Revoke".to_owned(),
                                button_aria: Some(format!("Revoke {}", token.name)),
                                title: format!("Revoke the service token “{}”?", token.name),
                                message: "Servers using it are refused at once, on every instance. This cannot be undone.".to_owned(),
                                confirm: "Yes, revoke it".to_owned(),
                            };
                            let creator = token.created_by.clone().unwrap_or_else(|| "The command line".to_owned());
                            view! {
                                <tr data-testid="service-token-row">
                                    <td class="strong">{token.name.clone()}</td>
                                    <td><code>{token.masked.clone()}</code></td>
                                    <td title=exact(token.created_at)>{relative(token.created_at, now)}</td>
                                    <td data-testid="service-token-creator">
                                        {creator}
                                        {token.creator_left.then(|| view! { <span class="muted small">" (no longer a member; the token still works)"</span> })}
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
                                        {token.revoked_at.is_none().then(|| view! { <ConfirmButton change=revocation words /> })}
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
