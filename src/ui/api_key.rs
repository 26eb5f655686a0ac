//! Settings → API keys → one key: its settings, status, last use and history.

use super::api_keys::{LastUsed, StatusBadge, expiry_text};
use super::key_actions::KeyButtons;
use super::key_dialogs::KeyRef;
use super::layout::Refusal;
use super::time::{exact, relative};
use crate::audit::AuditEntryView;
use crate::keys::KeyDetail;
use crate::keys::api::load_key;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ApiKeyPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        load_key,
    );
    view! {
        <Title text="API key" />
        <p class="breadcrumb"><a href="/settings/api-keys">"← API keys"</a></p>
        <Suspense fallback=|| view! { <p class="muted">"Loading the key…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(detail) => view! { <KeyDetails detail /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn KeyDetails(detail: KeyDetail) -> impl IntoView {
    let KeyDetail {
        key,
        history,
        now,
        minted_unrevoked,
    } = detail;
    let crate::keys::AllowedChanges {
        rotate: rotatable,
        revoke: revocable,
    } = key.allowed_changes();
    // A revoked key that minted keys still offers to stop those: a plain form,
    // so this rare path costs the wasm bundle nothing.
    let revoke_minted =
        (key.can_manage && key.status == crate::keys::KeyStatus::Revoked && minted_unrevoked > 0)
            .then(|| view! { <RevokeMintedKeys key_id=key.id.clone() count=minted_unrevoked /> });
    let key_ref = KeyRef::of(&key);
    view! {
        <Title text=key.name.clone() />
        <div class="page-header">
            <div>
                <h1>{key.name.clone()} " " <span class=format!("badge {}", key.environment.as_str())>{key.environment.label()}</span></h1>
                <p class="muted"><code class="mono">{key.masked.clone()}</code></p>
            </div>
            <div class="actions">
                {(rotatable || revocable).then(|| view! { <KeyButtons key=key_ref rotatable revocable compact=false /> })}
            </div>
        </div>
        <section class="card section">
            <dl class="details">
                <dt>"Status"</dt>
                <dd><StatusBadge key=key.clone() now /></dd>
                <dt>"Scopes"</dt>
                <dd>{key.scopes.join(", ")}</dd>
                <dt>"Created"</dt>
                <dd><span title=exact(key.created_at)>{relative(key.created_at, now)}</span>{format!(" · owned by {}", key.created_by)}</dd>
                {(minted_unrevoked > 0).then(|| view! {
                    <dt>"Keys it created"</dt>
                    <dd>{format!("{minted_unrevoked} through the API, still working")}</dd>
                })}
                {key.minted_by_key.clone().map(|minting| view! {
                    <dt>"Minted by"</dt>
                    <dd><a href=format!("/settings/api-keys/{minting}")>"an API key"</a>" through the API"</dd>
                })}
                <dt>"Last used"</dt>
                <dd><LastUsed key=key.clone() now /></dd>
                <dt>"Expires"</dt>
                <dd>{expiry_text(&key, now)}</dd>
                <dt>"Rate limit"</dt>
                <dd>{key.rate_limit_per_minute.map_or("None".to_owned(), |limit| format!("{limit} requests per minute"))}</dd>
                {key.note.clone().map(|note| view! { <dt>"Note"</dt><dd>{note}</dd> })}
                {key.revoked_at.map(|at| view! {
                    <dt>"Revoked"</dt>
                    <dd>
                        <span title=exact(at)>{relative(at, now)}</span>
                        {key.revoke_reason.clone().map(|reason| format!(" — {reason}"))}
                    </dd>
                })}
            </dl>
        </section>
        {revoke_minted}
        <section class="card flush section" aria-labelledby="history-heading">
            <h2 id="history-heading" class="card-title">"History"</h2>
            {match history {
                Some(history) => view! {
                    <ul class="history">
                        {history.into_iter().map(|entry| view! { <HistoryItem entry now /> }).collect_view()}
                    </ul>
                }.into_any(),
                None => view! {
                    <p class="muted empty-note" data-testid="history-hidden">
                        "A key's history names people and their IP addresses: admins see it, and so does the key's owner."
                    </p>
                }.into_any(),
            }}
        </section>
    }
}

/// "Revoke the keys it created": opened first (the confirmation), then posted.
#[component]
fn RevokeMintedKeys(key_id: String, count: u32) -> impl IntoView {
    view! {
        <details class="card section danger-zone">
            <summary>{format!("Revoke the {count} key(s) it created…")}</summary>
            <p class="muted">
                "This key is revoked, but keys it created through the API still work. "
                "They, and what they created, stop at once. This cannot be undone."
            </p>
            <form method="post" action="/rpc/revoke_key">
                <input type="hidden" name="key_id" value=key_id />
                <input type="hidden" name="cascade" value="true" />
                <button type="submit" class="button danger">{format!("Revoke {count} key(s)")}</button>
            </form>
        </details>
    }
}

#[component]
fn HistoryItem(entry: AuditEntryView, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    view! {
        <li data-testid="history-entry">
            <span>{entry.sentence()}</span>
            <span class="muted small" title=exact(entry.at)>{relative(entry.at, now)}</span>
        </li>
    }
}
