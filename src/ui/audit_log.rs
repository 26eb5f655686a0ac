//! Settings → Audit log: what happened in the workspace, newest first, as
//! sentences, paged by keyset (`?before=` / `?after=`), with before/after details.

use super::layout::Refusal;
use super::time::{exact, relative};
use crate::audit::AuditEntryView;
use crate::audit::api::load_audit_page;
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let cursor = move || {
        query.with(|q| {
            (
                q.get("before").and_then(|v| v.parse::<i64>().ok()),
                q.get("after").and_then(|v| v.parse::<i64>().ok()),
            )
        })
    };
    let page = Resource::new(cursor, |(before, after)| load_audit_page(before, after));
    view! {
        <Title text="Audit log" />
        <div class="page-header">
            <div>
                <h1>"Audit log"</h1>
                <p class="muted">"Every sign-in, invite and role change in this workspace. Entries cannot be edited or deleted."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading the log…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) if page.entries.is_empty() => view! {
                        <div class="empty-state">
                            <h2>"Nothing here yet"</h2>
                            <p class="muted">"Entries appear as people sign in and manage the workspace."</p>
                        </div>
                    }
                        .into_any(),
                    Ok(page) => {
                        let now = Utc::now();
                        view! {
                            <section class="card flush">
                                <table class="table audit-table">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Event"</th>
                                            <th scope="col">"IP"</th>
                                            <th scope="col">"When"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page.entries.into_iter().map(|entry| view! { <EntryRow entry now /> }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            <nav class="pager" aria-label="Pages">
                                {page.newer.map(|seq| view! { <a class="button small" href=format!("?after={seq}")>"← Newer"</a> })}
                                {page.older.map(|seq| view! { <a class="button small" href=format!("?before={seq}")>"Older →"</a> })}
                            </nav>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
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
                <span class="muted small">" · " {action}</span>
            </td>
            <td class="nowrap muted">{entry.ip.unwrap_or_else(|| "—".into())}</td>
            <td class="nowrap" title=exact(entry.at)>{relative(entry.at, now)}</td>
        </tr>
    }
}
