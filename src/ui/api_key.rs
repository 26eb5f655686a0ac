//! Settings → API keys → one key: its settings, status, last use, usage
//! (chart and client IPs, over the range in the URL: `?range=7d`) and history.

use super::api_keys::{LastUsed, LeakLocation, StatusBadge, expiry_text};
use super::form::{FieldError, FormError, SubmitButton, TextField, action_error, error_in_url};
use super::key_actions::KeyButtons;
use super::key_dialogs::{CreditFields, KeyRef};
use super::layout::Refusal;
use super::time::{exact, relative};
use super::usage_chart::{RangeSwitch, UsageChart, UsageTotals, grouped};
use crate::audit::AuditEntryView;
use crate::error::AppError;
use crate::keys::KeyDetail;
use crate::keys::api::{UpdateKey, load_key};
use crate::usage::api::load_key_usage;
use crate::usage::{ClientIpView, KeyUsage, UsageRange};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

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
        edit: editable,
    } = key.allowed_changes();
    let expires_soon = key.expires_soon(now).map(|left| {
        view! {
            <div class="alert alert-warning expiry-warning" role="status" data-testid="expires-soon">
                {expires_in(left)}
                <span class="muted small">" — rotate it before then, or it stops working."</span>
            </div>
        }
    });
    let edit_form =
        editable.then(|| view! { <EditKey key=key.clone() left_by_post=error_in_url() /> });
    let saved = use_query_map().with_untracked(|query| query.get("saved").is_some());
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
        {expires_soon}
        {saved.then(|| view! { <div class="alert alert-success" role="status">"Saved. The change is in the key's history."</div> })}
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
                <dd>{rate_limit_text(&key)}</dd>
                <dt>"IP allowlist"</dt>
                <dd data-testid="key-ip-allowlist">{if key.ip_allowlist.is_empty() {
                    view! { "Any address" }.into_any()
                } else {
                    view! {
                        <span class="badge restricted">"IP-restricted"</span>" "
                        <code class="mono">{key.ip_allowlist.join(", ")}</code>
                    }.into_any()
                }}</dd>
                <dt>"Usage credits"</dt>
                <dd data-testid="key-credits">{credits_text(&key, now)}</dd>
                {key.note.clone().map(|note| view! { <dt>"Note"</dt><dd>{note}</dd> })}
                {key.leaked_at.map(|at| view! {
                    <dt>"Leaked"</dt>
                    <dd data-testid="key-leak">
                        <span class="badge leaked">"Leaked"</span>" "
                        <span title=exact(at)>{format!("reported {}", relative(at, now))}</span>
                        {key.leaked_url.clone().map(|url| view! { " — found at " <LeakLocation url /> })}
                    </dd>
                })}
                {key.revoked_at.map(|at| view! {
                    <dt>"Revoked"</dt>
                    <dd>
                        <span title=exact(at)>{relative(at, now)}</span>
                        {key.revoke_reason.clone().map(|reason| format!(" — {reason}"))}
                    </dd>
                })}
            </dl>
        </section>
        {edit_form}
        {revoke_minted}
        <UsageSection key_id=key.id.clone() last_used_at=key.last_used_at />
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

/// "600 requests per minute, burst 50".
fn rate_limit_text(key: &crate::keys::KeyView) -> String {
    match (key.rate_limit_per_minute, key.rate_limit_burst) {
        (None, _) => "None".to_owned(),
        (Some(limit), None) => format!("{limit} requests per minute"),
        (Some(limit), Some(burst)) => format!("{limit} requests per minute, burst {burst}"),
    }
}

/// "940 left · refills to 1000 every day, next in 5 hours".
fn credits_text(key: &crate::keys::KeyView, now: DateTime<Utc>) -> String {
    let Some(credits) = &key.credits else {
        return "Unlimited".to_owned();
    };
    let left = format!("{} left", credits.remaining);
    let every = match (credits.refill_period.as_deref(), credits.refill_day) {
        (Some("day"), _) => "every day".to_owned(),
        (Some("month"), Some(day)) => format!("every month on day {day}"),
        _ => return format!("{left} · no refill"),
    };
    let amount = credits.refill_amount.unwrap_or_default();
    let next = credits
        .refill_at
        .map(|at| format!(", next {}", relative(at, now)))
        .unwrap_or_default();
    format!("{left} · refills to {amount} {every}{next}")
}

/// "Expires in 3 days", "Expires in 5 hours": how much life a key has left.
fn expires_in(left: chrono::Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if left >= chrono::Duration::days(1) {
        format!("Expires in {}", plural(left.num_days(), "day"))
    } else if left >= chrono::Duration::hours(1) {
        format!("Expires in {}", plural(left.num_hours(), "hour"))
    } else {
        format!("Expires in {}", plural(left.num_minutes().max(1), "minute"))
    }
}

/// Name, note, rate limit and an earlier expiry, without rotating: a plain
/// form post (no island), open once asked for, or when a post came back refused.
#[component]
fn EditKey(key: crate::keys::KeyView, left_by_post: Option<AppError>) -> impl IntoView {
    let update = ServerAction::<UpdateKey>::new();
    let open = left_by_post.is_some();
    let error = action_error(update.value(), left_by_post);
    let expiry_hint = match key.expires_at {
        Some(at) => format!(
            "Now {}. Leave empty to keep it; a new date can only be earlier.",
            exact(at)
        ),
        None => "It never expires now. Leave empty to keep it so.".to_owned(),
    };
    view! {
        <details class="card section key-edit" open=open data-testid="edit-key">
            <summary>"Edit name, note, limits, allowlist, credits or expiry"</summary>
            <ActionForm action=update attr:class="stack" attr:novalidate=true>
                <FormError error />
                <input type="hidden" name="key_id" value=key.id.clone() />
                <TextField name="name" label="Name" value=key.name.clone() required=true error />
                <TextField name="note" label="Note" value=key.note.clone().unwrap_or_default()
                    hint="What the key is for. Empty removes it." error />
                <div class="field-row">
                    <TextField name="rate_limit_per_minute" label="Rate limit (requests per minute)" kind="number"
                        value=key.rate_limit_per_minute.map(|limit| limit.to_string()).unwrap_or_default()
                        hint="Empty for no limit. Takes effect on the next verification." error />
                    <TextField name="rate_limit_burst" label="Burst (most at once)" kind="number"
                        value=key.rate_limit_burst.map(|burst| burst.to_string()).unwrap_or_default()
                        hint="Empty: the whole limit at once." error />
                </div>
                <div class="field">
                    <label for="ip_allowlist">"IP allowlist"</label>
                    <textarea id="ip_allowlist" name="ip_allowlist" rows="3" class="mono"
                        placeholder="203.0.113.0/24" aria-describedby="ip_allowlist-hint ip_allowlist-error">
                        {key.ip_allowlist.join("\n")}
                    </textarea>
                    <p class="hint" id="ip_allowlist-hint">
                        "One address or CIDR range a line. The key is refused from any other address, and when none is reported. Empty: anywhere."
                    </p>
                    <FieldError field="ip_allowlist" error />
                </div>
                <CreditFields error remaining=key.credits.as_ref().map(|credits| credits.remaining)
                    refill=key.credits.as_ref().and_then(|credits| Some((credits.refill_amount?, credits.refill_period.clone()?, credits.refill_day))) />
                <div class="field">
                    <label for="expiry_date">"Expires on"</label>
                    <input id="expiry_date" name="expiry_date" type="date" aria-describedby="expiry_date-hint expiry_date-error" />
                    <p class="hint" id="expiry_date-hint">{expiry_hint}</p>
                    <FieldError field="expiry_date" error />
                </div>
                <p class="muted small" data-testid="not-editable">
                    "Scopes and environment cannot be changed: rotate into a new key instead."
                </p>
                <SubmitButton pending=update.pending().into() label="Save changes" pending_label="Saving…" />
            </ActionForm>
        </details>
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

/// The key's verifications over the URL's range, with their totals, and the
/// client IPs it was verified from.
#[component]
fn UsageSection(key_id: String, last_used_at: Option<DateTime<Utc>>) -> impl IntoView {
    let query = use_query_map();
    let usage = Resource::new(
        move || (key_id.clone(), query.with(|q| q.get("range"))),
        |(key_id, range)| load_key_usage(key_id, range),
    );
    view! {
        <section class="card flush section usage-card" aria-labelledby="usage-heading" data-testid="key-usage">
            <Suspense fallback=|| view! {
                <div class="usage-head"><h2 id="usage-heading" class="card-title">"Usage"</h2></div>
                <p class="muted empty-note">"Loading usage…"</p>
            }>
                {move || Suspend::new(async move {
                    match usage.await {
                        Ok(Some(usage)) => view! { <KeyUsageView usage last_used_at /> }.into_any(),
                        Ok(None) => view! {
                            <div class="usage-head"><h2 id="usage-heading" class="card-title">"Usage"</h2></div>
                            <p class="muted empty-note" data-testid="usage-hidden">
                                "A key's usage shows where it is used from: admins see it, and so does the key's owner."
                            </p>
                        }.into_any(),
                        Err(error) => view! {
                            <div class="usage-head">
                                <h2 id="usage-heading" class="card-title">"Usage"</h2>
                                <RangeSwitch current=UsageRange::default() />
                            </div>
                            <p class="muted empty-note" role="alert">{error.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn KeyUsageView(usage: KeyUsage, last_used_at: Option<DateTime<Utc>>) -> impl IntoView {
    let KeyUsage {
        range,
        series,
        ips,
        now,
    } = usage;
    let totals = series.totals();
    let body = if totals.total() == 0 {
        // "Yet" only when the key has never been used; otherwise the range is just quiet.
        let used_before = last_used_at.filter(|at| *at < now - range.length());
        view! {
            <div class="usage-empty" data-testid="usage-empty">
                {match used_before {
                    None => view! {
                        <p class="strong">"No verifications yet."</p>
                        <p class="muted">"Once your API server verifies this key, you'll see its traffic here."</p>
                    }.into_any(),
                    Some(at) => view! {
                        <p class="strong">{format!("No verifications in the last {}.", range.label())}</p>
                        <p class="muted">
                            "It was last used " <span title=exact(at)>{relative(at, now)}</span>
                            ". Choose a longer range to see that traffic."
                        </p>
                    }.into_any(),
                }}
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="usage-body">
                <UsageChart series range />
                <UsageTotals totals />
            </div>
        }
        .into_any()
    };
    let ip_section = match (ips.is_empty(), totals.total() == 0) {
        (true, true) => None,
        (true, false) => Some(view! {
            <h3 class="usage-subhead">"Client IPs"</h3>
            <p class="muted small empty-note" data-testid="no-client-ips">
                "No client IP was reported with these verifications. Send "
                <code>"client_ip"</code>
                " in each verify request to see where this key is used from."
            </p>
        }.into_any()),
        (false, _) => Some(view! {
            <h3 class="usage-subhead" id="ips-heading">"Client IPs"</h3>
            <div class="table-scroll">
                <table class="table inset ip-table" aria-labelledby="ips-heading">
                    <thead>
                        <tr>
                            <th scope="col">"IP address"</th>
                            <th scope="col">"First seen"</th>
                            <th scope="col">"Last seen"</th>
                            <th scope="col" class="num">"Verifications"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {ips.into_iter().map(|ip| view! { <IpRow ip now /> }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted small table-note">"The 50 most recent addresses. “New” means first seen in the last 24 hours."</p>
        }.into_any()),
    };
    view! {
        <div class="usage-head">
            <h2 id="usage-heading" class="card-title">"Usage"</h2>
            <RangeSwitch current=range />
        </div>
        {body}
        {ip_section}
    }
}

#[component]
fn IpRow(ip: ClientIpView, now: DateTime<Utc>) -> impl IntoView {
    let new = ip.is_new(now);
    view! {
        <tr data-testid="ip-row">
            <td class="nowrap">
                <code class="mono">{ip.ip.clone()}</code>
                {new.then(|| view! { " " <span class="badge new-ip" title="First seen in the last 24 hours">"New"</span> })}
            </td>
            <td class="nowrap"><span title=exact(ip.first_seen)>{relative(ip.first_seen, now)}</span></td>
            <td class="nowrap"><span title=exact(ip.last_seen)>{relative(ip.last_seen, now)}</span></td>
            <td class="num">{grouped(ip.count)}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{Granularity, Outcome, OutcomeCounts, UsageBucket, UsageSeries};
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        "2025-05-13T14:20:00Z".parse().unwrap()
    }

    fn usage(valid: u64, ips: Vec<ClientIpView>) -> KeyUsage {
        let mut counts = OutcomeCounts::default();
        counts.add(Outcome::Valid, valid);
        KeyUsage {
            range: UsageRange::Day,
            series: UsageSeries {
                granularity: Granularity::Hour,
                buckets: vec![UsageBucket {
                    start: Granularity::Hour.bucket_start(now()),
                    counts,
                }],
            },
            ips,
            now: now(),
        }
    }

    fn render(usage: KeyUsage, last_used_at: Option<DateTime<Utc>>) -> String {
        Owner::new().with(|| view! { <KeyUsageView usage last_used_at /> }.to_html())
    }

    #[test]
    fn the_time_left_is_said_in_the_largest_whole_unit() {
        assert_eq!(
            expires_in(Duration::days(3) + Duration::hours(5)),
            "Expires in 3 days"
        );
        assert_eq!(expires_in(Duration::days(1)), "Expires in 1 day");
        assert_eq!(expires_in(Duration::hours(5)), "Expires in 5 hours");
        assert_eq!(expires_in(Duration::seconds(20)), "Expires in 1 minute");
    }

    #[test]
    fn a_key_never_verified_says_what_will_appear() {
        let html = render(usage(0, vec![]), None);
        assert!(html.contains("No verifications yet."), "{html}");
        assert!(
            html.contains("Once your API server verifies this key, you'll see its traffic here."),
            "{html}"
        );
        assert!(!html.contains("usage-chart"));
        assert!(!html.contains("Client IPs"));
        // Used before the range: the range is quiet, not the key.
        let html = render(usage(0, vec![]), Some(now() - Duration::days(3)));
        assert!(
            html.contains("No verifications in the last 24 hours."),
            "{html}"
        );
    }

    #[test]
    fn client_ips_show_counts_and_a_new_badge() {
        let seen = |ip: &str, first_days: i64| ClientIpView {
            ip: ip.into(),
            first_seen: now() - Duration::hours(first_days * 24 + 2),
            last_seen: now() - Duration::minutes(3),
            count: 1204,
        };
        let html = render(
            usage(7, vec![seen("203.0.113.50", 0), seen("198.51.100.7", 12)]),
            None,
        );
        assert!(html.contains("data-total=\"7\""), "{html}");
        assert_eq!(html.matches("data-testid=\"ip-row\"").count(), 2);
        assert_eq!(html.matches(">New</span>").count(), 1, "{html}");
        assert!(
            html.contains("title=\"2025-05-13 14:17:00 UTC\">3 minutes ago"),
            "{html}"
        );
        assert!(html.contains(">1,204</td>"));
        // Verifications without a reported IP say how to get one.
        let html = render(usage(7, vec![]), None);
        assert!(html.contains("no-client-ips"), "{html}");
    }
}
