//! Settings → Audit log: what happened in the workspace, newest first, as
//! sentences, paged by keyset (`?before=` / `?after=`), with before/after
//! details. Filters (actor, action group, key, dates) live in the URL, so a
//! filtered view can be bookmarked and shared; exports take the same filter.
//! Admins see the workspace; developers the entries about their own keys.

use super::layout::{Refusal, current_role};
use super::table::TableHead;
use super::time::{exact, relative};
use crate::audit::AuditEntryView;
use crate::audit::api::{
    ActorChoice, CheckpointView, PublishAuditCheckpoint, load_audit_actors, load_audit_head,
    load_audit_page,
};
use crate::audit::filter::{ActionGroup, AuditFilter, AuditFilterParams, parse_page_cursor};
use crate::error::AppError;
use crate::keys::api::load_keys;
use crate::workspaces::Role;
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use server_fn::ServerFn;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let params = move || {
        query.with(|q| {
            let get = |name: &str| q.get(name).filter(|value| !value.is_empty());
            (
                AuditFilterParams {
                    actor: get("actor"),
                    group: get("group"),
                    key: get("key"),
                    from: get("from"),
                    to: get("to"),
                },
                cursor(get("before").as_deref(), get("after").as_deref()),
            )
        })
    };
    #[cfg(feature = "ssr")]
    if untrack(|| params().1.is_err())
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
    {
        // A cursor that is no sequence number is the link's fault: say so with 400.
        response.set_status(axum::http::StatusCode::BAD_REQUEST);
    }
    let page = Resource::new(params, |(filter, cursor)| async move {
        let (before, after) = cursor?;
        load_audit_page(filter, before, after).await
    });
    let filter = Memo::new(move |_| params().0);
    let role = current_role();
    let is_admin = move || role.get().is_some_and(|role| role.includes(Role::Admin));
    view! {
        <Title text="Audit log" />
        <div class="page-header">
            <div>
                <h1>"Audit log"</h1>
                <Transition fallback=|| ()>
                    <p class="muted">
                        {move || if is_admin() {
                            "Every sign-in, key and member change in this workspace. Entries cannot be edited or deleted."
                        } else {
                            "Everything that happened to the keys you created. Entries cannot be edited or deleted."
                        }}
                    </p>
                </Transition>
            </div>
        </div>
        <Checkpoint published=query.with_untracked(|q| q.get("published").and_then(|n| n.parse().ok())) />
        <FilterBar filter />
        <Transition fallback=|| view! { <p class="muted">"Loading the log…"</p> }>
            {move || Suspend::new(async move {
                let shown = filter.get_untracked();
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) if page.entries.is_empty() => view! { <NoEntries filtered=shown != AuditFilterParams::default() /> }.into_any(),
                    Ok(page) => {
                        let now = Utc::now();
                        let keep = shown.parse().map(|filter| filter.query_string()).unwrap_or_default();
                        let with_filter = move |cursor: String| {
                            if keep.is_empty() { format!("?{cursor}") } else { format!("?{keep}&{cursor}") }
                        };
                        view! {
                            <section class="card flush">
                                <table class="table audit-table">
                                    <TableHead columns=&["Event", "IP", "When"] />
                                    <tbody>
                                        {page.entries.into_iter().map(|entry| view! { <EntryRow entry now /> }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            <nav class="pager" aria-label="Pages">
                                {page.newer.map(|seq| view! { <a class="button small" href=with_filter(format!("after={seq}"))>"← Newer"</a> })}
                                {page.older.map(|seq| view! { <a class="button small" href=with_filter(format!("before={seq}"))>"Older →"</a> })}
                            </nav>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `?before=` / `?after=` from the URL; a value that is not a page cursor is refused.
fn cursor(
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), AppError> {
    let read = |field: &str, text: Option<&str>| {
        text.map(|text| parse_page_cursor(field, text)).transpose()
    };
    Ok((read("before", before)?, read("after", after)?))
}

/// The filter form: a plain GET form, so it works before hydration and the
/// result is a URL. The export buttons post the same filter.
#[component]
fn FilterBar(filter: Memo<AuditFilterParams>) -> impl IntoView {
    let actors = Resource::new(|| (), |_| load_audit_actors());
    let keys = Resource::new(|| (), |_| load_keys(None, None, None, None, None));
    let current = move |pick: fn(&AuditFilterParams) -> Option<String>| {
        pick(&filter.get()).unwrap_or_default()
    };
    // The export is a POST (it writes an audit entry, so the CSRF check must
    // cover it); its form carries the filter the table shows, from the URL.
    let export_fields = move || {
        let query = filter
            .get()
            .parse()
            .map(|filter: AuditFilter| filter.query_string())
            .unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .map(|(name, value)| {
                view! { <input type="hidden" name=name.into_owned() value=value.into_owned() /> }
            })
            .collect_view()
    };
    view! {
        <form class="card section filter-bar" method="get" action="/settings/audit-log" aria-label="Filter the audit log">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let choices: Vec<ActorChoice> = actors.await.unwrap_or_default();
                    (!choices.is_empty()).then(|| {
                        let chosen = current(|f| f.actor.clone());
                        view! {
                            <div class="field">
                                <label for="filter-actor">"Actor"</label>
                                <select id="filter-actor" name="actor">
                                    <option value="">"Anyone"</option>
                                    {choices.into_iter().map(|choice| {
                                        let selected = choice.user_id == chosen;
                                        view! { <option value=choice.user_id selected=selected>{choice.label}</option> }
                                    }).collect_view()}
                                </select>
                            </div>
                        }
                    })
                })}
            </Transition>
            <div class="field">
                <label for="filter-group">"Action"</label>
                <select id="filter-group" name="group">
                    <option value="">"All actions"</option>
                    {ActionGroup::ALL.into_iter().map(|group| {
                        let selected = move || current(|f| f.group.clone()) == group.as_str();
                        view! { <option value=group.as_str() selected=selected>{group.label()}</option> }
                    }).collect_view()}
                </select>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let listed = keys.await.map(|page| page.keys).unwrap_or_default();
                    let chosen = current(|f| f.key.clone());
                    view! {
                        <div class="field">
                            <label for="filter-key">"Key"</label>
                            <select id="filter-key" name="key">
                                <option value="">"Any key"</option>
                                {listed.into_iter().map(|key| {
                                    let selected = key.id == chosen;
                                    view! { <option value=key.id selected=selected>{format!("{} ({})", key.name, key.masked)}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                    }
                })}
            </Transition>
            <div class="field">
                <label for="filter-from">"From"</label>
                <input id="filter-from" name="from" type="date" prop:value=move || current(|f| f.from.clone()) />
            </div>
            <div class="field">
                <label for="filter-to">"To"</label>
                <input id="filter-to" name="to" type="date" prop:value=move || current(|f| f.to.clone()) />
            </div>
            <div class="filter-actions">
                <button type="submit" class="button primary small">"Apply filters"</button>
                <a class="button small" href="/settings/audit-log">"Clear"</a>
                <span class="export-links">
                    "Export: "
                    <button type="submit" form="audit-export" name="format" value="csv" class="text-button" data-testid="export-csv">"CSV"</button>
                    " · "
                    <button type="submit" form="audit-export" name="format" value="jsonl" class="text-button" data-testid="export-jsonl">"JSON Lines"</button>
                </span>
            </div>
        </form>
        <form id="audit-export" method="post" action="/settings/audit-log/export" hidden>
            {export_fields}
        </form>
    }
}

/// Admins only (the head covers every entry): the chain's head to copy, and
/// "Publish checkpoint now" for the webhook endpoints that asked for one.
#[component]
fn Checkpoint(published: Option<usize>) -> impl IntoView {
    let head = Resource::new(|| (), |_| load_audit_head());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match head.await {
                    Ok(Some(head)) => view! { <CheckpointPanel head published /> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CheckpointPanel(head: CheckpointView, published: Option<usize>) -> impl IntoView {
    let notice = published.map(|endpoints| match endpoints {
        0 => "Checkpoint taken, but no webhook endpoint asks for audit.checkpoint yet (Settings → Webhooks).".to_owned(),
        1 => "Checkpoint sent to 1 webhook endpoint.".to_owned(),
        n => format!("Checkpoint sent to {n} webhook endpoints."),
    });
    view! {
        <section class="card section checkpoint" aria-labelledby="checkpoint-heading" data-testid="audit-checkpoint">
            <h2 id="checkpoint-heading" class="card-title">"Checkpoint"</h2>
            <p class="muted small">
                "The newest entry and its hash, as of " {relative(head.at, Utc::now())} ". Keep a copy outside Keyward: "
                <code>"keyward audit verify --checkpoint SEQ:HASH"</code>
                " then fails if any entry up to it was dropped or rewritten. Endpoints subscribed to "
                <code>"audit.checkpoint"</code> " receive one every hour."
            </p>
            <p><code class="checkpoint-value" data-testid="audit-checkpoint-value">{head.argument()}</code></p>
            {notice.map(|text| view! { <p class="alert alert-success" role="status">{text}</p> })}
            <form method="post" action=PublishAuditCheckpoint::url()>
                <button type="submit" class="button small">"Publish checkpoint now"</button>
            </form>
        </section>
    }
}

#[component]
fn NoEntries(filtered: bool) -> impl IntoView {
    if filtered {
        view! {
            <div class="empty-state" data-testid="no-audit-entries">
                <h2>"No entries match these filters"</h2>
                <p class="muted">"Widen the date range or choose another action."</p>
                <a class="button small" href="/settings/audit-log">"Clear filters"</a>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="empty-state" data-testid="no-audit-entries">
                <h2>"Nothing here yet"</h2>
                <p class="muted">"Entries appear as people sign in and manage the workspace."</p>
            </div>
        }
        .into_any()
    }
}

#[component]
fn EntryRow(entry: AuditEntryView, now: chrono::DateTime<Utc>) -> impl IntoView {
    let sentence = entry.sentence();
    let action = entry.action.clone();
    let action_attribute = entry.action.clone();
    view! {
        <tr data-testid="audit-row" data-action=action_attribute>
            <td>
                {match entry.changes {
                    Some(changes) => view! {
                        <details class="entry-details">
                            <summary>{sentence}</summary>
                            <pre>{changes}</pre>
                            {entry.user_agent.map(|agent| view! { <p class="muted small">{agent}</p> })}
                        </details>
                    }
                        .into_any(),
                    None => view! { <span>{sentence}</span> }.into_any(),
                }}
                // Its own line under the sentence, with or without details
                // (a details block ends its line, so a leading " · " began one).
                <div class="muted small">
                    {action}
                    {entry.actor_email.map(|email| view! { " · " {email} })}
                </div>
            </td>
            <td class="nowrap muted">{entry.ip.unwrap_or_else(|| "—".into())}</td>
            <td class="nowrap" title=exact(entry.at)>{relative(entry.at, now)}</td>
        </tr>
    }
}
