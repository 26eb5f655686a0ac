//! Settings → API keys: the list with filters, and the create, rotate, revoke
//! and offboard flows. What the member may do comes from the server with the
//! list (`can_create`, `can_manage`); the server functions enforce it anyway.

use super::key_dialogs::{
    CreateKeyDialog, KeyDialog, KeyRef, OffboardDialog, RevokeKeyDialog, RotateKeyDialog,
    SecretPanel,
};
use super::layout::{CurrentUser, Refusal, current_role};
use super::time::{exact, relative};
use crate::keys::api::{CreateKey, OffboardWorkspace, RevokeKey, RotateKey, load_keys};
use crate::keys::{CreatedKey, Environment, KeyListPage, KeyStatus, KeyView};
use crate::workspaces::Role;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;

/// The actions of the keys pages, and the dialog and secret they drive.
#[derive(Clone, Copy)]
pub struct KeyActions {
    pub create: ServerAction<CreateKey>,
    pub rotate: ServerAction<RotateKey>,
    pub revoke: ServerAction<RevokeKey>,
    pub offboard: ServerAction<OffboardWorkspace>,
    pub dialog: RwSignal<Option<KeyDialog>>,
    pub secret: RwSignal<Option<CreatedKey>>,
}

impl KeyActions {
    pub fn new() -> Self {
        let actions = Self {
            create: ServerAction::new(),
            rotate: ServerAction::new(),
            revoke: ServerAction::new(),
            offboard: ServerAction::new(),
            dialog: RwSignal::new(None),
            secret: RwSignal::new(None),
        };
        // A new secret moves into the shown-once panel and out of the action,
        // so that "Done" really forgets it.
        for source in [actions.create.value(), actions.rotate.value()] {
            Effect::new(move || {
                if let Some(Ok(created)) = source.get() {
                    source.set(None);
                    actions.secret.set(Some(created));
                    actions.dialog.set(None);
                }
            });
        }
        let (revoke, offboard) = (actions.revoke.value(), actions.offboard.value());
        Effect::new(move || {
            let revoked = matches!(revoke.get(), Some(Ok(())));
            let offboarded = matches!(offboard.get(), Some(Ok(_)));
            if revoked || offboarded {
                actions.dialog.set(None);
            }
        });
        actions
    }

    /// Bumps whenever a change lands, so lists reload.
    pub fn version(&self) -> (usize, usize, usize, usize) {
        (
            self.create.version().get(),
            self.rotate.version().get(),
            self.revoke.version().get(),
            self.offboard.version().get(),
        )
    }

    pub fn close(&self) -> Callback<()> {
        let dialog = self.dialog;
        Callback::new(move |()| dialog.set(None))
    }
}

/// Renders whichever dialog is open.
#[component]
pub fn KeyDialogs(actions: KeyActions) -> impl IntoView {
    let close = actions.close();
    let workspace = use_context::<CurrentUser>();
    move || {
        actions.dialog.get().map(|dialog| match dialog {
            KeyDialog::Create => {
                view! { <CreateKeyDialog action=actions.create on_close=close /> }.into_any()
            }
            KeyDialog::Rotate(key) => {
                view! { <RotateKeyDialog key action=actions.rotate on_close=close /> }.into_any()
            }
            KeyDialog::Revoke(key) => {
                view! { <RevokeKeyDialog key action=actions.revoke on_close=close /> }.into_any()
            }
            KeyDialog::Offboard => {
                let name = workspace
                    .and_then(|CurrentUser(me)| me.get_untracked())
                    .and_then(Result::ok)
                    .map(|me| me.workspace.name)
                    .unwrap_or_default();
                view! { <OffboardDialog workspace=name action=actions.offboard on_close=close /> }
                    .into_any()
            }
        })
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let actions = KeyActions::new();
    let environment = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    let before = RwSignal::new(None::<String>);
    let page = Resource::new(
        move || {
            (
                environment.get(),
                status.get(),
                search.get(),
                before.get(),
                actions.version(),
            )
        },
        |(environment, status, search, before, _)| {
            let given = |text: String| (!text.trim().is_empty()).then_some(text);
            load_keys(given(environment), given(status), given(search), before)
        },
    );
    let filtered = move || {
        !environment.with(String::is_empty)
            || !status.with(String::is_empty)
            || !search.with(String::is_empty)
    };
    let role = current_role();
    let is_admin = move || role.get().is_some_and(|role| role.includes(Role::Admin));
    let offboard_result = move || {
        actions.offboard.value().get().and_then(Result::ok).map(|count| {
            view! { <div class="alert alert-success" role="status">{format!("{count} key(s) revoked.")}</div> }
        })
    };
    view! {
        <Title text="API keys" />
        <div class="page-header">
            <div>
                <h1>"API keys"</h1>
                <p class="muted">"Secret keys let your backend call the API on behalf of this workspace. Keep them out of browsers and code repositories."</p>
            </div>
            <Transition fallback=|| ()>
                {move || page.get().and_then(Result::ok).filter(|page| page.can_create).map(|_| view! {
                    <button type="button" class="button primary" on:click=move |_| actions.dialog.set(Some(KeyDialog::Create))>
                        "Create key"
                    </button>
                })}
            </Transition>
        </div>
        <SecretPanel shown=actions.secret />
        {offboard_result}
        <div class="toolbar" role="search">
            <input type="search" class="grow" aria-label="Search by name or pasted prefix" placeholder="Search by name or paste a key prefix (kw_live_3fJ9…)"
                on:input=move |ev| { before.set(None); search.set(event_target_value(&ev)); } />
            <select aria-label="Environment" on:change=move |ev| { before.set(None); environment.set(event_target_value(&ev)); }>
                <option value="">"All environments"</option>
                {Environment::ALL.into_iter().map(|env| view! { <option value=env.as_str()>{env.label()}</option> }).collect_view()}
            </select>
            <select aria-label="Status" data-testid="status-filter" on:change=move |ev| { before.set(None); status.set(event_target_value(&ev)); }>
                <option value="">"All statuses"</option>
                {KeyStatus::ALL.into_iter().map(|status| view! { <option value=status.as_str()>{status.label()}</option> }).collect_view()}
            </select>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) => view! { <KeyList page filtered=filtered() actions before /> }.into_any(),
                }
            })}
        </Transition>
        // Inside a Transition: the role comes from the layout's resource, which the
        // server renders before it resolves and the browser hydrates after.
        <Transition fallback=|| ()>
            <Show when=is_admin>
                <section class="card section danger-zone" aria-labelledby="danger-heading">
                    <h2 id="danger-heading">"Offboard this workspace"</h2>
                    <p class="muted">"Revokes every key of the workspace at once, for example when a customer leaves."</p>
                    <button type="button" class="button danger-outline" on:click=move |_| actions.dialog.set(Some(KeyDialog::Offboard))>
                        "Revoke all keys…"
                    </button>
                </section>
            </Show>
        </Transition>
        <KeyDialogs actions />
    }
}

#[component]
fn KeyList(
    page: KeyListPage,
    filtered: bool,
    actions: KeyActions,
    before: RwSignal<Option<String>>,
) -> impl IntoView {
    if page.keys.is_empty() {
        let (title, hint) = match (page.workspace_has_keys || filtered, page.can_create) {
            (true, _) => (
                "No keys match",
                "Change the filters or the search to see more keys.",
            ),
            (false, true) => (
                "No API keys yet",
                "Create a key for each backend that calls the API, so you can rotate and revoke them one by one.",
            ),
            (false, false) => (
                "No API keys yet",
                "Developers and admins of this workspace can create keys.",
            ),
        };
        return view! {
            <div class="empty-state">
                <span class="empty-icon" aria-hidden="true">"🔑"</span>
                <h2>{title}</h2>
                <p class="muted">{hint}</p>
            </div>
        }
        .into_any();
    }
    let now = page.now;
    let older = page.older.clone();
    view! {
        <section class="card flush" aria-label="API keys">
            <div class="table-scroll">
                <table class="table keys-table">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Key"</th>
                            <th scope="col">"Scopes"</th>
                            <th scope="col">"Created"</th>
                            <th scope="col">"Last used"</th>
                            <th scope="col">"Expires"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {page.keys.into_iter().map(|key| view! { <KeyRow key now actions /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <nav class="pager" aria-label="Pages">
            <button type="button" class="button small" hidden=move || before.with(Option::is_none) on:click=move |_| before.set(None)>
                "Newest"
            </button>
            {older.map(|cursor| view! {
                <button type="button" class="button small" on:click=move |_| before.set(Some(cursor.clone()))>"Older keys"</button>
            })}
        </nav>
    }
    .into_any()
}

#[component]
fn KeyRow(key: KeyView, now: DateTime<Utc>, actions: KeyActions) -> impl IntoView {
    let key_ref = KeyRef {
        id: key.id.clone(),
        name: key.name.clone(),
        masked: key.masked.clone(),
    };
    let manageable = key.can_manage && key.status.verifies();
    let rotatable = key.can_manage && key.status == KeyStatus::Active;
    let rotate_ref = key_ref.clone();
    view! {
        <tr data-testid="key-row" data-status=key.status.as_str()>
            <td>
                <a class="strong" href=format!("/settings/api-keys/{}", key.id)>{key.name.clone()}</a>
                " "
                <span class=format!("badge {}", key.environment.as_str())>{key.environment.label()}</span>
            </td>
            <td><code class="mono nowrap" data-testid="masked-key">{key.masked.clone()}</code></td>
            <td class="small">{key.scopes.join(", ")}</td>
            <td class="nowrap">
                <span title=exact(key.created_at)>{relative(key.created_at, now)}</span>
                <div class="muted small">{format!("by {}", key.created_by)}</div>
            </td>
            <td class="nowrap"><LastUsed key=key.clone() now /></td>
            <td class="nowrap">{expiry_text(&key, now)}</td>
            <td><StatusBadge key=key.clone() now /></td>
            <td class="actions nowrap">
                {rotatable.then(|| view! {
                    <button type="button" class="button small" on:click=move |_| actions.dialog.set(Some(KeyDialog::Rotate(rotate_ref.clone())))>
                        "Rotate"
                    </button>
                })}
                {manageable.then(|| view! {
                    <button type="button" class="button small danger-outline" on:click=move |_| actions.dialog.set(Some(KeyDialog::Revoke(key_ref.clone())))>
                        "Revoke"
                    </button>
                })}
            </td>
        </tr>
    }
}

/// "3 minutes ago · 203.0.113.7", or "Never".
#[component]
pub fn LastUsed(key: KeyView, now: DateTime<Utc>) -> impl IntoView {
    match key.last_used_at {
        None => view! { <span class="muted">"Never"</span> }.into_any(),
        Some(at) => view! {
            <span title=exact(at)>{relative(at, now)}</span>
            {key.last_used_ip.map(|ip| view! { <div class="muted small mono">{ip}</div> })}
        }
        .into_any(),
    }
}

/// The status, with the time left for an expiring key.
#[component]
pub fn StatusBadge(key: KeyView, now: DateTime<Utc>) -> impl IntoView {
    let detail = match (key.status, key.grace_ends_at) {
        (KeyStatus::Expiring, Some(ends)) => Some(format!("stops {}", relative(ends, now))),
        _ => None,
    };
    view! {
        <span class=format!("badge {}", key.status.as_str()) data-testid="key-status">{key.status.label()}</span>
        {detail.map(|detail| view! { <div class="muted small">{detail}</div> })}
    }
}

/// When the key stops by itself: "in 29 days", "Never", or the past date.
pub fn expiry_text(key: &KeyView, now: DateTime<Utc>) -> String {
    match key.expires_at {
        None => "Never".into(),
        Some(at) if at <= now => format!("Expired {}", relative(at, now)),
        Some(at) => relative(at, now),
    }
}
