//! Settings → API keys: the list with its filters, rendered on the server.
//! Filters and paging live in the URL (a plain GET form), so a filtered list
//! can be bookmarked; creating, rotating, revoking and offboarding are the
//! islands in `key_actions`. What the member may do comes from the server with
//! the list (`can_create`, `can_manage`); the server functions enforce it anyway.

use super::key_actions::{CreateKeyButton, KeyButtons, OffboardButton};
use super::key_dialogs::KeyRef;
use super::layout::{CurrentUser, Refusal, current_role};
use super::table::TableHead;
use super::time::{exact, relative};
use super::usage_chart::Sparkline;
use crate::keys::api::load_keys;
use crate::keys::{Environment, KeyListPage, KeyStatus, KeyView};
use crate::workspaces::Role;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The list's filters and page, as the URL's query carries them.
#[derive(Clone, Debug, Default, PartialEq)]
struct ListUrl {
    environment: String,
    status: String,
    search: String,
    /// `7d`: only keys that stop within 7 days.
    expiring: String,
    before: Option<String>,
}

impl ListUrl {
    fn from_url() -> Memo<Self> {
        let query = use_query_map();
        Memo::new(move |_| {
            query.with(|q| {
                let get = |name: &str| q.get(name).unwrap_or_default();
                Self {
                    environment: get("environment"),
                    status: get("status"),
                    search: get("q"),
                    expiring: get("expiring"),
                    before: q.get("before").filter(|cursor| !cursor.is_empty()),
                }
            })
        })
    }

    fn filtered(&self) -> bool {
        !(self.environment.is_empty()
            && self.status.is_empty()
            && self.expiring.is_empty()
            && self.search.trim().is_empty())
    }

    /// The list's URL with the same filters, from the newest key or `before` a cursor.
    fn href(&self, before: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("environment", &self.environment),
            ("status", &self.status),
            ("expiring", &self.expiring),
            ("q", &self.search),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        if let Some(cursor) = before {
            query.append_pair("before", cursor);
        }
        format!("/settings/api-keys?{}", query.finish())
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let query = ListUrl::from_url();
    let page = Resource::new(
        move || query.get(),
        |query| {
            let given = |text: String| (!text.trim().is_empty()).then_some(text);
            load_keys(
                given(query.environment),
                given(query.status),
                given(query.search),
                query.before,
                given(query.expiring),
            )
        },
    );
    let role = current_role();
    let is_admin = move || role.get().is_some_and(|role| role.includes(Role::Admin));
    let workspace_name = move || {
        use_context::<CurrentUser>()
            .and_then(|CurrentUser(me)| me.get())
            .and_then(Result::ok)
            .map(|me| me.workspace.name)
            .unwrap_or_default()
    };
    // Only a number is shown: the URL is anyone's to write.
    let offboarded = use_query_map().with_untracked(|q| {
        q.get("offboarded")
            .and_then(|count| count.parse::<usize>().ok())
    });
    view! {
        <Title text="API keys" />
        <div class="page-header">
            <div>
                <h1>"API keys"</h1>
                <p class="muted">"Secret keys let your backend call the API on behalf of this workspace. Keep them out of browsers and code repositories."</p>
            </div>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    page.await.ok().filter(|page| page.can_create).map(|page| view! { <CreateKeyButton product_scopes=crate::keys::scopes::encode_for_island(&page.product_scopes) /> })
                })}
            </Suspense>
        </div>
        {offboarded.map(|count| view! {
            <div class="alert alert-success" role="status">{format!("{count} key(s) revoked.")}</div>
        })}
        <Filters query=query.get_untracked() />
        <Suspense fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) => view! { <KeyList page query=query.get_untracked() /> }.into_any(),
                }
            })}
        </Suspense>
        // Inside a Suspense: the role comes from the layout's resource.
        <Suspense fallback=|| ()>
            <Show when=is_admin>
                <section class="card section danger-zone" aria-labelledby="danger-heading">
                    <h2 id="danger-heading">"Offboard this workspace"</h2>
                    <p class="muted">"Revokes every key of the workspace at once, for example when a customer leaves."</p>
                    <OffboardButton workspace=workspace_name() />
                </section>
            </Show>
        </Suspense>
    }
}

/// Search, environment and status: a GET form whose choices apply at once
/// (the `AutoSubmit` island), and with "Search" before hydration.
#[component]
fn Filters(query: ListUrl) -> impl IntoView {
    view! {
        <AutoSubmit>
            <input type="search" name="q" class="grow" value=query.search aria-label="Search by name or pasted prefix"
                placeholder="Search by name or paste a key prefix (kw_live_3fJ9…)" />
            <select name="environment" aria-label="Environment">
                <option value="">"All environments"</option>
                {Environment::ALL.into_iter().map(|env| view! {
                    <option value=env.as_str() selected=query.environment == env.as_str()>{env.label()}</option>
                }).collect_view()}
            </select>
            <select name="status" aria-label="Status" data-testid="status-filter">
                <option value="">"All statuses"</option>
                {KeyStatus::ALL.into_iter().map(|status| view! {
                    <option value=status.as_str() selected=query.status == status.as_str()>{status.label()}</option>
                }).collect_view()}
            </select>
            <select name="expiring" aria-label="Expiry" data-testid="expiring-filter">
                <option value="">"Any expiry"</option>
                <option value="7d" selected=query.expiring == "7d">"Expiring within 7 days"</option>
            </select>
            <button type="submit" class="button">"Search"</button>
        </AutoSubmit>
    }
}

/// The filter form: a change to any of its choices submits it.
#[island]
fn AutoSubmit(children: Children) -> impl IntoView {
    let submit_on_change = |event: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let form = event
            .current_target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok());
        if let Some(form) = form {
            let _ = form.request_submit();
        }
    };
    view! {
        <form class="toolbar" role="search" method="get" action="/settings/api-keys" on:change=submit_on_change>
            {children()}
        </form>
    }
}

#[component]
fn KeyList(page: KeyListPage, query: ListUrl) -> impl IntoView {
    if page.keys.is_empty() {
        let (title, hint) = match (page.workspace_has_keys || query.filtered(), page.can_create) {
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
    let older = page.older.as_deref().map(|cursor| query.href(Some(cursor)));
    let paged = query.before.is_some();
    view! {
        <section class="card flush" aria-label="API keys">
            <div class="table-scroll">
                <table class="table keys-table">
                    <TableHead columns=&["Name", "Key", "Scopes", "Created", "Last used", "Expires", "Status"] actions=true />
                    <tbody>
                        {page.keys.into_iter().map(|key| view! { <KeyRow key now /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <nav class="pager" aria-label="Pages">
            {paged.then(|| view! { <a class="button small" href=query.href(None)>"Newest"</a> })}
            {older.map(|href| view! { <a class="button small" href=href>"Older keys"</a> })}
        </nav>
    }
    .into_any()
}

#[component]
fn KeyRow(key: KeyView, now: DateTime<Utc>) -> impl IntoView {
    let crate::keys::AllowedChanges {
        rotate: rotatable,
        revoke: revocable,
        ..
    } = key.allowed_changes();
    let key_ref = KeyRef::of(&key);
    view! {
        <tr data-testid="key-row" data-status=key.status.as_str()>
            <td>
                <a class="strong" href=format!("/settings/api-keys/{}", key.id)>{key.name.clone()}</a>
                " "
                <span class=format!("badge {}", key.environment.as_str())>{key.environment.label()}</span>
            </td>
            <td><code class="mono nowrap" data-testid="masked-key">{key.masked.clone()}</code></td>
            <td class="small">
                {key.scopes.join(", ")}
                <KeyRestrictions key=key.clone() />
            </td>
            <td class="nowrap">
                <span title=exact(key.created_at)>{relative(key.created_at, now)}</span>
                <div class="muted small">{format!("by {}", key.created_by)}</div>
            </td>
            <td class="nowrap">
                <div class="last-used">
                    <div><LastUsed key=key.clone() now /></div>
                    {key.recent_use.clone().map(|recent| view! { <Sparkline daily=recent.daily /> })}
                </div>
                {key.recent_use.as_ref().is_some_and(|recent| recent.new_ip).then(|| view! {
                    <span class="badge new-ip" data-testid="new-ip" title="Used from an IP address first seen in the last 24 hours">"New IP"</span>
                })}
            </td>
            <td class="nowrap">
                {expiry_text(&key, now)}
                {key.expires_soon(now).is_some().then(|| view! {
                    " " <span class="badge expiring-soon" data-testid="expiring-soon">"Soon"</span>
                })}
            </td>
            <td><StatusBadge key=key.clone() now /></td>
            <td class="actions nowrap">
                {(rotatable || revocable).then(|| view! { <KeyButtons key=key_ref rotatable revocable compact=true /> })}
            </td>
        </tr>
    }
}

/// Badges for what limits a key beyond its scopes: an IP allowlist, usage credits.
#[component]
fn KeyRestrictions(key: KeyView) -> impl IntoView {
    let allowlist = key.is_ip_restricted().then(|| {
        let title = format!("Works only from {}", key.ip_allowlist.join(", "));
        view! { " " <span class="badge restricted" data-testid="ip-restricted" title=title>"IP-restricted"</span> }
    });
    let credits = key.credits.map(|credits| {
        let title = format!("{} usage credits left", credits.remaining);
        view! { " " <span class="badge restricted" data-testid="credits" title=title>{format!("{} credits", credits.remaining)}</span> }
    });
    view! { {allowlist} {credits} }
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
        <OutsidePolicy breaches=key.outside_policy.clone() />
        {key.leaked_at.map(|at| view! {
            " "
            <span class="badge leaked" data-testid="key-leaked" title=exact(at)>"Leaked"</span>
            <div class="muted small leak-note">
                {relative(at, now)}
                {key.leaked_url.clone().map(|url| view! { " · " <LeakLocation url /> })}
            </div>
        })}
    }
}

/// The "Outside policy" badge of a key made before a workspace rule it breaks;
/// its title says which. Nothing for a key within policy.
#[component]
pub fn OutsidePolicy(breaches: Vec<String>) -> impl IntoView {
    (!breaches.is_empty()).then(|| {
        let why = breaches.join(" ");
        view! {
            " "
            <span class="badge outside-policy" data-testid="outside-policy" title=why>"Outside policy"</span>
        }
    })
}

/// Where a leak report found a key: a link when it is a web address (never a
/// `javascript:` one: the URL comes from outside), plain text otherwise.
#[component]
pub fn LeakLocation(url: String) -> impl IntoView {
    if url.starts_with("https://") || url.starts_with("http://") {
        let href = url.clone();
        view! { <a href=href rel="noopener noreferrer nofollow" target="_blank" data-testid="leak-url">{url}</a> }.into_any()
    } else {
        view! { <span data-testid="leak-url">{url}</span> }.into_any()
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
